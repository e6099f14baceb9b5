"""Per-step measurements for the BatchNorm analyses (Santurkar et al. 2018; the original report's 2.2-2.4).

w_t are the weights before step t, g_t the mini-batch gradient at w_t, eta the learning rate and Δ_t the
change the optimizer's step will make to w_t (for plain SGD, -eta·g_t). Every probe runs after the
backward pass and before the optimizer step, and leaves the model, its buffers, its gradients, the
optimizer's state and the random number generators exactly as it found them: a run with probes follows
the same trajectory as one without. Probe runs are true fp32 (see ablate.plan): the perturbations of
`line_search` are far below bf16's resolution.

A probe is a function, (recorder, loss, loss_at, settings) -> {column: value}, and its entry in
ablate/registry.yaml (its steps.csv columns, its settings with their schema and defaults, how often it runs, its
figure's title and axis, its caption in the report); adding one needs nothing else (tests/test_registry.py adds a
toy probe so), though section 2.6's analyses read the curvature probe's columns by name.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping, Sequence

import torch
from torch import nn

from ablate import registry
from ablate.training.curvature import curvature
from ablate.training.models import last_linear
from ablate.training.spectrum import hessian_density

# density.csv: the curvature probe's eigenvalue density, one row per quadrature node (ablate.training.spectrum)
DENSITY_COLUMNS = ("epoch", "step", "vector", "node", "weight")


def columns(probes: Sequence[str]) -> list[str]:
    """The columns of steps.csv for a run with these probes."""
    return ["epoch", "step", *registry.probe_columns(probes)]


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
        raise ValueError(f"unknown line_search direction {direction!r}")  # the schema lists the known ones
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
    """Calls the probes of the run `run` (its resolved config; ablate/registry.yaml) after every backward pass and
    collects one row per step; values stay on the device until the epoch ends (no sync per step). Each probe gets
    the run's values of the settings its entry lists and runs every `every` steps where its entry names one.
    `total_steps`: the optimizer steps of the run's length (where a setting's default reads it)."""

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer, run: Mapping, total_steps: int = 0) -> None:
        self.model, self.optimizer = model, optimizer
        self.probes = tuple(probe for probe in registry.PROBES if probe in run["probes"])  # in registry order
        entries = {probe: registry.PROBES[probe] for probe in self.probes}
        self.functions = {probe: entry.load() for probe, entry in entries.items()}
        self.settings = {probe: {key: run[key] for key in entry.settings} for probe, entry in entries.items()}
        self.every = {probe: _setting(run, entry.every) if entry.every else 1 for probe, entry in entries.items()}
        self.layer = last_linear(model)
        self.seed = int(run.get("seed", 0))  # with the step: the seed of a probe's own random draws
        self.total_steps = total_steps
        self.epoch = self.step = 0
        self.memory: dict = {}  # what probes carry from step to step (in checkpoints, with the rows)
        self.rows: list[dict[str, float]] = []
        self._pending: list[tuple[int, int, dict[str, torch.Tensor]]] = []
        self._this_step: dict = {}

    @property
    def active(self) -> bool:
        return bool(self.probes)

    def once(self, key: str, compute: Callable[[], object]) -> object:
        """compute(), at most once per step however many probes ask for it."""
        if key not in self._this_step:
            self._this_step[key] = compute()
        return self._this_step[key]

    def after_backward(self, epoch: int, step: int, loss: torch.Tensor, loss_at: Callable[[], torch.Tensor]) -> None:
        """Record step `step`; `loss_at()` recomputes the loss of this step's batch at the current weights."""
        self._this_step, self.epoch, self.step = {}, epoch, step
        values: dict[str, torch.Tensor] = {}
        for probe, function in self.functions.items():
            if step % self.every[probe] == 0:
                values.update(function(self, loss, loss_at, self.settings[probe]))
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
        return {"rows": list(self.rows), **self.memory}

    @property
    def density_rows(self) -> list[dict]:
        """The rows of density.csv recorded so far (DENSITY_COLUMNS)."""
        return list(self.memory.get("density", []))

    def load_state_dict(self, state: dict) -> None:
        self.rows = list(state["rows"])
        self.memory = {key: value for key, value in state.items() if key != "rows"}


def _setting(run: Mapping, key: str) -> object:
    """A run's value of a (dotted) key, e.g. "probe_every" or "curvature.every"."""
    value: object = run
    for part in key.split("."):
        value = value[part]  # type: ignore[index]
    return value


# The probes: function(recorder, loss, loss_at, settings) -> {column: value}, as ablate/registry.yaml lists them.


def step_loss(
    recorder: ProbeRecorder, loss: torch.Tensor, loss_at: Callable[[], torch.Tensor], settings: Mapping
) -> dict:
    """The training loss of the step's mini-batch."""
    return {"step_loss": loss.detach().float()}


