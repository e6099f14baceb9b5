"""Curvature (issue 14) against known answers: quadratics with a known Hessian, a small BatchNorm network's dense
Hessian, and exact restoration (the trajectory with the probe equals the one without)."""

from __future__ import annotations

import copy
import functools

import pytest
import torch
from torch import nn
from torch.func import functional_call

from ablate.training.curvature import (
    curvature,
    hessian_extremes,
    hutchinson_trace,
    lanczos_extremes,
    lanczos_tridiagonal,
    rademacher,
    tridiagonal_eigh,
)


def known_matrix(eigenvalues: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """Q diag(eigenvalues) Qᵀ with a random orthogonal Q (float64)."""
    gen = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(len(eigenvalues), len(eigenvalues), generator=gen, dtype=torch.float64))
    return q @ torch.diag(eigenvalues) @ q.T


EIGENVALUES = torch.cat([torch.linspace(-2.5, 9.0, 19, dtype=torch.float64), torch.tensor([-4.0])])  # 20, two < 0


class QuadraticLoss:
    """L(w) = ½ wᵀAw + bᵀw over two parameter tensors (12 + 8 entries): its Hessian is A wherever w is."""

    def __init__(self, a: torch.Tensor, dtype: torch.dtype, seed: int = 1) -> None:
        gen = torch.Generator().manual_seed(seed)
        self.a, self.b = a.to(dtype), torch.randn(len(a), generator=gen, dtype=torch.float64).to(dtype)
        w = torch.randn(len(a), generator=gen, dtype=torch.float64).to(dtype)
        self.params = [nn.Parameter(w[:12].reshape(3, 4).clone()), nn.Parameter(w[12:].clone())]

    def __call__(self) -> torch.Tensor:
        w = torch.cat([p.reshape(-1) for p in self.params])
        return 0.5 * w @ self.a @ w + self.b @ w


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_curvature_lanczos_extremes_of_a_quadratic_match_eigvalsh(dtype):
    quadratic = QuadraticLoss(known_matrix(EIGENVALUES), dtype)
    found = hessian_extremes(
        quadratic.params, quadratic, tol=1e-7, max_iter=40, generator=torch.Generator().manual_seed(3)
    )
    exact = torch.linalg.eigvalsh(quadratic.a.double())
    assert found.lambda_max == pytest.approx(float(exact[-1]), rel=1e-4)
    assert found.lambda_min == pytest.approx(float(exact[0]), rel=1e-4)
    assert found.lambda_min == pytest.approx(-4.0, rel=1e-4) and found.lambda_max == pytest.approx(9.0, rel=1e-4)
    assert found.converged and 2 <= found.iterations <= 20


def test_curvature_lanczos_stops_by_tolerance_before_the_dimension():
    """A 400-dimensional spectrum with isolated extremes: both ends converge in far fewer than 400 products."""
    eigenvalues = torch.cat([torch.tensor([-6.0, 40.0]), torch.linspace(-1.0, 5.0, 398)]).double()
    a = known_matrix(eigenvalues, seed=5)
    found = lanczos_extremes(
        lambda v: a @ v, 400, tol=1e-10, max_iter=200, generator=torch.Generator().manual_seed(0), dtype=torch.float64
    )
    assert found.converged and found.iterations < 100
    assert found.lambda_max == pytest.approx(40.0, rel=1e-6)
    assert found.lambda_min == pytest.approx(-6.0, rel=1e-6)
    assert found.residual_max < 1e-3 and found.residual_min < 1e-3
    capped = lanczos_extremes(
        lambda v: a @ v, 400, tol=1e-10, max_iter=3, generator=torch.Generator().manual_seed(0), dtype=torch.float64
    )
    assert capped.iterations == 3 and not capped.converged
    assert -6.0 < capped.lambda_min < capped.lambda_max < 40.0  # Ritz values lie inside the spectrum


