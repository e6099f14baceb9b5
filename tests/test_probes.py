"""The probes against known answers: a quadratic loss with a known Hessian, and the optimizers' real steps."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from ablate.plan.config import run_defaults
from ablate.training import components
from ablate.training.models import build_model
from ablate.training.probes import ProbeRecorder, line_search, optimizer_update

torch.set_default_dtype(torch.float32)


def quadratic(dim: int = 6, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """H = Q diag(eigenvalues) Q^T with known eigenvalues (largest 5) and its eigenvectors."""
    gen = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(dim, dim, generator=gen, dtype=torch.float64))
    eigenvalues = torch.tensor([5.0, 3.0, 1.5, 1.0, 0.5, 0.2], dtype=torch.float64)[:dim]
    return q @ torch.diag(eigenvalues) @ q.T, eigenvalues, q


class Quadratic(nn.Module):
    """L(w) = 1/2 w H w^T with w the weight of the model's only (so last) linear layer."""

    def __init__(self, start: torch.Tensor, hessian: torch.Tensor) -> None:
        super().__init__()
        self.layer = nn.Linear(len(start), 1, bias=False)
        with torch.no_grad():
            self.layer.weight.copy_(start.float()[None])
        self.register_buffer("hessian", hessian.float())

    def loss(self) -> torch.Tensor:
        w = self.layer.weight
        return 0.5 * (w @ self.hessian @ w.T).squeeze()


def run_settings(probes: list[str]) -> dict:
    """A run config with these probes, every setting at its default but line_search at every step."""
    return {**run_defaults(), "probes": probes, "probe_every": 1}


def probe_quadratic(start: torch.Tensor, hessian: torch.Tensor, steps: int = 8) -> list[dict[str, float]]:
    model = Quadratic(start, hessian)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    recorder = ProbeRecorder(model, optimizer, run_settings(["step_loss", "beta", "line_search"]))
    for step in range(1, steps + 1):
        optimizer.zero_grad()
        loss = model.loss()
        loss.backward()
        recorder.after_backward(1, step, loss, model.loss)
        optimizer.step()
    recorder.flush()
    return recorder.rows


