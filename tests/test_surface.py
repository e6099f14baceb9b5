"""The loss surface (issue 14, Li et al. 2018) and the 1-D interpolation (Goodfellow et al. 2015) against known
answers: a quadratic "model" whose loss has a closed form, and the filter norms of the random directions."""

from __future__ import annotations

import copy
import re

import pandas as pd
import pytest
import torch
from torch import nn

from ablate.analysis.surface import (
    filter_normalized_direction,
    interpolation,
    interpolation_grid,
    recompute_batchnorm_statistics,
    require_finite,
    surface_grid,
)

from conftest import REPO


class QuadraticModel(nn.Module):
    """L(w) = ½ wᵀAw over two 2-D weights (3×4 and 2×5) and a bias; accuracy: the bias's sum (any number)."""

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        self.first = nn.Parameter(torch.randn(3, 4, generator=gen, dtype=torch.float64))
        self.second = nn.Parameter(torch.randn(2, 5, generator=gen, dtype=torch.float64))
        self.bias = nn.Parameter(torch.randn(3, generator=gen, dtype=torch.float64))
        m = torch.randn(25, 25, generator=gen, dtype=torch.float64)
        self.register_buffer("a", m @ m.T / 25)

    def flat(self) -> torch.Tensor:
        return torch.cat([self.first.reshape(-1), self.second.reshape(-1), self.bias])

    def loss(self) -> torch.Tensor:
        w = self.flat()
        return 0.5 * w @ self.a @ w


def evaluate_quadratic(model: nn.Module) -> tuple[float, float]:
    return float(model.loss()), float(model.bias.sum())


def test_surface_grid_of_a_quadratic_equals_the_closed_form():
    model = QuadraticModel()
    before = copy.deepcopy(model.state_dict())
    gen = torch.Generator().manual_seed(1)
    d1, d2 = filter_normalized_direction(model, gen), filter_normalized_direction(model, gen)
    grid = surface_grid(model, [d1, d2], span=1.0, points=5, evaluate=evaluate_quadratic)
    assert list(grid.columns) == ["alpha", "beta", "loss", "accuracy"] and len(grid) == 25
    w, a = model.flat().detach(), model.a
    f1 = torch.cat([d1["first"].reshape(-1), d1["second"].reshape(-1), d1["bias"]])
    f2 = torch.cat([d2["first"].reshape(-1), d2["second"].reshape(-1), d2["bias"]])
    for row in grid.itertuples():
        moved = w + row.alpha * f1 + row.beta * f2
        assert row.loss == pytest.approx(float(0.5 * moved @ a @ moved), rel=1e-12)
        assert row.accuracy == pytest.approx(float(model.bias.detach().sum()), rel=1e-12)  # the bias never moves
    assert sorted(set(grid["alpha"])) == [-1.0, -0.5, 0.0, 0.5, 1.0]
    centre = grid[(grid["alpha"] == 0) & (grid["beta"] == 0)]
    assert float(centre["loss"].iloc[0]) == float(model.loss().detach())
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key


def conv_bn_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 3, 3), nn.BatchNorm2d(3), nn.ReLU(), nn.Flatten(), nn.Linear(48, 4), nn.BatchNorm1d(4)
    )


def test_surface_filter_normalized_direction_matches_filter_norms_and_ignores_bias_and_batchnorm():
    net = conv_bn_net()
    direction = filter_normalized_direction(net, torch.Generator().manual_seed(0))
    assert list(direction) == [name for name, _ in net.named_parameters()]
    for name, p in net.named_parameters():
        d = direction[name]
        assert d.shape == p.shape and d.dtype == p.dtype
        if p.dim() <= 1:  # conv and linear biases, BatchNorm's weight and bias
            assert torch.equal(d, torch.zeros_like(p)), name
        else:
            for d_filter, w_filter in zip(d, p.detach(), strict=True):
                assert float(d_filter.norm()) == pytest.approx(float(w_filter.norm()), rel=1e-6)
            assert not torch.equal(d, p.detach())  # random, only the filter norms are the weights'
    again = filter_normalized_direction(net, torch.Generator().manual_seed(0))
    other = filter_normalized_direction(net, torch.Generator().manual_seed(1))
    assert all(torch.equal(direction[k], again[k]) for k in direction)
    assert not torch.equal(direction["0.weight"], other["0.weight"])
    from_state = filter_normalized_direction(net.state_dict(), torch.Generator().manual_seed(0))
    assert "1.running_mean" in from_state and not from_state["1.running_mean"].any()
    assert "1.num_batches_tracked" not in from_state  # integers get no direction