def value_change_stop(a: torch.Tensor, seed: int, tol: float) -> int:
    """The iteration at which the old rule (both extreme Ritz values changed by less than tol, relative, since the
    previous iteration) would have stopped Lanczos on `a`, from the start vector lanczos_extremes draws."""
    start = rademacher(len(a), torch.Generator().manual_seed(seed), torch.float64, torch.device("cpu"))
    previous = None
    for alphas, betas, _ in lanczos_tridiagonal(lambda v: a @ v, start, len(a)):
        ritz, _ = tridiagonal_eigh(alphas, betas)
        extremes = (float(ritz[-1]), float(ritz[0]))
        if previous and all(abs(new - old) <= tol * abs(new) for new, old in zip(extremes, previous, strict=True)):
            return len(alphas)
        previous = extremes
    raise AssertionError("the value-change rule never stopped")


def test_curvature_residual_criterion_runs_on_where_the_value_change_stops_early():
    """A bulk on [-1, 1] and λ_max = 1.02 just above it: the top Ritz value creeps up so slowly that the old rule
    stops 2% below λ_max; the residual is still large there, and Lanczos runs on until it certifies λ_max."""
    eigenvalues = torch.cat([torch.linspace(-1.0, 1.0, 299), torch.tensor([1.02])]).double()
    a, seed, tol = known_matrix(eigenvalues, seed=2), 2, 1e-3
    early = value_change_stop(a, seed, tol)

    def run(max_iter: int):
        generator = torch.Generator().manual_seed(seed)
        return lanczos_extremes(lambda v: a @ v, 300, tol=tol, max_iter=max_iter, generator=generator, dtype=a.dtype)

    stalled = run(early)
    assert (1.02 - stalled.lambda_max) / 1.02 > 0.01  # the old rule's answer: 2% low, and it called it converged
    assert not stalled.converged and stalled.residual_max > tol * abs(stalled.lambda_max)
    low, high = stalled.max_interval  # still honest: an eigenvalue inside, and λ_max above its lower end
    assert bool(((eigenvalues >= low) & (eigenvalues <= high)).any()) and low <= 1.02
    found = run(300)
    assert found.converged and found.iterations > early + 10
    assert max(found.residual_max, found.residual_min) <= tol * max(abs(found.lambda_max), abs(found.lambda_min))
    assert found.max_interval[0] <= 1.02 <= found.max_interval[1]
    assert found.min_interval[0] <= -1.0 <= found.min_interval[1]
    assert found.lambda_max == pytest.approx(1.02, abs=found.residual_max)


def test_curvature_lanczos_residual_is_the_norm_of_h_y_minus_theta_y():
    """β_j·|last entry of the Ritz vector| against the explicit ||A·y - θ·y||, y = Q·s from the basis Lanczos
    multiplied by (each product's argument is the next basis vector)."""
    a = known_matrix(EIGENVALUES, seed=4)
    basis = []

    def matvec(v: torch.Tensor) -> torch.Tensor:
        basis.append(v.clone())
        return a @ v

    found = lanczos_extremes(
        matvec, 20, tol=1e-12, max_iter=6, generator=torch.Generator().manual_seed(1), dtype=torch.float64
    )
    start = rademacher(20, torch.Generator().manual_seed(1), torch.float64, torch.device("cpu"))
    *_, (alphas, betas, _) = lanczos_tridiagonal(lambda v: a @ v, start, 6)
    ritz, vectors = tridiagonal_eigh(alphas, betas)
    q = torch.stack(basis, dim=1)
    pairs = ((-1, found.lambda_max, found.residual_max), (0, found.lambda_min, found.residual_min))
    for index, theta, residual in pairs:
        y = q @ vectors[:, index]
        assert float(ritz[index]) == theta
        assert float(torch.linalg.vector_norm(a @ y - theta * y)) == pytest.approx(residual, rel=1e-8)
    assert not found.converged and found.iterations == 6


