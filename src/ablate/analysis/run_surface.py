"""Li et al.'s 2-D surface and Goodfellow et al.'s 1-D path of one trained run (the rule `surface`), with the
math of ablate.analysis.surface.

- Final weights: the member's (its run's weights after its epochs, rundir.MEMBER_WEIGHTS). Initial weights:
  rebuilt from its config (the trainer's `initial_model`: the global RNG seeded with the run's seed, then the
  model built and initialised), so the train rule saves nothing more and no run retrains; on the CPU the
  rebuilt weights equal the trainer's at step 0 bit for bit
  (tests/test_surface.py::test_surface_initial_weights_are_the_trainers_bit_for_bit).
- Data: a fixed class-stratified sample of the run's training set (`Split.sample`, drawn with the
  setting's seed), normalised as in training, never augmented, in batches of the eval batch size.
- BatchNorm: eval mode with the trained running statistics on the grid (Li et al.'s code); along the path
  eval mode with the statistics recomputed on the sample at each point (ablate.analysis.surface says why).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd
import torch
from torch import nn

from ablate.analysis.interpret import load_run
from ablate.analysis.surface import filter_normalized_direction, interpolation, surface_grid
from ablate.data import batches, datasets
from ablate.training import components
from ablate.training.models import last_linear
from ablate.training.trainer import initial_model


def training_sample(
    config: Mapping, data_root: str, images: int, seed: int, decoded: str | None = None
) -> datasets.Split:
    """`images` images of the run's training set, class-stratified, the same for every run of the config; from
    the data job's arrays in `decoded` where given (ablate.data.datasets.load_dataset)."""
    dataset = datasets.load_dataset(config["dataset"], data_root, decoded=decoded)
    return dataset.train.sample(images, torch.Generator().manual_seed(seed))


def evaluator(config: Mapping, split: datasets.Split, batch_size: int):
    """model -> (mean loss, accuracy in %) over `split` with the run's loss and normalisation."""
    normalize = batches.Normalizer(config["normalize"]["mean"], config["normalize"]["std"], "cpu")
    loss_fn = components.loss_function(config["loss"])

    def evaluate(model: nn.Module) -> tuple[float, float]:
        loss_sum, correct = 0.0, 0
        for images, labels in batches.eval_batches(split, batch_size, normalize):
            logits = model(images).float()
            loss_sum += float(loss_fn(logits, labels)) * len(labels)
            correct += int((logits.argmax(1) == labels).sum())
        return loss_sum / len(split), 100.0 * correct / len(split)

    return evaluate


def initial_state(config: Mapping, num_classes: int) -> dict[str, torch.Tensor]:
    """The run's state_dict at step 0 (see the module's docstring)."""
    state = initial_model(config, num_classes).state_dict()
    return {name: tensor.detach().clone() for name, tensor in state.items()}


def run_surface(
    run_dir: str | Path,
    data_root: str,
    settings: Mapping,
    batch_size: int,
    weights: str | Path | None = None,
    decoded: str | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(grid: alpha, beta, loss, accuracy; path: t, loss, accuracy) of the run in `run_dir` with a study's
    `surface` settings (span, points, images, path_points, seed; config schema), on the data job's arrays in
    `decoded` where given. The directions are drawn from the setting's seed, so every run of a study gets
    directions of the same draw."""
    model, config = load_run(Path(run_dir), Path(weights) if weights else None)
    final = {name: tensor.detach().clone() for name, tensor in model.state_dict().items()}
    num_classes = last_linear(model).out_features
    split = training_sample(config, data_root, settings["images"], settings["seed"], decoded)
    evaluate = evaluator(config, split, batch_size)
    generator = torch.Generator().manual_seed(settings["seed"])
    directions = [filter_normalized_direction(model, generator) for _ in range(2)]
    grid = surface_grid(model, directions, settings["span"], settings["points"], evaluate)
    path = interpolation(model, initial_state(config, num_classes), final, settings["path_points"], evaluate)
    return grid, path
