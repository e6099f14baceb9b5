"""Runs that grow (ablate.trajectory): a run's identity leaves `epochs` out where its schedule does not read them,
a finished run grown to more epochs ends bit for bit like a run that trained them from scratch, and each member
reads its prefix of the trajectory."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import torch

from ablate import registry, trajectory
from ablate.plan.config import validated
from ablate.plan.runs import make_plan
from ablate.training.trainer import Runtime, train_run

from conftest import synthetic_config

TIMINGS = ["epoch_seconds", "images_per_second"]
# dropout, augmentation and the probes draw random numbers; plateau keeps state across epochs
GROWN = {
    "augment": True,
    "dropout": 0.3,
    "optimizer": {"lr": 0.02},
    "scheduler": {"name": "plateau", "patience": 0, "cooldown": 0, "factor": 0.5},
    "probes": ["step_loss", "grad_change", "beta"],
    "probe_every": 3,
}


def plan_of(studies: dict, **defaults):
    config = synthetic_config(**defaults)
    config["studies"] = studies
    config["report"] = {"hyperparameters": {"study": next(iter(studies)), "variant": "a"}}
    return make_plan(validated(config, check_paths=False))


def log_lines(lines: list[str]):
    return lambda line: lines.append(line)


def test_every_scheduler_says_whether_it_reads_the_length():
    assert {name: entry.length for name, entry in registry.SCHEDULERS.items()} == {
        "none": "none", "plateau": "none", "cosine": "total", "step": "none",
    }  # fmt: skip
    with pytest.raises(ValueError, match="must say whether its learning rates depend on the run's length"):
        registry.entries(registry.Scheduler, {"new": {"function": "m:f"}})


def test_runs_that_differ_only_in_length_are_one_trajectory_unless_the_schedule_reads_it():
    studies = {
        "short": {"variants": {"a": {"epochs": 2}, "b": {"epochs": 3, "optimizer.lr": 0.5}}},
        "long": {"variants": {"a": {"epochs": 5}}},
        "cosine": {"scheduler": {"name": "cosine"}, "variants": {"a": {"epochs": 2}, "b": {"epochs": 5}}},
    }
    plan = plan_of(studies)
    shared = plan.run_of("short", "a", 0)
    assert plan.run_of("long", "a", 0) is shared and "epochs" not in shared.config
    assert shared.member_epochs == (2, 5) and shared.epochs == 5
    assert plan.member("short", "a", 0).epochs == 2 and plan.member("long", "a", 0).epochs == 5
    assert plan.run_of("short", "b", 0) is not shared  # another recipe: another trajectory
    cosine = [plan.run_of("cosine", v, 0) for v in ("a", "b")]
    assert cosine[0] is not cosine[1] and [r.config["epochs"] for r in cosine] == [2, 5]
    assert plan.counts() == (
        "5 variant-seed pairs, 4 trajectories, 15 epochs in all (17 if runs that differ only in length trained apart)"
    )


@pytest.mark.slow
def test_a_run_grown_from_2_to_4_epochs_ends_bit_for_bit_like_4_from_scratch(tmp_path):
    config = {**plan_of({"s": {"variants": {"a": {}}}}, **GROWN).runs.popitem()[1].config}
    whole, grown = tmp_path / "whole", tmp_path / "grown"
    train_run({**config, "epochs": 4}, whole, Runtime(threads=1), print, weights_at=(2, 4))
    train_run({**config, "epochs": 2}, grown, Runtime(threads=1), print, weights_at=(2,))
    assert trajectory.final_state(grown) == trajectory.FinalState(2, False)
    short = pd.read_csv(grown / "history.csv")
    lines: list[str] = []
    train_run({**config, "epochs": 4}, grown, Runtime(threads=1), log_lines(lines), weights_at=(2, 4))
    assert any("grows: continuing at epoch 3 of 4" in line for line in lines), lines
    assert sum("epoch 3/4" in line or "epoch 4/4" in line for line in lines) == 2
    assert not any("epoch 1/4" in line or "epoch 2/4" in line for line in lines)  # only the new epochs trained

    history = pd.read_csv(whole / "history.csv").drop(columns=TIMINGS)
    pd.testing.assert_frame_equal(pd.read_csv(grown / "history.csv").drop(columns=TIMINGS), history, check_exact=True)
    pd.testing.assert_frame_equal(short.drop(columns=TIMINGS), history.head(2), check_exact=True)
    steps = pd.read_csv(whole / "steps.csv")
    assert len(steps) > 4 and steps["epoch"].max() == 4
    assert (grown / "steps.csv").read_bytes() == (whole / "steps.csv").read_bytes()
    for name in ("model.pt", "weights/epoch2.pt", "weights/epoch4.pt"):
        expected = torch.load(whole / name, weights_only=True)
        actual = torch.load(grown / name, weights_only=True)
        assert expected.keys() == actual.keys()
        assert all(torch.equal(expected[key], actual[key]) for key in expected), name
    assert (whole / "model.pt").stat().st_ino == (whole / "weights/epoch4.pt").stat().st_ino  # a link, no copy
    metrics = json.loads((grown / "metrics.json").read_text())
    assert metrics["epochs_completed"] == 4 and json.loads((grown / "config.json").read_text())["epochs"] == 4
    assert trajectory.final_state(grown) == trajectory.FinalState(4, False)

    # a member of 2 epochs reads its prefix: its final and best are those of its epochs
    member = trajectory.member_metrics(metrics, pd.read_csv(grown / "history.csv"), 2)
    assert member["final_test_acc"] == short["test_acc"].iloc[-1] and member["epochs_completed"] == 2
    assert member["best_test_acc"] == short["test_acc"].max()
    assert len(trajectory.steps_prefix(steps, 2)) == (steps["epoch"] <= 2).sum()

    # lowering asks for nothing new; a rerun to the same length trains nothing and changes no number
    assert trajectory.length_to_train(grown, 3) == (4, False)
    assert trajectory.length_to_train(grown, 6) == (6, True)
    lines.clear()
    train_run({**config, "epochs": 4}, grown, Runtime(threads=1), log_lines(lines), weights_at=(2, 4))
    assert any("nothing to train" in line for line in lines) and not any("epoch 4/4" in line for line in lines)
    pd.testing.assert_frame_equal(pd.read_csv(grown / "history.csv").drop(columns=TIMINGS), history, check_exact=True)


def test_a_member_diverged_only_where_its_trajectory_did_within_its_epochs():
    history = pd.DataFrame(
        {"epoch": [1, 2], "train_loss": [2.0, 1.5], "train_acc": [10.0, 20.0], "test_loss": [2.1, 1.4],
         "test_acc": [11.0, 25.0], "lr": [0.1, 0.1], "epoch_seconds": [3.0, 2.0], "images_per_second": [9.0, 10.0]}
    )  # fmt: skip
    metrics = {"diverged": True, "diverged_step": 21, "parameters": 7, "epochs_completed": 2}  # epoch 3 diverged
    assert trajectory.member_metrics(metrics, history, 2) | {} == {
        **metrics, "epochs": 2, "epochs_completed": 2, "final_test_acc": 25.0, "final_test_loss": 1.4,
        "final_train_loss": 1.5, "best_test_acc": 25.0, "best_epoch": 2, "best_test_loss": 1.4, "diverged": False,
        "diverged_step": None, "seconds_per_epoch": 2.0, "images_per_second": 10.0,
    }  # fmt: skip
    longer = trajectory.member_metrics(metrics, history, 5)
    assert longer["diverged"] is True and longer["diverged_step"] == 21 and longer["epochs_completed"] == 2
    assert trajectory.member_metrics(metrics, history, 1)["final_test_acc"] == 11.0
