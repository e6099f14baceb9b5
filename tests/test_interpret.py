"""Network interpretation (Figures 9 and 10) from a tiny trained ResNet-18 run on generated data."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import torch
from torch import nn

from ablate.analysis.interpret import (
    block_feature_maps,
    feature_maps,
    first_layer_filters,
    load_run,
    sample_image,
)
from ablate.data.datasets import load_dataset
from ablate.plan.config import validated
from ablate.plan.runs import make_plan
from ablate.training.trainer import Runtime, train_run

from conftest import synthetic_config

pytestmark = pytest.mark.slow  # every test reads a run trained by the module's fixture


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    raw = synthetic_config(model="resnet18", width=0.25, epochs=1)
    raw["dataset"].update(train_samples=64, test_samples=32)
    config = next(iter(make_plan(validated(raw, check_paths=False)).runs.values())).train_config
    out = tmp_path_factory.mktemp("runs") / "resnet18-tiny"
    train_run(config, out, Runtime(threads=1), lambda _: None)
    return out


@pytest.fixture(scope="module")
def image(run_dir) -> torch.Tensor:
    _, config = load_run(run_dir)
    return sample_image(config, "unused-for-synthetic-data", index=3)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_sample_image_is_normalised_as_in_training(run_dir, image):
    _, config = load_run(run_dir)
    assert image.shape == (3, 32, 32) and image.dtype == torch.float32
    # the 4th test image of the run's own (generated) test split, as (x/255 - mean)/std
    pixels = load_dataset(config["dataset"], "unused").test.images[3].float() / 255
    mean, std = (torch.tensor(config["normalize"][k]).view(3, 1, 1) for k in ("mean", "std"))
    assert torch.allclose(image, (pixels - mean) / std, atol=1e-6)
    assert not torch.equal(image, sample_image(config, "unused", index=4))
    with pytest.raises(IndexError):
        sample_image(config, "unused", index=32)


def test_both_figures_are_written(run_dir, image, tmp_path):
    before = digest(run_dir / "model.pt")
    filters, maps = tmp_path / "fig" / "filters.png", tmp_path / "fig" / "maps.png"
    first_layer_filters(run_dir, filters)
    block_feature_maps(run_dir, image, maps)
    for path in (filters, maps):
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert path.stat().st_size > 10_000
    assert digest(run_dir / "model.pt") == before


def test_the_feature_maps_of_a_basic_block(run_dir, image):
    model, _ = load_run(run_dir)
    maps = feature_maps(model, image, "layer1")
    labels = [label for label, _ in maps]
    assert labels == [
        "layer1.0 input",
        "layer1.0 conv 3×3, 16 + BN + ReLU",
        "layer1.0 residual: conv 3×3, 16 + BN",
        "layer1.0 shortcut: identity",
        "layer1.0 output: ReLU(residual + shortcut)",
        "layer1.1 output",
    ]
    shapes = {tuple(tensor.shape) for _, tensor in maps}
    assert shapes == {(16, 32, 32)}  # width 0.25: 16 channels, no downsampling in conv2_x
    named = dict(maps)
    # what the hooks saw is the block's arithmetic: out = ReLU(residual + shortcut), shortcut = input
    assert torch.equal(named["layer1.0 shortcut: identity"], named["layer1.0 input"])
    total = named["layer1.0 residual: conv 3×3, 16 + BN"] + named["layer1.0 shortcut: identity"]
    assert torch.allclose(named["layer1.0 output: ReLU(residual + shortcut)"], total.clamp_min(0))
    assert (named["layer1.0 conv 3×3, 16 + BN + ReLU"] >= 0).all()


def test_a_downsampling_stage_shows_its_projection_shortcut(run_dir, image):
    model, _ = load_run(run_dir)
    named = dict(feature_maps(model, image, "layer2"))
    assert named["layer2.0 input"].shape == (16, 32, 32)
    assert named["layer2.0 shortcut: conv 1×1, 32, stride 2 + BN"].shape == (32, 16, 16)
    assert "layer2.0 conv 3×3, 32, stride 2 + BN + ReLU" in named


def test_hooks_are_removed_and_the_model_is_unchanged(run_dir, image, tmp_path):
    model, _ = load_run(run_dir)
    batch = image.unsqueeze(0)
    with torch.no_grad():
        expected = model(batch)
    feature_maps(model, image, "layer1")
    feature_maps(model, image, "layer3")
    for module in model.modules():
        assert not module._forward_hooks and not module._forward_pre_hooks
    with torch.no_grad():
        assert torch.equal(model(batch), expected)
    # the figure functions load their own copy; the saved model gives the same output afterwards
    block_feature_maps(run_dir, image, tmp_path / "maps.png", stage="layer4", channels=4)
    first_layer_filters(run_dir, tmp_path / "filters.png")
    reloaded, _ = load_run(run_dir)
    with torch.no_grad():
        assert torch.equal(reloaded(batch), expected)


def test_models_without_residual_stages_are_refused(image):
    with pytest.raises(ValueError, match="no stage"):
        feature_maps(nn.Sequential(nn.Conv2d(3, 4, 3)), image)
