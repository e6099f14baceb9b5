"""What a finished run leaves in its directory: history.csv, steps.csv, model.pt and metrics.json (last: the run is
done once it exists), plus the history rows they are made of and the log line of each epoch."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch
import torchvision
from torch import nn

from ablate import rundir
from ablate.durations import format_duration
from ablate.training.device import Precision, cpu_name
from ablate.training.models import parameter_count

HISTORY_COLUMNS = (
    "epoch",
    "train_loss",
    "train_acc",
    "test_loss",
    "test_acc",
    "lr",
    "epoch_seconds",
    "images_per_second",
)


def history_row(
    epoch: int,
    train: tuple[float, float],
    test: tuple[float, float],
    lr: float,
    seconds: float,
    images_per_second: float,
) -> dict:
    """One row of history.csv: `train` and `test` are (loss, accuracy in %); `lr` the rate the epoch trained at."""
    (train_loss, train_acc), (test_loss, test_acc) = train, test
    return {
        "epoch": epoch,
        "train_loss": train_loss,
        "train_acc": train_acc,
        "test_loss": test_loss,
        "test_acc": test_acc,
        "lr": lr,
        "epoch_seconds": seconds,
        "images_per_second": images_per_second,
    }


def epoch_line(row: Mapping, epochs: int, eta_seconds: float) -> str:
    """The log line of a finished epoch (without the run's name, which the trainer's log puts first)."""
    return (
        f"epoch {row['epoch']}/{epochs} train_loss {row['train_loss']:.4f} train_acc {row['train_acc']:.2f} "
        f"test_loss {row['test_loss']:.4f} test_acc {row['test_acc']:.2f} lr {row['lr']:.3g} "
        f"{row['images_per_second']:.0f} img/s {row['epoch_seconds']:.1f}s ETA {format_duration(eta_seconds)}"
    )


def metrics(
    run_dir: Path,
    history: Sequence[Mapping],
    model: nn.Module,
    diverged_step: int | None,
    wall_seconds: float,
    *,
    device: torch.device,
    precision: Precision,
    channels_last: bool,
    compiled: bool,
    gpu_slot: str | None,
) -> dict:
    """metrics.json: the run's results, then the provenance of its timings (device, precision, versions)."""
    best = max(history, key=lambda row: row["test_acc"], default=None)
    last = history[-1] if history else None
    timed = history[1:] or history  # the first epoch carries warm-up costs
    return {
        "run": run_dir.name,
        "epochs_completed": len(history),
        "final_test_acc": last["test_acc"] if last else None,
        "final_test_loss": last["test_loss"] if last else None,
        "final_train_loss": last["train_loss"] if last else None,
        "best_test_acc": best["test_acc"] if best else None,
        "best_epoch": best["epoch"] if best else None,
        "best_test_loss": min((r["test_loss"] for r in history), default=None),
        "parameters": parameter_count(model),
        "diverged": diverged_step is not None,
        "diverged_step": diverged_step,
        "seconds_per_epoch": sum(r["epoch_seconds"] for r in timed) / len(timed) if timed else None,
        "images_per_second": sum(r["images_per_second"] for r in timed) / len(timed) if timed else None,
        "wall_seconds": wall_seconds,
        "device": str(device),
        "gpu_slot": gpu_slot,
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_name(),
        "precision": precision.label,
        "channels_last": channels_last,
        "compiled": compiled,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,  # the CUDA torch was built with; None on CPU-only builds
        "torchvision": torchvision.__version__,
        "python": sys.version.split()[0],
    }


def write_outputs(
    run_dir: Path,
    history: Sequence[Mapping],
    steps: tuple[Sequence[str], Sequence[Mapping]],
    model: nn.Module,
    run_metrics: Mapping,
) -> None:
    """Write the finished run's files; `steps` is (columns, rows) of steps.csv. metrics.json goes last (a run is
    done once it exists), then the checkpoint and progress.json go: nothing is left to resume."""
    rundir.write_csv(run_dir / rundir.HISTORY, HISTORY_COLUMNS, history)
    rundir.write_csv(run_dir / rundir.STEPS, *steps)
    rundir.write_atomic(run_dir / rundir.MODEL, lambda tmp: torch.save(model.state_dict(), tmp))
    rundir.write_json(run_dir / rundir.METRICS, run_metrics)
    (run_dir / rundir.CHECKPOINT).unlink(missing_ok=True)
    (run_dir / rundir.PROGRESS).unlink(missing_ok=True)
