"""Losses, activations, optimizers and schedulers by name (the names live in ablate.catalog)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from ablate import catalog

ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": lambda: nn.ReLU(inplace=True),
    "sigmoid": nn.Sigmoid,
    "leaky_relu": lambda: nn.LeakyReLU(0.01, inplace=True),
    "tanh": nn.Tanh,
    "softplus": nn.Softplus,
    "elu": lambda: nn.ELU(inplace=True),
    "gelu": nn.GELU,
    "silu": lambda: nn.SiLU(inplace=True),
}


def activation(name: str) -> nn.Module:
    return ACTIVATIONS[name]()


def _one_hot(targets: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    return F.one_hot(targets, logits.shape[1]).to(logits.dtype)


# Every loss takes logits and class indices. The regression-style losses compare the logits with
# one-hot targets, as the original did; cross-entropy takes class indices (the original passed
# one-hot floats to it too, which is the same maths but not what the text describes).
LOSSES: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "cross_entropy": lambda logits, y: F.cross_entropy(logits, y),
    "mse": lambda logits, y: F.mse_loss(logits, _one_hot(y, logits)),
    "smooth_l1": lambda logits, y: F.smooth_l1_loss(logits, _one_hot(y, logits)),
    "bce_with_logits": lambda logits, y: F.binary_cross_entropy_with_logits(logits, _one_hot(y, logits)),
}


def loss_function(name: str) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """Mean loss of a batch (PyTorch's default reduction): per-sample means when averaged over batches."""
    return LOSSES[name]


OPTIMIZERS: dict[str, type[torch.optim.Optimizer]] = {
    "sgd": torch.optim.SGD,
    "adam": torch.optim.Adam,
    "adagrad": torch.optim.Adagrad,
    "adadelta": torch.optim.Adadelta,
    "rmsprop": torch.optim.RMSprop,
}


def optimizer(params: Iterable[torch.nn.Parameter], spec: Mapping) -> torch.optim.Optimizer:
    kwargs = {k: spec[k] for k in catalog.OPTIMIZERS[spec["name"]] if k in spec and spec[k] is not None}
    if "betas" in kwargs:
        kwargs["betas"] = tuple(kwargs["betas"])
    return OPTIMIZERS[spec["name"]](params, **kwargs)


class NoScheduler:
    """Stands in for a scheduler when the config asks for none (keeps the loop free of branches)."""

    def step(self, metric: float | None = None) -> None:
        pass

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


SCHEDULERS = ("none", "plateau", "cosine", "step")


def scheduler(opt: torch.optim.Optimizer, spec: Mapping, epochs: int):
    """An object with step(test_loss), called once per epoch, and state_dict()/load_state_dict()."""
    name = spec["name"]
    if name == "plateau":
        return _MetricStepper(
            torch.optim.lr_scheduler.ReduceLROnPlateau(
                opt,
                mode="min",
                factor=spec["factor"],
                patience=spec["patience"],
                cooldown=spec["cooldown"],
                min_lr=spec["min_lr"],
            ),
            takes_metric=True,
        )
    if name == "cosine":
        return _MetricStepper(torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs, eta_min=spec["min_lr"]))
    if name == "step":
        return _MetricStepper(torch.optim.lr_scheduler.StepLR(opt, step_size=spec["step_size"], gamma=spec["gamma"]))
    return NoScheduler()


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


def scaled(count: int, width: float) -> int:
    """A layer's channel or unit count under a width multiplier (never below one)."""
    return max(1, round(count * width))
