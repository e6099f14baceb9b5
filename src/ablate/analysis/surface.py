"""The loss landscape around trained weights: Li et al. 2018's 2-D surface and Goodfellow et al. 2015's 1-D path.

Why: "loss landscape" in the BatchNorm debate usually means Li et al.'s contour plot around the final weights
w, along two random directions normalised filter by filter so that networks of different scale (BatchNorm's
scale invariance) are comparable. We follow their code, tomgoldstein/loss-landscape (commit 64ef4d5):

- Directions (net_plotter.py): one Gaussian tensor per parameter (`get_random_weights`, line 73); with
  `--xnorm filter` each slice along dim 0 is rescaled to the norm of the weight's slice,
  d_f·||w_f||/(||d_f|| + 1e-10) (`normalize_direction`, lines 108-112); with `--xignore biasbn` every tensor
  of dim ≤ 1 (biases, BatchNorm's weight and bias) gets zeros (`normalize_directions_for_weights`, lines
  137-140). Linear weights (dim 2) are normalised row by row like convolution filters.
- BatchNorm's running statistics: with `--dir_type weights` (their 2-D scripts) only parameters move
  (`set_weights`, lines 21-41); the buffers keep the trained model's values, never recomputed at w + αd1 + βd2.
- Evaluation (evaluation.py, `eval_loss`): `net.eval()` (line 31) under `torch.no_grad()` (line 33), so
  BatchNorm normalises with those trained running statistics; loss and accuracy over the whole loader.
  plot_surface.py evaluates on the training set (line 289) on a grid `np.linspace(xmin, xmax, num)` (line 62).
- The 1-D interpolation (their README, lines 40-51, and script/1d_linear_interpolation_vgg9.sh) uses
  `--dir_type states`: the path moves BatchNorm's running_mean/var with the weights, since "ignoring
  running_mean and running_var cannot produce correct loss values" at the far end. We depart from that: off
  [0, 1] an interpolated running variance (1-t)·v0 + t·v1 goes negative (at t = 1.25 wherever v1 < v0/5, a
  trained variance below 0.2 against the initial 1) and the path's loss is NaN; inside [0, 1] it is not the
  variance of the interpolated network's activations either. So along the path BatchNorm's statistics are
  recomputed on the sample at each point, as after weight averaging (Izmailov et al. 2018's
  torch.optim.swa_utils.update_bn) and along paths between trained networks (Garipov et al. 2018), and the
  point is then evaluated in eval mode. Why not train mode: its statistics are each batch's, so the loss would
  depend on how the sample is cut into batches; recomputed ones make each point one fixed network.

`evaluate(model) -> (loss, accuracy)` is the caller's (a fixed stratified training sample in large batches);
here it runs in BatchNorm eval mode under no_grad unless told otherwise, and every function puts the model's
parameters, buffers and training flags back as it found them. A loss or accuracy that is not finite anywhere on
a grid or path is an error naming the point, never a value passed on (`require_finite`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

Evaluate = Callable[[nn.Module], tuple[float, float]]
MODES = ("eval", "train")
BUFFERS = ("recompute", "final")


def filter_normalized_direction(
    model_or_state: nn.Module | Mapping[str, torch.Tensor], generator: torch.Generator
) -> dict[str, torch.Tensor]:
    """A random Gaussian direction, name -> tensor, filter-normalised with biases and BatchNorm zero (Li et al.'s
    `--xnorm filter --xignore biasbn`). A module gives its named parameters; a mapping (a state_dict) gives one
    entry per floating-point tensor, its buffers (dim ≤ 1) zero. Drawn on the CPU from `generator` in order,
    so the same seed gives the same direction on any device."""
    if isinstance(model_or_state, nn.Module):
        tensors = {name: p.detach() for name, p in model_or_state.named_parameters()}
    else:
        tensors = {name: t.detach() for name, t in model_or_state.items() if torch.is_floating_point(t)}
    direction = {}
    for name, weight in tensors.items():
        d = torch.randn(weight.shape, generator=generator, dtype=torch.float64)
        if weight.dim() <= 1:
            d.zero_()
        else:
            w = weight.double().cpu()
            for d_filter, w_filter in zip(d, w, strict=True):
                d_filter.mul_(w_filter.norm() / (d_filter.norm() + 1e-10))
        direction[name] = d.to(dtype=weight.dtype, device=weight.device)
    return direction


def _saved(model: nn.Module) -> tuple[dict[str, torch.Tensor], list[tuple[nn.Module, bool]]]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}, [(m, m.training) for m in model.modules()]


def _restore(model: nn.Module, saved: tuple[dict[str, torch.Tensor], list[tuple[nn.Module, bool]]]) -> None:
    state, flags = saved
    model.load_state_dict(state)
    for module, training in flags:
        module.training = training


def _evaluate(model: nn.Module, evaluate: Evaluate, mode: str) -> tuple[float, float]:
    if mode not in MODES:
        raise ValueError(f"unknown evaluation mode {mode!r}; known: {', '.join(MODES)}")
    model.train(mode == "train")
    with torch.no_grad():
        loss, accuracy = evaluate(model)
    return float(loss), float(accuracy)


def require_finite(table: pd.DataFrame, where: str, coordinates: Sequence[str]) -> pd.DataFrame:
    """`table` unchanged if its loss and accuracy are finite everywhere; else a ValueError naming `where` and
    the points (their `coordinates`) that are not."""
    bad = table[~np.isfinite(table[["loss", "accuracy"]].to_numpy(dtype=float)).all(axis=1)]
    if not bad.empty:
        points = "; ".join(
            ", ".join(f"{name}={row[name]:g}" for name in coordinates)
            + f": loss {row['loss']}, accuracy {row['accuracy']}"
            for _, row in bad.iterrows()
        )
        raise ValueError(f"{where}: loss or accuracy not finite at {points}")
    return table


@torch.no_grad()
def recompute_batchnorm_statistics(model: nn.Module, evaluate: Evaluate) -> None:
    """BatchNorm's running statistics replaced by those of the sample `evaluate` runs over (a cumulative
    average over its batches, as torch.optim.swa_utils.update_bn): one pass with only the BatchNorm layers in
    train mode (no dropout). Momenta and training flags are put back; the statistics stay."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
    if not norms:
        return
    momenta, flags = [m.momentum for m in norms], [(m, m.training) for m in model.modules()]
    model.eval()
    for module in norms:
        module.reset_running_stats()
        module.momentum = None  # cumulative moving average: every batch of the sample weighs the same
        module.train()
    try:
        evaluate(model)
    finally:
        for module, momentum in zip(norms, momenta, strict=True):
            module.momentum = momentum
        for module, training in flags:
            module.training = training


