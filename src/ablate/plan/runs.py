"""Studies -> runs: resolve every variant and seed, hash it, share identical runs across studies."""

from __future__ import annotations

import copy
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ablate import TRAINING_CODE_VERSION, registry, rundir, trajectory
from ablate.errors import ConfigError
from ablate.exhibits import EXHIBITS
from ablate.plan.config import check, did_you_mean, merge
from ablate.plan.schema import coerce_numbers, fill_defaults, schema
from ablate.plan.variants import study_variants

STUDY_KEYS = ("title", "recipe", "variants", "grid", "seeds", "surface")


@dataclass(frozen=True)
class Run:
    """A trajectory: `config` is its identity (ablate.trajectory.identity, what its id hashes), `member_epochs`
    the lengths its members ask for; it trains to the longest."""

    id: str
    config: dict
    member_epochs: tuple[int, ...] = ()

    @property
    def dir(self) -> str:
        return rundir.run_dir(self.id)

    @property
    def epochs(self) -> int:
        return max(self.member_epochs)

    @property
    def train_config(self) -> dict:
        """What its train job trains: its identity, to the longest member's epochs."""
        return trajectory.at_length(self.config, self.epochs)


@dataclass(frozen=True)
class Member:
    study: str
    variant: str
    seed: int
    run_id: str
    epochs: int  # its prefix of the run's trajectory

    def row(self) -> dict[str, Any]:
        return {
            "study": self.study,
            "variant": self.variant,
            "seed": self.seed,
            "run": self.run_id,
            "epochs": self.epochs,
            "run_dir": rundir.run_dir(self.run_id),
        }


@dataclass
class Study:
    name: str
    title: str
    variants: list[str]
    seeds: tuple[int, ...] = ()  # the study's `seeds`, else the top-level ones
    members: list[Member] = field(default_factory=list)
    probes: tuple[str, ...] = ()  # every probe some run of the study records, in registry order
    surface: dict | None = None  # its `surface` settings, defaults filled in; None: no surface
    surface_members: tuple[Member, ...] = ()  # the members that get one: each named variant's first seed

    @property
    def run_ids(self) -> list[str]:
        return list(dict.fromkeys(m.run_id for m in self.members))


@dataclass
class Plan:
    runs: dict[str, Run]
    studies: dict[str, Study]
    # report.hyperparameters / filters / feature_maps -> (study, variant), or None where left out
    report_refs: dict[str, tuple[str, str] | None] = field(default_factory=dict)

    @property
    def members(self) -> list[Member]:
        return [m for study in self.studies.values() for m in study.members]

    def tensorboard_dirs(self) -> dict[str, list[str]]:
        """Run -> its TensorBoard directories, one per study membership (rundir.TENSORBOARD_DIR): what train jobs
        get through results/runtime.json where execution.tensorboard is on, outside any run's identity."""
        dirs: dict[str, list[str]] = {}
        for m in self.members:
            dirs.setdefault(m.run_id, []).append(
                rundir.TENSORBOARD_DIR.format(study=m.study, variant=m.variant, seed=m.seed)
            )
        return dirs

    def ref_run_dir(self, key: str) -> str:
        """The run directory report.<key> (hyperparameters, filters, feature_maps) points at: its study's first
        seed."""
        return rundir.run_dir(self.ref_member(key).run_id)

    def run_of(self, study: str, variant: str, seed: int) -> Run:
        return self.runs[self.member(study, variant, seed).run_id]

    def member(self, study: str, variant: str, seed: int) -> Member:
        for member in self.studies[study].members:
            if member.variant == variant and member.seed == seed:
                return member
        raise KeyError(f"{study}/{variant}/seed {seed}")

    def ref_member(self, key: str) -> Member:
        """The member report.<key> (hyperparameters, filters, feature_maps) points at: its study's first seed."""
        study, variant = self.report_refs[key]
        return self.member(study, variant, self.studies[study].seeds[0])

    def counts(self) -> str:
        """Members, trajectories and the epochs they train in all, done or not (ablate.status: the epochs to go)."""
        asked = sum(sum(run.member_epochs) for run in self.runs.values())
        trained = sum(run.epochs for run in self.runs.values())
        return (
            f"{len(self.members)} variant-seed pairs, {len(self.runs)} trajectories, {trained:,} epochs in all "
            f"({asked:,} if runs that differ only in length trained apart)"
        )


