"""Training runs: outputs, divergence as a result, exact resume after SIGKILL, probes that change nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch

from ablate.plan.config import validated
from ablate.plan.runs import canonical_json, make_plan
from ablate.training.trainer import Runtime, train_run

from conftest import REPO, synthetic_config, tool_env

RESULT_COLUMNS = ["epoch", "train_loss", "train_acc", "test_loss", "test_acc", "lr"]


def run_config(**defaults) -> dict:
    return next(iter(make_plan(validated(synthetic_config(**defaults), check_paths=False)).runs.values())).train_config


def quiet(_: str) -> None:
    pass


@pytest.mark.slow
def test_a_run_writes_its_directory(tmp_path):
    config = run_config(epochs=2, augment=True, dropout=0.3)
    metrics = train_run(config, tmp_path, Runtime(threads=1), quiet)
    assert json.loads((tmp_path / "config.json").read_text()) == config
    history = pd.read_csv(tmp_path / "history.csv")
    assert list(history.columns) == [*RESULT_COLUMNS, "epoch_seconds", "images_per_second"]
    assert history["epoch"].tolist() == [1, 2] and (history["images_per_second"] > 0).all()
    assert list(pd.read_csv(tmp_path / "steps.csv").columns) == ["epoch", "step"]
    density = pd.read_csv(tmp_path / "density.csv")  # no curvature probe: a header only
    assert density.empty and list(density.columns) == ["epoch", "step", "vector", "node", "weight"]
    state = torch.load(tmp_path / "model.pt", weights_only=True)
    assert all(isinstance(v, torch.Tensor) for v in state.values())
    assert metrics == json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["epochs_completed"] == 2 and metrics["diverged"] is False and metrics["device"] == "cpu"
    assert metrics["best_test_acc"] == history["test_acc"].max()
    # its final state stays, for a longer config to grow it from (ablate.trajectory)
    assert json.loads((tmp_path / "progress.json").read_text())["finished"] is True


@pytest.mark.slow
def test_the_synthetic_data_is_learnable(tmp_path):
    metrics = train_run(run_config(epochs=4, width=1.0, optimizer={"lr": 0.05}), tmp_path, Runtime(threads=1), quiet)
    assert metrics["best_test_acc"] > 60  # ten classes: chance is 10%


# the train rule's entry script, as the workflow runs it
TRAIN_SCRIPT = (sys.executable, str(REPO / "workflow/scripts/train.py"))


def config_file(folder: Path, config: dict) -> str:
    """The run's config as a file, as results/plan/runs/<run>.json holds it."""
    path = folder / f"{config['model']}-{len(list(folder.glob('*.json')))}.json"
    path.write_text(canonical_json(config))
    return str(path)


