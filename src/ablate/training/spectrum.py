"""The Hessian's eigenvalue density by stochastic Lanczos quadrature (SLQ).

Why: λ_max says how sharp the steepest direction is; the density says whether it stands alone. Ghorbani et al.
(2019) found that without BatchNorm a few large eigenvalues separate from the bulk of a ResNet's Hessian and
that with it they go; Yao et al. (2020, PyHessian, `density` in pyhessian/hessian.py) compute it the same way.

Method (Golub & Meurant; Ubaru, Chen & Saad 2017): for a symmetric H on R^n and a start vector v with
||v|| = 1, m Lanczos steps give the tridiagonal T_m with eigenpairs (θ_k, s_k); the nodes θ_k with weights
τ_k = s_k[0]² are the m-point Gauss quadrature of the measure Σ_i (q_iᵀv)² δ(λ - λ_i), so Σ_k τ_k f(θ_k) =
vᵀ f(H) v, exactly for polynomials f of degree ≤ 2m - 1. With v a Rademacher vector over √n, the expectation
of that measure is the spectral density φ(λ) = (1/n) Σ_i δ(λ - λ_i): the average over `vectors` start vectors
estimates φ, its moments (1/n) tr H^k without bias (Hutchinson's estimator of tr H^k, with its standard
error over the vectors), and an isolated eigenvalue shows as a node on it carrying weight ≈ 1/n. A smooth
density for a figure is the quadrature with each node spread by a Gaussian of width `sigma` (`density`).

The Lanczos iteration and the Hessian-vector products are ablate.training.curvature's (full
reorthogonalisation, so no ghost copies of converged eigenvalues; fp32 products, float64 tridiagonal); cost:
`vectors` × `steps` products, memory: `steps` vectors of the parameters' size.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from ablate.training.curvature import (
    flat_shape,
    hvp_operator,
    lanczos_tridiagonal,
    rademacher,
    restored,
    tridiagonal_eigh,
)


@dataclass(frozen=True)
class Quadrature:
    """The Gauss quadrature of one start vector: nodes (Ritz values, ascending) and weights (summing to 1),
    both float64 on the CPU."""

    nodes: torch.Tensor
    weights: torch.Tensor


def slq(
    matvec: Callable[[torch.Tensor], torch.Tensor],
    size: int,
    *,
    steps: int,
    vectors: int,
    generator: torch.Generator,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str = "cpu",
) -> list[Quadrature]:
    """One quadrature per Rademacher start vector (drawn from `generator`, in turn) of the symmetric operator
    `matvec` on R^size, each from min(steps, size) Lanczos steps (fewer where the Krylov space is invariant)."""
    if size < 1 or steps < 1 or vectors < 1:
        raise ValueError("slq needs size, steps and vectors >= 1")
    quadratures = []
    for _ in range(vectors):
        start = rademacher(size, generator, dtype, torch.device(device))
        *_, (alphas, betas, _) = lanczos_tridiagonal(matvec, start, min(steps, size))
        nodes, vectors_t = tridiagonal_eigh(alphas, betas)
        quadratures.append(Quadrature(nodes, vectors_t[0] ** 2))
    return quadratures


def moment(quadratures: Sequence[Quadrature], k: int) -> tuple[float, float]:
    """(the estimate of (1/n) tr H^k, its standard error over the start vectors; NaN from one vector)."""
    values = torch.stack([(q.weights * q.nodes**k).sum() for q in quadratures])
    stderr = float(values.std(correction=1)) / math.sqrt(len(values)) if len(values) > 1 else math.nan
    return float(values.mean()), stderr


def density(quadratures: Sequence[Quadrature], grid: torch.Tensor, sigma: float) -> torch.Tensor:
    """φ on `grid` (float64): the mean over start vectors of Σ_k τ_k N(λ; θ_k, sigma²); it integrates to 1."""
    grid = grid.double()
    total = torch.zeros_like(grid)
    for q in quadratures:
        gauss = torch.exp(-0.5 * ((grid[:, None] - q.nodes[None, :]) / sigma) ** 2) / (sigma * math.sqrt(2 * math.pi))
        total += gauss @ q.weights
    return total / len(quadratures)


def hessian_density(
    model: nn.Module,
    loss_at: Callable[[], torch.Tensor],
    *,
    steps: int,
    vectors: int,
    generator: torch.Generator,
    mode: str = "train",
    params: Sequence[nn.Parameter] | None = None,
) -> list[Quadrature]:
    """SLQ of the Hessian of loss_at() at the current weights over `params` (default: those requiring grad), with
    BatchNorm in `mode`, in true fp32; everything restored afterwards (ablate.training.curvature.restored)."""
    params = [p for p in model.parameters() if p.requires_grad] if params is None else list(params)
    size, dtype, device = flat_shape(params)
    with restored(model, params, mode):
        matvec = hvp_operator(params, loss_at)
        return slq(matvec, size, steps=steps, vectors=vectors, generator=generator, dtype=dtype, device=device)