def test_curvature_hutchinson_trace_is_exact_for_a_diagonal_hessian():
    diagonal = torch.arange(-5, 15, dtype=torch.float32)  # integers: every product and sum is exact in fp32
    quadratic = QuadraticLoss(torch.diag(diagonal).double(), torch.float32)
    mean, stderr = hutchinson_trace(quadratic.params, quadratic, samples=7, generator=torch.Generator().manual_seed(0))
    assert mean == float(diagonal.sum())
    assert stderr == 0.0


def test_curvature_hutchinson_trace_lies_within_its_standard_error():
    a = known_matrix(EIGENVALUES, seed=2)
    quadratic = QuadraticLoss(a, torch.float64)
    samples = 400
    mean, stderr = hutchinson_trace(quadratic.params, quadratic, samples, generator=torch.Generator().manual_seed(4))
    exact = float(torch.trace(a))
    assert abs(mean - exact) < 4 * stderr
    # Rademacher: Var(zᵀAz) = 2 Σ_{i≠j} A_ij², so the stated error should be near sqrt(that / samples)
    off = a - torch.diag(torch.diag(a))
    expected = float((2 * (off**2).sum() / samples).sqrt())
    assert 0.8 * expected < stderr < 1.2 * expected
    _, one = hutchinson_trace(quadratic.params, quadratic, 1, generator=torch.Generator().manual_seed(4))
    assert one != one  # NaN: no error from one sample


def bn_net(dtype: torch.dtype = torch.float32, dropout: float = 0.0) -> nn.Module:
    """Linear(6→16) + BatchNorm1d + Tanh + Linear(16→3): 195 parameters."""
    torch.manual_seed(0)
    layers = [nn.Linear(6, 16), nn.BatchNorm1d(16), nn.Tanh()]
    if dropout:
        layers.append(nn.Dropout(dropout))
    net = nn.Sequential(*layers, nn.Linear(16, 3))
    with torch.no_grad():  # BatchNorm's affine parameters away from (1, 0), as after some training
        net[1].weight.uniform_(0.5, 1.5)
        net[1].bias.uniform_(-0.5, 0.5)
    return net.to(dtype)  # drawn in fp32, so the fp64 net holds exactly the fp32 net's weights


