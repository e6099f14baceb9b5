"""Network interpretation (the original's Figures 9 and 10) from a trained run directory.

Two figures: the first convolution's filters as RGB tiles, and the feature maps of one test image through
one stage of a ResNet, inside its first block (input, the residual branch's steps, the shortcut, the sum)
and then after every block. Maps are taken with forward hooks, removed before the functions return, so the
model code stays as it is.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch
from torch import nn

from ablate import rundir
from ablate.analysis.architecture import STAGES, conv_text
from ablate.data import batches, datasets
from ablate.training.models import build_model


def _num_classes(state: Mapping[str, torch.Tensor]) -> int:
    """The output width of a saved model: its last 2-d weight is the last Linear's (classes × features)."""
    weights = [t for key, t in state.items() if key.endswith("weight") and t.dim() == 2]
    return int(weights[-1].shape[0])


def load_run(run_dir: Path, weights: Path | None = None) -> tuple[nn.Module, dict]:
    """The trained model of a run directory (config.json, and model.pt or a member's `weights`, as the trainer
    writes them), in eval mode."""
    run_dir = Path(run_dir)
    config = rundir.read_config(run_dir)
    state = torch.load(weights or run_dir / rundir.MODEL, map_location="cpu", weights_only=True)
    # an image_folder run may have other than ten classes; the saved head says how many
    model = build_model(
        config["model"], config["activation"], config["dropout"], num_classes=_num_classes(state), width=config["width"]
    )
    model.load_state_dict(state)
    return model.eval(), config


def sample_image(config: Mapping, data_root: str, index: int = 0, decoded: str | None = None) -> torch.Tensor:
    """The `index`-th test image of the run's dataset (3×H×W float), normalised as in training; from the data
    job's arrays in `decoded` where given (ablate.data.datasets.load_dataset)."""
    dataset = datasets.load_dataset(config["dataset"], data_root, decoded=decoded)
    if not 0 <= index < len(dataset.test):
        raise IndexError(f"test image {index} requested; the run's test split holds {len(dataset.test)}")
    normalize = batches.Normalizer(config["normalize"]["mean"], config["normalize"]["std"], "cpu")
    return normalize(dataset.test.images[index : index + 1])[0]


def _save(fig: plt.Figure, out: Path) -> None:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)


def first_layer_filters(run_dir: Path, out: Path, weights: Path | None = None) -> None:
    """The first conv layer's kernels (the ResNet stem's 3×3×3), one RGB tile per filter, as a grid."""
    run_dir = Path(run_dir)
    model, config = load_run(run_dir, weights)
    conv = next(m for m in model.modules() if isinstance(m, nn.Conv2d))
    weight = conv.weight.detach().float()
    # per-filter min-max: filters differ in scale, and a shared scale would leave most tiles grey
    low = weight.amin(dim=(1, 2, 3), keepdim=True)
    high = weight.amax(dim=(1, 2, 3), keepdim=True)
    tiles = (weight - low) / (high - low).clamp_min(1e-12)
    count, in_channels, kh, kw = tiles.shape
    cols = min(8, count)
    rows = math.ceil(count / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(1.05 * cols + 0.4, 1.15 * rows + 1.0), squeeze=False)
    for index, ax in enumerate(axes.flat):
        ax.axis("off")
        if index >= count:
            continue
        if in_channels == 3:
            ax.imshow(tiles[index].permute(1, 2, 0).numpy(), interpolation="nearest")
        else:  # not an RGB input: show the mean over input channels
            ax.imshow(tiles[index].mean(0).numpy(), cmap="gray", interpolation="nearest", vmin=0, vmax=1)
        ax.set_title(str(index), fontsize=8)
    fig.suptitle(
        f"First-layer filters of {config['model']} (run {run_dir.name})\n"
        f"{count} filters of {kh}×{kw}×{in_channels}, each min-max normalised"
        + (", shown as RGB" if in_channels == 3 else ""),
        fontsize=10,
    )
    fig.tight_layout()
    _save(fig, out)


def _describe(module: nn.Module) -> str:
    if isinstance(module, nn.Conv2d):
        return "conv " + conv_text(module, stride=module.stride[0] > 1)
    if isinstance(module, nn.BatchNorm2d):
        return "BN"
    return type(module).__name__


