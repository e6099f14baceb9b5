"""Before a run trains: does what it will write fit where it writes? A full disk found at the end of a run
would lose the run; found before it, nothing is lost (an existing checkpoint stays as it is).

What a run will write into its directory: checkpoint.pt every epoch (written beside the old one, then renamed
over it: one whole checkpoint more while it is written), model.pt at the end, steps.csv (one row per step
for runs with probes; the checkpoint holds those rows too) and, where switched on, its TensorBoard event
files. Estimated from the model and optimizer as built and the run's number of steps; history.csv,
metrics.json and progress.json are a few kB.
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Mapping
from pathlib import Path

from torch import nn

from ablate import rundir
from ablate.errors import NotEnoughSpace
from ablate.training import probes

BYTES_PER_CSV_VALUE = 20  # a float as csv writes it (up to 17 digits, a sign, an exponent) and its comma
BYTES_PER_PICKLED_VALUE = 12  # a float in the checkpoint's pickled probe rows (9) and its memoized key
BYTES_PER_EVENT = 100  # one scalar in a TensorBoard event file (measured: ~60 with its tag; README)
SLACK = 1 << 20  # history.csv, metrics.json, progress.json, config.json


def optimizer_state_tensors(spec: Mapping) -> int:
    """The tensors of a parameter's size the optimizer `spec` keeps per parameter (torch.optim's state)."""
    momentum = 1 if spec.get("momentum") else 0  # momentum_buffer
    # sgd: momentum_buffer; rmsprop: square_avg; adagrad: sum; adam: exp_avg, exp_avg_sq; adadelta: square_avg,
    # acc_delta. A name not listed: 2, as Adam.
    return {"sgd": momentum, "rmsprop": 1 + momentum, "adagrad": 1}.get(spec["name"], 2)


def estimate(config: Mapping, model: nn.Module, steps: int, event_dirs: int) -> dict[str, int]:
    """Bytes the run will write, by file: checkpoint.pt, model.pt, steps.csv, tensorboard."""
    weights = sum(t.numel() * t.element_size() for t in model.state_dict().values())
    params = sum(p.numel() * p.element_size() for p in model.parameters())
    probe_columns = len(probes.columns(config["probes"])) if config["probes"] else 0
    rows = steps if probe_columns else 0
    values = rows * probe_columns
    state = params * optimizer_state_tensors(config["optimizer"])
    return {
        rundir.CHECKPOINT: weights + state + values * BYTES_PER_PICKLED_VALUE,
        rundir.MODEL: weights,
        rundir.STEPS: values * BYTES_PER_CSV_VALUE,
        "TensorBoard event files": event_dirs * (values + 6 * config["epochs"]) * BYTES_PER_EVENT,
    }


def steps_of(config: Mapping, train_images: int) -> int:
    """Optimizer steps of the whole run: every epoch's batches, the last one smaller."""
    return config["epochs"] * math.ceil(train_images / config["batch_size"])


def check_space(run_dir: Path, needs: Mapping[str, int]) -> None:
    """Raise NotEnoughSpace, naming the numbers and the path, where `needs` (bytes by file) and some slack do not
    fit into the free space of `run_dir`'s file system."""
    free = shutil.disk_usage(run_dir).free
    total = sum(needs.values()) + SLACK
    if total <= free:
        return
    parts = ", ".join(f"{name} {_mb(size)}" for name, size in needs.items() if size)
    kept = " (its checkpoint.pt is kept)" if (run_dir / rundir.CHECKPOINT).exists() else ""
    raise NotEnoughSpace(
        f"not enough disk space for run {run_dir.name} in {run_dir}: it will write about {_mb(total)} ({parts}), "
        f"and {_mb(free)} is free there; free some space or move results/ to a larger disk, then rerun{kept}"
    )


def _mb(size: int) -> str:
    return f"{size / 2**20:,.1f} MB"
