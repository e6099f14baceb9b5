"""Section 2.6's tables: Santurkar's effective β beside the Hessian's λ_max, run by run and step by step, a
summary of the curvature probe per model, and one of each run's surface and path.

Both come from the runs' steps.csv: the line search (`ls_beta_max`, every probe_every steps) and the curvature
probe (`curv_*`, every curvature.every steps). A step where only one of them ran keeps the other empty, so each
is plotted at its own steps; where both ran (every's that share steps) the two stand side by side in one row.
A curvature probe converged where Lanczos' residuals certify λ_max and λ_min (`curv_converged`,
ablate.training.curvature); elsewhere its λ_max is a lower bound only. Runs recorded before the residuals were
(no `curv_converged` column) count as not converged.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from ablate.analysis.envelopes import group_label
from ablate.analysis.members import StudyRuns, longest_members

PAIR_COLUMNS = ["group", "variant", "run", "step", "ls_beta_max", "curv_lambda_max", "curv_converged"]
# the summary's quantities: its name in the summary and the report -> how to compute it from steps.csv
CURVATURE = {
    "λ_max": lambda steps: steps["curv_lambda_max"],
    "λ_max + residual": lambda steps: steps["curv_lambda_max"] + steps["curv_residual_max"],
    "λ_min": lambda steps: steps["curv_lambda_min"],
    "trace": lambda steps: steps["curv_trace"],
}
QUANTITIES = {**CURVATURE, "effective β": lambda steps: steps["ls_beta_max"]}
SUMMARY_COLUMNS = ["group", "quantity", "runs", "values", "converged", "median", "min", "max"]


def beta_and_curvature(study: StudyRuns, group_by: str = "model") -> pd.DataFrame:
    """One row per run and step at which the line search or the curvature probe ran (PAIR_COLUMNS)."""
    frames = []
    for member in longest_members(study).itertuples():
        steps = study.steps(member.run, member.epochs)
        present = [c for c in ("ls_beta_max", "curv_lambda_max") if c in steps]
        if not present:
            continue
        rows = steps.dropna(subset=present, how="all").reindex(columns=PAIR_COLUMNS[3:])
        rows.insert(0, "run", member.run)
        rows.insert(0, "variant", str(member.variant))
        rows.insert(0, "group", group_label(study.config(member.run, member.epochs), group_by))
        frames.append(rows)
    return pd.concat(frames, ignore_index=True)[PAIR_COLUMNS] if frames else pd.DataFrame(columns=PAIR_COLUMNS)


def _converged(steps: pd.DataFrame) -> pd.Series:
    """Per row of steps.csv: whether its curvature probe converged (False without the column)."""
    return steps["curv_converged"].eq(1) if "curv_converged" in steps else pd.Series(False, index=steps.index)


def curvature_summary(study: StudyRuns, group_by: str = "model") -> pd.DataFrame:
    """Per group (model) and quantity: how many runs and recorded values, the share of those values whose
    curvature probe converged (empty for the line search's effective β), and their median, minimum and maximum,
    over every step and run of the group (the learning rates pooled: the report's table is per model). The rows
    λ_max and λ_max + residual are the ends of the interval [θ_max, θ_max + r_max] that holds an eigenvalue."""
    values: dict[tuple[str, str], list[pd.DataFrame]] = {}
    runs: dict[tuple[str, str], set[str]] = {}
    for member in longest_members(study).itertuples():
        steps = study.steps(member.run, member.epochs)
        group = group_label(study.config(member.run, member.epochs), group_by)
        for name, compute in QUANTITIES.items():
            try:
                value = compute(steps)
            except KeyError:  # a quantity this run did not record
                continue
            recorded = pd.DataFrame({"value": value, "converged": _converged(steps)}).dropna(subset=["value"])
            if not recorded.empty:
                values.setdefault((group, name), []).append(recorded)
                runs.setdefault((group, name), set()).add(member.run)
    rows = []
    for (group, name), frames in values.items():
        pooled = pd.concat(frames)
        rows.append(
            {
                "group": group,
                "quantity": name,
                "runs": len(runs[(group, name)]),
                "values": len(pooled),
                "converged": float(pooled["converged"].mean()) if name in CURVATURE else None,
                "median": pooled["value"].median(),
                "min": pooled["value"].min(),
                "max": pooled["value"].max(),
            }
        )
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


SURFACE_COLUMNS = [
    "variant",
    "group",
    "loss_at_final",
    "grid_loss_min",
    "grid_loss_max",
    "path_loss_initial",
    "path_loss_final",
    "path_loss_max",
    "path_accuracy_final",
]


def surface_summary(
    grids: Mapping[str, pd.DataFrame], paths: Mapping[str, pd.DataFrame], groups: Mapping[str, str]
) -> pd.DataFrame:
    """Per run (variant label): the loss at the final weights, the range of the loss over its grid, and along
    its path the loss at t = 0 and t = 1, the highest loss between them (a barrier, if any) and the final
    training accuracy on the sample."""
    rows = []
    for label, grid in grids.items():
        path = paths[label]
        inside = path[(path["t"] >= 0) & (path["t"] <= 1)]
        centre = grid.loc[(grid["alpha"].abs() + grid["beta"].abs()).idxmin(), "loss"]
        rows.append(
            {
                "variant": label,
                "group": groups[label],
                "loss_at_final": centre,
                "grid_loss_min": grid["loss"].min(),
                "grid_loss_max": grid["loss"].max(),
                "path_loss_initial": path.loc[path["t"].abs().idxmin(), "loss"],
                "path_loss_final": path.loc[(path["t"] - 1).abs().idxmin(), "loss"],
                "path_loss_max": inside["loss"].max(),
                "path_accuracy_final": path.loc[(path["t"] - 1).abs().idxmin(), "accuracy"],
            }
        )
    return pd.DataFrame(rows, columns=SURFACE_COLUMNS)
