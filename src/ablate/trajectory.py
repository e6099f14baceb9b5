"""A run is a trajectory: where its learning-rate schedule does not read the run's length (the scheduler's
`length` in registry.yaml), epoch k of a 40-epoch run is epoch k of a 200-epoch run, bit for bit on one device.
So a run's identity leaves `epochs` out, the trajectory trains to the most epochs any of its members asks for,
and each member (a study's variant and seed) reads its prefix: its epochs of history.csv and steps.csv, its
final and best within them, its weights at its epoch.

A finished trajectory keeps its final state (checkpoint.pt, with progress.json saying `finished`): a config
that raises its length continues from there; one that lowers it trains nothing. Torch-free: the workflow
decides at parse time whether a train job grows a run (`length_to_train`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from ablate import registry, rundir
from ablate.errors import ConfigError

WEIGHTS = "weights/epoch{epochs}.pt"  # in a run directory: the weights after a member's last epoch


def reads_length(config: Mapping) -> bool:
    """Whether the run's learning rates depend on its number of epochs (then `epochs` is part of its identity)."""
    return registry.SCHEDULERS[config["scheduler"]["name"]].reads_length


def identity(config: Mapping) -> dict:
    """What names the trajectory a resolved run config follows: the config, without `epochs` where the schedule
    does not read it."""
    return {k: v for k, v in config.items() if k != "epochs" or reads_length(config)}


def at_length(config: Mapping, epochs: int) -> dict:
    """A trajectory's config trained to, or read at, `epochs`: the length its identity may leave out, put back."""
    return {**config, "epochs": int(epochs)}


class FinalState(NamedTuple):
    """What a finished trajectory's kept state covers: the epochs it was trained to, and whether it diverged
    (then it stopped early and covers every length: it never grows)."""

    epochs: int
    diverged: bool

    def covers(self, epochs: int) -> bool:
        return self.diverged or self.epochs >= epochs


def final_state(run_dir: str | Path) -> FinalState | None:
    """The finished state kept in `run_dir` (progress.json), or None where the run has none (never trained, or
    stopped part way: then its checkpoint resumes it)."""
    path = Path(run_dir) / rundir.PROGRESS
    try:
        progress = rundir.read_json(path)
    except (OSError, ValueError):
        return None
    if not progress.get("finished"):
        return None
    return FinalState(int(progress["epochs"]), bool(progress.get("diverged", False)))


def length_to_train(run_dir: str | Path, planned: int) -> tuple[int, bool]:
    """(epochs, grows): the length a train job of the trajectory in `run_dir` is asked for, where the plan's
    members need `planned`. A finished state that covers it asks for its own length and nothing new (a lowered
    config trains nothing); otherwise `planned`, new (a raised config grows the run; an unfinished one resumes)."""
    state = final_state(run_dir)
    if state is not None and state.covers(planned):
        return state.epochs, False
    return planned, True


def history_prefix(history, epochs: int):
    """A member's rows of its trajectory's history (a DataFrame): its first `epochs`."""
    return history[history["epoch"] <= epochs].reset_index(drop=True)


def steps_prefix(steps, epochs: int):
    """A member's rows of its trajectory's steps.csv (a DataFrame): the steps of its first `epochs`."""
    return steps[steps["epoch"] <= epochs].reset_index(drop=True)


def results(history: Sequence[Mapping], diverged_step: int | None) -> dict[str, Any]:
    """The numbers of a run (or a member) from its history rows: final and best, timings, divergence."""
    best = max(history, key=lambda row: row["test_acc"], default=None)
    last = history[-1] if history else None
    timed = history[1:] or history  # the first epoch carries warm-up costs
    return {
        "epochs_completed": len(history),
        "final_test_acc": last["test_acc"] if last else None,
        "final_test_loss": last["test_loss"] if last else None,
        "final_train_loss": last["train_loss"] if last else None,
        "best_test_acc": best["test_acc"] if best else None,
        "best_epoch": best["epoch"] if best else None,
        "best_test_loss": min((r["test_loss"] for r in history), default=None),
        "diverged": diverged_step is not None,
        "diverged_step": diverged_step,
        "seconds_per_epoch": sum(r["epoch_seconds"] for r in timed) / len(timed) if timed else None,
        "images_per_second": sum(r["images_per_second"] for r in timed) / len(timed) if timed else None,
    }


def member_metrics(metrics: Mapping, history, epochs: int) -> dict[str, Any]:
    """A member's metrics.json: its trajectory's `metrics` with the numbers of its first `epochs` of `history`
    (a DataFrame). It diverged where its trajectory did within its epochs (history stops before them)."""
    if len(history) < epochs or (len(history) == epochs and not metrics["diverged"]):  # it reads all of it
        return {**metrics, "epochs": epochs}
    rows = history_prefix(history, epochs).to_dict("records")
    return {**metrics, **results(rows, None), "epochs": epochs}


def member_weights(run_dir: Path, epochs: int, out: Path) -> None:
    """`out`: a link to the weights the run in `run_dir` kept after `epochs` (WEIGHTS), saved
    first from its final state where that is at `epochs` but the file is not (a member that asks for the epoch
    a run had stopped at). A run that trained past `epochs` before any member asked for them has none: that
    is a config problem, said in one message."""
    kept = run_dir / WEIGHTS.format(epochs=epochs)
    checkpoint = run_dir / rundir.CHECKPOINT
    if not kept.exists() and checkpoint.exists():
        import torch  # only here: the job links a file that exists, in a fraction of torch's import

        state = torch.load(checkpoint, map_location="cpu", weights_only=True, mmap=True)
        if len(state["history"]) == epochs:
            rundir.write_atomic(kept, lambda tmp: torch.save(state["model"], tmp))
    if not kept.exists():
        saved = sorted(int(p.stem.removeprefix("epoch")) for p in (run_dir / "weights").glob("epoch*.pt"))
        raise ConfigError(
            f"config error: run {run_dir.name} kept no weights after epoch {epochs}: it trained past that epoch "
            f"before a member of that length asked for them (it kept them after epochs "
            f"{', '.join(map(str, saved)) or 'none'}). Give that member one of those lengths, or delete {run_dir} "
            "to train the run again"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    rundir.write_atomic(out, lambda tmp: rundir.link(kept, tmp))
