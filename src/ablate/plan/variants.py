"""A study's variants: those it lists, or one per point of its grid, each a set of (dotted) overrides of a run."""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping
from typing import Any

from ablate.errors import ConfigError
from ablate.plan.config import merge


def expand_dotted(overrides: Mapping) -> dict:
    """{"optimizer.lr": 0.1} -> {"optimizer": {"lr": 0.1}}, merged with the undotted keys."""
    nested: dict = {}
    for key, value in overrides.items():
        parts = str(key).split(".")
        node: dict = {}
        leaf = node
        for part in parts[:-1]:
            leaf[part] = {}
            leaf = leaf[part]
        leaf[parts[-1]] = value
        nested = merge(nested, node)
    return nested


def variant_name(assignment: Mapping[str, Any]) -> str:
    """A readable name for one grid point, e.g. {"model": "vgg_a", "optimizer.lr": 0.001} -> vgg_a-lr0.001."""
    parts = []
    for key, value in assignment.items():
        text = "_".join(map(str, value)) if isinstance(value, list) else str(value)
        parts.append(text if key == "model" else f"{key.rsplit('.', 1)[-1]}{text}")
    name = re.sub(r"[^a-z0-9_.-]+", "_", "-".join(parts).lower())
    return name if re.match(r"[a-z0-9]", name) else f"v{name}"


def study_variants(name: str, study: Mapping) -> dict[str, dict]:
    if "variants" in study:
        return {v: expand_dotted(o) for v, o in study["variants"].items()}
    keys = list(study["grid"])
    variants = {}
    for values in itertools.product(*(study["grid"][k] for k in keys)):
        assignment = dict(zip(keys, values, strict=True))
        variants[variant_name(assignment)] = expand_dotted(assignment)
    if len(variants) != len(list(itertools.product(*study["grid"].values()))):
        raise ConfigError(f"config error at studies.{name}.grid: two grid points get the same variant name")
    return variants