@pytest.mark.slow
def test_a_diverging_run_is_a_result_not_a_crash(tmp_path):
    config = run_config(optimizer={"lr": 1.0e6})
    result = subprocess.run(
        [*TRAIN_SCRIPT, "--run-dir", str(tmp_path), "--run-config", config_file(tmp_path, config), "--threads", "1"],
        env=tool_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["diverged"] is True and metrics["diverged_step"] >= 1
    assert "diverged" in result.stderr
    steps_per_epoch = 256 // 32
    assert len(pd.read_csv(tmp_path / "history.csv")) == (metrics["diverged_step"] - 1) // steps_per_epoch


def _train_cli(run_dir: Path, config: dict, log: Path) -> subprocess.Popen:
    command = ["--run-dir", str(run_dir), "--run-config", config_file(log.parent, config), "--threads", "1"]
    return subprocess.Popen(
        [*TRAIN_SCRIPT, *command, "--log", str(log)],
        cwd=REPO,
        env=tool_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@pytest.mark.slow
def test_killed_run_resumes_and_ends_with_the_same_numbers(tmp_path):
    # dropout and augmentation draw random numbers every step: resume must restore every generator
    config = run_config(
        epochs=6,
        augment=True,
        dropout=0.5,
        optimizer={"lr": 0.01},
        scheduler={"name": "plateau", "patience": 0, "cooldown": 0, "factor": 0.5},
    )
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    assert _train_cli(whole, config, tmp_path / "whole.log").wait(timeout=300) == 0

    process = _train_cli(killed, config, tmp_path / "killed.log")
    deadline = time.monotonic() + 300
    while "epoch 3/6" not in (tmp_path / "killed.log").read_text() if (tmp_path / "killed.log").exists() else True:
        assert time.monotonic() < deadline and process.poll() is None, "the run ended before it could be killed"
        time.sleep(0.02)
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    assert (killed / "checkpoint.pt").exists() and not (killed / "metrics.json").exists()

    assert _train_cli(killed, config, tmp_path / "killed.log").wait(timeout=300) == 0
    assert "resumed from" in (tmp_path / "killed.log").read_text()
    expected = pd.read_csv(whole / "history.csv")[RESULT_COLUMNS]
    resumed = pd.read_csv(killed / "history.csv")[RESULT_COLUMNS]
    pd.testing.assert_frame_equal(resumed, expected, check_exact=True)
    for key, tensor in torch.load(whole / "model.pt", weights_only=True).items():
        assert torch.equal(tensor, torch.load(killed / "model.pt", weights_only=True)[key]), key


@pytest.mark.slow
def test_probes_do_not_change_the_trajectory(tmp_path):
    base = {"model": "vgg_a_bn_dropout", "epochs": 2, "augment": True, "optimizer": {"name": "adam", "lr": 0.001}}
    plain = train_run(run_config(**base), tmp_path / "plain", Runtime(threads=1), quiet)
    probed = train_run(
        run_config(**base, probes=["step_loss", "grad_change", "beta", "line_search"], probe_every=3),
        tmp_path / "probed",
        Runtime(threads=1),
        quiet,
    )
    columns = RESULT_COLUMNS
    pd.testing.assert_frame_equal(
        pd.read_csv(tmp_path / "probed/history.csv")[columns],
        pd.read_csv(tmp_path / "plain/history.csv")[columns],
        check_exact=True,
    )
    assert plain["final_test_acc"] == probed["final_test_acc"]

    steps = pd.read_csv(tmp_path / "probed/steps.csv")
    assert list(steps.columns) == [
        "epoch",
        "step",
        "step_loss",
        "grad_change",
        "beta",
        "ls_loss_min",
        "ls_loss_max",
        "ls_grad_diff_min",
        "ls_grad_diff_max",
        "ls_beta_max",
        "ls_step_norm",
    ]
    assert steps["step"].tolist() == list(range(1, 17))
    assert steps["grad_change"].iloc[1:].gt(0).all() and steps["beta"].iloc[1:].gt(0).all()
    searched = steps.dropna(subset=["ls_loss_min"])
    assert searched["step"].tolist() == [3, 6, 9, 12, 15]
    assert (searched["ls_loss_min"] <= searched["ls_loss_max"]).all()
    assert (searched["ls_grad_diff_min"] <= searched["ls_grad_diff_max"]).all()


def test_auto_precision_is_tf32_on_cuda_and_never_bf16():
    """bf16 autocast was slower than TF32 on an H200 at these sizes (docs/performance.md): auto never picks it."""
    from ablate.training.device import precision_policy

    cuda, cpu = torch.device("cuda"), torch.device("cpu")
    assert precision_policy("auto", cuda).label == "tf32"
    assert precision_policy("auto", cpu).label == "fp32"
    assert precision_policy("fp32", cuda).label == "fp32"  # probe runs: no TF32
    assert precision_policy("bf16", cuda).label == "bf16-autocast"
    assert precision_policy("bf16", cpu).label == "bf16-autocast"


@pytest.mark.slow
def test_curvature_probe_does_not_change_the_trajectory(tmp_path):
    """The curvature probe on a BatchNorm model with dropout and augmentation: the same epochs as without it,
    and its columns where `curvature.every` says."""
    base = {"model": "vgg_a_bn_dropout", "epochs": 1, "width": 0.125, "augment": True}
    plain = train_run(run_config(**base), tmp_path / "plain", Runtime(threads=1), quiet)
    density = {"steps": 4, "vectors": 1}  # taken at both probes, and cheap (its own tests: pytest -k density)
    settings = {"every": 3, "tol": 1e-3, "max_iter": 6, "samples": 2, "mode": "train", "density": density}
    probed = train_run(
        run_config(**base, probes=["curvature"], curvature=settings), tmp_path / "probed", Runtime(threads=1), quiet
    )
    pd.testing.assert_frame_equal(
        pd.read_csv(tmp_path / "probed/history.csv")[RESULT_COLUMNS],
        pd.read_csv(tmp_path / "plain/history.csv")[RESULT_COLUMNS],
        check_exact=True,
    )
    assert plain["final_test_acc"] == probed["final_test_acc"]
    steps = pd.read_csv(tmp_path / "probed/steps.csv").dropna(subset=["curv_lambda_max"])
    assert steps["step"].tolist() == [3, 6]
    assert (steps["curv_lambda_min"] <= steps["curv_lambda_max"]).all()
    assert steps["curv_iterations"].between(2, 6).all() and steps["curv_trace_stderr"].gt(0).all()
    # converged exactly where the residuals certify it (ablate.training.curvature's rule)
    scale = steps[["curv_lambda_max", "curv_lambda_min"]].abs().max(axis=1)
    certified = steps[["curv_residual_max", "curv_residual_min"]].max(axis=1) <= settings["tol"] * scale
    assert steps["curv_residual_max"].ge(0).all() and steps["curv_residual_min"].ge(0).all()
    assert steps["curv_converged"].tolist() == certified.astype(float).tolist()
