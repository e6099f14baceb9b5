"""A local snakemake killed during a train job: the rerun with --rerun-incomplete resumes the run, and its
TensorBoard curves (execution.tensorboard on, which leaves the run's identity as it was) continue without a step
twice."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys

import pandas as pd
import pytest
from interrupt import RESUME, history, kill_group, resume_run_dir, start, wait_for_file
from test_tensorboard import check_run_series

from conftest import copy_workflow, job_counts, snakemake, tool_env

pytestmark = pytest.mark.slow


def test_a_killed_local_run_resumes_from_its_checkpoint(tmp_path):
    run_dir = resume_run_dir()  # the plan without the switch: the run's directory is the same with it
    args = [f"{run_dir}/metrics.json", "--cores", "1", *RESUME, "tensorboard.yaml"]
    whole, killed = copy_workflow(tmp_path / "whole"), copy_workflow(tmp_path / "killed")
    for workdir in (whole, killed):
        (workdir / "tensorboard.yaml").write_text("execution: {tensorboard: true}\n")
    # the uninterrupted run trains beside the one that gets killed (one core each)
    reference = start(whole, args, tool_env(), tmp_path / "whole.txt")
    victim = start(killed, args, tool_env(), tmp_path / "killed.txt")
    try:
        wait_for_file(killed / run_dir / "checkpoint.pt", victim, timeout=120)
        os.killpg(victim.pid, signal.SIGKILL)  # snakemake and its job die at once, as when a machine goes down
        victim.wait(timeout=30)
        assert not (killed / run_dir / "metrics.json").exists(), "the run ended before it could be killed"

        # `status` says how far the killed run got, from its checkpoint, without touching it
        status = subprocess.run(
            [sys.executable, "-m", "ablate", "status", "--configfile", RESUME[1], "--configfile", RESUME[2]],
            cwd=killed,
            env=tool_env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert status.returncode == 0, status.stderr
        epochs = re.search(r"partial, epoch (\d) of 4", status.stdout)
        assert epochs and 1 <= int(epochs.group(1)) < 4, status.stdout
        assert "1 trajectories: 0 done, 0 to grow, 1 partial, 0 pending, 0 damaged" in status.stdout

        # the killed snakemake left its lock: --unlock. A train job writes its outputs only once it finished, each
        # atomically, so none is left half-written: a plain rerun schedules the job again (and so does
        # --rerun-incomplete, which the README gives for every kill)
        assert snakemake(killed, "--unlock", *args, timeout=120).returncode == 0
        plain = snakemake(killed, "-n", *args, timeout=120)
        assert plain.returncode == 0 and job_counts(plain.stdout) == {"train": 1}, plain.stderr[-3000:]
        rerun = snakemake(killed, *args, "--rerun-incomplete", timeout=300)
        assert rerun.returncode == 0, rerun.stderr[-6000:]
        assert reference.wait(timeout=300) == 0, (tmp_path / "whole.txt").read_text()[-6000:]
    finally:
        kill_group(victim)
        kill_group(reference)

    log = (killed / "results/logs/train" / f"{os.path.basename(run_dir)}.log").read_text()
    assert "resumed from" in log
    assert json.loads((killed / run_dir / "progress.json").read_text())["finished"] is True  # its final state
    pd.testing.assert_frame_equal(history(killed, run_dir), history(whole, run_dir), check_exact=True)
    # 4096 images at batch 16: 256 steps an epoch
    check_run_series(killed / "results/tensorboard/resume/a/seed0", killed / run_dir, probed=False, steps_per_epoch=256)
