"""The Hessian's eigenvalue density by stochastic Lanczos quadrature (issue 22) against known answers: matrices
with known spectra (a bulk with outliers, a power law) and a small BatchNorm network's dense Hessian; the steps the
curvature probe takes it at. Selected by `pytest -k density`."""

from __future__ import annotations

import copy
import math

import pandas as pd
import pytest
import torch
from test_curvature import batch, bn_net, dense_hessian_eigenvalues, known_matrix
from torch import nn

from ablate.analysis.density import density_summary
from ablate.plan.schema import run_defaults
from ablate.training.probes import DENSITY_COLUMNS, ProbeRecorder, density_steps
from ablate.training.spectrum import Quadrature, density, hessian_density, moment, slq

N = 600


def quadratures(eigenvalues: torch.Tensor, seed: int, steps: int = 40, vectors: int = 20):
    a = known_matrix(eigenvalues, seed)
    generator = torch.Generator().manual_seed(seed)
    return slq(lambda v: a @ v, len(a), steps=steps, vectors=vectors, generator=generator, dtype=torch.float64)


def assert_moments_within_their_error(found, eigenvalues: torch.Tensor, orders=(1, 2, 3, 4)) -> None:
    """Each moment (1/n) tr H^k within 4 standard errors of the exact one, and the error a real one (> 0)."""
    for k in orders:
        estimate, stderr = moment(found, k)
        exact = float((eigenvalues**k).mean())
        assert 0 < stderr < abs(exact), k
        assert abs(estimate - exact) < 4 * stderr, (k, estimate, exact, stderr)


def test_density_of_a_bulk_with_outliers():
    """A bulk on [0, 1] and three outliers at 20, 35 and 50: the moments match, every start vector's quadrature
    has a node on each outlier carrying on average 1/n of the mass, and the rest of the mass is on the bulk."""
    outliers = torch.tensor([20.0, 35.0, 50.0], dtype=torch.float64)
    eigenvalues = torch.cat([torch.linspace(0.0, 1.0, N - 3, dtype=torch.float64), outliers])
    found = quadratures(eigenvalues, seed=1)
    assert_moments_within_their_error(found, eigenvalues)
    for outlier in outliers:
        at = [int((q.nodes - outlier).abs().argmin()) for q in found]
        assert all(abs(float(q.nodes[i]) - float(outlier)) < 1e-9 for q, i in zip(found, at, strict=True))
        weights = torch.stack([q.weights[i] for q, i in zip(found, at, strict=True)]) * N
        assert abs(float(weights.mean()) - 1.0) < 4 * float(weights.std()) / len(found) ** 0.5
    for q in found:  # Ritz values lie inside the spectrum
        assert float(q.nodes.min()) >= -1e-9 and float(q.nodes.max()) <= 50.0 + 1e-9
    bulk = torch.stack([q.weights[(q.nodes > -0.01) & (q.nodes < 1.01)].sum() for q in found])
    assert abs(float(bulk.mean()) - (N - 3) / N) < 4 * float(bulk.std()) / len(found) ** 0.5
    # the smoothed density: a probability density with the quadrature's mean, peaked at the outliers
    grid = torch.linspace(-2.0, 55.0, 20_001, dtype=torch.float64)
    phi = density(found, grid, sigma=0.2)
    assert float(torch.trapezoid(phi, grid)) == pytest.approx(1.0, abs=1e-9)
    assert float(torch.trapezoid(grid * phi, grid)) == pytest.approx(moment(found, 1)[0], rel=1e-9)
    for outlier in outliers:
        near = (grid - outlier).abs() < 1.0
        peak = grid[near][int(phi[near].argmax())]
        assert abs(float(peak - outlier)) < 0.01
        assert float(phi[(grid - outlier).abs() < 1.0].max()) > 100 * float(
            phi[(grid - outlier - 2.5).abs() < 0.5].max()
        )


def test_density_of_a_power_law():
    """λ_i = 50·i^(-3/2): the moments match, and the largest eigenvalues, well apart, are nodes of every
    quadrature."""
    eigenvalues = 50.0 * torch.arange(1, N + 1, dtype=torch.float64) ** -1.5
    found = quadratures(eigenvalues, seed=2)
    assert_moments_within_their_error(found, eigenvalues)
    for q in found:
        assert float(q.nodes[-1]) == pytest.approx(50.0, rel=1e-12)
        assert float(q.nodes[-2]) == pytest.approx(float(eigenvalues[1]), rel=1e-9)
        assert float(q.weights.sum()) == pytest.approx(1.0, rel=1e-12)


