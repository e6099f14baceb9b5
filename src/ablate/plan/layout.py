"""Where the workflow's files land: the plan's own files, the output patterns of the rules, a study's
membership table, and the report's spec (everything the report shows, by path).

The rules take their output patterns from here and the report rule's inputs are the paths of the spec
(`spec_paths`), so no path is spelled twice. Torch- and pandas-free: the workflow reads it at parse time.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from ablate import rundir
from ablate.plan.runs import Plan, plan_hash
from ablate.plan.scope import departures_from_study

# the plan as files (workflow/rules/plan.smk)
RUN_CONFIG = "results/plan/runs/{run}.json"
DATASET_IDENTITY = "results/plan/data/{dataset}.json"
DATASET_DESCRIPTION = "results/data/{dataset}.json"  # the data job's manifest: what it found
REPORT_SPEC = "results/plan/report.json"
RUNTIME_SETTINGS = "results/runtime.json"
# per study
STUDY_RUNS = "results/studies/{study}/runs.csv"  # membership: variant, seed -> run
STUDY_SUMMARY = "results/studies/{study}/summary.csv"
STUDY_CURVES = "results/studies/{study}/curves.png"
ENVELOPE_TABLE = "results/analysis/{study}/{probe}.csv"
ENVELOPE_FIGURE = "results/analysis/{study}/{probe}.png"
# tables and section 1.9
HYPERPARAMETERS = "results/tables/hyperparameters.csv"
ARCHITECTURE = "results/tables/architecture.csv"
FILTERS = "results/interpret/filters.png"
FEATURE_MAPS = "results/interpret/feature_maps.png"
TRAIN_BENCHMARK = "results/benchmarks/train/{run}.tsv"


MEMBER_COLUMNS = ("study", "variant", "seed", "run", "run_dir")


def write_members(members: Iterable[Mapping], path: str | Path) -> None:
    """A study's membership table (results/studies/<study>/runs.csv): one row per variant and seed."""

    def dump(tmp: Path) -> None:
        with open(tmp, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=MEMBER_COLUMNS, lineterminator="\n")
            writer.writeheader()
            writer.writerows(members)

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    rundir.write_atomic(path, dump)


def interprets(plan: Plan) -> bool:
    """Section 1.9 (network interpretation) needs both of its runs; config/config.yaml names them."""
    return bool(plan.report_refs["filters"] and plan.report_refs["feature_maps"])


def report_run_dir(plan: Plan, key: str) -> str:
    """The run directory report.<key> (hyperparameters, filters, feature_maps) points at: its study's first seed."""
    study, variant = plan.report_refs[key]
    return plan.run_of(study, variant, plan.studies[study].seeds[0]).dir


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
                "envelopes": [{"probe": p, "figure": ENVELOPE_FIGURE.format(study=s.name, probe=p)} for p in s.probes],
            }
            for s in plan.studies.values()
        ],
        "hyperparameters": {
            "table": HYPERPARAMETERS,
            "study": study,
            "variant": variant,
            "run_dir": report_run_dir(plan, "hyperparameters"),
        },
        "interpret": (
            {
                "architecture": ARCHITECTURE,
                "filters": FILTERS,
                "filters_run": report_run_dir(plan, "filters"),
                "feature_maps": FEATURE_MAPS,
                "feature_maps_run": report_run_dir(plan, "feature_maps"),
                "stage": config["report"]["feature_maps"]["stage"],
            }
            if interprets(plan)
            else None
        ),
        "published": config["report"]["published"],
        "sources": config["report"]["sources"],
        "metrics": [f"{run.dir}/metrics.json" for run in plan.runs.values()],
        "benchmarks": [TRAIN_BENCHMARK.format(run=run) for run in plan.runs],
    }


def spec_paths(spec: Mapping[str, Any]) -> Iterator[str]:
    """Every file the report reads, from its spec: the report rule's inputs."""
    for study in spec["studies"]:
        yield from (study["runs"], study["summary"], study["curves"])
        yield from (envelope["figure"] for envelope in study["envelopes"])
    yield spec["hyperparameters"]["table"]
    if spec["interpret"]:
        yield from (spec["interpret"][key] for key in ("architecture", "filters", "feature_maps"))
    yield from (spec[key] for key in ("published", "sources") if spec[key])
    yield from spec["metrics"]
    yield from spec["benchmarks"]
