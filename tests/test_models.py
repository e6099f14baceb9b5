"""Models and components: exact parameter counts, activations, dropout, initialisation, losses, optimizers.
(That every registry entry is complete and the schema agrees with it: tests/test_registry.py.)"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ablate import registry
from ablate.plan.config import validated
from ablate.training import components
from ablate.training.models import build_model, last_linear, parameter_count

PUBLISHED_COUNTS = {
    "basic_cnn": 576_778,
    "resnet18": 11_173_962,
    "resnet34": 21_282_122,
    "resnet50": 23_520_842,
    "resnet101": 42_512_970,
    "resnet152": 58_156_618,
    "vgg_a": 9_750_922,
    "vgg_a_light": 285_162,
    "vgg_a_bn": 9_756_426,  # VGG&BN/VGG.py: BatchNorm2d after each of the 8 convolutions
}


@pytest.mark.parametrize("name", list(PUBLISHED_COUNTS))
def test_parameter_counts(name):
    assert parameter_count(build_model(name)) == PUBLISHED_COUNTS[name]


@pytest.mark.parametrize("name", list(registry.MODELS))
def test_every_model_maps_cifar_images_to_ten_logits(name):
    model = build_model(name, width=0.25).eval()
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 10)


@pytest.mark.parametrize("name", ["basic_cnn", "resnet18", "vgg_a"])
def test_activation_is_a_parameter_of_every_model(name):
    model = build_model(name, activation="tanh", width=0.25)
    kinds = {type(m) for m in model.modules()}
    assert nn.Tanh in kinds and nn.ReLU not in kinds


def test_dropout_models_and_probabilities():
    assert {m.p for m in build_model("basic_cnn", dropout=0.5).modules() if isinstance(m, nn.Dropout)} == {0.5}
    assert any(isinstance(m, nn.BatchNorm2d) for m in build_model("vgg_a_bn").modules())
    assert not any(isinstance(m, nn.BatchNorm2d) for m in build_model("vgg_a").modules())
    assert last_linear(build_model("vgg_a")).out_features == 10


@pytest.mark.parametrize("name", ["vgg_a_dropout", "vgg_a_bn_dropout"])
def test_vgg_dropout_sits_before_the_hidden_linear_layers_only(name):
    """VGG&BN/VGG.py L169-177 and L321-329: Dropout, Linear, ReLU, Dropout, Linear, ReLU, Linear."""
    kinds = [type(m) for m in build_model(name).classifier if not isinstance(m, nn.Flatten)]
    assert kinds == [nn.Dropout, nn.Linear, nn.ReLU, nn.Dropout, nn.Linear, nn.ReLU, nn.Linear]
    assert registry.MODELS[name].dropout == 0.5  # the probability a run of it gets when its config says `dropout: null`


def test_glorot_init_is_xavier_uniform_with_zero_biases():
    torch.manual_seed(0)
    model = build_model("vgg_a_bn", init="glorot")
    conv = next(m for m in model.modules() if isinstance(m, nn.Conv2d) and m.in_channels == 256)
    fan_in, fan_out = 256 * 9, conv.out_channels * 9
    bound = (6 / (fan_in + fan_out)) ** 0.5
    assert float(conv.weight.abs().max()) <= bound and float(conv.weight.abs().max()) > 0.95 * bound
    assert float(conv.weight.std()) == pytest.approx(bound / 3**0.5, rel=0.02)  # uniform(-b, b)
    assert all(float(m.bias.abs().max()) == 0 for m in model.modules() if isinstance(m, nn.Linear | nn.Conv2d))
    norm = next(m for m in model.modules() if isinstance(m, nn.BatchNorm2d))
    assert torch.equal(norm.weight, torch.ones_like(norm.weight))
    default = build_model("vgg_a_bn")
    assert float(next(m for m in default.modules() if isinstance(m, nn.Linear)).bias.abs().max()) > 0


@pytest.mark.parametrize("loss", registry.LOSSES)
def test_losses_take_logits_and_class_indices(loss):
    logits = torch.randn(8, 10, requires_grad=True)
    value = components.loss_function(loss)(logits, torch.arange(8) % 10)
    value.backward()
    assert value.ndim == 0 and torch.isfinite(value) and logits.grad is not None


@pytest.mark.parametrize("name", registry.OPTIMIZERS)
def test_optimizers_take_only_their_keys(name):
    defaults = validated({}, check_paths=False)["defaults"]["optimizer"]  # every optimizer key, as configs have
    spec = {**defaults, "name": name, "lr": 0.01}
    optimizer = components.optimizer([nn.Parameter(torch.zeros(3))], spec)
    assert isinstance(optimizer, registry.OPTIMIZERS[name].load())
    assert optimizer.param_groups[0]["lr"] == 0.01


def test_plateau_scheduler_halves_lr_on_a_flat_test_loss():
    optimizer = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.1)
    scheduler = components.scheduler(
        optimizer, {"name": "plateau", "factor": 0.5, "patience": 1, "cooldown": 0, "min_lr": 0.0}, epochs=10
    )
    for _ in range(3):
        scheduler.step(1.0)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.05)
