"""Shared helpers: a fresh copy of the workflow to run Snakemake in, and small synthetic run configs."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BIN = str(Path(sys.executable).parent)


def tool_env() -> dict[str, str]:
    """The environment the workflow's `python -m ablate ...` shell commands need: this venv first on PATH."""
    env = dict(os.environ)
    env["PATH"] = BIN + os.pathsep + env.get("PATH", "")
    env.pop("SNAKEMAKE_PROFILE", None)
    return env


def copy_workflow(dest: Path) -> Path:
    """The tracked (and not ignored) files of this checkout, as a fresh clone would hold them."""
    listed = (
        subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
            cwd=REPO,
            check=True,
            capture_output=True,
        )
        .stdout.decode()
        .split("\0")
    )
    for name in filter(None, listed):
        source = REPO / name
        if not source.exists() and not source.is_symlink():
            continue  # deleted in the working tree
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            target.symlink_to(os.readlink(source))
        else:
            shutil.copy2(source, target)
    return dest


def snakemake(workdir: Path, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "snakemake", *args],
        cwd=workdir,
        env=tool_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def job_counts(output: str) -> dict[str, int]:
    """Parse the 'Job stats' table of `snakemake -n` into {rule: count} (empty when nothing is to do)."""
    counts: dict[str, int] = {}
    match = re.search(r"Job stats:\n(.*?)\n\s*\n", output + "\n\n", re.S)
    if not match:
        return counts
    for line in match.group(1).splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit() and parts[0] != "total":
            counts[parts[0]] = int(parts[1])
    return counts


@pytest.fixture(autouse=True)
def torch_threads_per_worker() -> None:
    """Each xdist worker's in-process torch gets its share of the cores (one worker per core: one thread), before
    every test, since a test that trains with more leaves them set: two workers of two threads each on two cores
    made a 600-dimensional Lanczos take 48 s instead of 1 (OpenMP's threads wait for each other's core)."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if "torch" in sys.modules and workers > 1:
        sys.modules["torch"].set_num_threads(max(1, (os.cpu_count() or 1) // workers))


@pytest.fixture
def workflow_dir(tmp_path: Path) -> Path:
    return copy_workflow(tmp_path / "workflow")


SMOKE = ("--configfile", "config/smoke.yaml")


# The longest test files, longest first (`pytest --durations=0`, summed per file): the smoke workflow's and the edit
# matrix, which start at once on two workers, then the rest, so that the short files fill the end on every worker
# (docs/performance.md, "The test suite")
LONGEST = (
    "test_workflow.py",
    "test_edits.py",
    "test_bench_gpu.py",
    "test_grow_workflow.py",
    "test_forkserver.py",
    "test_resume.py",
    "test_gpus.py",
    "test_train.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The order in which xdist's workers get test files (pyproject.toml's addopts: `-n auto --dist loadfile
    --no-loadscope-reorder`, which keeps this order instead of xdist's, the files with the most tests first); within
    a file, the smoke's readers first."""
    items.sort(key=lambda item: (rank(item), "smoke" not in item.fixturenames))


def rank(item: pytest.Item) -> int:
    return LONGEST.index(item.path.name) if item.path.name in LONGEST else len(LONGEST)


@pytest.fixture(scope="session")
def smoke(tmp_path_factory) -> Path:
    """The smoke workflow, run once per test session in a fresh copy of the checkout: shared by the tests that read
    a finished workflow (and by those that edit its config, which put it back before they end)."""
    workdir = copy_workflow(tmp_path_factory.mktemp("smoke") / "workflow")
    started = time.perf_counter()
    result = snakemake(workdir, "--cores", "all", *SMOKE, timeout=1800)
    seconds = time.perf_counter() - started
    assert result.returncode == 0, result.stderr[-6000:]
    print(f"\nsmoke workflow: {seconds:.0f} s on {os.cpu_count()} cores")
    return workdir


def synthetic_config(**defaults) -> dict:
    """A one-study config on a few hundred generated images; `defaults` overrides the run defaults."""
    return {
        "dataset": {"name": "synthetic", "train_samples": 256, "test_samples": 128},
        "defaults": {"batch_size": 32, "epochs": 2, "width": 0.25, **defaults},
        "studies": {"s": {"variants": {"a": {}}}},
        "report": {"hyperparameters": {"study": "s", "variant": "a"}},
    }


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")  # Debian's, installed by .ci/run


@contextmanager
def chromium_page(requests: list, errors: list) -> Iterator:
    """A page of headless Chromium (Playwright driving Debian's browser, offline), recording every request it
    makes and every console or page error into the lists."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.on("request", lambda r: requests.append(r.url))
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            yield page
        finally:
            browser.close()
