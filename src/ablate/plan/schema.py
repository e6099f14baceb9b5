"""The config schema as the workflow uses it: schema.yaml with the registry's names and probe settings put in,
its defaults, and the numbers YAML 1.1 and Snakemake's --config leave as strings (no torch, no snakemake: parse
time must stay fast)."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

from ablate import registry

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
        return _probe_settings(_registry_enums(registry.load_yaml(handle)))


def run_defaults() -> dict:
    """A run's every key at its default (the schema's $defs.run_defaults), probe settings included."""
    return fill_defaults({}, schema()["$defs"]["run_defaults"])


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
    subs = subschemas(node)
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


def subschemas(node: Mapping) -> list[Mapping]:
    node = _resolve_ref(node)
    return [node, *(_resolve_ref(part) for part in node.get("allOf", []))]


def fill_defaults(instance: dict, node: Mapping | None = None) -> dict:
    """Set every schema default that the instance leaves out, recursively through nested objects."""
    for sub in subschemas(schema() if node is None else node):
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
    subs = subschemas(node)
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
