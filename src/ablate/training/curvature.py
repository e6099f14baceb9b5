"""Curvature of the mini-batch loss at the current weights: the Hessian's extreme eigenvalues and its trace.

Why: the local β-smoothness the BatchNorm question is about is the largest eigenvalue of the loss's Hessian
(Santurkar et al. 2018; Ghorbani et al. 2019; Yao et al. 2020, PyHessian). We measure it directly.

Hessian-vector products (HVPs) by double backward: one forward pass and g = ∇L with create_graph=True, then
for each v, Hv = ∇<g, v> (`torch.autograd.grad(g, params, grad_outputs=v)`), reusing g's graph. Each HVP
costs about two backward passes; nothing here autocasts (the caller guarantees true fp32).

λ_max and λ_min: Lanczos with full reorthogonalisation. One Krylov space gives both ends of the spectrum
(power iteration needs a second, slower run on H - λ_max·I for λ_min). The start vector is Rademacher, drawn
from the caller's CPU torch.Generator, so the global RNG is not touched. After iteration j the Ritz values
are the eigenvalues of the j×j tridiagonal T_j (float64); the residual of a Ritz pair (θ, y) is
||H·y - θ·y|| = β_j·|last entry of T_j's eigenvector| (exact in exact arithmetic, to rounding with full
reorthogonalisation; tests/test_curvature.py checks it against the explicit product). Stopping rule: stop when
the residuals of both the largest and the smallest Ritz value are at most `tol` times the spectral scale
max(|θ_max|, |θ_min|), or at `max_iter` or the dimension (there the Krylov space is the whole space and the
Ritz values are the eigenvalues). Why residuals and not the change of the Ritz values between iterations: a
Ritz value can stall near an eigenvalue that is not the extreme one (a close second eigenvalue, a start vector
nearly orthogonal to the top eigenvector) and change by less than any tolerance while it is far off; the
residual bounds the error. Why the spectral scale and not |θ| itself: λ_min of a loss's Hessian is often
near zero beside λ_max, and a tolerance relative to it would ask for accuracy below fp32's HVPs.
What a residual r certifies (Parlett, The Symmetric Eigenvalue Problem, Thm 4.5.1 and Cauchy interlacing):
some eigenvalue lies within r of θ, and θ_max ≤ λ_max, θ_min ≥ λ_min always. So [θ_max, θ_max + r_max]
holds an eigenvalue and λ_max ≥ θ_max is certain; that it holds λ_max itself is not certified: an eigenvalue
above it whose eigenvector the Krylov space has not yet found (a start vector almost orthogonal to it) is
invisible to every Ritz value (likewise [θ_min - r_min, θ_min] for λ_min). Cost: `iterations` HVPs plus one
gradient; memory: `iterations` vectors of the parameters' size (the reorthogonalisation basis).

Trace: Hutchinson's estimator, mean of zᵀHz over `samples` Rademacher z (exact for a diagonal H), with the
standard error of that mean (sample standard deviation / √samples). Cost: `samples` HVPs.

`curvature` runs both at the current weights and restores parameters, gradients, buffers, training flags and
RNG states exactly (`restored`): a run with it follows the same trajectory as one without. BatchNorm: "train"
(batch statistics, what the optimizer sees; default) or "eval" (running statistics, as PyHessian does).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import torch
from torch import nn

MODES = ("train", "eval")


@dataclass(frozen=True)
class Extremes:
    """λ_max and λ_min found by Lanczos, with the HVPs used, whether the residual criterion held, and the
    residual norm ||H·y - θ·y|| of each extreme Ritz pair."""

    lambda_max: float
    lambda_min: float
    iterations: int
    converged: bool
    residual_max: float
    residual_min: float

    @property
    def max_interval(self) -> tuple[float, float]:
        """[θ_max, θ_max + r_max]: holds an eigenvalue, and λ_max ≥ its lower end (see the module's docstring)."""
        return self.lambda_max, self.lambda_max + self.residual_max

    @property
    def min_interval(self) -> tuple[float, float]:
        """[θ_min - r_min, θ_min]: holds an eigenvalue, and λ_min ≤ its upper end."""
        return self.lambda_min - self.residual_min, self.lambda_min


def _flat(tensors: Sequence[torch.Tensor]) -> torch.Tensor:
    return torch.cat([t.reshape(-1) for t in tensors])


def hessian_vector_product(
    grads: Sequence[torch.Tensor], params: Sequence[torch.Tensor], vector: Sequence[torch.Tensor]
) -> list[torch.Tensor]:
    """H·v from gradients built with create_graph=True; keeps their graph for the next product.

    Gradients that do not depend on the parameters (a loss linear in them) contribute nothing.
    """
    pairs = [(g, v) for g, v in zip(grads, vector, strict=True) if g.requires_grad]
    if not pairs:
        return [torch.zeros_like(p) for p in params]
    return list(
        torch.autograd.grad(
            [g for g, _ in pairs],
            params,
            grad_outputs=[v for _, v in pairs],
            retain_graph=True,
            allow_unused=True,
            materialize_grads=True,
        )
    )


def hvp_operator(
    params: Sequence[torch.Tensor], loss_at: Callable[[], torch.Tensor]
) -> Callable[[torch.Tensor], torch.Tensor]:
    """A function flat v -> flat H·v at the current weights: one forward and backward now, one double
    backward per call. Why one graph: every product then sees the same mini-batch loss (and dropout mask)."""
    params = list(params)
    grads = torch.autograd.grad(loss_at(), params, create_graph=True, allow_unused=True, materialize_grads=True)
    sizes = [p.numel() for p in params]

    def matvec(v: torch.Tensor) -> torch.Tensor:
        parts = [part.view_as(p) for part, p in zip(torch.split(v, sizes), params, strict=True)]
        return _flat(hessian_vector_product(grads, params, parts)).detach()

    return matvec


def rademacher(size: int, generator: torch.Generator, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """±1 entries drawn on the CPU from `generator` (the same numbers on every device)."""
    return (torch.randint(0, 2, (size,), generator=generator) * 2 - 1).to(dtype=dtype, device=device)


@torch.no_grad()
def lanczos_tridiagonal(
    matvec: Callable[[torch.Tensor], torch.Tensor], start: torch.Tensor, steps: int
) -> Iterator[tuple[list[float], list[float], float]]:
    """Lanczos with full reorthogonalisation from `start`: after each iteration j ≤ steps, yields
    (α_1..α_j, β_1..β_(j-1), β_j), T_j's diagonal and off-diagonal and the norm of the next residual vector.
    Ends early when that norm is 0 (the Krylov space is invariant: T_j's eigenvalues are eigenvalues)."""
    basis = [start / torch.linalg.vector_norm(start)]
    alphas: list[float] = []
    betas: list[float] = []
    for _ in range(steps):
        w = matvec(basis[-1])
        alphas.append(float(torch.dot(w, basis[-1])))
        q_matrix = torch.stack(basis, dim=1)
        for _ in range(2):  # full reorthogonalisation, twice ("twice is enough")
            w -= q_matrix @ (q_matrix.T @ w)
        beta = float(torch.linalg.vector_norm(w))
        yield list(alphas), list(betas), beta
        if beta == 0.0:
            return
        betas.append(beta)
        basis.append(w / beta)


def tridiagonal_eigh(alphas: Sequence[float], betas: Sequence[float]) -> tuple[torch.Tensor, torch.Tensor]:
    """Eigenvalues (ascending) and eigenvectors of the symmetric tridiagonal matrix, in float64."""
    tridiagonal = torch.diag(torch.tensor(alphas, dtype=torch.float64))
    if betas:
        off = torch.tensor(betas, dtype=torch.float64)
        tridiagonal += torch.diag(off, 1) + torch.diag(off, -1)
    return torch.linalg.eigh(tridiagonal)


def lanczos_extremes(
    matvec: Callable[[torch.Tensor], torch.Tensor],
    size: int,
    *,
    tol: float,
    max_iter: int,
    generator: torch.Generator,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str = "cpu",
) -> Extremes:
    """Largest and smallest eigenvalue of the symmetric operator `matvec` on R^size, with their residuals
    (stopping rule and what they certify: the module's docstring)."""
    if size < 1 or max_iter < 1:
        raise ValueError("lanczos_extremes needs size >= 1 and max_iter >= 1")
    start = rademacher(size, generator, dtype, torch.device(device))
    found = None
    for alphas, betas, beta in lanczos_tridiagonal(matvec, start, min(max_iter, size)):
        ritz, vectors = tridiagonal_eigh(alphas, betas)
        top, bottom = float(ritz[-1]), float(ritz[0])
        residual_max, residual_min = beta * abs(float(vectors[-1, -1])), beta * abs(float(vectors[-1, 0]))
        scale = max(abs(top), abs(bottom), torch.finfo(torch.float64).tiny)
        converged = max(residual_max, residual_min) <= tol * scale or len(alphas) == size
        found = Extremes(top, bottom, len(alphas), converged, residual_max, residual_min)
        if converged:
            break
    return found


def flat_shape(params: Sequence[torch.Tensor]) -> tuple[int, torch.dtype, torch.device]:
    """(number of entries, dtype, device) of the parameters as one flat vector."""
    return sum(p.numel() for p in params), params[0].dtype, params[0].device


def hessian_extremes(
    params: Sequence[torch.Tensor],
    loss_at: Callable[[], torch.Tensor],
    tol: float,
    max_iter: int,
    generator: torch.Generator,
) -> Extremes:
    """λ_max and λ_min of the Hessian of loss_at() over `params`, by Lanczos on HVPs."""
    size, dtype, device = flat_shape(params)
    matvec = hvp_operator(params, loss_at)
    return lanczos_extremes(matvec, size, tol=tol, max_iter=max_iter, generator=generator, dtype=dtype, device=device)


def _hutchinson(
    matvec: Callable[[torch.Tensor], torch.Tensor],
    size: int,
    samples: int,
    generator: torch.Generator,
    dtype: torch.dtype,
    device: torch.device,
) -> tuple[float, float]:
    values = []
    for _ in range(samples):
        z = rademacher(size, generator, dtype, device)
        values.append(float(torch.dot(z.double(), matvec(z).double())))
    estimates = torch.tensor(values, dtype=torch.float64)
    stderr = float(estimates.std(correction=1)) / math.sqrt(samples) if samples > 1 else math.nan
    return float(estimates.mean()), stderr


def hutchinson_trace(
    params: Sequence[torch.Tensor],
    loss_at: Callable[[], torch.Tensor],
    samples: int,
    generator: torch.Generator,
) -> tuple[float, float]:
    """(tr H estimate, its standard error) by Hutchinson's estimator with Rademacher vectors (NaN error for
    one sample). Why Rademacher: the lowest variance of the estimator, and zᵀDz = tr D for a diagonal D."""
    if samples < 1:
        raise ValueError("hutchinson_trace needs samples >= 1")
    size, dtype, device = flat_shape(params)
    return _hutchinson(hvp_operator(params, loss_at), size, samples, generator, dtype, device)


@contextlib.contextmanager
def restored(model: nn.Module, params: Sequence[torch.Tensor], mode: str) -> Iterator[None]:
    """Runs its body with BatchNorm in `mode` and autocast off, then puts back exactly the parameters, their .grad,
    the buffers (BatchNorm's running statistics change on every train-mode forward), the modules' training flags
    and the global RNG states."""
    if mode not in MODES:
        raise ValueError(f"unknown curvature mode {mode!r}; known: {', '.join(MODES)}")
    weights = [p.detach().clone() for p in params]
    grads = [None if p.grad is None else p.grad.detach().clone() for p in params]
    buffers = list(model.buffers())
    saved_buffers = [b.detach().clone() for b in buffers]
    flags = [(m, m.training) for m in model.modules()]
    rng = torch.get_rng_state()
    cuda_rng = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None
    try:
        model.train(mode == "train")
        with torch.autocast(device_type=params[0].device.type, enabled=False):
            yield
    finally:
        with torch.no_grad():
            for p, w, g in zip(params, weights, grads, strict=True):
                p.copy_(w)
                if g is None or p.grad is None:
                    p.grad = g
                else:
                    p.grad.copy_(g)
            for b, s in zip(buffers, saved_buffers, strict=True):
                b.copy_(s)
        for module, training in flags:
            module.training = training
        torch.set_rng_state(rng)
        if cuda_rng is not None:
            torch.cuda.set_rng_state_all(cuda_rng)


def curvature(
    model: nn.Module,
    loss_at: Callable[[], torch.Tensor],
    *,
    tol: float,
    max_iter: int,
    samples: int,
    generator: torch.Generator,
    mode: str = "train",
    params: Sequence[nn.Parameter] | None = None,
) -> dict[str, float]:
    """λ_max, λ_min (Lanczos, with iterations and residuals) and the trace (Hutchinson, with standard error) of
    the mini-batch loss at the current weights, over `params` (default: those requiring grad), with BatchNorm in
    `mode`; then parameters, .grad, buffers, training flags and RNG states are restored exactly (`restored`).
    `loss_at()` recomputes the step's mini-batch loss; this function sets the mode it runs in. samples=0: no
    trace."""
    params = [p for p in model.parameters() if p.requires_grad] if params is None else list(params)
    size, dtype, device = flat_shape(params)
    with restored(model, params, mode):
        matvec = hvp_operator(params, loss_at)
        found = lanczos_extremes(
            matvec, size, tol=tol, max_iter=max_iter, generator=generator, dtype=dtype, device=device
        )
        trace, stderr = _hutchinson(matvec, size, samples, generator, dtype, device) if samples else (math.nan,) * 2
    return {
        "lambda_max": found.lambda_max,
        "lambda_min": found.lambda_min,
        "lanczos_iterations": float(found.iterations),
        "lanczos_converged": float(found.converged),
        "residual_max": found.residual_max,
        "residual_min": found.residual_min,
        "trace": trace,
        "trace_stderr": stderr,
    }
