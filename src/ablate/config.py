"""Reading and validating the workflow config (no torch, no snakemake: parse time must stay fast)."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

from ablate.errors import ConfigError

SCHEMA_PATH = Path(__file__).with_name("schema.yaml")


@cache
def schema() -> dict:
    with SCHEMA_PATH.open() as handle:
        return yaml.safe_load(handle)


@cache
def _validator(ref: str | None) -> Draft202012Validator:
    """A validator for the whole schema, or for one of its $defs (e.g. "run")."""
    root = schema()
    if ref is None:
        return Draft202012Validator(root)
    return Draft202012Validator({"$ref": f"#/$defs/{ref}", "$defs": root["$defs"]})


def key_path(parts: Iterable[Any]) -> str:
    return ".".join(str(part) for part in parts)


def _message(error: ValidationError) -> str:
    if error.validator == "oneOf" and error.schema.get("oneOf") == [
        {"required": ["variants"]},
        {"required": ["grid"]},
    ]:
        return "a study needs either `variants` or `grid` (exactly one of them)"
    if error.validator == "pattern" and error.schema.get("pattern", "").startswith("^[a-z0-9]"):
        return (
            f"name {error.instance!r} is not allowed: names are lower case letters, digits, '_', '.' "
            f"and '-', starting with a letter or digit (pattern {error.schema['pattern']})"
        )
    return error.message


def check(instance: Any, ref: str | None = None, where: str = "") -> None:
    """Validate against the schema (or one of its $defs); raise ConfigError naming the first bad key."""
    errors = list(_validator(ref).iter_errors(instance))
    if not errors:
        return
    # a bad key inside a study makes its other keys "unevaluated" too; report the bad key itself
    error = best_match([e for e in errors if e.validator != "unevaluatedProperties"] or errors)
    # oneOf/anyOf wrap the useful error in their context; unwrap unless it is our own study rule
    while error.context and error.validator in ("anyOf", "allOf") and best_match(error.context):
        error = best_match(error.context)
    location = key_path([p for p in (where, key_path(error.absolute_path)) if p])
    raise ConfigError(f"config error at {location or '<top level>'}: {_message(error)}")


def _resolve_ref(node: Mapping) -> Mapping:
    while "$ref" in node:
        node = {**schema()["$defs"][node["$ref"].rsplit("/", 1)[-1]], **{k: v for k, v in node.items() if k != "$ref"}}
    return node


def _subschemas(node: Mapping) -> list[Mapping]:
    node = _resolve_ref(node)
    return [node, *(_resolve_ref(part) for part in node.get("allOf", []))]


def fill_defaults(instance: dict, node: Mapping | None = None) -> dict:
    """Set every schema default that the instance leaves out, recursively through nested objects."""
    for sub in _subschemas(schema() if node is None else node):
        for key, prop in sub.get("properties", {}).items():
            if "default" in prop and key not in instance:
                instance[key] = copy.deepcopy(prop["default"])
            if isinstance(instance.get(key), dict):
                fill_defaults(instance[key], prop)
    return instance


def coerce_numbers(instance: Any, node: Mapping) -> Any:
    """Turn ints into floats where the schema says `number`, so that lr: 1 and lr: 1.0 are one run."""
    subs = _subschemas(node)
    types = {t for sub in subs for t in ([sub["type"]] if isinstance(sub.get("type"), str) else sub.get("type", []))}
    if isinstance(instance, int) and not isinstance(instance, bool) and "number" in types and "integer" not in types:
        return float(instance)
    if isinstance(instance, dict):
        props = {k: v for sub in subs for k, v in sub.get("properties", {}).items()}
        return {k: coerce_numbers(v, props[k]) if k in props else v for k, v in instance.items()}
    if isinstance(instance, list):
        items = next((sub["items"] for sub in subs if "items" in sub), None)
        return [coerce_numbers(v, items) for v in instance] if items else instance
    return instance


def merge(base: Mapping, update: Mapping) -> dict:
    """Recursive update as Snakemake applies several --configfile: dicts merge, other values replace."""
    merged = copy.deepcopy(dict(base))
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def read_yaml(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {str(path)!r} does not exist")
    with path.open() as handle:
        data = yaml.safe_load(handle)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {str(path)!r} must hold a mapping at its top level")
    return data


def read_config_files(paths: Iterable[str | Path]) -> dict:
    config: dict = {}
    for path in paths:
        config = merge(config, read_yaml(path))
    return config


def check_dataset_root(dataset: Mapping) -> None:
    """Stop before any job runs when the data cannot be where the config says."""
    root = Path(dataset["root"])
    name = dataset["name"]
    if name == "image_folder":
        missing = [split for split in ("train", "test") if not (root / split).is_dir()]
        if missing:
            raise ConfigError(
                f"config error at dataset.root: image_folder root {str(root)!r} has no "
                f"{' and '.join(missing)} folder (expected {root}/train/<class>/* and {root}/test/<class>/*)"
            )
    elif name == "cifar10" and not dataset["download"] and not (root / "cifar-10-batches-py").is_dir():
        raise ConfigError(
            f"config error at dataset.root: {str(root)!r} holds no cifar-10-batches-py and "
            "dataset.download is false; set download: true or extract cifar-10-python.tar.gz there"
        )


def validated(raw: Mapping, check_paths: bool = True) -> dict:
    """The config with every default filled in; raises ConfigError on the first problem."""
    config = copy.deepcopy(dict(raw))
    # a later config file removes a study of an earlier one with `name: null` (see config/schema.yaml)
    if isinstance(config.get("studies"), dict):
        config["studies"] = {name: study for name, study in config["studies"].items() if study is not None}
    check(config)
    fill_defaults(config)
    if check_paths:
        check_dataset_root(config["dataset"])
    return config