def batchnorm_evaluate(x: torch.Tensor, y: torch.Tensor):
    @torch.no_grad()
    def evaluate(model: nn.Module) -> tuple[float, float]:
        out = model(x)
        return float(nn.functional.cross_entropy(out, y)), float((out.argmax(1) == y).double().mean())

    return evaluate


def test_surface_grid_uses_eval_mode_with_the_trained_running_statistics_and_restores_the_model():
    net = conv_bn_net()
    gen = torch.Generator().manual_seed(2)
    x, y = torch.randn(8, 1, 6, 6, generator=gen), torch.randint(0, 4, (8,), generator=gen)
    with torch.no_grad():
        for _ in range(3):
            net(x)  # some running statistics
    net.train()
    before = copy.deepcopy(net.state_dict())
    evaluate = batchnorm_evaluate(x, y)
    directions = [filter_normalized_direction(net, gen) for _ in range(2)]
    grid = surface_grid(net, directions, span=0.5, points=3, evaluate=evaluate)
    net.eval()
    centre = grid[(grid["alpha"] == 0) & (grid["beta"] == 0)]
    assert float(centre["loss"].iloc[0]) == pytest.approx(evaluate(net)[0], rel=1e-6)
    net.train()
    train_grid = surface_grid(net, directions, span=0.5, points=3, evaluate=evaluate, mode="train")
    assert not torch.allclose(torch.tensor(grid["loss"].values), torch.tensor(train_grid["loss"].values))
    assert net.training and all(m.training for m in net.modules())
    for key, value in net.state_dict().items():  # train mode moved no running statistic either
        assert torch.equal(value, before[key]), key
    with pytest.raises(ValueError, match="is not a parameter"):
        surface_grid(net, [{"1.running_mean": torch.ones(3)}, {}], 0.5, 3, evaluate)


def test_surface_interpolation_grid_holds_both_ends():
    assert interpolation_grid(7) == pytest.approx([-0.25, 0.0, 0.25, 0.5, 0.75, 1.0, 1.25])
    ts = interpolation_grid(4)
    assert 0.0 in ts and 1.0 in ts and ts[0] == -0.25 and ts[-1] == 1.25 and ts == sorted(ts)
    assert interpolation_grid(3, 0.0, 1.0) == [0.0, 0.5, 1.0]


def with_recomputed_statistics(net: nn.Module, state: dict, x: torch.Tensor) -> nn.Module:
    """A copy of `net` holding `state`, its BatchNorm statistics recomputed on x by torch's own update_bn."""
    model = copy.deepcopy(net)
    model.load_state_dict(state)
    torch.optim.swa_utils.update_bn([x], model)
    return model.eval()


@pytest.mark.parametrize("buffers", ["recompute", "final"])
def test_surface_interpolation_ends_are_the_initial_and_final_models(buffers):
    net = conv_bn_net()
    gen = torch.Generator().manual_seed(3)
    x, y = torch.randn(8, 1, 6, 6, generator=gen), torch.randint(0, 4, (8,), generator=gen)
    initial = copy.deepcopy(net.state_dict())
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1)
    for _ in range(4):
        optimizer.zero_grad()
        nn.functional.cross_entropy(net(x), y).backward()
        optimizer.step()
    final = copy.deepcopy(net.state_dict())
    evaluate = batchnorm_evaluate(x, y)
    path = interpolation(net, initial, final, points=7, evaluate=evaluate, buffers=buffers)
    assert list(path.columns) == ["t", "loss", "accuracy"] and list(path["t"]) == pytest.approx(interpolation_grid(7))
    for key, value in net.state_dict().items():
        assert torch.equal(value, final[key]), key  # the model's own state restored
    assert net.training

    # buffers="final": t = 0 is the initial weights with the final running statistics
    start = {**final, **{name: initial[name] for name, _ in net.named_parameters()}}
    for t, state in ((0.0, start), (1.0, final)):
        model = with_recomputed_statistics(net, state, x) if buffers == "recompute" else copy.deepcopy(net)
        if buffers == "final":
            model.load_state_dict(state)
        row = path[path["t"] == t]
        expected = evaluate(model.eval())
        assert float(row["loss"].iloc[0]) == pytest.approx(expected[0], rel=1e-12)
        assert float(row["accuracy"].iloc[0]) == expected[1]
    assert path["loss"].nunique() > 3


