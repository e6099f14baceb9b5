"""The epoch loop: one training epoch (batches, autocast, the probes' hook, the divergence check) and the test pass.

Nothing here writes files or knows about checkpoints: the trainer (ablate.training.trainer) decides what an
epoch's numbers become. Losses and accuracies stay on the device until the epoch ends, one sync per epoch.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from ablate.data import batches, datasets
from ablate.training.device import Precision
from ablate.training.probes import ProbeRecorder

LossFunction = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

# Tests only: "N" or "N,M": raise CUDA's out-of-memory error before optimizer step N (and M), each once per
# process, so that a job's fallback (ablate.training.job) can be tested on machines without a GPU.
INJECT_OOM = "ABLATE_INJECT_OOM_AT_STEP"
_injected: set[int] = set()


def _injected_oom(step: int, at: frozenset[int]) -> None:
    if step in at and step not in _injected:
        _injected.add(step)
        raise torch.OutOfMemoryError(f"CUDA out of memory (injected before step {step} by {INJECT_OOM})")


@dataclass
class Data:
    """What the loop draws its batches from; `generator` alone orders (and augments) the training images."""

    dataset: datasets.Dataset
    batch_size: int
    augment: bool
    generator: torch.Generator
    normalize: batches.Normalizer
    eval_batch_size: int = 1000


class EpochLoop:
    """Trains a model one epoch at a time and tests it.

    Counts optimizer steps across epochs (`step`: the probes' and the divergence check's step numbers; a
    resumed run sets it back) and keeps the step at which the training loss first stopped being finite
    (`diverged_step`). `forward` is the model or its torch.compile'd twin; `model` is what train()/eval() and
    the probes see.
    """

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        loss_fn: LossFunction,
        data: Data,
        precision: Precision,
        probes: ProbeRecorder,
        device: torch.device,
        forward: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> None:
        self.model, self.optimizer, self.loss_fn, self.data = model, optimizer, loss_fn, data
        self.precision, self.probes, self.device = precision, probes, device
        self.forward = forward if forward is not None else model
        self.step = 0
        self.diverged_step: int | None = None
        # on the CPU a sync costs nothing, so divergence is caught at its step; on accelerators every 50
        self.check_every = 1 if device.type == "cpu" else 50
        self.inject_oom_at = frozenset(int(step) for step in os.environ.get(INJECT_OOM, "").split(",") if step)

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.precision.autocast is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.precision.autocast)

    def train_epoch(self, epoch: int) -> tuple[float, float, float]:
        """Train one epoch; returns (train loss, train accuracy in %, images/s). Stops at the first window
        with a loss that is not finite (then `diverged_step` is set)."""
        data = self.data
        self.model.train()
        loss_sum = torch.zeros((), device=self.device)
        correct = torch.zeros((), dtype=torch.int64, device=self.device)
        window: list[torch.Tensor] = []
        started = time.perf_counter()
        for images, labels in batches.train_batches(
            data.dataset.train, data.batch_size, data.generator, data.normalize, data.augment
        ):
            self.step += 1
            if self.inject_oom_at:
                _injected_oom(self.step, self.inject_oom_at)
            with self.autocast():
                logits = self.forward(images)
                loss = self.loss_fn(logits.float(), labels)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if self.probes.active:

                def loss_at(images=images, labels=labels):
                    with self.autocast():
                        return self.loss_fn(self.forward(images).float(), labels)

                # after backward, before the step: the probes see w_t and g_t
                self.probes.after_backward(epoch, self.step, loss, loss_at)
            self.optimizer.step()
            loss_sum += loss.detach() * len(labels)
            correct += (logits.argmax(1) == labels).sum()
            window.append(loss.detach())
            if len(window) >= self.check_every and self._diverged_in(window):
                break
        if window and self.diverged_step is None:
            self._diverged_in(window)
        self.probes.flush()
        seen = len(data.dataset.train)
        train_loss, train_acc = loss_sum.item() / seen, 100.0 * correct.item() / seen  # waits for the device
        return train_loss, train_acc, seen / (time.perf_counter() - started)

    def _diverged_in(self, window: list[torch.Tensor]) -> bool:
        """Whether a loss of `window` (the last len(window) steps) is not finite; empties the window."""
        finite = torch.isfinite(torch.stack(window))
        first_bad = self.step - len(window) + 1
        window.clear()
        if bool(finite.all()):
            return False
        self.diverged_step = first_bad + int((~finite).nonzero()[0])
        return True

    @torch.inference_mode()
    def evaluate(self) -> tuple[float, float]:
        """The test pass: (test loss, test accuracy in %)."""
        data = self.data
        self.model.eval()
        loss_sum = torch.zeros((), device=self.device)
        correct = torch.zeros((), dtype=torch.int64, device=self.device)
        for images, labels in batches.eval_batches(data.dataset.test, data.eval_batch_size, data.normalize):
            with self.autocast():
                logits = self.forward(images).float()
            loss_sum += self.loss_fn(logits, labels) * len(labels)
            correct += (logits.argmax(1) == labels).sum()
        seen = len(data.dataset.test)
        return loss_sum.item() / seen, 100.0 * correct.item() / seen
