"""Where a config's runs stand on disk: done, grows (finished shorter than its members now ask: epoch k of n),
partial (epoch k of n) or not started, and the time still to go.

A run is done once its metrics.json exists (written last) and its finished state covers the epochs its
members ask for (ablate.trajectory), partial while its per-epoch checkpoint.pt exists without metrics.json.
How far a partial run got is read from progress.json, the small file the train job writes beside each
checkpoint; a checkpoint without one (or newer than it) is opened instead. The time to go is the
mean s/epoch of the finished runs with the same model, width and batch size, applied to the epochs
left; nothing measured, nothing guessed. Torch is imported only to open such a checkpoint.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from ablate import trajectory
from ablate.durations import format_duration
from ablate.plan.runs import Plan, Run
from ablate.rundir import CHECKPOINT, METRICS, PROGRESS


def stage(run_dir: Path, epochs: int) -> str:
    """done, grows, partial or pending, from which files exist (cheap: what `plan` shows); `epochs`: the most
    its members ask for."""
    if (run_dir / METRICS).exists():
        final = trajectory.final_state(run_dir)
        return "grows" if final is not None and not final.covers(epochs) else "done"
    return "partial" if (run_dir / CHECKPOINT).exists() else "pending"


@dataclass(frozen=True)
class RunStatus:
    run: Run
    state: str  # done, grows, partial, pending
    epochs_completed: int
    seconds_per_epoch: float | None = None  # measured, for done runs
    diverged: bool = False
    eta_seconds: float | None = None  # the remaining epochs at the measured rate; None: unknown

    @property
    def epochs(self) -> int:
        return self.run.epochs

    @property
    def remaining_epochs(self) -> int:
        return 0 if self.state == "done" else self.epochs - self.epochs_completed

    def member_label(self, epochs: int) -> str:
        """The label of a member that reads `epochs` of this run: done where a run that grows already has them."""
        return "done" if self.state == "grows" and self.epochs_completed >= epochs else self.label

    @property
    def label(self) -> str:
        if self.state == "done":
            return "done, diverged" if self.diverged else "done"
        if self.state == "partial":
            return f"partial, epoch {self.epochs_completed} of {self.epochs}"
        if self.state == "grows":
            return f"grows: epoch {self.epochs_completed} of {self.epochs}"
        return "pending"


def speed_key(config: dict) -> tuple:
    """What s/epoch is measured per: model, width and batch size (one config trains on one dataset)."""
    return config["model"], config["width"], config["batch_size"]


def epochs_in_checkpoint(run_dir: Path) -> int:
    """Completed epochs of a partial run: progress.json, or the checkpoint's history where that is missing."""
    progress, checkpoint = run_dir / PROGRESS, run_dir / CHECKPOINT
    try:
        if progress.stat().st_mtime >= checkpoint.stat().st_mtime:
            return int(json.loads(progress.read_text())["epochs_completed"])
    except (OSError, ValueError, KeyError):
        pass
    import torch

    try:  # mmap: only the pickled structure is read, not the tensors
        return len(torch.load(checkpoint, map_location="cpu", weights_only=True, mmap=True)["history"])
    except FileNotFoundError:  # finished (or was deleted) meanwhile
        return 0


def run_status(run: Run, root: Path = Path()) -> RunStatus:
    run_dir = root / run.dir
    state = stage(run_dir, run.epochs)
    if state in ("done", "grows"):
        try:
            metrics = json.loads((run_dir / METRICS).read_text())
        except (OSError, ValueError):
            metrics = {}
        if state == "grows":  # a config raised its length since it finished
            final = trajectory.final_state(run_dir)
            return RunStatus(run, "grows", final.epochs if final else 0, metrics.get("seconds_per_epoch"))
        return RunStatus(
            run,
            "done",
            metrics.get("epochs_completed", run.epochs),
            metrics.get("seconds_per_epoch"),
            bool(metrics.get("diverged")),
            eta_seconds=0.0,
        )
    if state == "partial":
        return RunStatus(run, "partial", epochs_in_checkpoint(run_dir))
    return RunStatus(run, "pending", 0)


def with_eta(statuses: Iterable[RunStatus]) -> list[RunStatus]:
    """Each unfinished run's time to go: its epochs left at the mean s/epoch of finished runs like it."""
    statuses = list(statuses)
    measured: dict[tuple, list[float]] = defaultdict(list)
    for status in statuses:
        if status.state == "done" and status.seconds_per_epoch:
            measured[speed_key(status.run.config)].append(status.seconds_per_epoch)
    rate = {key: sum(values) / len(values) for key, values in measured.items()}
    out = []
    for status in statuses:
        if status.state != "done":
            # a run that grows has its own rate
            per_epoch = status.seconds_per_epoch or rate.get(speed_key(status.run.config))
            eta = None if per_epoch is None else per_epoch * status.remaining_epochs
            status = replace(status, eta_seconds=eta)
        out.append(status)
    return out


def plan_status(plan: Plan, root: Path = Path()) -> dict[str, RunStatus]:
    """Every run of the plan, by id, with its state and time to go."""
    return {s.run.id: s for s in with_eta(run_status(run, root) for run in plan.runs.values())}


def summary(statuses: Iterable[RunStatus]) -> list[str]:
    """The closing lines of `status`: counts, epochs to go and the total time to go."""
    statuses = list(statuses)
    counts = {state: sum(s.state == state for s in statuses) for state in ("done", "grows", "partial", "pending")}
    unfinished = [s for s in statuses if s.state != "done"]
    known = [s for s in unfinished if s.eta_seconds is not None]
    unknown = len(unfinished) - len(known)
    lines = [
        f"{len(statuses)} trajectories: {counts['done']} done, {counts['grows']} to grow, {counts['partial']} partial, "
        f"{counts['pending']} pending; {sum(s.remaining_epochs for s in unfinished):,} epochs to go"
    ]
    if not unfinished:
        lines.append("ETA: nothing left to train")
    elif not known:
        lines.append("ETA: unknown (no finished run yet with the model, width and batch size of a remaining run)")
    else:
        eta = format_duration(sum(s.eta_seconds for s in known))
        tail = (
            f"; unknown for {unknown} more (no finished run yet with their model, width and batch size)"
            if unknown
            else ""
        )
        lines.append(f"ETA: {eta} of training, one job after another, for {len(known)} runs{tail}")
    return lines
