"""Before a run trains: does what it will write fit where it writes? A full disk found at the end of a run
would lose the run; found before it, nothing is lost (an existing checkpoint stays as it is).

What a run will write into its directory: checkpoint.pt every epoch (written beside the old one, then renamed
over it: two whole checkpoints while one is saved), the weights its members read (weights/, one file per
member epoch; model.pt links the last), steps.csv (one row per step for runs with probes; the checkpoint holds
those rows too) and, where switched on, its TensorBoard event files. Estimated from the model and optimizer as
built and the run's number of steps; history.csv, metrics.json and progress.json are a few kB. The check
before training counts the peak; runs that start together on one disk each see the same free space, so every
checkpoint is checked again before it is written (check_save): a run stops there, its last checkpoint kept.
"""

from __future__ import annotations

import errno
import math
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path

from torch import nn

from ablate import registry, rundir
from ablate.errors import NotEnoughSpace
from ablate.training import probes

BYTES_PER_CSV_VALUE = 20  # a float as csv writes it (up to 17 digits, a sign, an exponent) and its comma
BYTES_PER_PICKLED_VALUE = 12  # a float in the checkpoint's pickled probe rows (9) and its memoized key
BYTES_PER_EVENT = 100  # one scalar in a TensorBoard event file (measured: ~60 with its tag; docs/faults.md)
SLACK = 1 << 20  # history.csv, metrics.json, progress.json, config.json


def estimate(config: Mapping, model: nn.Module, steps: int, event_dirs: int, member_weights: int = 1) -> dict[str, int]:
    """Bytes the run holds at its peak, by file: checkpoint.pt (twice: the old one and the one being saved), the
    weights of its `member_weights` member epochs still to save (model.pt: a link to the last), steps.csv,
    TensorBoard's event files."""
    weights = sum(t.numel() * t.element_size() for t in model.state_dict().values())
    params = sum(p.numel() * p.element_size() for p in model.parameters())
    probe_columns = len(probes.columns(config["probes"])) if config["probes"] else 0
    rows = steps if probe_columns else 0
    values = rows * probe_columns
    state = params * registry.OPTIMIZERS[config["optimizer"]["name"]].state_tensors(config["optimizer"])
    return {
        rundir.CHECKPOINT: 2 * (weights + state + values * BYTES_PER_PICKLED_VALUE),
        "weights": member_weights * weights,
        rundir.STEPS: values * BYTES_PER_CSV_VALUE,
        "TensorBoard event files": event_dirs * (values + 6 * config["epochs"]) * BYTES_PER_EVENT,
    }


def steps_of(config: Mapping, train_images: int) -> int:
    """Optimizer steps of the whole run: every epoch's batches, the last one smaller."""
    return config["epochs"] * math.ceil(train_images / config["batch_size"])


def check_space(run_dir: Path, needs: Mapping[str, int]) -> None:
    """Raise NotEnoughSpace, naming the numbers and the path, where `needs` (bytes by file, at the run's peak) and
    some slack do not fit into the free space of `run_dir`'s file system and what its checkpoint already holds."""
    checkpoint = run_dir / rundir.CHECKPOINT
    held = checkpoint.stat().st_size if checkpoint.exists() else 0  # the old one of the two: already on the disk
    free = shutil.disk_usage(run_dir).free
    total = sum(needs.values()) + SLACK - held
    if total <= free:
        return
    parts = ", ".join(f"{name} {_mb(size)}" for name, size in needs.items() if size)
    kept = f" (its checkpoint.pt, {_mb(held)}, is kept)" if held else ""
    raise NotEnoughSpace(
        f"not enough disk space for run {run_dir.name} in {run_dir}: it needs about {_mb(total)} more at its peak "
        f"({parts}), and {_mb(free)} is free there; free some space or move results/ to a larger disk, then "
        f"rerun{kept}"
    )


def check_save(run_dir: Path, size: int, what: str) -> None:
    """Raise NotEnoughSpace where `size` bytes (one file about to be written beside `run_dir`'s others) and some
    slack do not fit into its free space: the check each save repeats, where other runs took space meanwhile."""
    if size + SLACK > shutil.disk_usage(run_dir).free:
        raise no_space_for(run_dir, size, what)


def checked_save(run_dir: Path, size: int, what: str, save: Callable[[], None]) -> None:
    """`save()` (a write of about `size` bytes into `run_dir`) after check_save; a write that fails for want of
    space (another run filled the disk between the check and the write) raises the same NotEnoughSpace."""
    check_save(run_dir, size, what)
    try:
        save()
    except (OSError, RuntimeError) as error:
        if not disk_full(error):
            raise
        raise no_space_for(run_dir, size, what) from error


def no_space_for(run_dir: Path, size: int, what: str) -> NotEnoughSpace:
    free = shutil.disk_usage(run_dir).free
    return NotEnoughSpace(
        f"not enough disk space for run {run_dir.name} in {run_dir}: {what} needs about {_mb(size + SLACK)} and "
        f"{_mb(free)} is free there (other jobs wrote to the disk since the run started); stopped before writing "
        "it, what the run saved before is kept: free some space or move results/ to a larger disk, then rerun"
    )


def disk_full(error: BaseException) -> bool:
    """Whether a failed write failed for want of space: an OSError ENOSPC or EDQUOT, or torch.save's RuntimeError
    ("... file write failed"), which gives no errno."""
    if isinstance(error, OSError):
        return error.errno in (errno.ENOSPC, errno.EDQUOT)
    return "write failed" in str(error)


def _mb(size: int) -> str:
    return f"{size / 2**20:,.1f} MB"
