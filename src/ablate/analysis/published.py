"""Published vs reproduced: every number of config/published.yaml beside ours, mean ± sd over seeds.

The rule `published` (workflow/rules/analysis.smk) writes results/tables/published.csv; the report only
renders it (and marks it "not comparable" where the config is not the real study).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

from ablate import registry, rundir
from ablate.analysis.members import StudyRuns

COLUMNS = (
    "section",
    "quantity",
    "source",
    "unit",
    "study",
    "variant",
    "where",
    "recipe",
    "explains",
    "kind",
    "n",
    "values",
    "published",
    "published_per_sample",
    "diverged",
    "reproduced",
    "sd",
    "difference",
    "within",
)
FLOATS = ("published_per_sample", "reproduced", "sd", "difference")


def compared_studies(published_yaml: str | Path | None) -> list[str]:
    """The studies a published.yaml compares with, in its order (none without a file): what its rule reads."""
    if not published_yaml:
        return []
    entries = registry.load_yaml(Path(published_yaml).read_text()) or []
    return list(dict.fromkeys(str(compare["study"]) for entry in entries for compare in comparisons(entry)))


def comparisons(entry: Mapping) -> list[Mapping]:
    """An entry's `compare`: one run of ours, or a list of them, the first being the one whose recipe explains
    the published number (config/published.yaml)."""
    compare = entry["compare"]
    return list(compare) if isinstance(compare, list) else [compare]


def reproduced_values(compare: Mapping, study: StudyRuns) -> list:
    """Per seed, the reproduction's counterpart of one published number (an entry's `compare`).

    Numbers for a metric of metrics.json or of an epoch of history.csv (seeds without a value left out);
    for `metric: diverged`, every seed's `diverged` flag.
    """
    members = study.members[study.members["variant"] == str(compare["variant"])]
    metric = compare["metric"]
    if metric in ("test_acc_at_epoch", "test_loss_at_epoch"):
        values = []
        for member in members.itertuples():
            history = study.history(member.run, member.epochs)
            row = history[history["epoch"] == compare["epoch"]]
            if not row.empty:
                values.append(float(row[metric.removesuffix("_at_epoch")].iloc[0]))
    else:
        values = [study.metrics(member.run, member.epochs)[metric] for member in members.itertuples()]
    if metric == "diverged":
        return [bool(v) for v in values]
    return [float(v) for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]


def _spread(values: Sequence[float]) -> tuple[float | None, float | None]:
    """Mean and sample standard deviation (ddof=1; None for fewer than two values)."""
    if not values:
        return None, None
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, None
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


def published_comparison(published: Sequence[Mapping], studies: Mapping[str, StudyRuns]) -> list[dict]:
    """Every published number beside ours (mean ± sd over seeds); published losses converted to per-sample.

    `within` is "yes" when ours has at least two seeds and the published (per-sample) value lies within two
    sample standard deviations of our mean, "no" when not, "n/a (1 seed)" with one seed. For `metric: diverged`
    (value true: the original saw non-finite losses) it is "yes" when at least one of our seeds did the same.
    A study the config does not plan gives a row without numbers of ours. An entry that compares with several
    runs gives a row for each, `recipe` saying what each run's recipe is and `explains` marking the first, the
    one whose recipe explains the published number.
    """
    rows = []
    pairs = [
        (entry, compare, index == 0 and len(compares) > 1)
        for entry in published
        for compares in [comparisons(entry)]
        for index, compare in enumerate(compares)
    ]
    for entry, compare, explains in pairs:
        study = studies.get(compare["study"])
        values = reproduced_values(compare, study) if study is not None else []
        row = {
            "section": str(entry["section"]),
            "quantity": entry["quantity"],
            "source": entry["source"],
            "unit": entry.get("unit", ""),
            "study": compare["study"],
            "variant": str(compare["variant"]),
            "where": f"{compare['study']}/{compare['variant']}"
            + (f" epoch {compare['epoch']}" if "epoch" in compare else ""),
            "recipe": compare.get("recipe", ""),
            "explains": explains,
            "n": len(values),
            "values": values,
        }
        if compare["metric"] == "diverged":
            published_diverged = bool(entry["value"])
            diverged = sum(values)
            # some seed of ours did what the original's run did (diverged, or trained through)
            matched = diverged if published_diverged else len(values) - diverged
            row.update(
                kind="diverged",
                published=published_diverged,
                published_per_sample=None,
                diverged=diverged,
                reproduced=None,
                sd=None,
                difference=None,
                within=("yes" if matched else "no") if values else None,
            )
            rows.append(row)
            continue
        value = float(entry["value"])
        converted = value * float(entry.get("scale", 1.0))
        if compare["metric"] == "parameters":
            values = [v / 1e6 for v in values]
            row["values"] = values
        mean, sd = _spread(values)
        if mean is None:
            within = None
        elif sd is None:
            within = "n/a (1 seed)"
        else:
            within = "yes" if abs(converted - mean) <= 2 * sd else "no"
        row.update(
            kind="number",
            published=value,
            published_per_sample=converted if "scale" in entry else None,
            diverged=None,
            reproduced=mean,
            sd=sd,
            difference=None if mean is None else mean - converted,
            within=within,
        )
        rows.append(row)
    return rows


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return " ".join(_cell(v) for v in value)
    if isinstance(value, float):
        return repr(value)  # round-trips exactly
    return str(value)


def write_published(published_yaml: Path, studies: Sequence[StudyRuns], out: Path) -> None:
    """results/tables/published.csv: one row per published number (published_comparison), values per seed
    space-separated."""
    published = registry.load_yaml(Path(published_yaml).read_text()) or []
    rows = published_comparison(published, {study.name: study for study in studies})
    rundir.write_csv(out, COLUMNS, ({key: _cell(row[key]) for key in COLUMNS} for row in rows))


def _value(text: str, kind: str) -> bool | float:
    return text == "true" if kind == "diverged" else float(text)


def read_published(path: Path) -> list[dict]:
    """published.csv back as the rows published_comparison made (numbers as floats, flags as booleans)."""
    rows = []
    with open(path, newline="") as handle:
        for raw in csv.DictReader(handle):
            row: dict = dict(raw)
            kind = row["kind"]
            row["n"] = int(row["n"])
            row["values"] = [_value(v, kind) for v in row["values"].split()]
            row["published"] = _value(row["published"], kind)
            row["diverged"] = int(row["diverged"]) if row["diverged"] else None
            for key in FLOATS:
                row[key] = float(row[key]) if row[key] else None
            row["within"] = row["within"] or None
            row["explains"] = row["explains"] == "true"
            rows.append(row)
    return rows