def test_beta_and_effective_beta_are_bounded_by_the_largest_eigenvalue():
    hessian, eigenvalues, _ = quadratic()
    top = float(eigenvalues.max())
    start = torch.randn(len(eigenvalues), generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    rows = probe_quadratic(start, hessian)
    betas = [r["beta"] for r in rows[1:]]
    effective = [r["ls_beta_max"] for r in rows]
    assert all(b <= top * (1 + 1e-4) for b in betas + effective)
    assert min(betas + effective) > float(eigenvalues.min()) * (1 - 1e-4)  # and above the smallest


def test_along_the_top_eigenvector_beta_and_effective_beta_equal_the_largest_eigenvalue():
    hessian, eigenvalues, vectors = quadratic()
    top = float(eigenvalues.max())
    rows = probe_quadratic(3.0 * vectors[:, 0], hessian)  # gradient descent stays on this eigenvector
    for row in rows[1:]:
        assert row["beta"] == pytest.approx(top, rel=0.05)
    for row in rows:
        assert row["ls_beta_max"] == pytest.approx(top, rel=0.05)
        # along it, L(w + c·Δ) = L(w)·(1 - c·lr·top)² = L(w)·(1 - c/2)² for c in [0.5, 4]: 0 at c = 2, L(w) at c = 4
        assert row["ls_loss_min"] == pytest.approx(0.0, abs=1e-6 * row["step_loss"])
        assert row["ls_loss_max"] == pytest.approx(row["step_loss"], rel=1e-4)


def tiny_batch(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(16, 3, 32, 32, generator=gen), torch.randint(0, 10, (16,), generator=gen)


OPTIMIZERS = {
    "sgd": {"name": "sgd", "lr": 0.05, "momentum": 0.0, "weight_decay": 0.0},
    "sgd_momentum": {"name": "sgd", "lr": 0.05, "momentum": 0.9, "weight_decay": 5e-4},
    "adam": {"name": "adam", "lr": 0.001, "weight_decay": 5e-4},
    "rmsprop": {"name": "rmsprop", "lr": 0.001, "alpha": 0.99},
}


@pytest.mark.parametrize("name", list(OPTIMIZERS))
@pytest.mark.parametrize("model_name", ["vgg_a_bn", "basic_cnn"])
def test_line_search_at_c_1_is_the_loss_after_the_real_optimizer_step(name, model_name):
    torch.manual_seed(0)
    model = build_model(model_name, width=0.25)
    model.train()
    optimizer = components.optimizer(model.parameters(), OPTIMIZERS[name])
    images, labels = tiny_batch()

    def loss_at() -> torch.Tensor:
        return nn.functional.cross_entropy(model(images), labels)

    # two real steps first, so that momentum and Adam's moments are not empty
    for _ in range(2):
        optimizer.zero_grad()
        loss_at().backward()
        optimizer.step()
    optimizer.zero_grad()
    loss_at().backward()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    state_before = {id(p): {k: v.clone() for k, v in s.items()} for p, s in optimizer.state.items()}
    found = line_search(model, optimizer, loss_at, [0.5, 1.0, 2.0], direction="update")
    # nothing moved: weights, BatchNorm's running statistics, the optimizer's state
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key
    for p, s in optimizer.state.items():
        for k, v in s.items():
            assert torch.equal(v, state_before[id(p)][k]), k
    optimizer.step()
    after = loss_at().detach()
    assert float(found["loss"][1]) == pytest.approx(float(after), rel=1e-5, abs=1e-6)
    assert float(found["loss"][0]) != pytest.approx(float(after), rel=1e-5, abs=1e-6)


def test_plain_sgd_update_is_santurkars_gradient_step():
    torch.manual_seed(0)
    model = build_model("vgg_a", width=0.25)
    optimizer = components.optimizer(model.parameters(), OPTIMIZERS["sgd"])
    images, labels = tiny_batch()

    def loss_at() -> torch.Tensor:
        return nn.functional.cross_entropy(model(images), labels)

    loss_at().backward()
    params = [p for p in model.parameters() if p.grad is not None]
    update = optimizer_update(optimizer, params)
    for p, d in zip(params, update, strict=True):
        torch.testing.assert_close(d, -0.05 * p.grad, rtol=1e-4, atol=1e-7)
    by_update = line_search(model, optimizer, loss_at, [1.0, 3.0], direction="update")
    by_gradient = line_search(model, optimizer, loss_at, [1.0, 3.0], direction="gradient")
    for key in ("loss", "grad_diff", "beta"):
        torch.testing.assert_close(by_update[key], by_gradient[key], rtol=1e-4, atol=1e-6)


def test_under_adam_the_update_is_about_lr_per_coordinate_not_lr_times_the_gradient():
    """Why `direction: update` is the default: Adam's first step moves each weight by about lr."""
    torch.manual_seed(0)
    model = build_model("vgg_a", width=0.25)
    optimizer = components.optimizer(model.parameters(), {"name": "adam", "lr": 0.001})
    images, labels = tiny_batch()
    nn.functional.cross_entropy(model(images), labels).backward()
    params = [p for p in model.parameters() if p.grad is not None]
    update = optimizer_update(optimizer, params)
    sizes = torch.cat([d.abs().flatten() for d in update])
    moving = torch.cat([(p.grad != 0).flatten() for p in params])  # ReLUs leave some weights without gradient
    gradient_step = torch.cat([(0.001 * p.grad).abs().flatten() for p in params])
    assert float(sizes[moving].median()) == pytest.approx(0.001, rel=0.05)
    assert float(sizes.norm()) > 10 * float(gradient_step.norm())
    assert not optimizer.state  # the first step's state was undone too
    assert math.isfinite(float(sizes.sum()))