def batch(dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(7)
    return torch.randn(16, 6, generator=gen).to(dtype), torch.randint(0, 3, (16,), generator=gen)


@functools.cache
def dense_hessian_eigenvalues() -> torch.Tensor:
    """Eigenvalues of bn_net's dense Hessian on batch() over the flattened parameters, in float64, BatchNorm on
    batch statistics (the fp32 net's weights are exactly representable: its true Hessian too)."""
    net = bn_net(torch.float64).train()
    x, y = batch(torch.float64)
    names = [name for name, _ in net.named_parameters()]
    shapes = [p.shape for _, p in net.named_parameters()]
    flat = torch.cat([p.detach().reshape(-1) for p in net.parameters()])

    def loss(vector: torch.Tensor) -> torch.Tensor:
        parts = torch.split(vector, [s.numel() for s in shapes])
        params = {n: part.view(s) for n, part, s in zip(names, parts, shapes, strict=True)}
        return nn.functional.cross_entropy(functional_call(net, params, (x,)), y)

    return torch.linalg.eigvalsh(torch.autograd.functional.hessian(loss, flat))


@pytest.mark.parametrize(("dtype", "tol"), [(torch.float64, 1e-9), (torch.float32, 1e-5)])
def test_curvature_of_a_batchnorm_net_matches_the_dense_hessian(dtype, tol):
    net = bn_net(dtype)
    x, y = batch(dtype)
    exact = dense_hessian_eigenvalues()
    assert sum(p.numel() for p in net.parameters()) == len(exact) == 195
    found = curvature(
        net,
        lambda: nn.functional.cross_entropy(net(x), y),
        tol=tol,
        max_iter=195,
        samples=20,
        generator=torch.Generator().manual_seed(0),
    )
    assert found["lambda_max"] == pytest.approx(float(exact[-1]), rel=0.01)
    assert found["lambda_min"] == pytest.approx(float(exact[0]), rel=0.01)
    assert exact[0] < 0 < exact[-1]
    assert found["lanczos_converged"] == 1.0 and found["lanczos_iterations"] < 60  # by tolerance, not by dimension
    assert abs(found["trace"] - float(exact.sum())) < 4 * found["trace_stderr"]


def train_step(net: nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor) -> None:
    optimizer.zero_grad()
    nn.functional.cross_entropy(net(x), y).backward()
    optimizer.step()


def test_curvature_restores_weights_grads_buffers_optimizer_state_and_rng():
    net = bn_net(dropout=0.2)  # dropout: the forward passes draw from the global RNG
    x, y = batch()
    optimizer = torch.optim.Adam(net.parameters(), lr=0.01)
    train_step(net, optimizer, x, y)  # so that Adam has state
    optimizer.zero_grad()
    nn.functional.cross_entropy(net(x), y).backward()
    state = copy.deepcopy(net.state_dict())
    grads = [p.grad.clone() for p in net.parameters()]
    adam = copy.deepcopy(optimizer.state_dict())
    rng = torch.get_rng_state()
    found = curvature(
        net,
        lambda: nn.functional.cross_entropy(net(x), y),
        tol=1e-3,
        max_iter=20,
        samples=4,
        generator=torch.Generator().manual_seed(0),
    )
    assert found["lambda_max"] > 0 and found["trace_stderr"] > 0 and 2 <= found["lanczos_iterations"] <= 20
    for key, value in net.state_dict().items():  # weights and BatchNorm's running statistics
        assert torch.equal(value, state[key]), key
    for p, g in zip(net.parameters(), grads, strict=True):
        assert torch.equal(p.grad, g)
    after = optimizer.state_dict()
    for index, values in adam["state"].items():
        for key, value in values.items():
            assert torch.equal(after["state"][index][key], value), key
    assert torch.equal(torch.get_rng_state(), rng)
    assert net.training


def run_sgd(probe_every: int | None) -> dict[str, torch.Tensor]:
    net = bn_net(dropout=0.2)
    x, y = batch()
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    torch.manual_seed(11)
    for step in range(5):
        optimizer.zero_grad()
        nn.functional.cross_entropy(net(x), y).backward()
        if probe_every and step % probe_every == 0:
            curvature(
                net,
                lambda: nn.functional.cross_entropy(net(x), y),
                tol=1e-3,
                max_iter=10,
                samples=2,
                generator=torch.Generator().manual_seed(step),
            )
        optimizer.step()
    return copy.deepcopy(net.state_dict())


def test_curvature_leaves_the_trajectory_bit_identical():
    with_probe, without = run_sgd(2), run_sgd(None)
    for key, value in without.items():
        assert torch.equal(with_probe[key], value), key


@pytest.mark.parametrize("initially_training", [True, False])
def test_curvature_eval_mode_differs_and_restores_the_training_flag(initially_training):
    net = bn_net()
    x, y = batch()
    with torch.no_grad():  # running statistics unlike this batch's, so the two modes see different networks
        net[1].running_mean.fill_(0.25)
        net[1].running_var.fill_(2.0)
    net.train(initially_training)

    def measure(mode: str) -> dict[str, float]:
        return curvature(
            net,
            lambda: nn.functional.cross_entropy(net(x), y),
            tol=1e-6,
            max_iter=100,
            samples=0,
            generator=torch.Generator().manual_seed(0),
            mode=mode,
        )

    train, evaluated = measure("train"), measure("eval")
    assert net.training is initially_training and all(m.training is initially_training for m in net.modules())
    assert train["lambda_max"] != pytest.approx(evaluated["lambda_max"], rel=0.01)
    assert float(net[1].running_mean[0]) == 0.25
    with pytest.raises(ValueError, match="unknown curvature mode"):
        measure("batch")
