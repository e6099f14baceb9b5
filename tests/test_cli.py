"""The command line, `python -m ablate` (ablate.cli): --configfile as snakemake takes it, a whole help text, the
config files each command read, and one count of what is left in `plan` and `status`."""

from __future__ import annotations

import pytest
import yaml

from ablate.cli import main, parser
from ablate.plan.config import validated
from ablate.plan.runs import make_plan
from ablate.training.trainer import Runtime, train_run

from conftest import synthetic_config


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """A folder with a config of two basic-CNN runs (a.yaml, and b.yaml adding a variant), one of them trained."""
    config = synthetic_config(model="basic_cnn", epochs=1)
    config["studies"]["s"]["variants"] = {"a": {}}
    (tmp_path / "a.yaml").write_text(yaml.safe_dump(config))
    (tmp_path / "b.yaml").write_text(yaml.safe_dump({"studies": {"s": {"variants": {"b": {"optimizer.lr": 0.5}}}}}))
    monkeypatch.chdir(tmp_path)
    [run] = make_plan(validated(config, check_paths=False)).runs.values()
    train_run(run.train_config, tmp_path / run.dir, Runtime(threads=1), log=lambda _: None)
    return tmp_path


def output(capsys, *argv: str) -> str:
    assert main([*argv, "--default-config", "none"]) == 0
    return capsys.readouterr().out


def test_configfile_takes_several_files_after_one_flag_as_snakemake_does(workdir, capsys):
    for command in ("plan", "status", "models"):
        one_flag = output(capsys, command, "--configfile", "a.yaml", "b.yaml")
        assert one_flag == output(capsys, command, "--configfile", "a.yaml", "--configfile", "b.yaml"), command
        assert one_flag.splitlines()[0] == "config: a.yaml + b.yaml", command


def test_plan_and_status_count_what_is_left_alike(workdir, capsys):
    counts = "2 trajectories: 1 done, 0 to grow, 0 partial, 1 pending, 0 damaged; 1 epochs to go"
    plan = output(capsys, "plan", "--configfile", "a.yaml", "b.yaml").splitlines()
    status = output(capsys, "status", "--configfile", "a.yaml", "b.yaml").splitlines()
    assert counts in plan and counts in status
    assert "2 variant-seed pairs, 2 trajectories, 2 epochs in all" in plan[-2]


def test_a_command_without_configfile_says_which_config_it_read(workdir, capsys):
    (workdir / "none").write_text((workdir / "a.yaml").read_text())  # the default config, as --default-config names it
    first = output(capsys, "plan").splitlines()[0]
    assert first.startswith("config: none (add --configfile <file>")
    assert output(capsys, "status", "--format", "tsv").startswith("study\tvariant")  # the line went to stderr
    assert capsys.readouterr().err == ""
    main(["status", "--format", "tsv", "--default-config", "none"])
    assert capsys.readouterr().err.startswith("config: none")


def test_models_counts_the_configs_runs_at_their_width(workdir, capsys):
    rows = {line.split()[0]: line for line in output(capsys, "models", "--configfile", "a.yaml").splitlines()[2:]}
    assert rows["basic_cnn"].split()[2] == "1" and "at width 0.25" in rows["basic_cnn"]  # synthetic_config's width
    assert rows["resnet18"].split()[2] == "0"


def test_help_is_whole(capsys):
    with pytest.raises(SystemExit):
        parser().parse_args(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "`retrain` removes runs and prints the snakemake command that trains them again." in text
    with pytest.raises(SystemExit):
        parser().parse_args(["plan", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "done, grows, partial, pending or damaged" in text and "new" not in text
