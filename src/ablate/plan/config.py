"""Reading and validating the workflow config (no torch, no snakemake: parse time must stay fast)."""

from __future__ import annotations

import copy
import difflib
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

from ablate import registry
from ablate.errors import ConfigError
from ablate.plan.schema import fill_defaults, schema, subschemas, yaml12_numbers


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
    return list(dict.fromkeys(k for sub in subschemas(node) for k in sub.get("properties", {})))


def _unknown_keys(error: ValidationError) -> tuple[str, str] | None:
    """(key, message) for an unknown key: the key it was renamed to (the schema's `renamed`), else its closest
    known spelling and the keys allowed where it stands."""
    if (
        error.validator not in ("additionalProperties", "unevaluatedProperties")
        or error.schema.get(error.validator) is not False
    ):
        return None
    allowed = _allowed_keys(error.schema)
    unknown = [k for k in error.instance if k not in allowed]
    if not unknown:
        return None
    renamed = error.schema.get("renamed", {})
    key = str(next((k for k in unknown if k in renamed), unknown[0]))
    if key in renamed:
        new = renamed[key]
        fix = (
            f"delete `{key}`, as `{new}` is set too"
            if new in error.instance
            else f"write `{new}: {error.instance[key]}`"
        )
        return key, f"{key!r} was renamed {new!r}: {fix}"
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
    if error.validator == "type" and list(error.absolute_path)[-2:-1] == ["variants"]:
        return (
            f"{error.instance!r} is not a variant: give a mapping of run keys (e.g. {{batch_size: 256}}) "
            "or null to remove the variant"
        )
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
    key = () if where else (*error.absolute_path, *([unknown[0]] if unknown is not None else []))
    raise ConfigError(f"config error at {location or '<top level>'}: {message}", key)


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


class DuplicateKey(yaml.YAMLError):
    def __init__(self, key: Any, mark: yaml.Mark, first_line: int) -> None:
        super().__init__(
            f"{mark.line + 1}:{mark.column + 1}: key {key!r} is given twice in one mapping (first at line "
            f"{first_line}); YAML would keep the later value without a word: delete one of them"
        )


class _ConfigLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
    """registry.load_yaml's loader, except that a key given twice in one mapping is an error."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        first_line: dict = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if key_node.tag == "tag:yaml.org,2002:merge" or not isinstance(key, (str, int, float, bool)):
                continue
            if key in first_line:
                raise DuplicateKey(key, key_node.start_mark, first_line[key])
            first_line[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


def read_yaml(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {str(path)!r} does not exist")
    text = path.read_text()
    try:
        loader = _ConfigLoader(text)
        try:
            data = loader.get_single_data()
        finally:
            loader.dispose()
    except DuplicateKey as error:
        raise ConfigError(f"{path}:{error}") from None
    except yaml.YAMLError:
        try:  # the pure-Python parser's message, whose wording docs/config.md and tests use
            yaml.safe_load(text)
        except yaml.YAMLError as error:
            raise ConfigError(yaml_problem(path, error)) from None
        raise
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {str(path)!r} must hold a mapping at its top level")
    return data


def yaml_problem(path: Path, error: yaml.YAMLError) -> str:
    """`file:line:column: problem (context)` of a YAML syntax error, lines and columns counted from 1."""
    mark = getattr(error, "problem_mark", None)
    if mark is None:
        return f"{path}: not valid YAML: {error}"
    problem = "not valid YAML: " + (getattr(error, "problem", None) or str(error))
    context, context_mark = getattr(error, "context", None), getattr(error, "context_mark", None)
    if context and context_mark is not None:
        problem += f" ({context} at line {context_mark.line + 1}, column {context_mark.column + 1})"
    elif context:
        problem += f" ({context})"
    return f"{path}:{mark.line + 1}:{mark.column + 1}: {problem}"


def read_config_files(paths: Iterable[str | Path]) -> dict:
    config: dict = {}
    for path in paths:
        config = merge(config, read_yaml(path))
    return config


def check_dataset_root(dataset: Mapping) -> None:
    """Stop before any job runs when the data cannot be where the config says (its source's check)."""
    registry.DATASETS[dataset["name"]].source.check(dataset)


def set_in(key: tuple, files: Iterable[str | Path]) -> str | None:
    """The last of the config files (in merge order) that sets `key`, or the longest start of it one sets."""
    found, depth = None, 0
    for path in files:
        node, parts = read_yaml(path), 0
        for part in key:
            if not isinstance(node, Mapping) or part not in node:
                break
            node, parts = node[part], parts + 1
        if parts and parts >= depth:
            found, depth = str(path), parts
    return found


@contextmanager
def naming_files(files: Iterable[str | Path]) -> Iterator[None]:
    """A ConfigError about one key, raised inside, names the config file (of `files`) that sets that key."""
    try:
        yield
    except ConfigError as error:
        source = set_in(error.key, files) if error.key else None
        if source is None:
            raise
        raise type(error)(f"{source}: {error}", error.key) from None


def validated(raw: Mapping, check_paths: bool = True, files: Iterable[str | Path] = ()) -> dict:
    """The config with every default filled in; raises ConfigError on the first problem, naming the config file
    (of `files`, those merged into `raw`) that sets the key where the problem is."""
    with naming_files(files):
        return _validated(raw, check_paths)


def check_surfaces(config: Mapping) -> None:
    """A surface's grid has an odd number of points per axis, so that the final weights (0, 0) are on it."""
    for name, study in config["studies"].items():
        points = (study.get("surface") or {}).get("points")
        if points is not None and points % 2 == 0:
            raise ConfigError(
                f"config error at studies.{name}.surface.points: {points} is even; the grid runs from -span to span "
                f"and must have the final weights (0) at its centre: use an odd number such as {points + 1}",
                ("studies", name, "surface", "points"),
            )


def _validated(raw: Mapping, check_paths: bool) -> dict:
    config = yaml12_numbers(copy.deepcopy(dict(raw)))
    # a later config file removes a study of an earlier one with `name: null`, and a variant of a study with
    # `variant: null` (see config/schema.yaml); a grid is left as it is
    if isinstance(config.get("studies"), dict):
        config["studies"] = {name: study for name, study in config["studies"].items() if study is not None}
        for name, study in config["studies"].items():
            variants = study.get("variants") if isinstance(study, dict) else None
            if isinstance(variants, dict) and None in variants.values():
                study["variants"] = {variant: run for variant, run in variants.items() if run is not None}
                if not study["variants"]:
                    raise ConfigError(
                        f"config error at studies.{name}.variants: null removes every variant of the study; "
                        f"remove the study itself with `{name}: null` under studies, or keep a variant"
                    )
    check(config)
    fill_defaults(config)
    check_surfaces(config)
    if check_paths:
        check_dataset_root(config["dataset"])
    return config
