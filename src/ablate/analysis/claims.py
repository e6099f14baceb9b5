"""The evidence behind each claim of claims.yaml, measured from a study's runs (and its section-2.6 summaries),
and the findings table the report's "What the runs show" renders; the verdicts are ablate.analysis.findings'.

A measure gives, per group (the `by` key's value: a variant or a model), one value per seed: where a group has
several runs of one seed (the learning rates of `landscape`), the measure says how it combines them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from pathlib import Path

import pandas as pd

from ablate.analysis.findings import Evidence, best_of, claims, compare
from ablate.analysis.layout import DENSITY_SUMMARY, SURFACE_SUMMARY
from ablate.analysis.members import StudyRuns

COLUMNS = [
    "id",
    "source",
    "quote",
    "quoted",
    "study",
    "measure",
    "claimed",
    "claimed_value",
    "than",
    "than_value",
    "verdict",
    "reason",
    "figure",
]
Tables = Mapping[str, pd.DataFrame]  # a study's section-2.6 summaries: "density", "surface"


def _per_seed(study: StudyRuns, by: str, value: Callable[[list], float]) -> dict[str, Evidence]:
    """Per group and seed, value(the members of that group and seed) -> per group its Evidence."""
    cells: dict[tuple[str, int], list] = {}
    for member in study.members.itertuples():
        group = str(member.variant) if by == "variant" else str(study.config(member.run, member.epochs)[by])
        cells.setdefault((group, member.seed), []).append(member)
    found: dict[str, list[float]] = {}
    for (group, _), members in cells.items():
        found.setdefault(group, []).append(value(members))
    return {group: Evidence.of(values) for group, values in found.items()}


def _history(study: StudyRuns, member, column: str) -> pd.Series:
    return study.history(member.run, member.epochs)[column]


class NotRecorded(LookupError):
    """The runs do not record what a claim's measure reads (a config without that probe): the claim is left out,
    as one whose groups the config does not train."""


def _steps(study: StudyRuns, members: list, column: str, last_epoch: bool = False) -> pd.DataFrame:
    frames = []
    for member in members:
        steps = study.steps(member.run, member.epochs)
        if column not in steps:
            raise NotRecorded(column)
        steps = steps[steps["epoch"] == steps["epoch"].max()] if last_epoch else steps
        frames.append(steps[["step", column]].dropna().assign(run=member.run))
    return pd.concat(frames, ignore_index=True)


def _band_width(steps: pd.DataFrame) -> float:
    """The mean over the steps of the step loss's range over the runs."""
    return steps.groupby("step")["step_loss"].agg(lambda v: v.max() - v.min()).mean()


def _last_probe(study: StudyRuns, by: str, interval: Callable[[pd.Series], tuple[float, float]]) -> dict:
    """Per group, each run's last curvature probe as an interval; converged where every such probe did."""
    values: dict[str, list] = {}
    converged: dict[str, bool] = {}
    for member in study.members.drop_duplicates("run").itertuples():
        steps = study.steps(member.run, member.epochs)
        if "curv_lambda_max" not in steps:
            raise NotRecorded("curv_lambda_max")
        steps = steps.dropna(subset=["curv_lambda_max"])
        if steps.empty:
            continue
        group = str(member.variant) if by == "variant" else str(study.config(member.run, member.epochs)[by])
        last = steps.iloc[-1]
        values.setdefault(group, []).append(interval(last))
        converged[group] = converged.get(group, True) and last.get("curv_converged", 0) == 1
    return {group: Evidence.of(v, converged[group]) for group, v in values.items()}


def _from_summary(table: pd.DataFrame | None, value: Callable[[pd.DataFrame], pd.Series]) -> dict[str, Evidence]:
    if table is None or table.empty:
        return {}
    return {str(group): Evidence.of(value(rows)) for group, rows in table.groupby("group")}


def _trace(last: pd.Series) -> tuple[float, float]:
    stderr = last["curv_trace_stderr"] if math.isfinite(last["curv_trace_stderr"]) else 0.0
    return last["curv_trace"] - stderr, last["curv_trace"] + stderr