def test_surface_path_is_finite_where_interpolated_running_variances_go_negative():
    """A trained BatchNorm net whose running variances fall below 0.2 (and rise above 5) against the initial 1:
    interpolated like the weights (Li et al.'s --dir_type states) they go negative at t = 1.25 (and -0.25) and the
    loss is NaN; recomputed on the sample at each point (ablate.analysis.surface) every point is finite and is
    exactly torch's update_bn followed by an eval-mode pass."""
    net = conv_bn_net()
    gen = torch.Generator().manual_seed(4)
    x, y = torch.randn(16, 1, 6, 6, generator=gen), torch.randint(0, 4, (16,), generator=gen)
    initial = copy.deepcopy(net.state_dict())
    final = copy.deepcopy(net.state_dict())
    with torch.no_grad():
        for name, p in net.named_parameters():  # trained weights: anywhere else
            final[name] = p.detach() + 0.3 * torch.randn(p.shape, generator=gen)
    final["1.running_var"] = torch.tensor([0.05, 0.15, 8.0])
    final["5.running_var"] = torch.tensor([0.1, 0.02, 6.0, 0.5])
    evaluate = batchnorm_evaluate(x, y)
    for t in (1.25, -0.25):
        interpolated = {k: (1 - t) * initial[k] + t * v if v.is_floating_point() else v for k, v in final.items()}
        assert (interpolated["1.running_var"] < 0).any()
        broken = copy.deepcopy(net)
        broken.load_state_dict(interpolated)
        assert torch.isnan(torch.tensor(evaluate(broken.eval())[0]))  # what the path used to record

    path = interpolation(net, initial, final, points=7, evaluate=evaluate)
    assert torch.isfinite(torch.tensor(path[["loss", "accuracy"]].to_numpy())).all()
    params = dict(net.named_parameters())
    for t in (-0.25, 1.25):
        state = {k: (1 - t) * initial[k] + t * v if k in params else v for k, v in final.items()}
        expected = evaluate(with_recomputed_statistics(net, state, x))
        assert path.loc[path["t"] == t, "loss"].item() == pytest.approx(expected[0], rel=1e-12)


def test_surface_a_value_that_is_not_finite_is_an_error_naming_its_point():
    path = pd.DataFrame({"t": [0.0, 1.0, 1.25], "loss": [2.3, 0.5, float("nan")], "accuracy": [10.0, 90.0, 50.0]})
    with pytest.raises(ValueError, match=r"path of run r: loss or accuracy not finite at t=1.25: loss nan"):
        require_finite(path, "path of run r", ["t"])
    grid = pd.DataFrame({"alpha": [0.0, 0.5], "beta": [-0.5, 0.5], "loss": [1.0, 2.0], "accuracy": [1.0, float("inf")]})
    with pytest.raises(ValueError, match=r"alpha=0.5, beta=0.5: loss 2.0, accuracy inf"):
        require_finite(grid, "grid", ["alpha", "beta"])
    assert require_finite(path.iloc[:2], "path", ["t"]) is not None


def _run_config(seed: int = 0, **defaults) -> dict:
    from ablate.plan.config import validated
    from ablate.plan.runs import make_plan

    from conftest import synthetic_config

    config = {**synthetic_config(**defaults), "seeds": [seed]}
    return next(iter(make_plan(validated(config, check_paths=False)).runs.values())).train_config


