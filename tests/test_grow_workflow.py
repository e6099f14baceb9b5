"""Runs that grow, through the workflow (tests/grow.yaml): after a finished run, raising one variant's epochs
schedules one train job that trains only the new epochs, plus what reads the run; lowering them schedules no
train job; touching reruns nothing; a job killed while it grows resumes with --rerun-incomplete and ends with
the numbers of a run that trained those epochs in one go."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml
from interrupt import RESULT_COLUMNS, kill_group, start

from ablate import trajectory
from ablate.plan.config import read_config_files, validated
from ablate.plan.runs import make_plan

from conftest import copy_workflow, job_counts, snakemake, tool_env

pytestmark = pytest.mark.slow
GROW = ("--configfile", "tests/grow.yaml")
READERS = {"study_runs": 1, "report_spec": 1, "study_summary": 1, "study_curves": 1, "report": 1, "all": 1}


def plan_of(workdir: Path):
    return make_plan(validated(read_config_files([workdir / "config/config.yaml", workdir / "tests/grow.yaml"])))


def set_epochs(workdir: Path, variant: str, epochs: int) -> None:
    path = workdir / "tests/grow.yaml"
    config = yaml.safe_load(path.read_text())
    config["studies"]["grow"]["variants"][variant]["epochs"] = epochs
    path.write_text(yaml.safe_dump(config, sort_keys=False))


def dry_run(workdir: Path) -> dict[str, int]:
    result = snakemake(workdir, "-n", "--cores", "2", *GROW, timeout=120)
    assert result.returncode == 0, result.stderr[-4000:]
    return job_counts(result.stdout)


def train_log(workdir: Path, run_id: str) -> str:
    return (workdir / f"results/logs/train/{run_id}.log").read_text()


def numbers(workdir: Path, run_dir: str) -> tuple[pd.DataFrame, bytes, dict]:
    """A run's history (all but the timings), steps.csv and final weights."""
    history = pd.read_csv(workdir / run_dir / "history.csv")[RESULT_COLUMNS]
    weights = torch.load(workdir / run_dir / "model.pt", weights_only=True)
    return history, (workdir / run_dir / "steps.csv").read_bytes(), weights


def assert_same_numbers(one: Path, other: Path, run_dir: str) -> None:
    (history, steps, weights), (history_, steps_, weights_) = numbers(one, run_dir), numbers(other, run_dir)
    pd.testing.assert_frame_equal(history, history_, check_exact=True)
    assert steps == steps_
    assert weights.keys() == weights_.keys() and all(torch.equal(weights[k], weights_[k]) for k in weights)


@pytest.fixture(scope="module")
def grown(tmp_path_factory) -> Path:
    workdir = copy_workflow(tmp_path_factory.mktemp("grow") / "workflow")
    result = snakemake(workdir, "--cores", "2", *GROW, timeout=600)
    assert result.returncode == 0, result.stderr[-6000:]
    return workdir


def test_members_that_differ_only_in_length_share_one_trained_run(grown):
    plan = plan_of(grown)
    shared = plan.run_of("grow", "a", 0)
    assert plan.run_of("grow", "a_long", 0) is shared and len(plan.runs) == 2
    history = pd.read_csv(grown / shared.dir / "history.csv")
    assert history["epoch"].tolist() == [1, 2, 3]
    summary = pd.read_csv(grown / "results/studies/grow/summary.csv").set_index("variant")
    assert summary.loc["a", "epochs"] == 2 and summary.loc["a_long", "epochs"] == 3
    assert summary.loc["a", "final_test_acc"] == history["test_acc"].iloc[1]  # its own last epoch
    assert summary.loc["a", "best_test_acc"] == history["test_acc"].head(2).max()
    assert summary.loc["a_long", "final_test_acc"] == history["test_acc"].iloc[2]
    assert sorted(p.name for p in (grown / shared.dir / "weights").iterdir()) == ["epoch2.pt", "epoch3.pt"]
    assert dry_run(grown) == {}