# name -> (what the report calls it, function(study, by, tables) -> group -> Evidence)
MEASURES: dict[str, tuple[str, Callable[[StudyRuns, str, Tables], dict[str, Evidence]]]] = {
    "final_test_accuracy": (
        "final test accuracy (%), per seed",
        lambda s, by, t: _per_seed(s, by, lambda ms: s.metrics(ms[0].run, ms[0].epochs)["final_test_acc"]),
    ),
    "test_loss_rise": (
        "test loss at the last epoch minus its lowest (overfitting), per seed",
        lambda s, by, t: _per_seed(s, by, lambda ms: (h := _history(s, ms[0], "test_loss")).iloc[-1] - h.min()),
    ),
    "final_train_loss": (
        "training loss at the last epoch, per seed",
        lambda s, by, t: _per_seed(s, by, lambda ms: _history(s, ms[0], "train_loss").iloc[-1]),
    ),
    "first_epoch_train_loss": (
        "training loss of the first epoch, mean over the learning rates, per seed",
        lambda s, by, t: _per_seed(s, by, lambda ms: sum(_history(s, m, "train_loss").iloc[0] for m in ms) / len(ms)),
    ),
    "step_loss_band": (
        "width of the step-loss band over the learning rates (max − min), mean over the last epoch's steps, per seed",
        lambda s, by, t: _per_seed(s, by, lambda ms: _band_width(_steps(s, ms, "step_loss", last_epoch=True))),
    ),
    "worst_final_train_loss": (
        "highest final training loss over the learning rates (a diverged one counts as missing), per seed",
        lambda s, by, t: _per_seed(s, by, lambda ms: max(_history(s, m, "train_loss").iloc[-1] for m in ms)),
    ),
    "mean_grad_change": (
        "||g_t − g_(t−1)|| of the last layer, mean over the steps and learning rates, per seed",
        lambda s, by, t: _per_seed(s, by, lambda ms: _steps(s, ms, "grad_change")["grad_change"].mean()),
    ),
    "max_beta": (
        "largest ||g_t − g_(t−1)|| / ||w_t − w_(t−1)|| of the last layer over the steps and learning rates, per seed",
        lambda s, by, t: _per_seed(s, by, lambda ms: _steps(s, ms, "beta")["beta"].max()),
    ),
    "effective_beta": (
        "Santurkar's effective β (line search), median over the steps, per run",
        lambda s, by, t: _per_seed(s, by, lambda ms: _steps(s, ms, "ls_beta_max")["ls_beta_max"].median()),
    ),
    "last_lambda_max": (
        "λ_max at the last curvature probe, as its interval [θ, θ + residual], per run",
        lambda s, by, t: _last_probe(
            s, by, lambda last: (last["curv_lambda_max"], last["curv_lambda_max"] + last["curv_residual_max"])
        ),
    ),
    "last_trace": (
        "trace at the last curvature probe, ± its standard error, per run",
        lambda s, by, t: _last_probe(s, by, _trace),
    ),
    "outlier_ratio": (
        "top node / √((1/n) tr H²) of the Hessian density at its last step, per run",
        lambda s, by, t: _from_summary(
            t.get("density"), lambda rows: rows.sort_values("step").groupby("run")["outlier_ratio"].last()
        ),
    ),
    "surface_rise": (
        "highest loss on the 2-D surface minus the loss at the final weights, per run",
        lambda s, by, t: _from_summary(t.get("surface"), lambda rows: rows["grid_loss_max"] - rows["loss_at_final"]),
    ),
}


def summaries(paths: list[str | Path], study: str) -> dict[str, pd.DataFrame]:
    """A study's section-2.6 summaries among `paths`, by kind ("density", "surface")."""
    kinds = {"density": DENSITY_SUMMARY.format(study=study), "surface": SURFACE_SUMMARY.format(study=study)}
    found = {Path(p).as_posix(): p for p in paths}
    return {kind: pd.read_csv(found[key]) for kind, pattern in kinds.items() for key in found if key.endswith(pattern)}


def findings_table(studies: Mapping[str, StudyRuns], tables: Mapping[str, Tables], toy: str = "") -> pd.DataFrame:
    """One row per claim whose study and groups the runs have (COLUMNS); `toy`: how the config departs from the
    full study ("" where it does not)."""
    rows = []
    for claim in claims():
        study = studies.get(claim["study"])
        if study is None:
            continue
        description, measure = MEASURES[claim["measure"]]
        try:
            evidence = measure(study, claim["by"], tables.get(claim["study"], {}))
        except NotRecorded:
            continue
        claimed = evidence.get(claim["claimed"])
        if claimed is None:
            continue
        if claim["than"] == "all":
            others = {group: e for group, e in evidence.items() if group != claim["claimed"]}
            verdict = best_of(claimed, others, claim["direction"], toy)
            than = "every other " + claim["by"]
            than_value = "; ".join(f"{group}: {e.text()}" for group, e in others.items())
        elif claim["than"] in evidence:
            verdict = compare(claimed, evidence[claim["than"]], claim["direction"], toy)
            than, than_value = claim["than"], evidence[claim["than"]].text()
        else:
            continue
        rows.append(
            {
                **{key: claim[key] for key in ("id", "source", "quote", "study", "figure")},
                "quoted": claim.get("quoted", True),
                "measure": description,
                "claimed": claim["claimed"],
                "claimed_value": claimed.text(),
                "than": than,
                "than_value": than_value,
                "verdict": verdict.verdict,
                "reason": verdict.reason,
            }
        )
    return pd.DataFrame(rows, columns=COLUMNS)