def _layer_change(recorder: ProbeRecorder) -> tuple[torch.Tensor, torch.Tensor]:
    """(||g_t - g_(t-1)||, ||w_t - w_(t-1)||) of the last linear layer's weight, NaN at the first step."""
    weight = recorder.layer.weight.detach().clone()
    grad = recorder.layer.weight.grad.detach().clone()
    previous = recorder.memory.get("previous")  # (w_(t-1), g_(t-1))
    nan = torch.tensor(math.nan, device=weight.device)
    change = nan if previous is None else torch.linalg.vector_norm(grad - previous[1])
    distance = nan if previous is None else torch.linalg.vector_norm(weight - previous[0])
    recorder.memory["previous"] = (weight, grad)
    return change, distance


def grad_change(
    recorder: ProbeRecorder, loss: torch.Tensor, loss_at: Callable[[], torch.Tensor], settings: Mapping
) -> dict:
    """||g_t - g_(t-1)|| of the last linear layer."""
    change, _ = recorder.once("layer_change", lambda: _layer_change(recorder))
    return {"grad_change": change}


def beta(recorder: ProbeRecorder, loss: torch.Tensor, loss_at: Callable[[], torch.Tensor], settings: Mapping) -> dict:
    """||g_t - g_(t-1)|| / ||w_t - w_(t-1)|| of the last linear layer (the same step's weight change)."""
    change, distance = recorder.once("layer_change", lambda: _layer_change(recorder))
    return {"beta": change / distance}


def line_search_extremes(
    recorder: ProbeRecorder, loss: torch.Tensor, loss_at: Callable[[], torch.Tensor], settings: Mapping
) -> dict:
    """The extremes over c of `line_search` along this step, with the run's line_search settings."""
    search = settings["line_search"]
    factors = torch.linspace(search["c_min"], search["c_max"], search["points"], dtype=torch.float64).tolist()
    found = line_search(recorder.model, recorder.optimizer, loss_at, factors, search["direction"])
    return {
        "ls_loss_min": found["loss"].min(),
        "ls_loss_max": found["loss"].max(),
        "ls_grad_diff_min": found["grad_diff"].min(),
        "ls_grad_diff_max": found["grad_diff"].max(),
        "ls_beta_max": found["beta"].max(),
        "ls_step_norm": found["step_norm"],
    }


def density_steps(at: Sequence[int], every: int, total_steps: int) -> set[int]:
    """The curvature probe steps (multiples of `every`) the density is taken at: each step of `at` moved to the
    probe at or before it (the first probe where it comes before that); `at` empty: the first, middle and last
    probe of a run of `total_steps` steps (none where the run is shorter than `every`)."""
    if at:
        return {max(every, step // every * every) for step in at}
    probes = total_steps // every
    return {every, (probes + 1) // 2 * every, probes * every} if probes else set()


def curvature_spectrum(
    recorder: ProbeRecorder, loss: torch.Tensor, loss_at: Callable[[], torch.Tensor], settings: Mapping
) -> dict:
    """λ_max, λ_min (Lanczos) and the trace (Hutchinson) of the step's mini-batch loss, ablate.training.curvature,
    and at the density's steps the eigenvalue density (ablate.training.spectrum), kept in the recorder's memory
    for density.csv. Its random vectors come from a generator of its own, seeded by the run's seed and the step:
    the global RNG (dropout, augmentation) is never drawn from, and a resumed run draws the same vectors.

    Why during training and not afterwards from saved weights: the density is wanted at steps whose weights no
    file keeps (only the members' final weights are saved), on the step's own mini-batch with BatchNorm in
    train mode, as the optimizer saw it; here all of that is at hand, and `restored` puts everything back."""
    chosen = settings["curvature"]
    generator = torch.Generator().manual_seed(recorder.seed * 1_000_003 + recorder.step)
    found = curvature(
        recorder.model,
        loss_at,
        tol=chosen["tol"],
        max_iter=chosen["max_iter"],
        samples=chosen["samples"],
        generator=generator,
        mode=chosen["mode"],
    )
    density = chosen["density"]
    if density["vectors"] and recorder.step in density_steps(density["at"], chosen["every"], recorder.total_steps):
        sizes = {"steps": density["steps"], "vectors": density["vectors"]}
        quadratures = hessian_density(recorder.model, loss_at, **sizes, generator=generator, mode=chosen["mode"])
        recorder.memory.setdefault("density", []).extend(
            {"epoch": recorder.epoch, "step": recorder.step, "vector": i, "node": float(node), "weight": float(weight)}
            for i, q in enumerate(quadratures)
            for node, weight in zip(q.nodes.tolist(), q.weights.tolist(), strict=True)
        )
    return {
        "curv_lambda_max": found["lambda_max"],
        "curv_lambda_min": found["lambda_min"],
        "curv_trace": found["trace"],
        "curv_trace_stderr": found["trace_stderr"],
        "curv_iterations": found["lanczos_iterations"],
        "curv_converged": found["lanczos_converged"],
        "curv_residual_max": found["residual_max"],
        "curv_residual_min": found["residual_min"],
    }
