"""A run directory: the names of its files, their readers, and atomic writers (torch-free).

results/runs/<model>-<hash>/ holds, once the run is finished: config.json (the resolved run config, with the
epochs it was trained to), history.csv (one row per epoch), steps.csv (the probes, per step; a header only
without probes), density.csv (the Hessian's eigenvalue density at a few curvature probes; a header only
without), model.pt (the trained weights) and metrics.json (written last: a run is done once it exists).
Beside them, not the train rule's outputs: checkpoint.pt (every epoch, so that a killed job resumes; once the
run finished, its final state, which a longer config grows), progress.json (how far it got) and weights/ (the
weights after each of its members' epochs; ablate.trajectory).
"""

from __future__ import annotations

import csv
import json
import os
import shutil
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

RUNS_DIR = "results/runs"
RUN_ID = r"[a-z0-9_]+-[0-9a-f]{10}"  # <model>-<hash>: a run directory's name (the workflow's `run` wildcard)
TRAIN_BENCHMARK = "results/benchmarks/train/{run}.tsv"  # Snakemake's wall time of a run's train job
# a member's weights, as the analyses that read weights take them: a link to those its run kept (ablate.trajectory)
MEMBER_WEIGHTS = "results/weights/{run}/epoch{epochs}.pt"
# a run's TensorBoard event files, once per study membership (execution.tensorboard; ablate.training.board)
TENSORBOARD_DIR = "results/tensorboard/{study}/{variant}/seed{seed}"

CONFIG = "config.json"
HISTORY = "history.csv"
STEPS = "steps.csv"
DENSITY = "density.csv"  # the curvature probe's eigenvalue density (ablate.training.probes; a header only without)
MODEL = "model.pt"
METRICS = "metrics.json"
CHECKPOINT = "checkpoint.pt"
# {"epochs_completed", "epochs", "wall_seconds", "finished", "diverged"}, written after each checkpoint
PROGRESS = "progress.json"
DAMAGED_SUFFIX = ".damaged"  # checkpoint.pt.damaged: a checkpoint that did not load, set aside by the next train job

# what a train job leaves behind (the train rule's outputs, by name)
OUTPUTS = {
    "config": CONFIG,
    "history": HISTORY,
    "steps": STEPS,
    "density": DENSITY,
    "model": MODEL,
    "metrics": METRICS,
}
# Files that outgrow Snakemake's checksum limit (1 MB; steps.csv in the full study), so that a touch would
# look like a change: readers take them `ancient`, and metrics.json (small, rewritten by every training)
# tells when the run was trained again.
UNCHECKSUMMED = (STEPS, MODEL)


def run_dir(run_id: str) -> str:
    return f"{RUNS_DIR}/{run_id}"


def write_atomic(path: str | Path, write: Callable[[Path], None]) -> None:
    """Write through a temporary file beside `path`, then rename: readers never see half a file, and a write that
    fails leaves no temporary file."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:  # a full disk, a kill: no half-written file left to take space
        tmp.unlink(missing_ok=True)
        raise


def json_text(payload: Mapping | list) -> str:
    """What write_json writes."""
    return json.dumps(payload, indent=2, sort_keys=True) + "\n"


def link(source: Path, target: Path) -> None:
    """`target` as a hard link to `source` (no second copy of the bytes), or a copy where links are not allowed."""
    target.unlink(missing_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def write_json(path: str | Path, payload: Mapping | list) -> None:
    write_atomic(path, lambda tmp: tmp.write_text(json_text(payload)))


def write_csv(path: str | Path, columns: Iterable[str], rows: Iterable[Mapping]) -> None:
    def dump(tmp: Path) -> None:
        with open(tmp, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(columns))
            writer.writeheader()
            writer.writerows(rows)

    write_atomic(path, dump)


def read_json(path: str | Path) -> Any:
    return json.loads(Path(path).read_text())


def read_config(directory: str | Path) -> dict:
    return read_json(Path(directory) / CONFIG)


def read_metrics(directory: str | Path) -> dict:
    return read_json(Path(directory) / METRICS)


def read_history(directory: str | Path):
    """history.csv as a pandas DataFrame."""
    import pandas as pd

    return pd.read_csv(Path(directory) / HISTORY)


RETRAIN = "python -m ablate retrain {run_dir}"  # removes a run, says how to train it again (ablate.listing.cmd_retrain)


def damage(directory: str | Path) -> str | None:
    """What is wrong with a finished run's files, checked against each other (metrics.json, history.csv,
    progress.json); None where they agree. A file cut short or written by another run shows here."""
    directory = Path(directory)
    try:
        epochs = int(read_metrics(directory)["epochs_completed"])
    except (OSError, ValueError, KeyError, TypeError) as error:
        return f"{METRICS} does not read ({type(error).__name__}: {error})"
    try:
        lines = [line for line in (directory / HISTORY).read_text().splitlines() if line.strip()]
    except OSError as error:
        return f"{HISTORY} does not read ({type(error).__name__})"
    rows = max(len(lines) - 1, 0)
    if rows != epochs:
        return f"{HISTORY} holds {rows} epoch{'s' * (rows != 1)} where {METRICS} says {epochs}"
    if lines and lines[-1].count(",") != lines[0].count(","):
        return f"{HISTORY}'s last line is cut short"
    try:
        progress = read_json(directory / PROGRESS)
    except FileNotFoundError:
        return None  # a run trained before progress.json existed
    except (OSError, ValueError) as error:
        return f"{PROGRESS} does not read ({type(error).__name__})"
    if progress.get("finished") and progress.get("epochs_completed") != epochs:
        return f"{PROGRESS} says {progress.get('epochs_completed')} epochs where {METRICS} says {epochs}"
    return None


def read_steps(directory: str | Path):
    """steps.csv as a pandas DataFrame."""
    import pandas as pd

    return pd.read_csv(Path(directory) / STEPS)
