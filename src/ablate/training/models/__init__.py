"""Building a model by its name in ablate/registry.yaml; every model takes an activation, a dropout probability
and a width."""

from __future__ import annotations

import torch
from torch import nn

from ablate import registry


def build_model(
    name: str,
    activation: str = "relu",
    dropout: float = 0.0,
    num_classes: int = 10,
    width: float = 1.0,
    init: str = "default",
) -> nn.Module:
    """`width` multiplies every hidden channel and unit count (1.0 = the published architecture); `init` names
    an initialisation of the registry ("default": PyTorch's per-layer initialisation; "glorot": `glorot_init`)."""
    entry = registry.MODELS[name]
    by_name = (name,) if entry.by_name else ()
    model = entry.load()(*by_name, act=activation, dropout=dropout, num_classes=num_classes, width=width)
    initialise = registry.INITS[init].load()
    if initialise is not None:
        initialise(model)
    return model


@torch.no_grad()
def glorot_init(model: nn.Module) -> None:
    """Glorot & Bengio (2010) uniform weights and zero biases for every conv and linear layer, as Santurkar
    et al. (2018) initialise their VGG; BatchNorm layers keep weight 1 and bias 0."""
    for module in model.modules():
        if isinstance(module, nn.Conv2d | nn.Linear):
            nn.init.xavier_uniform_(module.weight)
            if module.bias is not None:
                nn.init.zeros_(module.bias)


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def last_linear(model: nn.Module) -> nn.Linear:
    """The output layer, whose weight gradient the grad_change and beta probes follow."""
    return [m for m in model.modules() if isinstance(m, nn.Linear)][-1]


def measure_footprint(name: str, width: float = 1.0, batch: int = 2) -> tuple[int, int, int]:
    """(parameters, bytes autograd saves per image for backward, bytes of the largest saved tensor per
    image) of one fp32 training forward pass on 32x32 images: a model's `footprint` in ablate/registry.yaml."""
    model = build_model(name, width=width, dropout=registry.MODELS[name].dropout).train()
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    saved: dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in params:  # count each storage once (views share it)
            saved[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        model(torch.randn(batch, 3, 32, 32))
    return parameter_count(model), sum(saved.values()) // batch, max(saved.values()) // batch
