"""Where a config's runs stand on disk: done, grows (finished shorter than its members now ask: epoch k of n),
partial (epoch k of n), pending (not started) or damaged, and the time still to go.

A run is done once its metrics.json exists (written last) and its finished state covers the epochs its
members ask for (ablate.trajectory), partial while its per-epoch checkpoint.pt exists without metrics.json.
Damaged: a finished run whose files disagree (rundir.damage), or a partial run whose checkpoint does not load
or is another run's; each says what to do. How far a partial run got is read from its checkpoint (torch is
imported only for that). The time to go is the mean s/epoch of the finished runs with the same model, width
and batch size, applied to the epochs left; nothing measured, nothing guessed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from ablate import rundir, trajectory
from ablate.durations import format_duration
from ablate.plan.runs import Plan, Run
from ablate.rundir import CHECKPOINT, DAMAGED_SUFFIX, METRICS


def stage(run_dir: Path, epochs: int) -> str:
    """done, grows, partial or pending, from which files exist (cheap: what `plan` shows); `epochs`: the most
    its members ask for."""
    if (run_dir / METRICS).exists():
        final = trajectory.final_state(run_dir)
        return "grows" if final is not None and not final.covers(epochs) else "done"
    return "partial" if (run_dir / CHECKPOINT).exists() else "pending"


STATES = ("done", "grows", "partial", "pending", "damaged")


@dataclass(frozen=True)
class RunStatus:
    run: Run
    state: str  # done, grows, partial, pending, damaged
    epochs_completed: int
    seconds_per_epoch: float | None = None  # measured, for done runs
    diverged: bool = False
    eta_seconds: float | None = None  # the remaining epochs at the measured rate; None: unknown
    problem: str | None = None  # what is damaged, and what to do

    @property
    def epochs(self) -> int:
        return self.run.epochs

    @property
    def remaining_epochs(self) -> int:
        return 0 if self.state == "done" else max(self.epochs - self.epochs_completed, 0)

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
        return self.state  # pending, damaged


def speed_key(config: dict) -> tuple:
    """What s/epoch is measured per: model, width and batch size (one config trains on one dataset)."""
    return config["model"], config["width"], config["batch_size"]


def checkpoint_progress(run: Run, run_dir: Path) -> tuple[int, str | None]:
    """(completed epochs, problem) of a partial run, from its checkpoint: opened (mmap: its pickled structure, not
    its tensors) to see that it loads and is this run's, which progress.json alone cannot say."""
    import torch

    try:
        state = torch.load(run_dir / CHECKPOINT, map_location="cpu", weights_only=True, mmap=True)
    except FileNotFoundError:  # finished (or was deleted) meanwhile
        return 0, None
    except Exception as error:  # truncated, or not a torch file: whatever torch.load raises
        return 0, f"{CHECKPOINT} does not load ({type(error).__name__})"
    if not isinstance(state, dict) or not {"config", "history"} <= state.keys():
        return 0, f"{CHECKPOINT} is not a checkpoint of this code"
    if trajectory.identity(state["config"]) != trajectory.identity(run.config):
        return 0, f"{CHECKPOINT} is another run's (its config differs)"
    return len(state["history"]), None


def run_status(run: Run, root: Path = Path()) -> RunStatus:
    run_dir = root / run.dir
    state = stage(run_dir, run.epochs)
    if state in ("done", "grows"):
        problem = rundir.damage(run_dir)
        if problem is not None:
            fix = (
                f"nothing reads it; {rundir.RETRAIN.format(run_dir=run.dir)} removes it and says how to train it again"
            )
            return RunStatus(run, "damaged", 0, problem=f"{problem}: {fix}")
        metrics = rundir.read_metrics(run_dir)
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
        epochs, problem = checkpoint_progress(run, run_dir)
        if problem is not None:
            fix = f"its next train job keeps it as {CHECKPOINT}{DAMAGED_SUFFIX} and trains the run from scratch"
            return RunStatus(run, "damaged", 0, problem=f"{problem}: {fix}")
        return RunStatus(run, "partial", epochs)
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
    counts = {state: sum(s.state == state for s in statuses) for state in STATES}
    unfinished = [s for s in statuses if s.state != "done"]
    known = [s for s in unfinished if s.eta_seconds is not None]
    unknown = len(unfinished) - len(known)
    lines = [
        f"{len(statuses)} trajectories: {counts['done']} done, {counts['grows']} to grow, {counts['partial']} partial, "
        f"{counts['pending']} pending, {counts['damaged']} damaged; "
        f"{sum(s.remaining_epochs for s in unfinished):,} epochs to go"
    ]
    lines += [f"damaged: {s.run.dir}: {s.problem}" for s in statuses if s.state == "damaged"]
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