def test_raising_one_variants_epochs_trains_only_the_new_epochs(grown):
    run = plan_of(grown).run_of("grow", "a_long", 0)
    set_epochs(grown, "a_long", 5)
    assert dry_run(grown) == {"train": 1, **READERS}
    result = snakemake(grown, "--cores", "2", *GROW, timeout=600)
    assert result.returncode == 0, result.stderr[-6000:]
    log = train_log(grown, run.id)
    assert "grows: continuing at epoch 4 of 5 from its final state after epoch 3" in log
    trained = [line for line in log.splitlines() if " epoch " in line and "/5 " in line]
    assert [line.split()[2] for line in trained] == ["4/5", "5/5"], trained
    assert pd.read_csv(grown / run.dir / "history.csv")["epoch"].tolist() == [1, 2, 3, 4, 5]
    summary = pd.read_csv(grown / "results/studies/grow/summary.csv").set_index("variant")
    assert summary.loc["a_long", "epochs"] == 5 and summary.loc["a", "epochs"] == 2
    assert dry_run(grown) == {}


def test_lowering_one_variants_epochs_trains_nothing(grown):
    run = plan_of(grown).run_of("grow", "a_long", 0)
    history = pd.read_csv(grown / run.dir / "history.csv")
    set_epochs(grown, "a_long", 4)
    assert dry_run(grown) == READERS  # no train job: the member reads a shorter prefix
    result = snakemake(grown, "--cores", "2", *GROW, timeout=600)
    assert result.returncode == 0, result.stderr[-6000:]
    summary = pd.read_csv(grown / "results/studies/grow/summary.csv").set_index("variant")
    assert summary.loc["a_long", "epochs"] == 4
    assert summary.loc["a_long", "final_test_acc"] == history["test_acc"].iloc[3]
    assert dry_run(grown) == {}


def test_touching_every_file_reruns_nothing(grown):
    everything = [p for p in grown.rglob("*") if p.is_file() and ".snakemake" not in p.parts]
    later = time.time() + 5
    for path in everything:
        os.utime(path, (later, later))
    assert dry_run(grown) == {}


def test_a_job_killed_while_it_grows_resumes_and_ends_like_one_that_trained_in_one_go(grown, tmp_path):
    """Grow a_long to 9 epochs, kill snakemake and its job once the growth checkpointed an epoch; the rerun with
    --rerun-incomplete ends with the numbers of a fresh workflow asking for 9 epochs."""
    fresh = copy_workflow(tmp_path / "fresh")
    for workdir in (grown, fresh):
        set_epochs(workdir, "a_long", 9)
    run_dir = plan_of(grown).run_of("grow", "a_long", 0).dir
    trained = trajectory.final_state(grown / run_dir).epochs  # 5, after the tests above
    reference = start(fresh, ["--cores", "1", *GROW], tool_env(), tmp_path / "fresh.txt")
    victim = start(grown, ["--cores", "1", *GROW], tool_env(), tmp_path / "grown.txt")
    progress = grown / run_dir / "progress.json"
    try:
        deadline = time.monotonic() + 300
        while not (progress.exists() and json.loads(progress.read_text())["epochs_completed"] > trained):
            assert victim.poll() is None, (tmp_path / "grown.txt").read_text()[-4000:]
            assert time.monotonic() < deadline, "the growth checkpointed no epoch"
            time.sleep(0.05)
        os.killpg(victim.pid, signal.SIGKILL)
        victim.wait(timeout=30)
        assert not (grown / run_dir / "metrics.json").exists(), "the growth ended before it could be killed"
        assert trajectory.final_state(grown / run_dir) is None  # part way: its checkpoint, not a final state

        assert snakemake(grown, "--unlock", "--cores", "1", *GROW, timeout=120).returncode == 0
        rerun = snakemake(grown, "--cores", "1", *GROW, "--rerun-incomplete", timeout=600)
        assert rerun.returncode == 0, rerun.stderr[-6000:]
        assert reference.wait(timeout=600) == 0, (tmp_path / "fresh.txt").read_text()[-6000:]
    finally:
        kill_group(victim)
        kill_group(reference)
    # the killed job's lines are in snakemake's output (the rerun started a new log)
    assert f"grows: continuing at epoch {trained + 1} of 9" in (tmp_path / "grown.txt").read_text()
    assert "resumed from" in train_log(grown, Path(run_dir).name)
    assert_same_numbers(grown, fresh, run_dir)
    assert trajectory.final_state(grown / run_dir) == trajectory.FinalState(9, False)
