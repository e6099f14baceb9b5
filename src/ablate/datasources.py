"""Where a dataset's images come from: one class per source kind (registry.yaml's `source:`), the only place
that tells the kinds apart. Each holds the kind's identity (what about the data changes results), its check
(before any job runs), its loader (every image of both splits) and its fingerprint (what, when it changes,
makes the data job decode again).

  Download   fetched into the data root once, by the data job (CIFAR-10: torchvision's archive)
  Folder     root/train/<class>/*, root/test/<class>/*; named by the folder
  Generated  made from the identity's seed at the configured sizes; no root, no files

No torch at import: the plan reads identities and checks at Snakemake's parse time. The loading functions
are named by the registry entry ("module:attribute", in ablate.data.datasets) and imported when a run loads
its data, as the registry does for every function.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from ablate.errors import ConfigError, DataUnavailable
from ablate.references import import_reference

SPLITS = ("train", "test")


@dataclass(frozen=True)
class Source:
    """A source kind. `dataset`: the config's `dataset:` section (validated); `identity`: what identity()
    made of it (a run's config["dataset"])."""

    function: str  # "module:attribute" of the function that makes every image of both splits (see each kind)
    generated: ClassVar[bool] = False  # made from a seed, not read from files (the report's banner says so)

    def loader(self) -> Any:
        return import_reference(self.function)

    def identity(self, dataset: Mapping) -> dict:
        """What about the data changes results; root and download do not."""
        identity = {
            "name": dataset["name"],
            "id": dataset["id"] or self.default_id(dataset),
            "train_samples": dataset["train_samples"],
            "test_samples": dataset["test_samples"],
        }
        if dataset["train_samples"] or dataset["test_samples"]:
            identity["subset_seed"] = dataset["subset_seed"]  # which images a subset holds
        return identity

    def default_id(self, dataset: Mapping) -> str:
        """The dataset's name in run identity when the config's `id` is null."""
        return dataset["name"]

    def check(self, dataset: Mapping) -> None:
        """Raise ConfigError, before any job runs, when the data cannot be where the config says."""

    def load(self, identity: Mapping, root: str | Path, download: bool) -> Any:
        """Every image of both splits (a run then takes its subset, ablate.data.datasets.load_dataset)."""
        raise NotImplementedError

    def fingerprint(self, dataset: Mapping) -> str:
        """Cheap, at parse time: a change of it makes the data job decode again (a `params:` entry of the rule).
        Not part of any run's identity: new data never retrains a run."""
        return ""


@dataclass(frozen=True)
class Download(Source):
    """Fetched into root once, by the data job (train jobs never download: a cluster node may have no network).

    function(root, download) fetches and extracts `archive` into root/`extracted` when download is true."""

    archive: str
    extracted: str

    def check(self, dataset: Mapping) -> None:
        root = Path(dataset["root"])
        if not dataset["download"] and not (root / self.extracted).is_dir():
            raise ConfigError(
                f"config error at dataset.root: {str(root)!r} holds no {self.extracted} and "
                f"dataset.download is false; set download: true or extract {self.archive} there"
            )

    def load(self, identity: Mapping, root: str | Path, download: bool) -> Any:
        return self.loader()(root, download)

    def fingerprint(self, dataset: Mapping) -> str:
        return self.archive  # a checked archive: what it holds does not change


@dataclass(frozen=True)
class Folder(Source):
    """root/train/<class>/* and root/test/<class>/*, named by the folder: moving it changes no run.

    function(root) decodes both splits; sizes(root) -> (images per split, class names) only lists the files.
    Its fingerprint covers every file's path, size and modification time: a file added, removed or rewritten
    makes the data job decode the folder again; a moved folder keeps it (the data job's root param still changes)."""

    sizes: str

    def default_id(self, dataset: Mapping) -> str:
        return Path(dataset["root"]).resolve().name

    def check(self, dataset: Mapping) -> None:
        root = Path(dataset["root"])
        missing = [split for split in SPLITS if not (root / split).is_dir()]
        if missing:
            raise ConfigError(
                f"config error at dataset.root: {dataset['name']} root {str(root)!r} has no "
                f"{' and '.join(missing)} folder (expected {root}/train/<class>/* and {root}/test/<class>/*)"
            )

    def load(self, identity: Mapping, root: str | Path, download: bool) -> Any:
        counts, _ = import_reference(self.sizes)(root)  # counted before decoding: a short folder fails at once
        for split in SPLITS:
            wanted = identity[f"{split}_samples"]
            if wanted and wanted > counts[split]:
                raise DataUnavailable(
                    f"{Path(root) / split} holds {counts[split]} images, fewer than dataset.{split}_samples asks "
                    f"for ({wanted}): add images or lower {split}_samples"
                )
        return self.loader()(root)

    def fingerprint(self, dataset: Mapping) -> str:
        return folder_fingerprint(dataset["root"])


@dataclass(frozen=True)
class Generated(Source):
    """Made from the identity's seed at its sizes when a run starts; the sizes default to CIFAR-10's.

    function(train_samples, test_samples, seed, classes) generates both splits."""

    generated: ClassVar[bool] = True
    sizes: ClassVar[dict[str, int]] = {"train_samples": 50_000, "test_samples": 10_000}
    classes: ClassVar[int] = 10

    def identity(self, dataset: Mapping) -> dict:
        identity = super().identity(dataset)
        identity.pop("subset_seed", None)  # generated at its size: no draw
        identity.update({key: identity[key] or size for key, size in self.sizes.items()}, seed=dataset["seed"])
        return identity

    def load(self, identity: Mapping, root: str | Path, download: bool) -> Any:
        return self.loader()(identity["train_samples"], identity["test_samples"], identity["seed"], self.classes)


def folder_fingerprint(root: str | Path) -> str:
    """sha256 over the relative path, size and modification time (ns) of every file under root/train and
    root/test, in sorted order: stats, no reads (60,000 files: 0.2-0.3 s), torch- and PIL-free for parse time."""
    root = str(root)
    lines = []
    for split in SPLITS:
        for folder, subfolders, files in os.walk(os.path.join(root, split), followlinks=True):
            subfolders.sort()  # walked in sorted order, whatever the file system lists first
            relative = os.path.relpath(folder, root).replace(os.sep, "/")
            prefix = folder + os.sep  # not os.path.join, a fifth of the time at 60,000 files
            for name in sorted(files):
                stat = os.stat(prefix + name)
                lines.append(f"{relative}/{name}\0{stat.st_size}\0{stat.st_mtime_ns}")
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


# registry.yaml's `source:` -> its class; the entry's other fields, but description and study, are its own
SOURCES: dict[str, type[Source]] = {"download": Download, "folder": Folder, "generated": Generated}
