"""report/report.html: one self-contained page (figures embedded, no network) with every table and figure."""

from __future__ import annotations

import base64
import csv
import datetime as dt
import json
from collections.abc import Mapping
from pathlib import Path

import pandas as pd
import yaml
from jinja2 import Environment, PackageLoader, select_autoescape

from ablate.analysis import published_comparison
from ablate.plan import natural_key

# Where the original's code and text disagree, and which one this reproduction follows.
DEPARTURES = [
    (
        "Basic CNN dropout",
        "Table 1 says no dropout; the original code applied dropout 0.5 always.",
        "The baseline has no dropout; the dropout study compares p = 0 with p = 0.5.",
    ),
    (
        "Dropout study",
        "The original optimizer never held the dropout network's parameters.",
        "The dropout network is trained.",
    ),
    (
        "Loss study",
        "The original gave every loss, cross-entropy too, one-hot float targets.",
        "Cross-entropy takes class indices; the other losses compare logits with one-hot targets.",
    ),
    (
        "Optimizer study",
        "The original trained the optimizers one after another on one network.",
        "Every optimizer starts from a fresh initialisation (expect another ranking); Adadelta also at lr 1.0.",
    ),
    (
        "ResNet depth",
        "The original code trained 18/50/101 and labelled four curves.",
        "All five depths, each labelled by its run.",
    ),
    (
        "Loss values",
        "The original divided losses by the batch size a second time (e.g. 'test loss 0.0012').",
        "Losses are per-sample means; published losses are converted (x batch size) for comparison.",
    ),
    (
        "96.68% after 200 epochs",
        "The original's own curve plateaus near 94.7%.",
        "The reproduction is compared with both numbers.",
    ),
    (
        "beta-smoothness",
        "The original divided the gradient change by the NEXT step's weight change.",
        "||g_t - g_(t-1)|| / ||w_t - w_(t-1)||, the same step's weight change.",
    ),
]

# what each probe's envelope figure reproduces
PROBE_CAPTIONS = {
    "step_loss": "Figure 13 (loss landscape). Training loss per step: for each model, the band spans the "
    "minimum to the maximum over its runs (the learning rates) at that step; the line is their mean.",
    "grad_change": "Figure 14 (change of the loss gradient). ||g_t - g_(t-1)|| of the last linear layer's "
    "weight gradient, per step; band over each model's runs.",
    "beta": "Figure 15 (beta-smoothness). ||g_t - g_(t-1)|| / ||w_t - w_(t-1)|| on the last linear layer, "
    "with the weight change of the same step (the original divided by the next step's).",
    "line_search": "Santurkar et al. 2018, Fig. 4 (not in the original report). Every probe_every steps, on the "
    "step's mini-batch, at w' = w_t - c·eta·g_t for c in [c_min, c_max]: the range of the loss, "
    "of ||grad L(w') - g_t|| (gradient predictiveness), and the largest "
    "||grad L(w') - g_t|| / ||w' - w_t|| (effective beta).",
}

SUMMARY_COLUMNS = [
    ("variant", "variant", None),
    ("model", "model", None),
    ("parameters", "parameters", "{:,.0f}"),
    ("epochs", "epochs", "{:.0f}"),
    ("batch_size", "batch size", "{:.0f}"),
    ("optimizer", "optimizer", None),
    ("lr", "lr", "{:g}"),
    ("loss", "loss", None),
    ("activation", "activation", None),
    ("seconds_per_epoch", "s / epoch", "{:.2f}"),
    ("images_per_second", "images / s", "{:,.0f}"),
    ("best_test_acc", "best test acc (%)", "{:.2f}"),
    ("final_test_acc", "final test acc (%)", "{:.2f}"),
    ("best_test_loss", "best test loss", "{:.4f}"),
    ("seeds", "seeds", "{:.0f}"),
    ("diverged", "diverged", None),
]


def _fmt(value, pattern: str | None) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "—"
    if pattern is None:
        return str(value)
    try:
        return pattern.format(value)
    except (TypeError, ValueError):
        return str(value)


