"""Losses, activations, optimizers and schedulers by their names in ablate/registry.yaml, and the functions of
those entries that are not torch's own."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from ablate import registry


def activation(name: str) -> nn.Module:
    entry = registry.ACTIVATIONS[name]
    return entry.load()(**entry.kwargs)


def loss_function(name: str) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """Mean loss of a batch (PyTorch's default reduction): per-sample means when averaged over batches."""
    return registry.LOSSES[name].load()


# Every loss takes logits and class indices. The regression-style losses compare the logits with
# one-hot targets, as the original did; cross-entropy takes class indices (the original passed
# one-hot floats to it too, which is the same maths but not what the text describes).
def _one_hot(targets: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    return F.one_hot(targets, logits.shape[1]).to(logits.dtype)


def cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(logits, targets)


def mse(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return F.mse_loss(logits, _one_hot(targets, logits))


def smooth_l1(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return F.smooth_l1_loss(logits, _one_hot(targets, logits))


def bce_with_logits(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(logits, _one_hot(targets, logits))


def optimizer(params: Iterable[torch.nn.Parameter], spec: Mapping) -> torch.optim.Optimizer:
    entry = registry.OPTIMIZERS[spec["name"]]
    kwargs = {k: spec[k] for k in entry.keys if k in spec and spec[k] is not None}
    if "betas" in kwargs:
        kwargs["betas"] = tuple(kwargs["betas"])
    return entry.load()(params, **kwargs)


def scheduler(opt: torch.optim.Optimizer, spec: Mapping, epochs: int):
    """An object with step(test_loss), called once per epoch, and state_dict()/load_state_dict()."""
    return registry.SCHEDULERS[spec["name"]].load()(opt, spec, epochs)


class NoScheduler:
    """Stands in for a scheduler when the config asks for none (keeps the loop free of branches)."""

    def step(self, metric: float | None = None) -> None:
        pass

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


class _MetricStepper:
    def __init__(self, inner, takes_metric: bool = False) -> None:
        self.inner = inner
        self.takes_metric = takes_metric

    def step(self, metric: float | None = None) -> None:
        if self.takes_metric:
            self.inner.step(metric)
        else:
            self.inner.step()

    def state_dict(self) -> dict:
        return self.inner.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.inner.load_state_dict(state)


def constant_lr(opt: torch.optim.Optimizer, spec: Mapping, epochs: int) -> NoScheduler:
    return NoScheduler()


def plateau(opt: torch.optim.Optimizer, spec: Mapping, epochs: int) -> _MetricStepper:
    """ReduceLROnPlateau on the test loss."""
    settings = {key: spec[key] for key in ("factor", "patience", "cooldown", "min_lr")}
    return _MetricStepper(torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="min", **settings), takes_metric=True)


def cosine(opt: torch.optim.Optimizer, spec: Mapping, epochs: int) -> _MetricStepper:
    """Cosine annealing over the run's epochs."""
    return _MetricStepper(torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs, eta_min=spec["min_lr"]))


def step_decay(opt: torch.optim.Optimizer, spec: Mapping, epochs: int) -> _MetricStepper:
    """The learning rate times gamma every step_size epochs."""
    return _MetricStepper(torch.optim.lr_scheduler.StepLR(opt, step_size=spec["step_size"], gamma=spec["gamma"]))


def scaled(count: int, width: float) -> int:
    """A layer's channel or unit count under a width multiplier (never below one)."""
    return max(1, round(count * width))
