"""Damaged runs: a finished run whose files disagree, a partial run whose checkpoint does not load or is another
run's. `status` calls them damaged and says what to do; the workflow stops before a damaged run feeds anything;
`python -m ablate retrain` removes a run so that the next snakemake trains it from scratch."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ablate import rundir
from ablate.errors import DamagedRun
from ablate.plan.config import validated
from ablate.plan.layout import write_plan_files
from ablate.plan.runs import dataset_identity, make_plan
from ablate.status import run_status
from ablate.training.trainer import Runtime, train_run

from conftest import synthetic_config, tool_env


def quiet(_: str) -> None:
    pass


def trained(root: Path, **defaults):
    """The plan of a one-run synthetic config, its run trained under `root` (the workflow's relative paths)."""
    config = validated(synthetic_config(**defaults), check_paths=False)
    plan = make_plan(config)
    run = next(iter(plan.runs.values()))
    train_run(run.train_config, root / run.dir, Runtime(threads=1), quiet)
    return config, plan, run


def status_command(root: Path) -> subprocess.CompletedProcess:
    """`python -m ablate status` as a user runs it, where the workflow runs (the run's config as --configfile)."""
    return subprocess.run(
        [sys.executable, "-m", "ablate", "status", "--configfile", "config.yaml", "--default-config", "none"],
        cwd=root,
        env=tool_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def finished(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config, plan, run = trained(tmp_path, epochs=2)
    (tmp_path / "config.yaml").write_text(__import__("yaml").safe_dump(synthetic_config(epochs=2)))
    return config, plan, run


@pytest.mark.parametrize("damage", ["history cut to half", "last line cut", "progress of another length"])
def test_a_finished_run_whose_files_disagree_is_damaged(finished, tmp_path, damage):
    config, plan, run = finished
    run_dir = tmp_path / run.dir
    assert rundir.damage(run_dir) is None and run_status(run).state == "done"
    history = run_dir / rundir.HISTORY
    lines = history.read_text().splitlines(keepends=True)
    if damage == "history cut to half":
        history.write_text("".join(lines[:2]))
        problem = "history.csv holds 1 epoch where metrics.json says 2"
    elif damage == "last line cut":
        history.write_text("".join(lines)[: -len(lines[-1]) // 2])
        problem = "history.csv's last line is cut short"
    else:
        progress = rundir.read_json(run_dir / rundir.PROGRESS)
        rundir.write_json(run_dir / rundir.PROGRESS, {**progress, "epochs_completed": 3})
        problem = "progress.json says 3 epochs where metrics.json says 2"
    assert rundir.damage(run_dir) == problem
    status = run_status(run)
    assert status.state == "damaged" and status.label == "damaged"
    fix = f"nothing reads it; python -m ablate retrain {run.dir} removes it and says how to train it again"
    assert status.problem == f"{problem}: {fix}"

    shown = status_command(tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert "0 done, 0 to grow, 0 partial, 0 pending, 1 damaged" in shown.stdout
    assert f"damaged: {run.dir}: {problem}: {fix}" in shown.stdout

    # the workflow's parse stops before any job (write_plan_files runs at parse time, in the workflow's folder)
    with pytest.raises(DamagedRun) as raised:
        write_plan_files(plan, dataset_identity(config["dataset"]), "synthetic-test")
    assert str(raised.value) == (
        f"{run.dir} is damaged: {problem}. Nothing reads a damaged run: remove it with "
        f"python -m ablate retrain {run.dir}, which prints the snakemake command that trains it again"
    )


def test_a_partial_runs_damaged_or_foreign_checkpoint_is_damaged(finished, tmp_path):
    _, _, run = finished
    run_dir = tmp_path / run.dir
    (run_dir / rundir.METRICS).unlink()  # its final checkpoint now stands for a run stopped at epoch 2
    assert run_status(run).label == "partial, epoch 2 of 2"

    # another run's checkpoint, 4 epochs long, with its progress.json ("epoch 4 of 2, -2 epochs to go" before)
    other_root = tmp_path / "other"
    _, _, other = trained(other_root, epochs=4, optimizer={"lr": 0.01})
    for name in (rundir.CHECKPOINT, rundir.PROGRESS):
        shutil.copy(other_root / other.dir / name, run_dir / name)
    status = run_status(run)
    assert (status.state, status.remaining_epochs) == ("damaged", 2)
    assert status.problem == (
        "checkpoint.pt is another run's (its config differs): its next train job keeps it as checkpoint.pt.damaged "
        "and trains the run from scratch"
    )

    checkpoint = run_dir / rundir.CHECKPOINT
    checkpoint.write_bytes(checkpoint.read_bytes()[: checkpoint.stat().st_size // 2])
    assert run_status(run).problem.startswith("checkpoint.pt does not load (")
    shown = status_command(tmp_path)  # once a traceback (status.py caught FileNotFoundError only)
    assert shown.returncode == 0 and not shown.stderr, shown.stderr
    assert f"damaged: {run.dir}: checkpoint.pt does not load (" in shown.stdout


def test_retrain_removes_a_run_and_its_weights(finished, tmp_path):
    _, _, run = finished
    weights = tmp_path / Path(rundir.MEMBER_WEIGHTS.format(run=run.id, epochs=2))
    weights.parent.mkdir(parents=True)
    os.link(tmp_path / run.dir / rundir.MODEL, weights)

    def retrain(*names: str) -> subprocess.CompletedProcess:
        command = [sys.executable, "-m", "ablate", "retrain", *names]
        return subprocess.run(command, cwd=tmp_path, env=tool_env(), capture_output=True, text=True, timeout=60)

    refused = retrain(run.dir, "results/runs/basic_cnn-0123456789")  # one that is not there: nothing removed
    assert refused.returncode == 2 and (tmp_path / run.dir).is_dir()
    assert refused.stderr.strip().splitlines() == [
        "error: 'results/runs/basic_cnn-0123456789' is not a run directory here (results/runs/<model>-<hash>, as "
        "`python -m ablate plan` lists them): run this command where you run snakemake, naming a run that exists"
    ]
    done = retrain(run.id, "--configfile", "config.yaml")
    assert done.returncode == 0, done.stderr
    assert not (tmp_path / run.dir).exists() and not weights.parent.exists()
    assert done.stdout.splitlines()[-1] == (
        "  snakemake --cores all --configfile config.yaml --forcerun "
        f"{run.dir}/metrics.json {weights.relative_to(tmp_path)}"
    )
    assert run_status(run).state == "pending"