def feature_maps(model: nn.Module, image: torch.Tensor, stage: str = "layer1") -> list[tuple[str, torch.Tensor]]:
    """(label, C×H×W map) pairs for one image: inside the stage's first block, then each block's output.

    Inside the first block: its input, the residual branch after each activation, the branch's output
    (last conv + BN), the shortcut, and the block output (activation of the sum). Hooks are removed on return.
    """
    module = getattr(model, stage, None)
    if not isinstance(module, nn.Sequential) or not hasattr(module[0], "residual"):
        raise ValueError(f"{type(model).__name__} has no stage {stage!r} of residual blocks")
    blocks = list(module.children())
    first = blocks[0]
    labels: list[str] = []
    maps: list[torch.Tensor | None] = []
    handles = []

    def keep(label: str, target: nn.Module, pre: bool = False) -> None:
        slot = len(labels)
        labels.append(label)
        maps.append(None)

        # clone: the ReLUs are in-place, and the next module may overwrite what the hook saw
        def pre_hook(_m, inputs):
            maps[slot] = inputs[0].detach()[0].clone()

        def hook(_m, _inputs, output):
            maps[slot] = output.detach()[0].clone()

        handles.append(target.register_forward_pre_hook(pre_hook) if pre else target.register_forward_hook(hook))

    keep(f"{stage}.0 input", first, pre=True)
    steps: list[str] = []
    for child in first.residual.children():
        steps.append(_describe(child))
        if not isinstance(child, nn.Conv2d | nn.BatchNorm2d):  # an activation: the branch's visible steps
            keep(f"{stage}.0 " + " + ".join(steps[-3:]), child)
    keep(f"{stage}.0 residual: " + " + ".join(steps[-2:]), first.residual)
    shortcut = (
        "identity"
        if isinstance(first.shortcut, nn.Identity)
        else " + ".join(_describe(m) for m in first.shortcut.children())
    )
    keep(f"{stage}.0 shortcut: {shortcut}", first.shortcut)
    keep(f"{stage}.0 output: {_describe(first.out)}(residual + shortcut)", first.out)
    for index, block in enumerate(blocks[1:], start=1):
        keep(f"{stage}.{index} output", block)
    batch = image.detach().float().cpu().reshape(1, *image.shape[-3:])
    try:
        with torch.no_grad():
            model(batch)
    finally:
        for handle in handles:
            handle.remove()
    return [(label, tensor) for label, tensor in zip(labels, maps, strict=True) if tensor is not None]


def block_feature_maps(
    run_dir: Path,
    image: torch.Tensor,
    out: Path,
    stage: str = "layer1",
    channels: int = 8,
    weights: Path | None = None,
) -> None:
    """Feature maps of one normalised test image (3×32×32) through one stage (Figures 9 and 10).

    Rows: the image; inside the stage's first block (Figure 9: input, after the first conv + BN +
    activation, after the second conv + BN, the shortcut, the activated sum; a bottleneck shows one more
    conv + BN + activation row); then the output of every block of the stage (Figure 10). Columns: the
    first `channels` channels, one colour scale per row. Loads its own copy of the model: run_dir is only read.
    """
    run_dir = Path(run_dir)
    model, config = load_run(run_dir, weights)
    maps = feature_maps(model, image, stage)
    cols = max(1, min(channels, max(m.shape[0] for _, m in maps)))
    rows = len(maps) + 1
    fig, axes = plt.subplots(
        rows, cols, figsize=(1.25 * cols + 2.8, 1.25 * rows + 1.0), squeeze=False, layout="constrained"
    )
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    # the image, back in [0, 1] for display
    mean = torch.tensor(config["normalize"]["mean"]).view(3, 1, 1)
    std = torch.tensor(config["normalize"]["std"]).view(3, 1, 1)
    picture = (image.detach().float().cpu().reshape(3, *image.shape[-2:]) * std + mean).clamp(0, 1)
    axes[0, 0].imshow(picture.permute(1, 2, 0).numpy(), interpolation="nearest")
    axes[0, 0].set_ylabel("test image", rotation=0, ha="right", va="center", fontsize=9)
    for ax in axes[0, 1:]:
        ax.axis("off")
    for row, (label, tensor) in enumerate(maps, start=1):
        shown = tensor[:cols]
        # one scale per row: channels of the same map stay comparable
        low, high = float(shown.min()), float(shown.max())
        for col, ax in enumerate(axes[row]):
            if col >= len(shown):
                ax.axis("off")
                continue
            ax.imshow(shown[col].numpy(), cmap="viridis", vmin=low, vmax=high, interpolation="nearest")
            if row == 1:
                ax.set_title(f"channel {col}", fontsize=9)
        channels_, height, width = tensor.shape
        axes[row, 0].set_ylabel(
            f"{label}\n{height}×{width}×{channels_}", rotation=0, ha="right", va="center", fontsize=9
        )
    fig.suptitle(
        f"{config['model']} {stage} ({STAGES.get(stage, stage)}), run {run_dir.name}: feature maps of one test image\n"
        f"inside block {stage}.0, then after each block; first {cols} channels, one colour scale per row",
        fontsize=10,
    )
    _save(fig, out)
