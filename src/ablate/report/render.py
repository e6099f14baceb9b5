"""report/report.html: one self-contained page (figures embedded, no network) with every table and figure.

The page's prose is in templates/report.html.j2, each exhibit's (ablate/exhibits.yaml) in its macro of
templates/exhibits.html.j2; the words code puts together are in text.yaml (text), the probes' captions in
ablate/registry.yaml; cells formats the tables' cells, provenance says how it was made.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Callable, Mapping
from pathlib import Path

import pandas as pd
from jinja2 import Environment, PackageLoader, select_autoescape

from ablate import registry, rundir
from ablate.analysis.findings import MIN_SEEDS
from ablate.analysis.members import read_members
from ablate.analysis.published import read_published
from ablate.exhibits import EXHIBITS
from ablate.plan.runs import natural_key
from ablate.report.cells import architecture, fmt, summary_rows
from ablate.report.provenance import benchmarks, cuda, git_state, run_devices, snakemake_version, workflow_dir
from ablate.report.text import TEXT, probe_caption


def _image(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _mark_not_comparable(rows: list[dict]) -> None:
    """A config that is not the real study: its numbers are shown, the comparison is not made."""
    for row in rows:
        if row["n"]:  # a row without any number of ours keeps its "—"
            row.update(within=TEXT["not_comparable"], difference=None, comparable=False)


def _records(path: str | None) -> list[dict]:
    return pd.read_csv(path).to_dict("records") if path else []


# what an exhibit's macro reads beside its item, by macro; any other: a figure's image, a table's records
LOADERS: dict[str, Callable[[Path], dict]] = {
    "summary": lambda path: dict(zip(("header", "rows"), summary_rows(path), strict=True)),
    "architecture": lambda path: {"table": architecture(path)},
    "hyperparameters": lambda path: {"rows": pd.read_csv(path, dtype=str).to_dict("records")},
}


def _loaded(shown: Mapping) -> dict:
    """An item of the spec (ablate.report.spec.item) with what its macro shows: its image, rows or caption."""
    path = Path(shown["file"])
    if shown["macro"] in LOADERS:
        loaded = LOADERS[shown["macro"]](path)
    elif EXHIBITS[shown["id"]].kind == "figure":
        loaded = {"src": _image(path)}
    else:
        loaded = {"rows": _records(str(path))}
    if "probe" in shown:
        loaded["caption"] = probe_caption(shown["probe"], shown["number"])
    return {**shown, **loaded}


def _curvature_section(studies: list[dict]) -> dict | None:
    """Section 2.6: for every study whose spec has a part of it, its exhibits; None where no study has any."""
    parts = [
        {
            "name": study["name"],
            "title": study["title"],
            **study["curvature"],
            "shown": [_loaded(shown) for shown in study["curvature"]["shown"]],
        }
        for study in studies
        if study.get("curvature")
    ]
    if not parts:
        return None
    return {"kind": "curvature", "name": "curvature", "title": TEXT["curvature_section"]["title"], "parts": parts}


def _sections(studies: list[dict], interpret: Mapping | None) -> list[dict]:
    """Studies, section 1.9 and section 2.6 in the order of their titles (ablate.plan.runs.natural_key)."""
    sections = [{"kind": "study", **study} for study in studies]
    curvature = _curvature_section(studies)
    if curvature:
        sections.append(curvature)
    if interpret:
        sections.append(
            {
                "kind": "interpret",
                "name": "interpretation",
                "title": TEXT["interpretation_title"],
                **interpret,
                "shown": [_loaded(shown) for shown in interpret["shown"]],
            }
        )
    return sorted(sections, key=lambda section: natural_key(section["title"]))


def render_report(spec: Mapping, out: Path, workflow: Path | None = None) -> None:
    """Render the report from `spec` (ablate.report.spec; written by the rule report_spec, workflow/rules/report.smk).
    `workflow`: the checkout whose git commit the provenance names (default: workflow_dir())."""
    studies = []
    for study in spec["studies"]:
        members = read_members(Path(study["runs"]))
        studies.append(
            {
                **study,
                "shown": [_loaded(shown) for shown in study["shown"]],
                "members": members.to_dict("records"),
                "seeds": sorted(int(seed) for seed in members["seed"].unique()),
            }
        )
    hyper = _loaded(spec["hyperparameters"])
    comparison = read_published(Path(spec["published"])) if spec.get("published") else []
    departures = list(spec.get("departures_from_study") or [])
    if departures:
        _mark_not_comparable(comparison)
    for study in studies:  # each study section carries the original's numbers for that study
        study["published_rows"] = [row for row in comparison if row["study"] == study["name"]]
        # the values read off the original's figures, repeated in the caption of the figure they belong to
        study["figure_rows"] = [row for row in study["published_rows"] if row["source"].startswith("figure")]
    sources = registry.load_yaml(Path(spec["sources"]).read_text()) if spec.get("sources") else {}
    metrics = [
        {"run": Path(d).name, **rundir.read_metrics(d)}
        for d in sorted({m["run_dir"] for s in studies for m in s["members"]})
    ]
    wall = benchmarks(spec["benchmarks"])
    findings = pd.read_csv(spec["findings"], keep_default_na=False).to_dict("records") if spec.get("findings") else []
    env = Environment(loader=PackageLoader("ablate.report", "templates"), autoescape=select_autoescape(default=True))
    env.filters["fmt"] = fmt
    html = env.get_template("report.html.j2").render(
        title=spec["title"],
        studies=studies,
        sections=_sections(studies, spec.get("interpret")),
        tables=[hyper],  # the tables section (ablate/exhibits.yaml): Table 1
        hyper_ref=hyper,
        comparison=comparison,
        findings=findings,
        min_seeds=MIN_SEEDS,
        sources=sources,
        config_hash=spec["config_hash"],
        departures=departures,
        study_names={study["name"] for study in studies},
        generated=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        git=git_state(workflow or workflow_dir()),
        snakemake=snakemake_version(),
        versions=sorted({(m["torch"], m["torchvision"], m["python"], cuda(m)) for m in metrics}),
        devices=sorted({f"{m['device']} ({m['device_name']}, {m['precision']})" for m in metrics}),
        run_devices=run_devices(metrics, wall),
        train_hours=sum(m.get("wall_seconds") or 0.0 for m in metrics) / 3600,
        wall=wall,
        total_wall=sum(wall.values()),
        run_count=len(metrics),
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(html)
