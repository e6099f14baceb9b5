"""Table 1: the settings of one run, in the words of the original report."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from ablate import rundir, trajectory


def hyperparameters(config: Mapping) -> list[tuple[str, str]]:
    """(hyperparameter, value) rows of the run `config`."""
    optimizer = config["optimizer"]
    extras = ", ".join(f"{k}={v}" for k, v in optimizer.items() if k not in ("name", "lr", "weight_decay"))
    scheduler = config["scheduler"]
    return [
        ("model", config["model"]),
        ("epochs", str(config["epochs"])),
        ("batch size", str(config["batch_size"])),
        ("learning rate", f"{optimizer['lr']:g}"),
        ("weight decay", f"{optimizer.get('weight_decay', 0.0):g}"),
        ("activation function", config["activation"]),
        ("optimizer", f"{optimizer['name']} ({extras})" if extras else optimizer["name"]),
        (
            "learning-rate schedule",
            ", ".join(f"{k}={v}" for k, v in scheduler.items()) if len(scheduler) > 1 else scheduler["name"],
        ),
        ("loss", config["loss"]),
        ("data augmentation", "random crop (padding 4) + horizontal flip" if config["augment"] else "none"),
        ("dropout probability", f"{config['dropout']:g}" if config["dropout"] else "no dropout"),
        ("normalisation", f"mean {config['normalize']['mean']}, std {config['normalize']['std']}"),
        ("precision policy", config["precision"]),
        ("seed", str(config["seed"])),
        (
            "dataset",
            f"{config['dataset']['id']} (train {config['dataset']['train_samples'] or 'all'}, "
            f"test {config['dataset']['test_samples'] or 'all'})",
        ),
    ]


def write_hyperparameters(run_config: Path, epochs: int, out: Path) -> None:
    """Table 1 of the member that trains the run of `run_config` (its identity) for `epochs`."""
    rows = hyperparameters(trajectory.at_length(rundir.read_json(run_config), epochs))
    pd.DataFrame(rows, columns=["hyperparameter", "value"]).to_csv(out, index=False)
