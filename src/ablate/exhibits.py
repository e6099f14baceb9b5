"""Every figure and table the report shows, read from exhibits.yaml: one entry each, from which the report's
spec, the order of its sections' exhibits, the Snakemake report's captions and every number derive (see the
file's comments).

No torch, no pandas: the workflow reads this at parse time. A generic figure's function is named as
"module:attribute" and imported only in the job that draws it (workflow/scripts/exhibit.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ablate import rundir
from ablate.registry import entries, load_yaml

EXHIBITS_PATH = Path(__file__).with_name("exhibits.yaml")
KINDS = ("figure", "table")
SECTIONS = ("tables", "study", "curvature", "interpretation", "findings", "published")
WHENS = ("always", "curvature", "density", "surface")  # which studies have it (ablate.report.spec.WHEN)
# the run files a generic figure may read
READS = {"config": rundir.CONFIG, "history": rundir.HISTORY, "metrics": rundir.METRICS, "steps": rundir.STEPS}
# what the rule `exhibit` writes; hyphenated: no probe's figure (results/analysis/{study}/{probe}.png) is named so
GENERIC_FILE = "results/analysis/{study}/exhibit-{exhibit}.png"


@dataclass(frozen=True)
class Exhibit:
    """A figure or table of the report (its fields: exhibits.yaml's comments)."""

    name: str
    kind: str = ""
    section: str = ""
    file: str = ""
    rule: str = ""
    caption: str = ""
    category: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    number: str = ""
    numbers: dict[str, Any] = field(default_factory=dict)
    probes: tuple[str, ...] = ()
    when: str = "always"
    macro: str = "figure"
    function: str = ""
    reads: tuple[str, ...] = ()
    model_family: str = ""

    def __post_init__(self) -> None:
        where = f"exhibits.yaml: {self.name}"
        if self.function:  # a generic figure: the rule `exhibit` writes it
            object.__setattr__(self, "file", self.file or GENERIC_FILE.replace("{exhibit}", self.name))
            object.__setattr__(self, "rule", self.rule or "exhibit")
        if self.kind not in KINDS or self.section not in SECTIONS or self.when not in WHENS:
            raise ValueError(f"{where}: kind must be one of {KINDS}, section one of {SECTIONS}, when one of {WHENS}")
        if not self.file or not self.rule:
            raise ValueError(f"{where}: every exhibit names its file and the rule that writes it")
        generic = (self.section, self.kind, self.rule, self.file) == (
            "study",
            "figure",
            "exhibit",
            GENERIC_FILE.replace("{exhibit}", self.name),
        )
        if self.function and not (generic and set(self.reads) <= set(READS)):
            raise ValueError(f"{where}: a generic exhibit is a study's figure that reads some of {list(READS)}")

    @property
    def per_study(self) -> bool:
        return "{study}" in self.file

    @property
    def per_probe(self) -> bool:
        return "{probe}" in self.file

    def number_in(self, study: str = "", probe: str = "") -> str:
        """Its number (in `study`, for `probe`); "" where it has none there."""
        if not self.per_study:
            return self.number
        number = self.numbers.get(study, {} if self.per_probe else "")
        return number.get(probe, "") if self.per_probe else number

    def path(self, study: str = "", probe: str = "") -> str:
        return self.file.format(study=study, probe=probe)

    def report_caption(self) -> str:
        """The Snakemake report's caption: its number (where it has one of its own) and its caption."""
        return f"{self.number}: {self.caption}" if self.number else self.caption

    def report_labels(self) -> dict[str, str]:
        return {"study": "{study}", **self.labels} if self.per_study else dict(self.labels)


def load_exhibits(data: dict[str, dict]) -> dict[str, Exhibit]:
    """name -> exhibit, in the file's order. An unknown (misspelt) field fails here, on import."""
    return entries(Exhibit, data)


with EXHIBITS_PATH.open() as _handle:
    EXHIBITS: dict[str, Exhibit] = load_exhibits(load_yaml(_handle)["exhibits"])


def in_section(section: str, exhibits: dict[str, Exhibit] | None = None) -> list[Exhibit]:
    """The exhibits of a section, in the order the report shows them."""
    return [e for e in (exhibits or EXHIBITS).values() if e.section == section]


def probe_exhibit(probe: str, exhibits: dict[str, Exhibit] | None = None) -> Exhibit | None:
    """The figure that shows a probe: the entry that lists it, else the per-probe entry that lists none."""
    per_probe = [e for e in (exhibits or EXHIBITS).values() if e.per_probe]
    listing = [e for e in per_probe if probe in e.probes] or [e for e in per_probe if not e.probes]
    return listing[0] if listing else None


def shown_probes(exhibit: Exhibit, probes: Iterable[str]) -> list[str]:
    """Those of `probes` (a study's, in registry order) whose figure is `exhibit`."""
    return [p for p in probes if probe_exhibit(p) is exhibit]


def generic() -> list[Exhibit]:
    """The figures the rule `exhibit` draws: their function, called with a study's runs."""
    return [e for e in EXHIBITS.values() if e.function]


def generic_caption() -> str:
    """The caption of the rule `exhibit`: each generic figure's, picked by the rule's wildcard (Snakemake renders
    a caption with Jinja, its job's wildcards in `snakemake.wildcards`)."""
    return "".join(
        f'{{% if snakemake.wildcards.exhibit == "{e.name}" %}}{e.report_caption()}{{% endif %}}' for e in generic()
    )


def write_captions(folder: str | Path) -> dict[str, str]:
    """Write each exhibit's Snakemake report caption (and the rule `exhibit`'s) to folder/<name>.rst where its text
    changed; name -> its absolute path (Snakemake reads a caption from a file, relative to the rule file's folder
    unless absolute)."""
    texts = {e.name: e.report_caption() for e in EXHIBITS.values() if e.caption and not e.function}
    paths = {}
    for name, text in {**texts, "exhibit": generic_caption()}.items():
        path = Path(folder, f"{name}.rst").resolve()
        if not path.exists() or path.read_text() != text + "\n":
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text + "\n")
        paths[name] = str(path)
    return paths
