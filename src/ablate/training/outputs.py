"""What a finished run leaves in its directory: config.json, history.csv, steps.csv, density.csv, model.pt and
metrics.json (last: the run is done once it exists; the files: ablate.rundir), plus the history rows they are
made of and the log line of each epoch."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from importlib import metadata
from pathlib import Path

import torch
from torch import nn

from ablate import rundir, trajectory
from ablate.durations import format_duration
from ablate.execution.machine import cpu_name
from ablate.training.device import Precision
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
    oom_retries: Sequence[Mapping] = (),
    gpu_memory_estimate_mb: int | None = None,
    peak_gpu_memory_mb: float | None = None,
) -> dict:
    """metrics.json: the run's results, then the provenance of its timings (device, precision, versions) and its
    GPU memory: the estimate its slots were sized by, the peak torch allocated, and the attempts that ran out of
    memory (`oom_retries`: epoch, step, slots held), so that the estimate can be corrected from measurements."""
    return {
        "run": run_dir.name,
        **trajectory.results(history, diverged_step),
        "parameters": parameter_count(model),
        "wall_seconds": wall_seconds,
        "device": str(device),
        "gpu_slot": gpu_slot,
        "gpu_memory_estimate_mb": gpu_memory_estimate_mb,
        "peak_gpu_memory_mb": peak_gpu_memory_mb,
        "oom_retries": list(oom_retries),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_name(),
        "precision": precision.label,
        "channels_last": channels_last,
        "compiled": compiled,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,  # the CUDA torch was built with; None on CPU-only builds
        "torchvision": package_version("torchvision"),
        "python": sys.version.split()[0],
    }


def package_version(name: str) -> str | None:
    """The installed version of package `name` (None where it is not installed), read from its metadata: importing
    torchvision (and PIL) for its __version__ cost a train job, which never decodes an image, 0.2 s. The
    metadata's version has no local label (0.29.1, not 0.29.1+cu130): the CUDA build is metrics.json's `cuda`."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def save_weights(model: nn.Module, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rundir.write_atomic(path, lambda tmp: torch.save(model.state_dict(), tmp))


def write_outputs(
    run_dir: Path,
    config: Mapping,
    history: Sequence[Mapping],
    steps: tuple[Sequence[str], Sequence[Mapping]],
    density: tuple[Sequence[str], Sequence[Mapping]],
    model: nn.Module,
    run_metrics: Mapping,
    saved_weights: Path | None = None,
) -> None:
    """Write the finished run's files; `steps` and `density` are (columns, rows) of steps.csv and density.csv;
    `saved_weights`: a file that already holds the model's weights (a member's, ablate.trajectory.WEIGHTS), which
    model.pt then links to instead of a second copy. metrics.json goes last: a run is done once it exists."""
    rundir.write_json(run_dir / rundir.CONFIG, config)
    rundir.write_csv(run_dir / rundir.HISTORY, HISTORY_COLUMNS, history)
    rundir.write_csv(run_dir / rundir.STEPS, *steps)
    rundir.write_csv(run_dir / rundir.DENSITY, *density)
    if saved_weights is not None and saved_weights.exists():
        rundir.write_atomic(run_dir / rundir.MODEL, lambda tmp: rundir.link(saved_weights, tmp))
    else:
        save_weights(model, run_dir / rundir.MODEL)
    rundir.write_json(run_dir / rundir.METRICS, run_metrics)
