"""A run's checkpoint: everything a killed job needs to resume and end with the numbers of an unbroken run, and a
finished run to grow (ablate.trajectory).

checkpoint.pt holds the model, optimizer and scheduler states, every random number generator a run draws
from (the data generator, torch's CPU generator, the CUDA generators), the history so far, the step count
and the probes' state; progress.json beside it says how far the run got, for `python -m ablate status`
(which then needs neither torch nor the checkpoint). Both are written atomically, after every epoch. A
finished run keeps both: its last checkpoint is its final state, and progress.json then says `finished` (and
whether it diverged), which is what the workflow reads to decide whether a raised length grows it.

A checkpoint that does not load (truncated by a full disk or a killed copy) or is not of this run (another
config, other weights) is damaged: it is moved aside to checkpoint.pt.damaged, never deleted, and the run
starts from scratch. A run never continues from another run's state.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple, Protocol

import torch
from torch import nn

from ablate import rundir, trajectory
from ablate.training.probes import ProbeRecorder

STATE_KEYS = ("config", "model", "optimizer", "scheduler", "generator", "torch_rng", "cuda_rng", "history", "step")


class Stateful(Protocol):
    def state_dict(self) -> dict: ...

    def load_state_dict(self, state: dict) -> Any: ...


class Progress(NamedTuple):
    """How far a run got: its history rows, optimizer steps taken and seconds trained."""

    history: list[dict]
    step: int
    wall_seconds: float


@dataclass
class Checkpoint:
    """The checkpoint of the run `config` in `run_dir`, over the pieces whose state it saves and restores."""

    run_dir: Path
    config: Mapping
    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Stateful
    generator: torch.Generator  # the data generator: epoch order and augmentation
    probes: ProbeRecorder
    device: torch.device

    @property
    def path(self) -> Path:
        return self.run_dir / rundir.CHECKPOINT

    def state(self, progress: Progress) -> dict:
        return {
            "config": dict(self.config),
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "generator": self.generator.get_state(),
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if self.device.type == "cuda" else [],
            "history": progress.history,
            "step": progress.step,
            "probes": self.probes.state_dict(),
            "wall_seconds": progress.wall_seconds,
        }

    def save(self, progress: Progress) -> None:
        """checkpoint.pt, then progress.json (so that progress never claims more than the checkpoint holds)."""
        state = self.state(progress)
        rundir.write_atomic(self.path, lambda tmp: torch.save(state, tmp))
        self.write_progress(progress)

    def write_progress(self, progress: Progress, finished: bool = False, diverged: bool = False) -> None:
        """progress.json: epochs completed of the run's `epochs`, and, once it finished, that its checkpoint is its
        final state (ablate.trajectory.final_state)."""
        summary = {
            "epochs_completed": len(progress.history),
            "epochs": self.config["epochs"],
            "wall_seconds": progress.wall_seconds,
            "finished": finished,
            "diverged": diverged,
        }
        rundir.write_json(self.run_dir / rundir.PROGRESS, summary)

    def resume(self, log: Callable[[str], None]) -> Progress | None:
        """Restore every piece from checkpoint.pt where there is one of this run; returns how far the run got, or
        None (nothing restored) where there is none, or where it is damaged (then it is moved aside)."""
        if not self.path.exists():
            return None
        try:
            state = torch.load(self.path, map_location=self.device, weights_only=True)
        except Exception as error:  # truncated, or not a torch file: whatever torch.load raises
            first = (str(error).splitlines() or [""])[0].split(". ")[0]  # torch's advice after it is long
            problem = f"it does not load ({type(error).__name__}: {first})"
        else:
            problem = self.mismatch(state)
        if problem is not None:
            aside = self.set_aside()
            log(f"damaged checkpoint {self.path}: {problem}; kept as {aside.name}, training from scratch")
            return None
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        # generator states are CPU byte tensors, whatever map_location moved them to
        self.generator.set_state(state["generator"].cpu())
        torch.set_rng_state(state["torch_rng"].cpu())
        if state["cuda_rng"]:
            torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda_rng"]])
        progress = Progress(state["history"], state["step"], state["wall_seconds"])
        self.probes.load_state_dict(state["probes"])
        return progress

    def mismatch(self, state: object) -> str | None:
        """Why `state` (a loaded checkpoint.pt) is not a checkpoint of this run, checked before anything is
        restored from it; None where it is one."""
        if not isinstance(state, dict) or any(key not in state for key in STATE_KEYS):
            return "it is not a checkpoint of this code (keys missing)"
        if trajectory.identity(state["config"]) != trajectory.identity(self.config):
            return "it is another run's (its config differs from this run's)"
        ours = self.model.state_dict()
        theirs = state["model"]
        if set(theirs) != set(ours) or any(theirs[key].shape != ours[key].shape for key in ours):
            return "its weights do not fit this run's model"
        return None

    def set_aside(self) -> Path:
        """Move checkpoint.pt to checkpoint.pt.damaged (.damaged.2, ... where that is taken); progress.json,
        which described it, goes."""
        aside = self.path.with_name(self.path.name + rundir.DAMAGED_SUFFIX)
        number = 1
        while aside.exists():
            number += 1
            aside = self.path.with_name(f"{self.path.name}{rundir.DAMAGED_SUFFIX}.{number}")
        self.path.rename(aside)
        (self.run_dir / rundir.PROGRESS).unlink(missing_ok=True)
        return aside
