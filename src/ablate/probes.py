"""Per-step measurements for the BatchNorm analyses (Santurkar et al. 2018; the original report's 2.2-2.4).

w_t are the weights before step t, g_t the mini-batch gradient at w_t, eta the learning rate. Every
probe runs after the backward pass and before the optimizer step, and leaves the model, its buffers,
its gradients and the random number generators exactly as it found them: a run with probes follows
the same trajectory as one without.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import torch
from torch import nn

from ablate.models import last_linear

PROBES = ("step_loss", "grad_change", "beta", "line_search")
LINE_SEARCH_COLUMNS = ("ls_loss_min", "ls_loss_max", "ls_grad_diff_min", "ls_grad_diff_max", "ls_beta_max")


def columns(probes: Sequence[str]) -> list[str]:
    names = ["epoch", "step"]
    for probe in PROBES:
        if probe in probes:
            names += list(LINE_SEARCH_COLUMNS) if probe == "line_search" else [probe]
    return names


def _norm(tensors: Sequence[torch.Tensor]) -> torch.Tensor:
    return torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(t.float()) for t in tensors]))


class ProbeRecorder:
    """Collects one row per step; values stay on the device until the epoch ends (no sync per step)."""

    def __init__(
        self, model: nn.Module, probes: Sequence[str], probe_every: int = 10, line_search: Mapping | None = None
    ) -> None:
        self.model = model
        self.probes = tuple(probes)
        self.every = probe_every
        search = line_search or {}
        self.factors = torch.linspace(
            search.get("c_min", 0.5), search.get("c_max", 4.0), search.get("points", 8)
        ).tolist()
        self.layer = last_linear(model)
        self.previous: tuple[torch.Tensor, torch.Tensor] | None = None  # (w_{t-1}, g_{t-1}) of the layer
        self.rows: list[dict[str, float]] = []
        self._pending: list[tuple[int, int, dict[str, torch.Tensor]]] = []

    @property
    def active(self) -> bool:
        return bool(self.probes)

    def after_backward(
        self, epoch: int, step: int, loss: torch.Tensor, lr: float, loss_at: Callable[[], torch.Tensor]
    ) -> None:
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
            values.update(self._line_search(lr, loss_at))
        self._pending.append((epoch, step, values))

    @torch.no_grad()
    def _restore(self, params, weights, buffers, saved_buffers) -> None:
        for p, w in zip(params, weights, strict=True):
            p.copy_(w)
        for b, s in zip(buffers, saved_buffers, strict=True):
            b.copy_(s)

    def _line_search(self, lr: float, loss_at: Callable[[], torch.Tensor]) -> dict[str, torch.Tensor]:
        """Along -g_t: loss range, gradient predictiveness and effective beta (Santurkar et al., Fig. 4)."""
        params = [p for p in self.model.parameters() if p.grad is not None]
        weights = [p.detach().clone() for p in params]
        grads = [p.grad.detach().clone() for p in params]
        buffers = list(self.model.buffers())
        saved_buffers = [b.detach().clone() for b in buffers]
        rng = torch.get_rng_state()
        cuda_rng = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None
        grad_norm = _norm(grads)
        losses, diffs, betas = [], [], []
        for c in self.factors:
            with torch.no_grad():
                for p, w, g in zip(params, weights, grads, strict=True):
                    p.copy_(w - c * lr * g)
            loss = loss_at()
            moved = torch.autograd.grad(loss, params, allow_unused=True)
            diff = _norm([(m if m is not None else torch.zeros_like(g)) - g for m, g in zip(moved, grads, strict=True)])
            losses.append(loss.detach().float())
            diffs.append(diff)
            betas.append(diff / (c * lr * grad_norm))
            self._restore(params, weights, buffers, saved_buffers)
        torch.set_rng_state(rng)
        if cuda_rng is not None:
            torch.cuda.set_rng_state_all(cuda_rng)
        loss_t, diff_t, beta_t = torch.stack(losses), torch.stack(diffs), torch.stack(betas)
        return {
            "ls_loss_min": loss_t.min(),
            "ls_loss_max": loss_t.max(),
            "ls_grad_diff_min": diff_t.min(),
            "ls_grad_diff_max": diff_t.max(),
            "ls_beta_max": beta_t.max(),
        }

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
