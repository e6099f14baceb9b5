"""The shape of the code: rule -> entry script -> library, nothing structured on a command line, short modules."""

from __future__ import annotations

import re

import pytest

from conftest import REPO, job_counts, snakemake

RULE_FILES = sorted((REPO / "workflow/rules").glob("*.smk"))


def shell_rules() -> dict[str, str]:
    """rule name -> the entry script its shell command runs."""
    scripts = {}
    for path in RULE_FILES:
        for rule, body in re.findall(r"^\s*rule (\w+):\n(.*?)(?=^\s*rule |\Z)", path.read_text(), re.S | re.M):
            script = re.search(r'python "\$ABLATE_SCRIPTS/(\w+)\.py"', body)
            if "shell:" in body:
                assert script, f"rule {rule} ({path.name}) runs no entry script"
                scripts[rule] = script.group(1)
    return scripts


def test_every_shell_rule_runs_its_own_entry_script():
    scripts = shell_rules()
    assert scripts, "no rules found"
    for rule, script in scripts.items():
        assert script == rule, f"rule {rule} runs workflow/scripts/{script}.py"
    on_disk = {path.stem for path in (REPO / "workflow/scripts").glob("*.py")}
    assert on_disk == set(scripts.values())


def test_no_module_is_over_300_lines():
    modules = [*(REPO / "src/ablate").rglob("*.py"), *(REPO / "workflow/scripts").glob("*.py")]
    long = {str(path.relative_to(REPO)): n for path in modules if (n := len(path.read_text().splitlines())) > 300}
    assert not long


@pytest.mark.slow
def test_no_json_on_any_command_line(workflow_dir):
    """The full study's dry run prints every job's shell command: none carries a JSON document."""
    result = snakemake(workflow_dir, "-n", "-p", "--cores", "all", timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert job_counts(result.stdout)["train"] == 93  # trajectories: four of the 97 variant-seed pairs read a shared run
    commands = [line for line in result.stdout.splitlines() if line.startswith("Shell command: ")]
    assert len(commands) > 93
    assert not [line for line in commands if re.search(r"[{\[]\s*\"", line)]
