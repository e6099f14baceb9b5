"""Per-step measurements for the BatchNorm analyses (Santurkar et al. 2018; the original report's 2.2-2.4).

w_t are the weights before step t, g_t the mini-batch gradient at w_t, eta the learning rate and Δ_t the
change the optimizer's step will make to w_t (for plain SGD, -eta·g_t). Every probe runs after the
backward pass and before the optimizer step, and leaves the model, its buffers, its gradients, the
optimizer's state and the random number generators exactly as it found them: a run with probes follows
the same trajectory as one without. Probe runs are true fp32 (see ablate.plan): the perturbations of
`line_search` are far below bf16's resolution.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping, Sequence

import torch
from torch import nn

from ablate.models import last_linear

PROBES = ("step_loss", "grad_change", "beta", "line_search")
LINE_SEARCH_COLUMNS = (
    "ls_loss_min",
    "ls_loss_max",
    "ls_grad_diff_min",
    "ls_grad_diff_max",
    "ls_beta_max",
    "ls_step_norm",
)
DIRECTIONS = ("update", "gradient")


def columns(probes: Sequence[str]) -> list[str]:
    names = ["epoch", "step"]
    for probe in PROBES:
        if probe in probes:
            names += list(LINE_SEARCH_COLUMNS) if probe == "line_search" else [probe]
    return names


def _norm(tensors: Sequence[torch.Tensor]) -> torch.Tensor:
    return torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(t.float()) for t in tensors]))


def _stepped_params(optimizer: torch.optim.Optimizer) -> list[nn.Parameter]:
    """The parameters the optimizer's next step will move (those with a gradient)."""
    return [p for group in optimizer.param_groups for p in group["params"] if p.grad is not None]


@torch.no_grad()
def optimizer_update(optimizer: torch.optim.Optimizer, params: Sequence[nn.Parameter]) -> list[torch.Tensor]:
    """Δ_t: what optimizer.step() would add to each of `params` now (momentum, Adam's moments and weight
    decay included), computed by taking the step and undoing it, parameters and optimizer state exactly."""
    weights = [p.detach().clone() for p in params]
    saved = {
        p: {k: v.clone() if torch.is_tensor(v) else copy.deepcopy(v) for k, v in state.items()}
        for p, state in optimizer.state.items()
    }
    optimizer.step()
    update = [p.detach() - w for p, w in zip(params, weights, strict=True)]
    for p, w in zip(params, weights, strict=True):
        p.copy_(w)
    optimizer.state.clear()
    optimizer.state.update(saved)
    return update


def line_search(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    loss_at: Callable[[], torch.Tensor],
    factors: Sequence[float],
    direction: str = "update",
) -> dict[str, torch.Tensor]:
    """Santurkar et al. (2018), Fig. 4, at the current weights w_t with gradients g_t in place.

    For every c in `factors`, w' = w_t + c·d with d = Δ_t (direction "update": the optimizer's real step)
    or d = -eta·g_t (direction "gradient": an SGD step, Santurkar's setting). Returns, per c: the loss
    L(w'), ||grad L(w') - g_t|| (gradient predictiveness) and that over ||w' - w_t|| (effective beta),
    plus ||d||. Model, buffers, gradients, optimizer state and RNG states are restored afterwards.
    """
    params = _stepped_params(optimizer)
    weights = [p.detach().clone() for p in params]
    grads = [p.grad.detach().clone() for p in params]
    buffers = list(model.buffers())
    saved_buffers = [b.detach().clone() for b in buffers]
    rng = torch.get_rng_state()
    cuda_rng = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None
    if direction == "update":
        step = optimizer_update(optimizer, params)
    elif direction == "gradient":
        lr = optimizer.param_groups[0]["lr"]
        step = [-lr * g for g in grads]
    else:
        raise ValueError(f"unknown line_search direction {direction!r}; known: {', '.join(DIRECTIONS)}")
    step_norm = _norm(step)
    losses, diffs, betas = [], [], []
    for c in factors:
        with torch.no_grad():
            for p, w, d in zip(params, weights, step, strict=True):
                p.copy_(w + c * d)
        loss = loss_at()
        moved = torch.autograd.grad(loss, params, allow_unused=True)
        diff = _norm([(m if m is not None else torch.zeros_like(g)) - g for m, g in zip(moved, grads, strict=True)])
        losses.append(loss.detach().float())
        diffs.append(diff)
        betas.append(diff / (c * step_norm))
        with torch.no_grad():
            for p, w in zip(params, weights, strict=True):
                p.copy_(w)
            for b, s in zip(buffers, saved_buffers, strict=True):
                b.copy_(s)
    torch.set_rng_state(rng)
    if cuda_rng is not None:
        torch.cuda.set_rng_state_all(cuda_rng)
    return {
        "loss": torch.stack(losses),
        "grad_diff": torch.stack(diffs),
        "beta": torch.stack(betas),
        "step_norm": step_norm,
    }


