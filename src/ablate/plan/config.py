"""Reading and validating the workflow config (no torch, no snakemake: parse time must stay fast)."""

from __future__ import annotations

import copy
import difflib
import json
import re
from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

from ablate import registry
from ablate.errors import ConfigError

SCHEMA_PATH = Path(__file__).with_name("schema.yaml")


def _registry_enums(node: Any) -> Any:
    """`registry: <kind>` -> `enum: [the names of that kind]`, throughout the schema (see ablate.registry)."""
    if isinstance(node, list):
        return [_registry_enums(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _registry_enums(value) for key, value in node.items()}
    if "registry" in node:
        node["enum"] = list(registry.KINDS[node.pop("registry")])
    return node


def _without_defaults(node: Any) -> Any:
    if isinstance(node, dict):
        return {key: _without_defaults(value) for key, value in node.items() if key != "default"}
    return node


def _defaults_only(node: Mapping) -> dict:
    """A setting's schema reduced to its defaults, nested as run_defaults holds them."""
    reduced: dict = {"default": node["default"]} if "default" in node else {}
    nested = {key: _defaults_only(value) for key, value in node.get("properties", {}).items()}
    if nested:
        reduced["properties"] = nested
    return reduced


def _probe_settings(root: dict) -> dict:
    """Each probe's settings (registry.yaml: run key -> its schema and default) as run keys: the schema under
    $defs.run, the defaults under $defs.run_defaults, so that they are stated once, in the probe's entry."""
    run, defaults = root["$defs"]["run"]["properties"], root["$defs"]["run_defaults"]["properties"]
    for probe in registry.PROBES.values():
        for key, setting in probe.settings.items():
            setting = json.loads(json.dumps(setting))  # the registry's tuples as JSON lists
            if key in run and run[key] != _without_defaults(setting):
                raise ValueError(f"registry.yaml: probe {probe.name} declares setting {key!r} unlike another probe")
            run[key], defaults[key] = _without_defaults(setting), _defaults_only(setting)
    return root


@cache
def schema() -> dict:
    with SCHEMA_PATH.open() as handle:
        return _probe_settings(_registry_enums(yaml.safe_load(handle)))


def run_defaults() -> dict:
    """A run's every key at its default (the schema's $defs.run_defaults), probe settings included."""
    return fill_defaults({}, schema()["$defs"]["run_defaults"])


@cache
def _validator(ref: str | None) -> Draft202012Validator:
    """A validator for the whole schema, or for one of its $defs (e.g. "run")."""
    root = schema()
    if ref is None:
        return Draft202012Validator(root)
    return Draft202012Validator({"$ref": f"#/$defs/{ref}", "$defs": root["$defs"]})


def key_path(parts: Iterable[Any]) -> str:
    return ".".join(str(part) for part in parts)


def did_you_mean(word: str, known: Iterable[str]) -> str:
    """ "; did you mean 'x'?" for the closest of `known` to a misspelt `word`, or "" when none is close."""
    close = difflib.get_close_matches(str(word), [str(k) for k in known], n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def _allowed_keys(node: Mapping) -> list[str]:
    return list(dict.fromkeys(k for sub in _subschemas(node) for k in sub.get("properties", {})))


def _unknown_keys(error: ValidationError) -> tuple[str, str] | None:
    """(key, message) for an unknown key: its closest known spelling and the keys allowed where it stands."""
    if (
        error.validator not in ("additionalProperties", "unevaluatedProperties")
        or error.schema.get(error.validator) is not False
    ):
        return None
    allowed = _allowed_keys(error.schema)
    unknown = [k for k in error.instance if k not in allowed]
    if not unknown:
        return None
    key = str(unknown[0])
    return key, (
        f"unknown key {key!r}{did_you_mean(key, allowed) or '.'} Rename or remove it; "
        f"the keys allowed here: {', '.join(allowed)}"
    )


def _message(error: ValidationError) -> str:
    if error.validator == "enum" and isinstance(error.instance, str):
        options = [str(o) for o in error.validator_value]
        return f"{error.instance!r} is not one of {', '.join(options)}{did_you_mean(error.instance, options)}"
    if error.validator == "type" and isinstance(error.instance, str) and "number" in str(error.validator_value):
        return f"{error.instance!r} is a string, not a number: write a number such as 0.001 or 1e-3"
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
    bound = error.validator_value
    if isinstance(bound, list):  # e.g. type: [integer, "null"]
        bound = " or ".join(map(str, bound))
    hints = {
        "minimum": f"{error.instance!r} is below the minimum {bound}: use {bound} or more",
        "exclusiveMinimum": f"{error.instance!r} is not above {bound}: use a value greater than {bound}",
        "maximum": f"{error.instance!r} is above the maximum {bound}: use {bound} or less",
        "exclusiveMaximum": f"{error.instance!r} is not below {bound}: use a value less than {bound}",
        "type": f"{error.instance!r} is not of type {bound}: write a value of type {bound}",
        "minItems": f"{error.instance!r} has too few items: give at least {bound}",
        "maxItems": f"{error.instance!r} has too many items: give at most {bound}",
        "uniqueItems": f"{error.instance!r} lists a value twice: list each value once",
        "minProperties": f"{error.instance!r} is empty: give at least {bound} entry",
        "minLength": f"{error.instance!r} is too short: give at least {bound} character",
    }
    return hints.get(str(error.validator), error.message)


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
    path = [p for p in (where, key_path(error.absolute_path)) if p]
    unknown = _unknown_keys(error)
    if unknown is not None:
        path.append(unknown[0])
    location = key_path(path)
    message = unknown[1] if unknown is not None else _message(error)
    raise ConfigError(f"config error at {location or '<top level>'}: {message}")


# YAML 1.1 (PyYAML, and so Snakemake's config loader) reads 1e-3 as a string: it wants a dot and a signed
# exponent (1.0e-3). YAML 1.2 and every user read it as a number.
_INTEGER = re.compile(r"[-+]?\d+")
_NUMBER = re.compile(r"[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?")
_LITERALS = {"true": ("boolean", True), "false": ("boolean", False), "null": ("null", None), "~": ("null", None)}


def _scalar(text: str, types: set[str]) -> Any:
    """A string as the number, boolean or null it spells, where the schema expects one; else unchanged."""
    if _INTEGER.fullmatch(text) and types & {"integer", "number"}:
        return int(text)
    if _NUMBER.fullmatch(text) and "number" in types:
        return float(text)
    kind, value = _LITERALS.get(text.lower(), (None, None))
    return value if kind in types else text


def yaml12_numbers(instance: Any, node: Mapping | None = None) -> Any:
    """Strings like 1e-3 (YAML 1.1 reads them as strings) as floats, and the strings of nested `--config`
    values (Snakemake parses those with YAML's BaseLoader: "3", "true", "null") as what they spell, wherever
    the schema expects no string. Free-form parts, such as a variant's dotted keys, take any number."""
    node = schema() if node is None else node
    subs = _subschemas(node)
    if isinstance(instance, str):
        types = _types(subs)
        if "string" in types:
            return instance
        return _scalar(instance.strip(), types or {"integer", "number"})
    if isinstance(instance, dict):
        props = {k: v for sub in subs for k, v in sub.get("properties", {}).items()}
        extra = next(
            (sub["additionalProperties"] for sub in subs if isinstance(sub.get("additionalProperties"), dict)), {}
        )
        return {k: yaml12_numbers(v, props.get(k, extra)) for k, v in instance.items()}
    if isinstance(instance, list):
        items = next((sub["items"] for sub in subs if isinstance(sub.get("items"), dict)), {})
        return [yaml12_numbers(v, items) for v in instance]
    return instance


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


def _types(subs: Iterable[Mapping]) -> set[str]:
    """The JSON types a value may have under these (sub)schemas: `type: number` or `type: [integer, "null"]`."""
    return {t for sub in subs for t in ([sub["type"]] if isinstance(sub.get("type"), str) else sub.get("type", []))}


def coerce_numbers(instance: Any, node: Mapping) -> Any:
    """Turn ints into floats where the schema says `number`, so that lr: 1 and lr: 1.0 are one run."""
    subs = _subschemas(node)
    types = _types(subs)
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


def ordered_like(data: Any, reference: Any) -> Any:
    """`data` with the keys of every mapping in `reference`'s order (keys it lacks after them, as they are).

    Snakemake starts its config from the --configfile files and merges the workflow's own config file into
    that, so a variant that an extra file overrides comes first in its study. Ordered like the files merged
    in their given order (read_config_files), plan, runs.csv, tables and legends all list the base config's
    order."""
    if not isinstance(data, Mapping) or not isinstance(reference, Mapping):
        return data
    keys = [k for k in reference if k in data] + [k for k in data if k not in reference]
    return {k: ordered_like(data[k], reference.get(k)) for k in keys}


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
    entry = registry.DATASETS[dataset["name"]]
    if entry.source == "folder":
        missing = [split for split in ("train", "test") if not (root / split).is_dir()]
        if missing:
            raise ConfigError(
                f"config error at dataset.root: image_folder root {str(root)!r} has no "
                f"{' and '.join(missing)} folder (expected {root}/train/<class>/* and {root}/test/<class>/*)"
            )
    elif entry.source == "download" and not dataset["download"] and not (root / entry.extracted).is_dir():
        raise ConfigError(
            f"config error at dataset.root: {str(root)!r} holds no {entry.extracted} and "
            f"dataset.download is false; set download: true or extract {entry.archive} there"
        )


def validated(raw: Mapping, check_paths: bool = True) -> dict:
    """The config with every default filled in; raises ConfigError on the first problem."""
    config = yaml12_numbers(copy.deepcopy(dict(raw)))
    # a later config file removes a study of an earlier one with `name: null` (see config/schema.yaml)
    if isinstance(config.get("studies"), dict):
        config["studies"] = {name: study for name, study in config["studies"].items() if study is not None}
    check(config)
    fill_defaults(config)
    if check_paths:
        check_dataset_root(config["dataset"])
    return config
