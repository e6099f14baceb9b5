"""The architecture table (the original's Figure 8), measured from our models rather than typed in.

Every number comes from building the model and pushing one image through it: output sizes from forward
hooks on the stages, kernel specifications from the Conv2d modules of each stage's first block, parameter
counts from the modules, and multiply-accumulates from hooks on every Conv2d and Linear. Our ResNets are
the CIFAR variant (3x3 stem, no max-pool, 32x32 input), so sizes and MACs differ from the ImageNet table
of the original (224x224 input, 7x7 stride-2 stem and a max-pool) by design.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import torch
from torch import nn

from ablate import registry
from ablate.training.models import build_model, parameter_count

RESNETS = registry.family("resnet")
# our module names -> the layer names of He et al.'s table (and of the original's Figure 8)
STAGES = {
    "stem": "conv1",
    "layer1": "conv2_x",
    "layer2": "conv3_x",
    "layer3": "conv4_x",
    "layer4": "conv5_x",
    "head": "head",
}
COLUMNS = ("model", "stage", "output_size", "kernels", "layers", "parameters", "macs", "mflops")


def shape_text(shape: Sequence[int]) -> str:
    """One image's tensor shape as the table writes it: H×W×C for feature maps, the width for vectors."""
    dims = list(shape)[1:]  # drop the batch dimension
    if len(dims) == 3:
        channels, height, width = dims
        return f"{height}×{width}×{channels}"
    return "×".join(str(d) for d in dims)


def conv_text(conv: nn.Conv2d, stride: bool = False) -> str:
    kh, kw = conv.kernel_size
    text = f"{kh}×{kw}, {conv.out_channels}"
    if stride:
        text += f", stride {conv.stride[0]}"
    return text


def _main_path_convs(block: nn.Module) -> list[nn.Conv2d]:
    """The convolutions of a block's residual branch; the projection shortcut is not part of the table's spec."""
    branch = getattr(block, "residual", block)
    return [m for name, m in branch.named_modules() if isinstance(m, nn.Conv2d) and "shortcut" not in name]


def kernels_text(stage: str, module: nn.Module) -> str:
    """The kernel column: the stem's conv, a stage's first block as [k×k, C / ...] × blocks, or the head."""
    if stage == "stem":
        convs = [m for m in module.modules() if isinstance(m, nn.Conv2d)]
        return conv_text(convs[0], stride=True)
    if stage == "head":
        parts = []
        if any(isinstance(m, nn.AdaptiveAvgPool2d | nn.AvgPool2d) for m in module.modules()):
            parts.append("avg pool")
        parts += [f"{m.out_features}-d fc" for m in module.modules() if isinstance(m, nn.Linear)]
        return ", ".join(parts)
    blocks = list(module.children())
    # every block of a stage has the same kernels (only the first one's stride and input width differ)
    inner = " / ".join(conv_text(conv) for conv in _main_path_convs(blocks[0]))
    return f"[{inner}] × {len(blocks)}"


def weighted_layers(stage: str, module: nn.Module) -> int:
    """Conv and fc layers on the main path, the count that names the depth (18 = 1 + 16 + 1 for ResNet-18)."""
    if stage in ("stem", "head"):
        return sum(isinstance(m, nn.Conv2d | nn.Linear) for m in module.modules())
    return sum(len(_main_path_convs(block)) for block in module.children())


def _stages(model: nn.Module, name: str) -> dict[str, nn.Module]:
    missing = [s for s in STAGES if not hasattr(model, s)]
    if missing:
        raise ValueError(f"{name} has no {', '.join(missing)}: the architecture table covers the ResNets only")
    return {s: getattr(model, s) for s in STAGES}


