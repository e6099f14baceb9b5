"""Model registry: one builder per name; every model takes an activation, a dropout probability and a width."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from torch import nn

from ablate.models.basic_cnn import BasicCNN
from ablate.models.resnet import DEPTHS, resnet
from ablate.models.vgg import VARIANTS, vgg

MODELS: dict[str, Callable[..., nn.Module]] = {
    "basic_cnn": BasicCNN,
    **{name: partial(resnet, name) for name in DEPTHS},
    **{name: partial(vgg, name) for name in VARIANTS},
}


def build_model(
    name: str, activation: str = "relu", dropout: float = 0.0, num_classes: int = 10, width: float = 1.0
) -> nn.Module:
    """`width` multiplies every hidden channel and unit count (1.0 = the published architecture)."""
    return MODELS[name](act=activation, dropout=dropout, num_classes=num_classes, width=width)


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def last_linear(model: nn.Module) -> nn.Linear:
    """The output layer, whose weight gradient the grad_change and beta probes follow."""
    return [m for m in model.modules() if isinstance(m, nn.Linear)][-1]
