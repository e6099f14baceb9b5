"""Every name a config may use, by kind, read from registry.yaml: one entry per name holds its function and
what the rest of the library needs to know about it (see the file's comments).

No torch here: the workflow reads this at parse time. A function is named as "module:attribute" and imported
by `Entry.load()` only when a run needs it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ablate.datasources import SOURCES, Source
from ablate.references import import_reference

REGISTRY_PATH = Path(__file__).with_name("registry.yaml")


@dataclass(frozen=True)
class Entry:
    """A loss, activation, init or optimizer, and what the other kinds' entries share."""

    name: str
    function: str | None = None
    keys: tuple[str, ...] = ()  # the config keys it takes (optimizers, schedulers)
    kwargs: dict[str, Any] = field(default_factory=dict)
    description: str = ""

    def load(self) -> Any:
        return import_reference(self.function) if self.function else None


@dataclass(frozen=True)
class DatasetEntry(Entry):
    """A dataset: where its images come from (identity, check, loader: ablate.datasources) and whether it is
    the original study's."""

    source: Source = field(default_factory=Source)
    study: bool = False


@dataclass(frozen=True)
class Model(Entry):
    family: str = ""
    footprint: tuple[int, int, int] = (0, 0, 0)
    dropout: float = 0.0
    by_name: bool = False


@dataclass(frozen=True)
class Optimizer(Entry):
    """An optimizer, and the tensors of a parameter's size it keeps per parameter (without and with momentum)."""

    state: int = -1
    momentum_state: int = 0

    def __post_init__(self) -> None:
        if self.state < 0:
            raise ValueError(f"registry.yaml: optimizer {self.name!r} must say how many state tensors it keeps (state)")

    def state_tensors(self, spec: Mapping) -> int:
        """Per parameter, for the optimizer config `spec`."""
        return self.state + (self.momentum_state if spec.get("momentum") else 0)


@dataclass(frozen=True)
class Scheduler(Entry):
    """A learning-rate schedule; `length`: "total" where it reads the run's number of epochs, "none" where not."""

    length: str = ""

    def __post_init__(self) -> None:
        if self.length not in ("none", "total"):
            raise ValueError(
                f"registry.yaml: scheduler {self.name!r} must say whether its learning rates depend on the run's "
                f"length (length: none or total), not {self.length!r}"
            )

    @property
    def reads_length(self) -> bool:
        return self.length == "total"


@dataclass(frozen=True)
class Probe(Entry):
    columns: tuple[str, ...] = ()
    settings: dict[str, dict] = field(default_factory=dict)  # run key -> its JSON schema, with its default
    every: str = ""  # the setting holding the steps between two calls (dotted where nested); "": every step
    series: dict[str, tuple[str, str]] = field(default_factory=dict)
    band: str = "group"
    title: str = ""
    y_label: str = ""
    caption: str = ""
    published: str = ""

    def __post_init__(self) -> None:
        if not self.series:  # one series per column, the column its own band's low and high
            object.__setattr__(self, "series", {column: (column, column) for column in self.columns})


def entries(kind: type[Entry], data: dict[str, dict]) -> dict:
    """name -> entry; lists become tuples. An unknown (misspelt) field fails here, on import."""

    def frozen(value: Any) -> Any:
        if isinstance(value, list):
            return tuple(value)
        if isinstance(value, dict):
            return {k: frozen(v) for k, v in value.items()}
        return value

    return {name: kind(name=name, **{k: frozen(v) for k, v in fields.items()}) for name, fields in data.items()}


def dataset_entries(data: dict[str, dict]) -> dict[str, DatasetEntry]:
    """name -> entry; `source` names the source's class (ablate.datasources.SOURCES), and the entry's fields
    other than description and study are that source's. An unknown field fails here, on import."""
    datasets = {}
    for name, fields in data.items():
        fields = dict(fields)
        kind, description, study = fields.pop("source"), fields.pop("description", ""), fields.pop("study", False)
        datasets[name] = DatasetEntry(name=name, description=description, study=study, source=SOURCES[kind](**fields))
    return datasets


def load_yaml(stream: Any) -> Any:
    """YAML as this package reads it: PyYAML's safe loader, through libyaml where PyYAML has it (the same data
    and resolver; registry.yaml in 3 ms instead of 30, and every train job and workflow parse reads YAML)."""
    return yaml.load(stream, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


with REGISTRY_PATH.open() as _handle:
    _DATA = load_yaml(_handle)

MODELS: dict[str, Model] = entries(Model, _DATA["models"])
DATASETS: dict[str, DatasetEntry] = dataset_entries(_DATA["datasets"])
LOSSES: dict[str, Entry] = entries(Entry, _DATA["losses"])
ACTIVATIONS: dict[str, Entry] = entries(Entry, _DATA["activations"])
INITS: dict[str, Entry] = entries(Entry, _DATA["inits"])
OPTIMIZERS: dict[str, Optimizer] = entries(Optimizer, _DATA["optimizers"])
SCHEDULERS: dict[str, Scheduler] = entries(Scheduler, _DATA["schedulers"])
PROBES: dict[str, Probe] = entries(Probe, _DATA["probes"])
KINDS: dict[str, dict[str, Entry]] = {
    "models": MODELS,
    "datasets": DATASETS,
    "losses": LOSSES,
    "activations": ACTIVATIONS,
    "inits": INITS,
    "optimizers": OPTIMIZERS,
    "schedulers": SCHEDULERS,
    "probes": PROBES,
}


def family(name: str) -> tuple[str, ...]:
    """The models of one family (e.g. resnet), in registry order."""
    return tuple(model.name for model in MODELS.values() if model.family == name)


def probe_columns(probes: Iterable[str]) -> list[str]:
    """The steps.csv columns the probes write, in registry order."""
    chosen = set(probes)
    return [column for probe in PROBES.values() if probe.name in chosen for column in probe.columns]


def probe_settings(probes: Iterable[str]) -> set[str]:
    """The run keys the probes read."""
    return {key for name in probes for key in PROBES[name].settings}
