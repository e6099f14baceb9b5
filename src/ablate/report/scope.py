"""Whether a config is the real study, and if not, how it departs from it (the report's banner).

The real study is config/config.yaml as it stands: CIFAR-10 itself, all of it, every model at its published
width and every run for its recipe's epochs. A config that changes one of these (config/smoke.yaml: generated
images, quarter width, two epochs) gives numbers that are not comparable with the original's. Pure and
deterministic: the workflow calls it at parse time, through the report's spec (ablate.report.spec).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ablate import registry
from ablate.plan.runs import SYNTHETIC_SIZES, dataset_identity, make_plan
from ablate.report.text import TEXT


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


def departures_from_study(config: Mapping, runs: Iterable[Mapping] | None = None) -> list[str]:
    """How the validated `config` departs from the real study, one plain phrase each (the report's text.yaml),
    in a fixed order; empty when it is the real study. `runs`: the resolved run configs (default: those of
    make_plan(config))."""
    if runs is None:
        runs = [run.config for run in make_plan(config).runs.values()]
    runs = list(runs)
    phrases = TEXT["departures"]
    dataset = config["dataset"]
    train, test = dataset.get("train_samples"), dataset.get("test_samples")
    departures = []
    entry = registry.DATASETS[dataset["name"]]
    if entry.source == "generated":
        train, test = train or SYNTHETIC_SIZES["train_samples"], test or SYNTHETIC_SIZES["test_samples"]
        departures.append(phrases["synthetic"].format(train=_number(train), test=_number(test)))
    else:
        if not entry.study:
            # the folder's name (its identity), not its path: moving the data changes no report
            departures.append(phrases["folder"].format(folder=dataset_identity(dataset)["id"]))
        if train or test:
            images = {
                split: phrases["some_images"].format(count=_number(count), split=split)
                if count
                else phrases["all_images"].format(split=split)
                for split, count in (("training", train), ("test", test))
            }
            departures.append(phrases["subset"].format(train=images["training"], test=images["test"]))
    narrow = [run["width"] for run in runs if run.get("width", 1.0) != 1.0]
    if narrow:
        widths = phrases["widths_joined_by"].join(f"{w:g}" for w in sorted(set(narrow)))
        some = len(narrow) != len(runs)
        phrase = phrases["width_in_some_runs" if some else "width"]
        departures.append(phrase.format(widths=widths, narrow=len(narrow), runs=len(runs)))
    overrides = dict(config.get("overrides") or {})
    epochs = overrides.pop("epochs", None)
    overrides.pop("width", None)  # said above, from the runs themselves
    if epochs is not None:
        departures.append(phrases["epochs" if epochs != 1 else "one_epoch"].format(epochs=epochs))
    for key, value in _flat(overrides):
        departures.append(phrases["override"].format(key=key, value=_number(value)))
    return departures
