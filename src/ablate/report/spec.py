"""What the report shows, by path: its spec (results/report/spec.json), built from the plan's facts at parse
time and written by the rule report_spec (workflow/rules/report.smk). The report rule's inputs are the paths of
the spec (`spec_paths`), so no path is spelled twice. Torch- and pandas-free: the workflow reads it at parse
time.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from ablate import registry, rundir
from ablate.analysis.layout import (
    ARCHITECTURE,
    BETA_CURVATURE_FIGURE,
    CURVATURE_SUMMARY,
    DENSITY_FIGURE,
    DENSITY_SUMMARY,
    ENVELOPE_FIGURE,
    ENVELOPE_TABLE,
    FEATURE_MAPS,
    FILTERS,
    FINDINGS,
    HYPERPARAMETERS,
    PUBLISHED,
    STUDY_CURVES,
    STUDY_SUMMARY,
    SURFACE_FIGURE,
    SURFACE_SUMMARY,
)
from ablate.plan.layout import STUDY_RUNS
from ablate.plan.runs import Plan, Study, config_hash
from ablate.plan.schema import coerce_numbers, schema
from ablate.report.scope import departures_from_study

REPORT_SPEC = "results/report/spec.json"
REPORT = "report/report.html"


def plan_hash(plan: Plan, config: Mapping) -> str:
    """The hash the report names as its config: of what the config resolves to (studies, their members and
    runs, the report's and the analyses' settings), so that an edit resolving to the same runs (lr: 1 for
    lr: 1.0, a setting no component reads) changes no job's params and re-renders nothing."""
    resolved = {
        "studies": [
            {
                "name": s.name,
                "title": s.title,
                "table": s.table,
                "figure": s.figure,
                "members": [[m.variant, m.seed, m.run_id, m.epochs] for m in s.members],
                "surface": s.surface,
            }
            for s in plan.studies.values()
        ],
        "report": coerce_numbers(config["report"], schema()["properties"]["report"]),
        "analysis": config["analysis"],
    }
    return config_hash(resolved)


def _envelope(study: Study, probe: str) -> dict[str, str]:
    return {
        "probe": probe,
        "figure": ENVELOPE_FIGURE.format(study=study.name, probe=probe),
        "table": ENVELOPE_TABLE.format(study=study.name, probe=probe),
    }


def _curvature(plan: Plan, study: Study) -> dict[str, Any] | None:
    """What section 2.6 shows of a study: its curvature probes' envelopes, the beta-vs-lambda_max panel and the
    summary where its runs record one, the Hessian's density where its runs take one, its surface where it names
    one; None: nothing."""
    probes = study.curvature_probes
    if not probes and not study.surface:
        return None
    keys = {key for p in probes for key in registry.PROBES[p].settings}
    configs = [plan.runs[run].config for run in study.run_ids]
    settings = [{key: config[key] for key in sorted(keys) if key in config} for config in configs]
    settings = [setting for setting in settings if setting]
    density = any(config.get("curvature", {}).get("density", {}).get("vectors") for config in configs)
    return {
        "envelopes": [_envelope(study, p) for p in probes],
        "beta_vs_curvature": BETA_CURVATURE_FIGURE.format(study=study.name) if probes else None,
        "summary": CURVATURE_SUMMARY.format(study=study.name) if probes else None,
        "density": DENSITY_FIGURE.format(study=study.name) if density else None,
        "density_summary": DENSITY_SUMMARY.format(study=study.name) if density else None,
        "surface": SURFACE_FIGURE.format(study=study.name) if study.surface else None,
        "surface_summary": SURFACE_SUMMARY.format(study=study.name) if study.surface else None,
        "surface_settings": study.surface,
        # each distinct curvature setting of the study's runs (every, tol, max_iter, samples, BatchNorm mode)
        "curvature_settings": list({json.dumps(c, sort_keys=True): c for c in settings}.values()),
    }


def report_spec(plan: Plan, config: Mapping) -> dict[str, Any]:
    """Everything the report shows, by path, with the titles and settings it needs."""
    study, variant = plan.report_refs["hyperparameters"]
    return {
        "title": config["report"]["title"],
        "config_hash": plan_hash(plan, config),
        # not the real study (generated data, narrow models, fewer epochs, a subset): the report's banner
        "departures_from_study": departures_from_study(config, [r.config for r in plan.runs.values()]),
        "studies": [
            {
                "name": s.name,
                "title": s.title,
                "table": s.table,
                "figure": s.figure,
                "runs": STUDY_RUNS.format(study=s.name),
                "summary": STUDY_SUMMARY.format(study=s.name),
                "curves": STUDY_CURVES.format(study=s.name),
                "envelopes": [_envelope(s, p) for p in s.probes if registry.PROBES[p].section == "study"],
                "curvature": _curvature(plan, s),
            }
            for s in plan.studies.values()
        ],
        "hyperparameters": {
            "table": HYPERPARAMETERS,
            "study": study,
            "variant": variant,
            "run_dir": plan.ref_run_dir("hyperparameters"),
            "epochs": plan.ref_member("hyperparameters").epochs,
        },
        "interpret": (
            {
                "architecture": ARCHITECTURE,
                "filters": FILTERS,
                "filters_run": plan.ref_run_dir("filters"),
                "feature_maps": FEATURE_MAPS,
                "feature_maps_run": plan.ref_run_dir("feature_maps"),
                "stage": config["report"]["feature_maps"]["stage"],
            }
            if plan.interprets
            else None
        ),
        "findings": FINDINGS,
        "published": PUBLISHED if config["report"]["published"] else None,
        "sources": config["report"]["sources"],
        "metrics": [f"{run.dir}/{rundir.METRICS}" for run in plan.runs.values()],
        "benchmarks": [rundir.TRAIN_BENCHMARK.format(run=run) for run in plan.runs],
    }


def spec_paths(spec: Mapping[str, Any]) -> Iterator[str]:
    """Every file the report reads, from its spec: the report rule's inputs."""
    for study in spec["studies"]:
        yield from (study["runs"], study["summary"], study["curves"])
        yield from (envelope["figure"] for envelope in study["envelopes"])
        curvature = study["curvature"] or {"envelopes": []}
        yield from (envelope["figure"] for envelope in curvature["envelopes"])
        shown = ("beta_vs_curvature", "summary", "density", "density_summary", "surface", "surface_summary")
        yield from (curvature[key] for key in shown if curvature.get(key))
    yield spec["hyperparameters"]["table"]
    if spec["interpret"]:
        yield from (spec["interpret"][key] for key in ("architecture", "filters", "feature_maps"))
    yield from (spec[key] for key in ("findings", "published", "sources") if spec[key])
    yield from spec["metrics"]
    yield from spec["benchmarks"]
