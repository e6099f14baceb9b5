"""Whether a config is the real study, and if not, how it departs from it (the report's banner).

The real study is config/config.yaml as it stands: CIFAR-10 itself, all of it, every model at its published
width and every run for its recipe's epochs. A config that changes one of these (config/smoke.yaml: generated
images, quarter width, two epochs) gives numbers that are not comparable with the original's. Pure and
deterministic: the workflow calls it at parse time and the report rule's params hold its answer.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ablate.plan import SYNTHETIC_SIZES, dataset_identity, make_plan


def _number(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    return f"{value:,}" if isinstance(value, int) else f"{value:g}"


def _flat(mapping: Mapping, prefix: str = "") -> list[tuple[str, Any]]:
    items = []
    for key, value in mapping.items():
        if isinstance(value, Mapping) and value:
            items.extend(_flat(value, f"{prefix}{key}."))
        else:
            items.append((f"{prefix}{key}", value))
    return items


def _images(train: int | None, test: int | None) -> str:
    parts = [
        f"{_number(train)} training images" if train else "all training images",
        f"{_number(test)} test images" if test else "all test images",
    ]
    return " and ".join(parts)


def departures_from_study(config: Mapping, runs: Iterable[Mapping] | None = None) -> list[str]:
    """How the validated `config` departs from the real study, one plain phrase each, in a fixed order;
    empty when it is the real study. `runs`: the resolved run configs (default: those of make_plan(config))."""
    if runs is None:
        runs = [run.config for run in make_plan(config).runs.values()]
    runs = list(runs)
    dataset = config["dataset"]
    train, test = dataset.get("train_samples"), dataset.get("test_samples")
    departures = []
    if dataset["name"] == "synthetic":
        train, test = train or SYNTHETIC_SIZES["train_samples"], test or SYNTHETIC_SIZES["test_samples"]
        departures.append(
            f"synthetic data ({_number(train)} generated training images and {_number(test)} test images)"
        )
    else:
        if dataset["name"] != "cifar10":
            # the folder's name (its identity), not its path: moving the data changes no report
            where = dataset_identity(dataset)["id"]
            departures.append(f"images from the folder {where!r} instead of the CIFAR-10 download")
        if train or test:
            departures.append(f"a subset of the data ({_images(train, test)})")
    narrow = [run["width"] for run in runs if run.get("width", 1.0) != 1.0]
    if narrow:
        widths = " or ".join(f"{w:g}" for w in sorted(set(narrow)))
        share = "" if len(narrow) == len(runs) else f" in {len(narrow)} of {len(runs)} runs"
        departures.append(f"models at {widths} width{share} instead of the published architecture's")
    overrides = dict(config.get("overrides") or {})
    epochs = overrides.pop("epochs", None)
    overrides.pop("width", None)  # said above, from the runs themselves
    if epochs is not None:
        departures.append(f"{epochs} epoch{'s' if epochs != 1 else ''} instead of each recipe's")
    for key, value in _flat(overrides):
        departures.append(f"{key} set to {_number(value)} in every run")
    return departures
