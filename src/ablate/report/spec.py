"""What the report shows, by path: its spec (results/report/spec.json), built at parse time from the plan's facts
and the exhibits each section shows (ablate/exhibits.yaml: which, in what order, numbered how), and written by the
rule report_spec (workflow/rules/report.smk). The report rule's inputs are the paths of the spec (`spec_paths`),
so no path is spelled twice. Torch- and pandas-free: the workflow reads it at parse time.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from ablate import exhibits, registry, rundir
from ablate.analysis.layout import ENVELOPE_TABLE
from ablate.exhibits import EXHIBITS, Exhibit, in_section, probe_exhibit
from ablate.plan.layout import STUDY_RUNS
from ablate.plan.runs import Plan, Study, config_hash, natural_key
from ablate.plan.schema import coerce_numbers, schema
from ablate.report.scope import departures_from_study
from ablate.report.text import TEXT

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
                "members": [[m.variant, m.seed, m.run_id, m.epochs] for m in s.members],
                "surface": s.surface,
            }
            for s in plan.studies.values()
        ],
        "report": coerce_numbers(config["report"], schema()["properties"]["report"]),
        "analysis": config["analysis"],
    }
    return config_hash(resolved)


def curvature_probes(study: Study) -> list[str]:
    """Its probes whose figures the report shows in section 2.6 (a curvature-section entry of exhibits.yaml)."""
    return [p for p in study.probes if (shown := probe_exhibit(p)) is not None and shown.section == "curvature"]


def _takes_density(plan: Plan, study: Study) -> bool:
    return any(plan.runs[run].config.get("curvature", {}).get("density", {}).get("vectors") for run in study.run_ids)


# which studies have an exhibit (its `when` in exhibits.yaml)
WHEN: dict[str, Callable[[Plan, Study], bool]] = {
    "always": lambda plan, study: True,
    "curvature": lambda plan, study: bool(curvature_probes(study)),
    "density": _takes_density,
    "surface": lambda plan, study: bool(study.surface),
}


def item(exhibit: Exhibit, study: str = "", probe: str = "") -> dict[str, str]:
    """One exhibit as the spec shows it: which (its macro), its number and its file."""
    shown = {"id": exhibit.name, "macro": exhibit.macro, "number": exhibit.number_in(study, probe)}
    shown["file"] = exhibit.path(study, probe)
    if exhibit.function:  # the generic figure's caption is its entry's
        shown["caption"] = exhibit.caption
    if probe:
        shown.update(probe=probe, table=ENVELOPE_TABLE.format(study=study, probe=probe))
    return shown


def study_items(plan: Plan, study: Study, section: str) -> list[dict[str, str]]:
    """A study's exhibits in a section (study or curvature), in the order of exhibits.yaml."""
    items = []
    for exhibit in in_section(section):
        if exhibit.per_probe:
            items += [item(exhibit, study.name, p) for p in exhibits.shown_probes(exhibit, study.probes)]
        elif WHEN[exhibit.when](plan, study):
            items.append(item(exhibit, study.name))
    return items


def _curvature(plan: Plan, study: Study) -> dict[str, Any] | None:
    """What section 2.6 shows of a study, and the settings its captions name; None: nothing."""
    shown = study_items(plan, study, "curvature")
    if not shown:
        return None
    keys = {key for p in curvature_probes(study) for key in registry.PROBES[p].settings}
    configs = [plan.runs[run].config for run in study.run_ids]
    settings = [{key: config[key] for key in sorted(keys) if key in config} for config in configs]
    settings = [setting for setting in settings if setting]
    return {
        "shown": shown,
        "surface_settings": study.surface,
        # each distinct curvature setting of the study's runs (every, tol, max_iter, samples, BatchNorm mode)
        "curvature_settings": list({json.dumps(c, sort_keys=True): c for c in settings}.values()),
    }


def interprets(plan: Plan) -> bool:
    """Section 1.9 is shown where the config names every run its exhibits read (report.<name>)."""
    return all(plan.report_refs[e.name] for e in in_section("interpretation") if e.name in plan.report_refs)


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
                "runs": STUDY_RUNS.format(study=s.name),
                "shown": study_items(plan, s, "study"),
                "curvature": _curvature(plan, s),
            }
            for s in plan.studies.values()
        ],
        "hyperparameters": {
            **item(EXHIBITS["hyperparameters"]),
            "study": study,
            "variant": variant,
            "run_dir": plan.ref_run_dir("hyperparameters"),
            "epochs": plan.ref_member("hyperparameters").epochs,
        },
        "interpret": (
            {
                "shown": [item(exhibit) for exhibit in in_section("interpretation")],
                "filters_run": plan.ref_run_dir("filters"),
                "feature_maps_run": plan.ref_run_dir("feature_maps"),
                "stage": config["report"]["feature_maps"]["stage"],
            }
            if interprets(plan)
            else None
        ),
        "findings": EXHIBITS["findings"].file,
        "published": EXHIBITS["published"].file if config["report"]["published"] else None,
        "sources": config["report"]["sources"],
        "metrics": [f"{run.dir}/{rundir.METRICS}" for run in plan.runs.values()],
        "benchmarks": [rundir.TRAIN_BENCHMARK.format(run=run) for run in plan.runs],
    }


def shown_items(spec: Mapping[str, Any]) -> Iterator[dict[str, str]]:
    """Every exhibit of the spec, in the order of the report's sections (Table 1 first, then by title)."""
    yield spec["hyperparameters"]
    sections = [(s["title"], s["shown"]) for s in spec["studies"]]
    parts = [shown for s in spec["studies"] if s["curvature"] for shown in s["curvature"]["shown"]]
    if parts:
        sections.append((TEXT["curvature_section"]["title"], parts))
    if spec["interpret"]:
        sections.append((TEXT["interpretation_title"], spec["interpret"]["shown"]))
    for _, shown in sorted(sections, key=lambda section: natural_key(section[0])):
        yield from shown


def spec_paths(spec: Mapping[str, Any]) -> Iterator[str]:
    """Every file the report reads, from its spec: the report rule's inputs."""
    yield from (study["runs"] for study in spec["studies"])
    yield from (shown["file"] for shown in shown_items(spec))
    yield from (spec[key] for key in ("findings", "published", "sources") if spec[key])
    yield from spec["metrics"]
    yield from spec["benchmarks"]