def canonical_json(data: Any) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), allow_nan=False)


def config_hash(data: Any, length: int = 10) -> str:
    return hashlib.sha256(canonical_json(data).encode()).hexdigest()[:length]


def dataset_identity(dataset: Mapping) -> dict:
    """What about the data changes results (its source's identity, ablate.datasources); root and download
    do not."""
    return registry.DATASETS[dataset["name"]].source.identity(dataset)


def _canonical(run: dict) -> dict:
    """Fill model-dependent defaults and drop settings the chosen components never read."""
    if run.get("dropout") is None:
        model = registry.MODELS.get(run["model"])
        run["dropout"] = model.dropout if model else 0.0
    for kind, entries in (("optimizer", registry.OPTIMIZERS), ("scheduler", registry.SCHEDULERS)):
        entry = entries.get(run[kind]["name"])
        run[kind] = {k: v for k, v in run[kind].items() if k == "name" or (entry and k in entry.keys)}
    for key in registry.probe_settings(registry.PROBES) - registry.probe_settings(run["probes"]):
        run.pop(key)
    if run["probes"] and run["precision"] == "auto":
        run["precision"] = "fp32"  # probes measure perturbations far below bf16's (and TF32's) resolution
    return coerce_numbers(run, schema()["$defs"]["run"])


def resolve_run(config: Mapping, study_name: str, variant: Mapping, seed: int) -> dict:
    """defaults <- recipe <- study base <- variant <- overrides <- seed, in canonical form."""
    study = config["studies"][study_name]
    run = copy.deepcopy(config["defaults"])
    recipe = study.get("recipe")
    if recipe is not None:
        if recipe not in config["recipes"]:
            raise ConfigError(
                f"config error at studies.{study_name}.recipe: unknown recipe {recipe!r}"
                f"{did_you_mean(recipe, config['recipes']) or '.'} Define it under `recipes` or name one of: "
                f"{', '.join(config['recipes']) or 'none (no recipes are defined)'}"
            )
        run = merge(run, config["recipes"][recipe])
    run = merge(run, {k: v for k, v in study.items() if k not in STUDY_KEYS})
    run = merge(run, variant)
    run = merge(run, config["overrides"])
    run = _canonical(run)
    run.update(seed=seed, dataset=dataset_identity(config["dataset"]), code_version=TRAINING_CODE_VERSION)
    return run


def make_plan(config: Mapping) -> Plan:
    """The run table of a validated config (see ablate.plan.config.validated)."""
    identities: dict[str, dict] = {}
    lengths: dict[str, set[int]] = {}
    studies: dict[str, Study] = {}
    for name, study in config["studies"].items():
        variants = study_variants(name, study)
        entry = Study(
            name=name,
            title=study.get("title") or name,
            variants=list(variants),
            seeds=tuple(study.get("seeds") or config["seeds"]),
        )
        for variant, overrides in variants.items():
            where = f"studies.{name}." + ("grid" if "grid" in study else f"variants.{variant}")
            check(overrides, "partial_run", where)
            for seed in entry.seeds:
                resolved = resolve_run(config, name, overrides, seed)
                check(resolved, "run", where)
                if resolved["probes"] and resolved["precision"] != "fp32":
                    raise ConfigError(
                        f"config error at {where}.precision: {resolved['precision']!r} with probes; runs with "
                        "probes are true fp32 (precision: fp32 or auto)"
                    )
                followed = trajectory.identity(resolved)
                run_id = f"{resolved['model']}-{config_hash(followed)}"
                identities.setdefault(run_id, followed)
                lengths.setdefault(run_id, set()).add(resolved["epochs"])
                entry.members.append(Member(name, variant, seed, run_id, resolved["epochs"]))
        if study.get("surface") is not None:
            entry.surface, entry.surface_members = _surface(name, study["surface"], entry)
        recorded = {p for run_id in entry.run_ids for p in identities[run_id]["probes"]}
        entry.probes = tuple(p for p in registry.PROBES if p in recorded)
        studies[name] = entry
    # Snakemake's --configfile merging reorders keys, so the order comes from the titles instead: the
    # report lists studies by title, numbers compared as numbers ("1.10" after "1.9")
    ordered = sorted(studies.values(), key=lambda s: (natural_key(s.title), s.name))
    runs = {run_id: Run(run_id, identities[run_id], tuple(sorted(lengths[run_id]))) for run_id in identities}
    plan = Plan(runs=runs, studies={s.name: s for s in ordered})
    plan.report_refs = _report_refs(config, plan)
    return plan


