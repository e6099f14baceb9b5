"""Helpers for the tests that interrupt a train job (tests/test_resume.py, tests/slurm/test_slurm.py).

Both train the one run of tests/slurm/resume.yaml (4 epochs of ~2 s, checkpointed after each): in the
background, killed or cancelled once its first checkpoint exists, then resumed by a rerun.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

from ablate.plan.config import read_config_files, validated
from ablate.plan.runs import make_plan

from conftest import REPO

RESUME = ("--configfile", "config/smoke.yaml", "tests/slurm/resume.yaml")
# what a run's numbers are; epoch_seconds and images_per_second are timings
RESULT_COLUMNS = ["epoch", "train_loss", "train_acc", "test_loss", "test_acc", "lr"]


def resume_run_dir() -> str:
    files = [REPO / "config/config.yaml", REPO / "config/smoke.yaml", REPO / "tests/slurm/resume.yaml"]
    plan = make_plan(validated(read_config_files(files), check_paths=False))
    return plan.run_of("resume", "a", 0).dir


def start(workdir: Path, args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    """`snakemake *args` in the background, in its own process group, output to `log`.

    SIGINT is reset to its default in the child: a shell without job control starts background commands
    with SIGINT ignored, and Python then never turns it into KeyboardInterrupt (snakemake's Ctrl-C path).
    """
    with open(log, "w") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "snakemake", *args],
            cwd=workdir,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )


def wait_for_file(path: Path, process: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert process.poll() is None, f"snakemake ended (status {process.returncode}) before {path} appeared"
        assert time.monotonic() < deadline, f"{path} did not appear within {timeout:.0f} s"
        time.sleep(0.05)


def kill_group(process: subprocess.Popen) -> None:
    """Make sure a background snakemake is gone (after a failed assertion, say)."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)


def history(workdir: Path, run_dir: str) -> pd.DataFrame:
    return pd.read_csv(workdir / run_dir / "history.csv")[RESULT_COLUMNS]