@pytest.mark.parametrize("init", ["default", "glorot"])
def test_surface_initial_weights_are_the_trainers_bit_for_bit(tmp_path, init):
    """The surface's path starts from weights rebuilt from the run's config (ablate.analysis.run_surface); on the
    CPU they are the trainer's step-0 weights exactly, whatever the global RNG drew before."""
    from ablate.analysis.run_surface import initial_state
    from ablate.training.trainer import Runtime, Trainer

    config = _run_config(model="vgg_a_bn_dropout", width=0.125, init=init, seed=3)
    trainer = Trainer(config, tmp_path, Runtime(threads=1), lambda _: None)
    expected = {name: t.detach().clone() for name, t in trainer.model.state_dict().items()}
    torch.rand(100)  # whatever ran before: the rebuild seeds its own draws
    rebuilt = initial_state(config, num_classes=10)
    assert rebuilt.keys() == expected.keys()
    assert all(torch.equal(rebuilt[name], expected[name]) for name in expected)


def test_surface_settings_read_by_name_are_the_schemas():
    """run_surface, the report's caption and bench/projected_cost.py read the surface's settings by name: each name
    is one the schema has (one renamed there but not here fails only when a surface runs, or prints nothing in the
    report)."""
    from ablate.plan.schema import schema

    keys = set(schema()["$defs"]["study"]["properties"]["surface"]["properties"])
    read = {
        "src/ablate/analysis/run_surface.py": r'settings\["(\w+)"\]',
        "src/ablate/report/templates/exhibits.html.j2": r"surface_settings\.(\w+)",
        "bench/projected_cost.py": r'surface\["(\w+)"\]',
    }
    for path, pattern in read.items():
        names = set(re.findall(pattern, (REPO / path).read_text()))
        assert names and names <= keys, (path, names - keys)
    assert "images" in keys and "samples" not in keys  # `samples`: the curvature probe's Hutchinson vectors


@pytest.mark.slow
def test_surface_of_a_tiny_trained_run(tmp_path):
    """run_surface on a trained BatchNorm run: the grid's centre is the final model's loss on the sample in eval
    mode, the path's ends are the initial and the final weights' with BatchNorm's statistics recomputed on the
    sample, and every value is finite."""
    from ablate.analysis.interpret import load_run
    from ablate.analysis.run_surface import evaluator, initial_state, run_surface, training_sample
    from ablate.training.trainer import Runtime, train_run

    config = _run_config(model="vgg_a_bn", width=0.125, epochs=1, init="glorot")
    train_run(config, tmp_path, Runtime(threads=1), lambda _: None)
    settings = {"span": 0.5, "points": 3, "images": 40, "path_points": 3, "seed": 0, "variants": None}
    grid, path = run_surface(tmp_path, "unused", settings, batch_size=16)
    assert len(grid) == 9 and list(grid.columns) == ["alpha", "beta", "loss", "accuracy"]
    assert path["t"].tolist() == [-0.25, 0.0, 0.5, 1.0, 1.25]
    assert grid[["loss", "accuracy"]].notna().all().all() and path["loss"].notna().all()

    model, _ = load_run(tmp_path)
    evaluate = evaluator(config, training_sample(config, "unused", 40, 0), 16)
    with torch.no_grad():
        final_loss, _ = evaluate(model.eval())
        recompute_batchnorm_statistics(model, evaluate)  # the path's BatchNorm statistics: the sample's
        recomputed_loss, _ = evaluate(model.eval())
        model.load_state_dict(initial_state(config, 10))
        recompute_batchnorm_statistics(model, evaluate)
        initial_loss, _ = evaluate(model.eval())
    centre = grid[(grid["alpha"] == 0) & (grid["beta"] == 0)]["loss"].item()
    assert centre == pytest.approx(final_loss, rel=1e-6)
    assert path.loc[path["t"] == 1.0, "loss"].item() == pytest.approx(recomputed_loss, rel=1e-6)
    assert path.loc[path["t"] == 0.0, "loss"].item() == pytest.approx(initial_loss, rel=1e-6)