def _surface(name: str, settings: Mapping, study: Study) -> tuple[dict, tuple[Member, ...]]:
    """A study's surface settings with their defaults, and the members they name (each variant's first seed)."""
    settings = fill_defaults(copy.deepcopy(dict(settings)), schema()["$defs"]["study"]["properties"]["surface"])
    variants = settings["variants"] or study.variants
    unknown = [v for v in variants if v not in study.variants]
    if unknown:
        raise ConfigError(
            f"config error at studies.{name}.surface.variants: no variant {unknown[0]!r}"
            f"{did_you_mean(unknown[0], study.variants) or '.'} Name some of: {', '.join(study.variants)}"
        )
    first = {m.variant: m for m in reversed(study.members) if m.seed == study.seeds[0]}
    return settings, tuple(dict.fromkeys(first[v] for v in variants))


def natural_key(text: str) -> list:
    """Sort key of a title: numbers compared as numbers, so that "1.10" comes after "1.9"."""
    return [(0, int(part), "") if part.isdigit() else (1, 0, part.lower()) for part in re.split(r"(\d+)", text) if part]


def _report_refs(config: Mapping, plan: Plan) -> dict[str, tuple[str, str] | None]:
    """The runs the report's exhibits read (report.<exhibit>), each checked to be planned and to train a model of
    the family its exhibit needs (ablate/exhibits.yaml)."""
    if not plan.studies:
        return dict.fromkeys(("hyperparameters", "filters", "feature_maps"))
    first = next(iter(plan.studies.values()))
    refs: dict[str, tuple[str, str] | None] = {}
    for key in ("hyperparameters", "filters", "feature_maps"):
        ref = config["report"][key]
        if ref is None:
            refs[key] = (first.name, first.variants[0]) if key == "hyperparameters" else None
            continue
        if ref["study"] not in plan.studies:
            raise ConfigError(
                f"config error at report.{key}.study: no study {ref['study']!r}"
                f"{did_you_mean(ref['study'], plan.studies) or '.'} Name one of: {', '.join(plan.studies)}"
            )
        variants = plan.studies[ref["study"]].variants
        if ref["variant"] not in variants:
            raise ConfigError(
                f"config error at report.{key}.variant: study {ref['study']!r} has no variant {ref['variant']!r}"
                f"{did_you_mean(ref['variant'], variants) or '.'} Name one of: {', '.join(variants)}"
            )
        model = plan.run_of(ref["study"], ref["variant"], plan.studies[ref["study"]].seeds[0]).config["model"]
        family = EXHIBITS[key].model_family
        if family and registry.MODELS[model].family != family:
            raise ConfigError(
                f"config error at report.{key}: {ref['study']}/{ref['variant']} trains {model}, not a model of "
                f"the {family} family ({', '.join(registry.family(family))})"
            )
        refs[key] = (ref["study"], ref["variant"])
    return refs