@torch.no_grad()
def model_rows(name: str, image_size: int = 32, width: float = 1.0, device: str = "meta") -> list[dict]:
    """The table's rows for one model: one per stage, then its total.

    `macs` counts multiply-accumulates per image in Conv2d (output elements × in_channels/groups × kh × kw)
    and Linear (in × out) layers, the convention of the ResNet paper's "FLOPs" (He et al. 2016 give
    ResNet-18 1.8×10^9 at 224×224); BatchNorm, activations, additions and pooling are not counted.
    `mflops` is `macs` in millions. Parameters include BatchNorm's weights and biases.
    The forward pass runs on `device`; on "meta" (the default) the same module code propagates shapes
    without initialising or computing anything, and gives the same table as "cpu" (tested) in a fraction
    of the time.
    """
    with torch.device(device):
        model = build_model(name, width=width).eval()  # eval: BatchNorm must not need batch statistics
    stages = _stages(model, name)
    macs = dict.fromkeys(stages, 0)
    shapes: dict[str, tuple[int, ...]] = {}
    handles = []
    for stage, module in stages.items():
        handles.append(module.register_forward_hook(_shape_recorder(shapes, stage)))
        for layer in module.modules():
            if isinstance(layer, nn.Conv2d):
                per_output = layer.in_channels // layer.groups * layer.kernel_size[0] * layer.kernel_size[1]
                handles.append(layer.register_forward_hook(_counter(macs, stage, per_output)))
            elif isinstance(layer, nn.Linear):
                handles.append(layer.register_forward_hook(_counter(macs, stage, layer.in_features)))
    try:
        output = model(torch.zeros(1, 3, image_size, image_size, device=device))
    finally:
        for handle in handles:
            handle.remove()
    rows = [
        {
            "model": name,
            "stage": STAGES[stage],
            "output_size": shape_text(shapes[stage]),
            "kernels": kernels_text(stage, module),
            "layers": weighted_layers(stage, module),
            "parameters": parameter_count(module),
            "macs": macs[stage],
        }
        for stage, module in stages.items()
    ]
    total = parameter_count(model)
    if sum(row["parameters"] for row in rows) != total:
        # a parameter outside the named stages would make the per-stage rows silently incomplete
        raise ValueError(f"{name}: the stages hold {sum(r['parameters'] for r in rows)} of {total} parameters")
    rows.append(
        {
            "model": name,
            "stage": "total",
            "output_size": shape_text(output.shape),
            "kernels": "",
            "layers": sum(row["layers"] for row in rows),
            "parameters": total,
            "macs": sum(macs.values()),
        }
    )
    for row in rows:
        row["mflops"] = row["macs"] / 1e6
    return rows


def _shape_recorder(shapes: dict[str, tuple[int, ...]], stage: str):
    """A forward hook keeping the stage's output shape (the measured output_size)."""

    def hook(_module: nn.Module, _inputs, output: torch.Tensor) -> None:
        shapes[stage] = tuple(output.shape)

    return hook


def _counter(macs: dict[str, int], stage: str, per_output: int):
    """A forward hook adding output elements (per image) × MACs per output element to the stage's count."""

    def hook(_module: nn.Module, _inputs, output: torch.Tensor) -> None:
        macs[stage] += output[0].numel() * per_output

    return hook


def architecture_table(names: Sequence[str] = RESNETS, image_size: int = 32, width: float = 1.0) -> pd.DataFrame:
    """Figure 8 of the original, computed: one row per (model, stage) and a "total" row per model.

    Columns: model, stage (conv1, conv2_x..conv5_x, head, total), output_size (H×W×C of one image, measured),
    kernels (from the modules), layers (weighted conv/fc layers on the main path; the totals are the depths),
    parameters (per stage; the stages sum to the model's parameter count), macs and mflops
    (multiply-accumulates per image, and the same in millions: the ResNet paper's "FLOPs" convention).
    """
    rows = [row for name in names for row in model_rows(name, image_size, width)]
    return pd.DataFrame(rows, columns=list(COLUMNS))


def write_architecture_table(
    out: Path, names: Sequence[str] = RESNETS, image_size: int = 32, width: float = 1.0
) -> pd.DataFrame:
    """Write the architecture table to `out` as CSV (UTF-8: the sizes use ×); returns it."""
    table = architecture_table(names, image_size, width)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out, index=False, encoding="utf-8")
    return table
