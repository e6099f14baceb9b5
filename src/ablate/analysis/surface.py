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
  running_mean and running_var cannot produce correct loss values" at the far end.

`evaluate(model) -> (loss, accuracy)` is the caller's (a fixed stratified training sample in large batches);
here it runs in BatchNorm eval mode under no_grad unless told otherwise, and every function puts the model's
parameters, buffers and training flags back as it found them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import pandas as pd
import torch
from torch import nn

Evaluate = Callable[[nn.Module], tuple[float, float]]
MODES = ("eval", "train")
BUFFERS = ("interpolate", "final")


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
    return pd.DataFrame(rows, columns=["alpha", "beta", "loss", "accuracy"])


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
    buffers: str = "interpolate",
    mode: str = "eval",
) -> pd.DataFrame:
    """Goodfellow et al.'s path (1-t)·w0 + t·w1 from the initial (step 0) to the final state_dict, t on
    `interpolation_grid(points, start, stop)`: columns t, loss, accuracy. Floating-point buffers (BatchNorm's
    running statistics) are interpolated like the weights (buffers="interpolate", their --dir_type states, so
    t=0 and t=1 are exactly the two saved models) or taken from the final state (buffers="final"); integer
    buffers (num_batches_tracked) always from the final state. The model's own state is restored afterwards."""
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
                moves = torch.is_floating_point(w1) and (name in params or buffers == "interpolate")
                state[name] = (1 - t) * w0 + t * w1 if moves else w1  # exact at t = 0 and t = 1
            model.load_state_dict(state)
            loss, accuracy = _evaluate(model, evaluate, mode)
            rows.append({"t": t, "loss": loss, "accuracy": accuracy})
    finally:
        _restore(model, saved)
    return pd.DataFrame(rows, columns=["t", "loss", "accuracy"])