def _image(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _summary_rows(summary_csv: Path) -> tuple[list[str], list[list[str]]]:
    summary = pd.read_csv(summary_csv, dtype={"variant": str})
    summary["diverged"] = [
        f"yes (step {int(s)})" if d else "no"
        for d, s in zip(summary["diverged"], summary["diverged_step"], strict=True)
    ]
    # columns that hold one value for every variant belong to the caption, not the table
    varying = [
        c
        for c in SUMMARY_COLUMNS
        if c[0]
        in (
            "variant",
            "parameters",
            "seconds_per_epoch",
            "images_per_second",
            "best_test_acc",
            "final_test_acc",
            "best_test_loss",
            "diverged",
        )
        or summary[c[0]].nunique(dropna=False) > 1
    ]
    rows = [[_fmt(row[key], pattern) for key, _, pattern in varying] for row in summary.to_dict("records")]
    return [label for _, label, _ in varying], rows


def _benchmarks(paths: list[str]) -> dict[str, float]:
    seconds = {}
    for path in map(Path, sorted(paths)):
        with path.open() as handle:
            rows = list(csv.DictReader(handle, delimiter="\t"))
        if rows:
            seconds[path.stem] = float(rows[-1]["s"])
    return seconds


def _architecture(table_csv: Path) -> tuple[list[str], list[list[str]]]:
    """The original's Figure 8 layout: a row per stage, the output size, then each depth's kernels."""
    table = pd.read_csv(table_csv, dtype={"kernels": str}).fillna("")
    models = list(dict.fromkeys(table["model"]))
    header = ["stage", "output size", *(m.replace("resnet", "ResNet-") for m in models)]
    rows = []
    for stage in dict.fromkeys(table[table["stage"] != "total"]["stage"]):
        cells = table[table["stage"] == stage].set_index("model")
        size = cells["output_size"].iloc[0].rsplit("×", 1)[0] if "×" in cells["output_size"].iloc[0] else "1×1"
        rows.append([stage, size, *(cells.loc[m, "kernels"] for m in models)])
    totals = table[table["stage"] == "total"].set_index("model")
    rows.append(["parameters", "", *(f"{totals.loc[m, 'parameters']:,}" for m in models)])
    rows.append(["MACs / image", "", *(f"{totals.loc[m, 'mflops'] / 1000:.2f} × 10⁹" for m in models)])
    return header, rows


def _sections(studies: list[dict], interpret: Mapping | None) -> list[dict]:
    """Studies and section 1.9 in the order of their titles (see ablate.plan.natural_key)."""
    sections = [{"kind": "study", **study} for study in studies]
    if interpret:
        header, rows = _architecture(Path(interpret["architecture"]))
        sections.append(
            {
                "kind": "interpret",
                "name": "interpretation",
                "title": "1.9 Network interpretation",
                "architecture_header": header,
                "architecture_rows": rows,
                **interpret,
                "filters_src": _image(Path(interpret["filters"])),
                "feature_maps_src": _image(Path(interpret["feature_maps"])),
            }
        )
    return sorted(sections, key=lambda section: natural_key(section["title"]))


def render_report(spec: Mapping, out: Path) -> None:
    """Render the report from `spec` (written by the workflow's report rule; see workflow/rules/report.smk)."""
    studies = []
    runs_csvs = {}
    for study in spec["studies"]:
        runs_csv = Path(study["runs"])
        runs_csvs[study["name"]] = runs_csv
        header, rows = _summary_rows(Path(study["summary"]))
        members = pd.read_csv(runs_csv, dtype={"variant": str})
        envelopes = [
            {"probe": e["probe"], "src": _image(Path(e["figure"])), "caption": PROBE_CAPTIONS[e["probe"]]}
            for e in study.get("envelopes", [])
        ]
        studies.append(
            {
                **study,
                "summary_header": header,
                "summary_rows": rows,
                "curves_src": _image(Path(study["curves"])),
                "envelope_figures": envelopes,
                "members": members.to_dict("records"),
            }
        )
    hyper = pd.read_csv(spec["hyperparameters"]["table"], dtype=str).to_dict("records")
    published = yaml.safe_load(Path(spec["published"]).read_text()) if spec.get("published") else []
    comparison = published_comparison(published or [], runs_csvs)
    metrics = [
        json.loads((Path(d) / "metrics.json").read_text())
        for d in {m["run_dir"] for s in studies for m in s["members"]}
    ]
    wall = _benchmarks(spec["benchmarks"])
    env = Environment(loader=PackageLoader("ablate", "templates"), autoescape=select_autoescape(default=True))
    env.filters["fmt"] = _fmt
    html = env.get_template("report.html.j2").render(
        title=spec["title"],
        studies=studies,
        sections=_sections(studies, spec.get("interpret")),
        hyper=hyper,
        hyper_ref=spec["hyperparameters"],
        comparison=comparison,
        departures=DEPARTURES,
        config_hash=spec["config_hash"],
        generated=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        versions=sorted({(m["torch"], m["torchvision"], m["python"]) for m in metrics}),
        devices=sorted({f"{m['device']} ({m['device_name']}, {m['precision']})" for m in metrics}),
        wall=wall,
        total_wall=sum(wall.values()),
        run_count=len(metrics),
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(html)