def _moved(model: nn.Module, directions: Sequence[Mapping[str, torch.Tensor]]) -> list[tuple[nn.Parameter, ...]]:
    """(parameter, d1, d2) for every parameter; directions for buffers must be zero (nothing moves them)."""
    params = dict(model.named_parameters())
    for direction in directions:
        for name, d in direction.items():
            if name not in params and bool(d.ne(0).any()):
                raise ValueError(f"direction entry {name!r} is not a parameter of the model and is not zero")
    zeros = {name: torch.zeros_like(p) for name, p in params.items()}
    return [(p, *(direction.get(name, zeros[name]) for direction in directions)) for name, p in params.items()]


def surface_grid(
    model: nn.Module,
    directions: Sequence[Mapping[str, torch.Tensor]],
    span: float,
    points: int,
    evaluate: Evaluate,
    mode: str = "eval",
) -> pd.DataFrame:
    """Loss and accuracy at w + α·d1 + β·d2 for α, β on linspace(-span, span, points) (odd points include w):
    columns alpha, beta, loss, accuracy, α-major. BatchNorm in `mode` ("eval" with the trained running
    statistics, as Li et al.); weights, buffers and training flags restored afterwards."""
    if len(directions) != 2:
        raise ValueError("surface_grid needs two directions")
    grid = torch.linspace(-span, span, points, dtype=torch.float64).tolist()
    saved = _saved(model)
    moved = _moved(model, directions)
    weights = [p.detach().clone() for p, _, _ in moved]
    rows = []
    try:
        for alpha in grid:
            for beta in grid:
                with torch.no_grad():
                    for (p, d1, d2), w in zip(moved, weights, strict=True):
                        p.copy_(w + (alpha * d1 + beta * d2))  # their set_weights: w + (d0·x + d1·y)
                loss, accuracy = _evaluate(model, evaluate, mode)
                rows.append({"alpha": alpha, "beta": beta, "loss": loss, "accuracy": accuracy})
    finally:
        _restore(model, saved)
    return require_finite(
        pd.DataFrame(rows, columns=["alpha", "beta", "loss", "accuracy"]), "surface grid", ["alpha", "beta"]
    )


def interpolation_grid(points: int, start: float = -0.25, stop: float = 1.25) -> list[float]:
    """linspace(start, stop, points) with t = 0 and t = 1 added if missing: the two models are always on it.
    Why -0.25..1.25: the path itself, plus a quarter beyond each end to show the loss rising past them."""
    ts = set(torch.linspace(start, stop, points, dtype=torch.float64).tolist())
    ts = {t for t in ts if min(abs(t), abs(t - 1.0)) > 1e-12} | {t for t in (0.0, 1.0) if start <= t <= stop}
    return sorted(ts)


def interpolation(
    model: nn.Module,
    initial_state: Mapping[str, torch.Tensor],
    final_state: Mapping[str, torch.Tensor],
    points: int,
    evaluate: Evaluate,
    *,
    start: float = -0.25,
    stop: float = 1.25,
    buffers: str = "recompute",
    mode: str = "eval",
) -> pd.DataFrame:
    """Goodfellow et al.'s path (1-t)·w0 + t·w1 from the initial (step 0) to the final state_dict, t on
    `interpolation_grid(points, start, stop)`: columns t, loss, accuracy. BatchNorm's running statistics are
    recomputed on `evaluate`'s sample at every point (buffers="recompute", the module's docstring says why) or
    taken from the final state (buffers="final"); integer buffers (num_batches_tracked) come from the final
    state. The model's own state is restored afterwards."""
    if buffers not in BUFFERS:
        raise ValueError(f"unknown interpolation buffers {buffers!r}; known: {', '.join(BUFFERS)}")
    params = {name for name, _ in model.named_parameters()}
    saved = _saved(model)
    rows = []
    try:
        for t in interpolation_grid(points, start, stop):
            state = {}
            for name, w1 in final_state.items():
                w0 = initial_state[name].to(w1.device)
                state[name] = (1 - t) * w0 + t * w1 if name in params else w1  # exact at t = 0 and t = 1
            model.load_state_dict(state)
            if buffers == "recompute":
                recompute_batchnorm_statistics(model, evaluate)
            loss, accuracy = _evaluate(model, evaluate, mode)
            rows.append({"t": t, "loss": loss, "accuracy": accuracy})
    finally:
        _restore(model, saved)
    return require_finite(pd.DataFrame(rows, columns=["t", "loss", "accuracy"]), "path", ["t"])