def test_density_of_a_batchnorm_net_matches_its_dense_hessian_and_restores_it():
    """The Hessian of bn_net (195 parameters, BatchNorm on the batch's statistics, fp32 products) against its
    dense float64 eigenvalues: the first two moments, and λ_max as the top node; the net is left as it was."""
    net = bn_net()
    x, y = batch()
    exact = dense_hessian_eigenvalues()
    state = copy.deepcopy(net.state_dict())
    rng = torch.get_rng_state()
    found = hessian_density(
        net,
        lambda: nn.functional.cross_entropy(net(x), y),
        steps=60,
        vectors=12,
        generator=torch.Generator().manual_seed(0),
    )
    assert len(found) == 12 and all(len(q.nodes) == 60 for q in found)
    assert_moments_within_their_error(found, exact, orders=(1, 2))
    for q in found:
        assert float(q.nodes[-1]) == pytest.approx(float(exact[-1]), rel=1e-3)
    for key, value in net.state_dict().items():
        assert torch.equal(value, state[key]), key
    assert torch.equal(torch.get_rng_state(), rng) and net.training


def test_density_needs_a_step_and_a_vector():
    with pytest.raises(ValueError, match="slq needs"):
        slq(lambda v: v, 3, steps=0, vectors=1, generator=torch.Generator())


def test_density_steps_are_the_first_middle_and_last_curvature_probe_or_those_asked_for():
    assert density_steps([], 50, 15_249) == {50, 7_600, 15_200}  # 304 probes: the 1st, 152nd and 304th
    assert density_steps([], 8, 8) == {8}  # one probe: first, middle and last at once
    assert density_steps([], 50, 49) == set()  # shorter than one probe's distance: none
    assert density_steps([1, 120, 999], 50, 1_000) == {50, 100, 950}  # each to the probe at or before it


def sgd_steps(recorder_run: dict | None, steps: int = 6) -> tuple[dict[str, torch.Tensor], ProbeRecorder | None]:
    """bn_net (with dropout) trained `steps` SGD steps on batch(), with a ProbeRecorder of `recorder_run` (a run
    config) after each backward pass where given."""
    net = bn_net(dropout=0.2)
    x, y = batch()
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    recorder = ProbeRecorder(net, optimizer, recorder_run, total_steps=steps) if recorder_run else None
    torch.manual_seed(11)
    for step in range(1, steps + 1):
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(net(x), y)
        loss.backward()
        if recorder:
            recorder.after_backward(1, step, loss, lambda: nn.functional.cross_entropy(net(x), y))
        optimizer.step()
    return copy.deepcopy(net.state_dict()), recorder


def test_density_probe_records_at_its_steps_and_leaves_the_trajectory_bit_identical():
    """The curvature probe every 2 of 6 steps takes the density at its first, middle and last probe (2, 4, 6):
    every start vector's weights sum to 1, and the run follows the same trajectory as one without probes."""
    curvature = {"every": 2, "tol": 1e-3, "max_iter": 5, "samples": 1, "mode": "train"}
    density = {"at": [], "steps": 8, "vectors": 2}
    run = {**run_defaults(), "probes": ["curvature"], "curvature": {**curvature, "density": density}}
    with_probe, recorder = sgd_steps(run)
    without, _ = sgd_steps(None)
    for key, value in without.items():
        assert torch.equal(with_probe[key], value), key
    rows = pd.DataFrame(recorder.density_rows, columns=DENSITY_COLUMNS)
    assert sorted(rows["step"].unique()) == [2, 4, 6] and set(rows["vector"]) == {0, 1}
    assert len(rows) == 3 * 2 * 8
    sums = rows.groupby(["step", "vector"])["weight"].sum()
    assert sums.to_numpy() == pytest.approx(1.0, abs=1e-9)
    assert recorder.state_dict()["density"] == recorder.density_rows  # checkpointed: a resumed run keeps them


def test_density_summary_gives_the_top_node_and_its_ratio_to_the_rms_eigenvalue():
    """An outlier at 50 carrying 1e-4 of the mass beside a bulk on [0, 1]: the top node is 50, the rms eigenvalue
    √(Σ τ θ²) and the outlier ratio their quotient; the bulk alone gives a ratio near 1."""
    nodes = torch.tensor([0.0, 0.5, 1.0, 50.0], dtype=torch.float64)
    weights = torch.tensor([0.3, 0.3, 0.3999, 0.0001], dtype=torch.float64)
    alone = Quadrature(nodes[:3], torch.tensor([0.3, 0.3, 0.4], dtype=torch.float64))
    labels = {"group": "vgg_a", "variant": "vgg_a", "seed": 0, "run": "r"}
    table = density_summary([(labels, {8: [Quadrature(nodes, weights)], 16: [alone]})])
    rms = math.sqrt(0.3 * 0.25 + 0.3999 + 0.0001 * 2500)
    first, second = table.iloc[0], table.iloc[1]
    assert first["top_node"] == 50.0 and first["rms"] == pytest.approx(rms)
    assert first["outlier_ratio"] == pytest.approx(50.0 / rms) and first["outlier_ratio"] > 50
    assert second["outlier_ratio"] == pytest.approx(1.0 / math.sqrt(0.075 + 0.4)) and second["outlier_ratio"] < 1.5
