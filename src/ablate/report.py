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

from ablate.analysis import MEASURED, published_comparison
from ablate.plan import natural_key

# What each probe's figure shows. Figures 13-15 are the original's (study `figure` naming them); the
# same probes of another study (e.g. santurkar) are extra figures of ours and carry no original number.
PROBE_FIGURES = {"step_loss": "Figure 13", "grad_change": "Figure 14", "beta": "Figure 15"}
PROBE_CAPTIONS = {
    "step_loss": "Loss landscape. Training loss per step: for each model, the band spans the minimum to the "
    "maximum over its runs (the learning rates) at that step; the line is their mean.",
    "grad_change": "Change of the loss gradient. ||g_t - g_(t-1)|| of the last linear layer's weight gradient, "
    "per step; band over each model's runs.",
    "beta": "beta-smoothness. ||g_t - g_(t-1)|| / ||w_t - w_(t-1)|| on the last linear layer, with the weight "
    "change of the same step (the original divided by the next step's); band over each model's runs.",
    "line_search": "After Santurkar et al. (2018), Fig. 4 (not in the original report). Every probe_every steps, "
    "on the step's mini-batch, at w' = w_t + c·d for c in [c_min, c_max], with d the change the optimizer's step "
    "makes (direction `update`; for plain SGD this is Santurkar's -eta·g_t) or -eta·g_t (direction `gradient`): "
    "the range of the loss, of ||grad L(w') - g_t|| (gradient predictiveness), and the largest "
    "||grad L(w') - g_t|| / ||w' - w_t|| (effective beta). One band per run (learning rate), one row per "
    "model: the band is the variation along that run's step, never pooled over learning rates. True fp32.",
}
# what the original's Figures 13-15 show, read off them (config/published.yaml says how)
PROBE_PUBLISHED = {
    "step_loss": "Original (Figure 13, 25 epochs, ~9,760 steps): the VGG-A band narrows from 2.1-2.2 to 0.24-0.62 "
    "at the last steps, the BatchNorm band to 0.14-0.28.",
    "grad_change": "Original (Figure 14): both models mostly between 0.5 and 2.0, the bands overlapping; with "
    "BatchNorm the upper edge falls from about 2.4 to 1.25.",
    "beta": "Original (Figure 15, with its off-by-one): maxima about 2,900 (VGG-A) and 2,800 (BatchNorm), the "
    "curves overlapping, both about 850 at the end.",
}


def probe_caption(probe: str, study_figure: str) -> str:
    """The caption of a probe figure; Figure 13-15 numbers and the original's values only where the study
    reproduces those figures (its `figure` names them)."""
    number = PROBE_FIGURES.get(probe)
    if number and number.split()[-1] in study_figure:
        return f"{number}. {PROBE_CAPTIONS[probe]} {PROBE_PUBLISHED[probe]}"
    return PROBE_CAPTIONS[probe]


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


def _mean_sd(row: Mapping, key: str, pattern: str | None) -> str:
    """A measured cell: `mean ± sd (n)` over n >= 2 seeds (sample standard deviation), else just the mean."""
    mean = _fmt(row[key], pattern)
    n, sd = row.get(f"{key}_n", row.get("seeds")), row.get(f"{key}_sd")
    if n is None or sd is None or pd.isna(n) or pd.isna(sd) or n < 2:
        return mean
    return f"{mean} ± {_fmt(sd, pattern)} ({int(n)})"


def _summary_rows(summary_csv: Path) -> tuple[list[str], list[list[str]]]:
    summary = pd.read_csv(summary_csv, dtype={"variant": str})
    # diverged counts the seeds whose run diverged; diverged_step is the earliest step
    summary["diverged"] = [
        "no" if not d else f"yes (step {int(s)})" if n < 2 else f"{int(d)} of {int(n)} (first at step {int(s)})"
        for d, s, n in zip(summary["diverged"], summary["diverged_step"], summary["seeds"], strict=True)
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
    rows = [
        [_mean_sd(row, key, pattern) if key in MEASURED else _fmt(row[key], pattern) for key, _, pattern in varying]
        for row in summary.to_dict("records")
    ]
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
            {
                "probe": e["probe"],
                "src": _image(Path(e["figure"])),
                "caption": probe_caption(e["probe"], study.get("figure", "")),
            }
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
                "seeds": sorted(int(seed) for seed in members["seed"].unique()),
            }
        )
    hyper = pd.read_csv(spec["hyperparameters"]["table"], dtype=str).to_dict("records")
    published = yaml.safe_load(Path(spec["published"]).read_text()) if spec.get("published") else []
    comparison = published_comparison(published or [], runs_csvs)
    sources = yaml.safe_load(Path(spec["sources"]).read_text()) if spec.get("sources") else {}
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
        sources=sources,
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
