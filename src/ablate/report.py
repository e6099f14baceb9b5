"""report/report.html: one self-contained page (figures embedded, no network) with every table and figure."""

from __future__ import annotations

import base64
import csv
import datetime as dt
import importlib.metadata
import json
import os
import subprocess
from collections.abc import Mapping
from pathlib import Path

import pandas as pd
import yaml
from jinja2 import Environment, PackageLoader, select_autoescape

from ablate.analysis import MEASURED, published_comparison
from ablate.plan import natural_key

# Figure numbers: "Figure N" is always the original's Figure N; a figure the original does not have is
# "Extra N", numbered in the order the report shows them. A study's `figure` (config/config.yaml) numbers its
# curves; its probe figures get theirs here, by that number: the landscape study's step_loss, grad_change and
# beta are the original's Figures 13-15, its line search and all of the santurkar study's are extras.
# tests/test_figures.py checks that the numbers of config/config.yaml and these are unique and in order.
PROBE_FIGURES = {
    "Extra 3": {"step_loss": "Figure 13", "grad_change": "Figure 14", "beta": "Figure 15", "line_search": "Extra 4"},
    "Extra 5": {"step_loss": "Extra 6", "grad_change": "Extra 7", "beta": "Extra 8", "line_search": "Extra 9"},
}
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
    """The caption of a probe figure of the study whose curves are `study_figure`: its number (PROBE_FIGURES;
    none for a study not listed there) and, where it is one of the original's figures, the original's values."""
    number = PROBE_FIGURES.get(study_figure, {}).get(probe)
    if number is None:
        return PROBE_CAPTIONS[probe]
    if number.startswith("Figure ") and probe in PROBE_PUBLISHED:
        return f"{number}. {PROBE_CAPTIONS[probe]} {PROBE_PUBLISHED[probe]}"
    return f"{number}. {PROBE_CAPTIONS[probe]}"


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


def workflow_dir() -> Path:
    """The workflow checkout whose code renders the report: the Snakefile puts its own src/ first on PYTHONPATH,
    so this module lies in <workflow>/src/ablate; an installed copy elsewhere falls back to the working directory."""
    checkout = Path(__file__).resolve().parents[2]
    return checkout if (checkout / "Snakefile").is_file() else Path.cwd()


def git_state(directory: Path) -> str:
    """The commit checked out in `directory`, "(modified)" when its files differ from it; read at render time
    (a rule param would rerun the report on every commit). Without git or a checkout: "not a git checkout"."""
    env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0"}  # git status must not take the index lock

    def git(*args: str) -> subprocess.CompletedProcess | None:
        try:
            return subprocess.run(
                ["git", "-C", str(directory), *args], capture_output=True, text=True, timeout=60, env=env
            )
        except (OSError, subprocess.SubprocessError):
            return None

    head = git("rev-parse", "--verify", "HEAD")
    if head is None or head.returncode != 0:
        return "not a git checkout"
    status = git("status", "--porcelain", "--", ".")
    if status is None or status.returncode != 0:
        return f"{head.stdout.strip()} (its status could not be read)"
    changed = len(status.stdout.splitlines())
    if not changed:
        return head.stdout.strip()
    return f"{head.stdout.strip()} (modified: {changed} changed or untracked file{'s' if changed > 1 else ''})"


def snakemake_version() -> str:
    try:
        return importlib.metadata.version("snakemake")
    except importlib.metadata.PackageNotFoundError:
        return "not installed where the report was rendered"


def _cuda(metrics: Mapping) -> str:
    """metrics.json's `cuda` (torch.version.cuda of the train job): None on a CPU build of PyTorch."""
    if "cuda" not in metrics:
        return "not recorded"
    return metrics["cuda"] or "none (a CPU build)"


def _run_devices(metrics: list[dict], wall: Mapping[str, float]) -> list[dict]:
    """One row per run: where it trained, at which precision, for how long (training loop; whole job)."""
    rows = [
        {
            "run": m["run"],
            "device": m.get("device"),
            "device_name": m.get("device_name"),
            "precision": m.get("precision"),
            "train_seconds": m.get("wall_seconds"),
            "job_seconds": wall.get(m["run"]),
        }
        for m in metrics
    ]
    return sorted(rows, key=lambda row: natural_key(row["run"]))


def _mark_not_comparable(rows: list[dict]) -> None:
    """A config that is not the real study: its numbers are shown, the comparison is not made."""
    for row in rows:
        if row["n"]:  # a row without any number of ours keeps its "—"
            row.update(within="not comparable", difference=None, comparable=False)


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


def render_report(spec: Mapping, out: Path, workflow: Path | None = None) -> None:
    """Render the report from `spec` (written by the workflow's report rule; see workflow/rules/report.smk).
    `workflow`: the checkout whose git commit the provenance names (default: workflow_dir())."""
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
    departures = list(spec.get("departures_from_study") or [])
    if departures:
        _mark_not_comparable(comparison)
    for study in studies:  # each study section carries the original's numbers for that study
        study["published_rows"] = [row for row in comparison if row["study"] == study["name"]]
        # the values read off the original's figures, repeated in the caption of the figure they belong to
        study["figure_rows"] = [row for row in study["published_rows"] if row["source"].startswith("figure")]
    sources = yaml.safe_load(Path(spec["sources"]).read_text()) if spec.get("sources") else {}
    metrics = [
        {"run": Path(d).name, **json.loads((Path(d) / "metrics.json").read_text())}
        for d in sorted({m["run_dir"] for s in studies for m in s["members"]})
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
        departures=departures,
        study_names={study["name"] for study in studies},
        generated=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        git=git_state(workflow or workflow_dir()),
        snakemake=snakemake_version(),
        versions=sorted({(m["torch"], m["torchvision"], m["python"], _cuda(m)) for m in metrics}),
        devices=sorted({f"{m['device']} ({m['device_name']}, {m['precision']})" for m in metrics}),
        run_devices=_run_devices(metrics, wall),
        train_hours=sum(m.get("wall_seconds") or 0.0 for m in metrics) / 3600,
        wall=wall,
        total_wall=sum(wall.values()),
        run_count=len(metrics),
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(html)
