"""A run's checkpoint: everything a killed job needs to resume and end with the numbers of an unbroken run.

checkpoint.pt holds the model, optimizer and scheduler states, every random number generator a run draws
from (the data generator, torch's CPU generator, the CUDA generators), the history so far, the step count
and the probes' state; progress.json beside it says how far the run got, for `python -m ablate status`
(which then needs neither torch nor the checkpoint). Both are written atomically, after every epoch.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple, Protocol

import torch
from torch import nn

from ablate import rundir
from ablate.training.probes import ProbeRecorder


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
        summary = {
            "epochs_completed": len(progress.history),
            "epochs": self.config["epochs"],
            "wall_seconds": progress.wall_seconds,
        }
        rundir.write_json(self.run_dir / rundir.PROGRESS, summary)

    def resume(self, log: Callable[[str], None]) -> Progress | None:
        """Restore every piece from checkpoint.pt where there is one of this config; returns how far the run got,
        or None (nothing restored) where there is none."""
        if not self.path.exists():
            return None
        state = torch.load(self.path, map_location=self.device, weights_only=True)
        if state["config"] != dict(self.config):
            log(f"ignoring {self.path}: it belongs to another config")
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
        log(f"resumed from {self.path} after epoch {len(progress.history)}")
        return progress
