"""The report's table cells: numbers formatted, mean ± sd over seeds, a study's summary table, the ResNets'
architecture table."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from ablate.analysis.summary import MEASURED
from ablate.report.text import TEXT


def fmt(value, pattern: str | None) -> str:
    """A cell: `value` formatted with `pattern` (as it is without one, or where it does not fit); — when empty."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return TEXT["missing"]
    if pattern is None:
        return str(value)
    try:
        return pattern.format(value)
    except (TypeError, ValueError):
        return str(value)


def mean_sd(row: Mapping, key: str, pattern: str | None) -> str:
    """A measured cell: `mean ± sd (n)` over n >= 2 seeds (sample standard deviation), else just the mean."""
    mean = fmt(row[key], pattern)
    n, sd = row.get(f"{key}_n", row.get("seeds")), row.get(f"{key}_sd")
    if n is None or sd is None or pd.isna(n) or pd.isna(sd) or n < 2:
        return mean
    return TEXT["mean_sd"].format(mean=mean, sd=fmt(sd, pattern), n=int(n))


def _diverged(count, step, seeds) -> str:
    """How many seeds of a variant diverged (count), and the earliest step at which one did."""
    phrases = TEXT["diverged"]
    if not count:
        return phrases["none"]
    if seeds < 2:
        return phrases["one_seed"].format(step=int(step))
    return phrases["some_seeds"].format(count=int(count), seeds=int(seeds), step=int(step))


def summary_rows(summary_csv: Path) -> tuple[list[str], list[list[str]]]:
    """A study's table: header and rows (text.yaml's summary_columns)."""
    summary = pd.read_csv(summary_csv, dtype={"variant": str})
    diverged = zip(summary["diverged"], summary["diverged_step"], summary["seeds"], strict=True)
    summary["diverged"] = [_diverged(count, step, seeds) for count, step, seeds in diverged]
    # columns that hold one value for every variant belong to the caption, not the table
    columns = {
        key: column
        for key, column in TEXT["summary_columns"].items()
        if column.get("always") or summary[key].nunique(dropna=False) > 1
    }
    rows = [
        [
            mean_sd(row, key, column.get("format")) if key in MEASURED else fmt(row[key], column.get("format"))
            for key, column in columns.items()
        ]
        for row in summary.to_dict("records")
    ]
    return [column["label"] for column in columns.values()], rows


def architecture(table_csv: Path) -> dict:
    """The original's Figure 8 layout: per model (its columns), a row per stage with the output size and each
    model's kernels, then the parameters and the multiply-accumulates (in millions) of each model."""
    table = pd.read_csv(table_csv, dtype={"kernels": str}).fillna("")
    models = list(dict.fromkeys(table["model"]))
    stages = []
    for stage in dict.fromkeys(table[table["stage"] != "total"]["stage"]):
        cells = table[table["stage"] == stage].set_index("model")
        size = cells["output_size"].iloc[0].rsplit("×", 1)[0] if "×" in cells["output_size"].iloc[0] else "1×1"
        stages.append([stage, size, *(cells.loc[m, "kernels"] for m in models)])
    totals = table[table["stage"] == "total"].set_index("model")
    return {
        "models": models,
        "stages": stages,
        "parameters": [totals.loc[m, "parameters"] for m in models],
        "mflops": [totals.loc[m, "mflops"] for m in models],
    }
