"""TensorBoard event files (execution.tensorboard; ablate.training.board), read back with TensorBoard's own reader:
one scalar series per run and metric, the probe series for probe runs, no step twice after a resume; and the
switch changes no run's identity. The killed-and-resumed workflow run: tests/test_resume.py."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
from test_train import quiet, run_config

from ablate.plan.config import validated
from ablate.plan.runs import make_plan
from ablate.training import checkpoint
from ablate.training.board import EPOCH_COLUMNS
from ablate.training.trainer import Runtime, train_run

from conftest import synthetic_config

PROBES = {"probes": ["step_loss", "grad_change", "beta", "line_search"], "probe_every": 3}


def scalars(event_dir: str | Path) -> dict[str, list[tuple[int, float]]]:
    """Tag -> [(step, value)] as TensorBoard shows them (its reader applies purge_step's restarts)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    reader = EventAccumulator(str(event_dir))
    reader.Reload()
    return {tag: [(e.step, e.value) for e in reader.Scalars(tag)] for tag in reader.Tags()["scalars"]}


def same_series(series: list[tuple[int, float]], steps, values) -> bool:
    """The same steps, in order and each once, and the same values as float32 (TensorBoard's) holds them."""
    return [s for s, _ in series] == list(steps) and [v for _, v in series] == pytest.approx(list(values), nan_ok=True)


def check_run_series(event_dir: str | Path, run_dir: Path, probed: bool, steps_per_epoch: int = 256 // 32) -> None:
    """One series per metric, each step once, the values of history.csv (and of steps.csv for probe runs).
    Epochs are plotted at their last step: the synthetic runs here train 256 images at batch 32."""
    series = scalars(event_dir)
    history = pd.read_csv(run_dir / "history.csv")
    steps = pd.read_csv(run_dir / "steps.csv")
    last_steps = (history["epoch"] * steps_per_epoch).tolist()
    for column in EPOCH_COLUMNS:
        assert same_series(series[f"epoch/{column}"], last_steps, history[column]), column
    probe_tags = {tag for tag in series if tag.startswith("step/")}
    assert probe_tags == ({f"step/{c}" for c in steps.columns} - {"step/epoch", "step/step"} if probed else set())
    for tag in probe_tags:
        column = steps[["step", tag.removeprefix("step/")]].dropna()
        assert same_series(series[tag], column["step"], column.iloc[:, 1]), tag
    assert set(series) == {f"epoch/{c}" for c in EPOCH_COLUMNS} | probe_tags


def test_the_switch_changes_no_run_identity():
    config = synthetic_config()
    config["studies"]["t"] = {"variants": {"same": {}}}  # resolves to the run of study s: shared
    plain = make_plan(validated(config, check_paths=False))
    watched = make_plan(validated({**config, "execution": {"tensorboard": True}}, check_paths=False))
    assert list(watched.runs) == list(plain.runs)
    assert [r.config for r in watched.runs.values()] == [r.config for r in plain.runs.values()]
    [(_, dirs)] = watched.tensorboard_dirs().items()  # one run, under each study it belongs to
    assert dirs == ["results/tensorboard/s/a/seed0", "results/tensorboard/t/same/seed0"]


@pytest.mark.slow
def test_every_metric_is_one_series_and_probe_runs_add_theirs(tmp_path):
    boards = (tmp_path / "tb/s/a/seed0", tmp_path / "tb/t/same/seed0")  # a run two studies share
    train_run(run_config(**PROBES), tmp_path / "probed", Runtime(threads=1, tensorboard=tuple(map(str, boards))), quiet)
    for board in boards:
        check_run_series(board, tmp_path / "probed", probed=True)
    train_run(run_config(), tmp_path / "plain", Runtime(threads=1, tensorboard=(str(tmp_path / "tb/plain"),)), quiet)
    check_run_series(tmp_path / "tb/plain", tmp_path / "plain", probed=False)


@pytest.mark.slow
def test_a_resumed_run_continues_its_curves_without_a_step_twice(tmp_path, monkeypatch):
    """The worst case of a killed job: its events ran past its checkpoint (here: the checkpoint of epoch 1 is put
    back after all three epochs were written). The resumed run rewrites epochs 2-3, and TensorBoard shows each
    step once, with the values of the resumed run (its own images/s, not the first attempt's)."""
    saved = tmp_path / "after-epoch-1.pt"
    save = checkpoint.Checkpoint.save

    def save_and_keep_the_first(self, progress):
        save(self, progress)
        if len(progress.history) == 1:
            shutil.copy(self.path, saved)

    monkeypatch.setattr(checkpoint.Checkpoint, "save", save_and_keep_the_first)
    config, run_dir, board = run_config(**PROBES, epochs=3), tmp_path / "run", str(tmp_path / "tb")
    train_run(config, run_dir, Runtime(threads=1, tensorboard=(board,)), quiet)
    first = pd.read_csv(run_dir / "history.csv")
    for name in ("metrics.json", "history.csv", "steps.csv", "model.pt"):
        (run_dir / name).unlink()
    shutil.copy(saved, run_dir / "checkpoint.pt")
    (run_dir / "progress.json").unlink()  # as a job killed after epoch 1 leaves it: no final state
    lines: list[str] = []
    train_run(config, run_dir, Runtime(threads=1, tensorboard=(board,)), lines.append)
    assert any("resumed from" in line and "after epoch 1" in line for line in lines)
    assert len(list(Path(board).glob("events.out.tfevents.*"))) == 2  # the first attempt's events are all there
    check_run_series(board, run_dir, probed=True)
    resumed = pd.read_csv(run_dir / "history.csv")
    assert resumed["images_per_second"].iloc[1:].tolist() != first["images_per_second"].iloc[1:].tolist()