class ProbeRecorder:
    """Collects one row per step; values stay on the device until the epoch ends (no sync per step)."""

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        probes: Sequence[str],
        probe_every: int = 10,
        line_search: Mapping | None = None,
    ) -> None:
        self.model, self.optimizer = model, optimizer
        self.probes = tuple(probes)
        self.every = probe_every
        search = line_search or {}
        self.factors = torch.linspace(
            search.get("c_min", 0.5), search.get("c_max", 4.0), search.get("points", 8), dtype=torch.float64
        ).tolist()
        self.direction = search.get("direction", "update")
        self.layer = last_linear(model)
        self.previous: tuple[torch.Tensor, torch.Tensor] | None = None  # (w_{t-1}, g_{t-1}) of the layer
        self.rows: list[dict[str, float]] = []
        self._pending: list[tuple[int, int, dict[str, torch.Tensor]]] = []

    @property
    def active(self) -> bool:
        return bool(self.probes)

    def after_backward(self, epoch: int, step: int, loss: torch.Tensor, loss_at: Callable[[], torch.Tensor]) -> None:
        """Record step `step`; `loss_at()` recomputes the loss of this step's batch at the current weights."""
        values: dict[str, torch.Tensor] = {}
        if "step_loss" in self.probes:
            values["step_loss"] = loss.detach().float()
        if "grad_change" in self.probes or "beta" in self.probes:
            weight = self.layer.weight.detach().clone()
            grad = self.layer.weight.grad.detach().clone()
            nan = torch.tensor(math.nan, device=weight.device)
            if self.previous is None:
                change, distance = nan, nan
            else:
                change = torch.linalg.vector_norm(grad - self.previous[1])
                distance = torch.linalg.vector_norm(weight - self.previous[0])
            if "grad_change" in self.probes:
                values["grad_change"] = change
            if "beta" in self.probes:
                values["beta"] = change / distance
            self.previous = (weight, grad)
        if "line_search" in self.probes and step % self.every == 0:
            found = line_search(self.model, self.optimizer, loss_at, self.factors, self.direction)
            values.update(
                ls_loss_min=found["loss"].min(),
                ls_loss_max=found["loss"].max(),
                ls_grad_diff_min=found["grad_diff"].min(),
                ls_grad_diff_max=found["grad_diff"].max(),
                ls_beta_max=found["beta"].max(),
                ls_step_norm=found["step_norm"],
            )
        self._pending.append((epoch, step, values))

    def flush(self) -> None:
        """Move this epoch's values to Python floats (one sync per epoch)."""
        for epoch, step, values in self._pending:
            row = {"epoch": epoch, "step": step}
            row.update({name: float(value) for name, value in values.items()})
            self.rows.append(row)
        self._pending.clear()

    def state_dict(self) -> dict:
        self.flush()
        return {"rows": list(self.rows), "previous": list(self.previous) if self.previous else None}

    def load_state_dict(self, state: dict) -> None:
        self.rows = list(state["rows"])
        self.previous = tuple(state["previous"]) if state["previous"] else None
