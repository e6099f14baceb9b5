"""Section 2.6: the Hessian's eigenvalue density of each run at the steps its curvature probe took it (the runs'
density.csv: per step and start vector, the nodes and weights of a Gauss quadrature; ablate.training.spectrum).

The summary gives per run and step what the figure shows in numbers: the top node (the largest Ritz value over
the start vectors, a lower bound of λ_max), the root mean square eigenvalue √((1/n) tr H²) and their ratio, the
outlier ratio: near 1 where the top eigenvalue sits in the bulk, large where it stands apart from it (Ghorbani
et al. 2019: without BatchNorm a few large eigenvalues separate from the bulk). The figure smooths each node
into a Gaussian (as PyHessian plots it) and shows the density on a logarithmic axis, where an outlier's weight of
about 1/n is still seen.
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure

from ablate import rundir, trajectory
from ablate.analysis.envelopes import group_label
from ablate.analysis.figures import DPI, FIGURE_WIDTH_IN, LABEL_PT, STYLE, TITLE_PT, axes_text, finish, legend_handle
from ablate.analysis.members import StudyRuns, longest_members
from ablate.training.spectrum import Quadrature, density, moment

SUMMARY_COLUMNS = ["group", "variant", "seed", "run", "step", "vectors", "top_node", "rms", "outlier_ratio", "mean"]
GRID_POINTS = 1200
SIGMA_SHARE = 1 / 200  # each node's Gaussian: this share of the panel's eigenvalue range wide
FLOOR = 1e-9  # the figure's lowest density, relative to its highest: an outlier's weight ~1/n stays in view
LINE_STYLES = ("-", "--", ":", "-.")  # one per run of a panel


def quadratures(rows: pd.DataFrame) -> dict[int, list[Quadrature]]:
    """step -> one quadrature per start vector, from density.csv's rows."""
    found: dict[int, list[Quadrature]] = {}
    for (step, _), vector in rows.groupby(["step", "vector"], sort=True):
        nodes = torch.tensor(vector["node"].to_numpy(), dtype=torch.float64)
        weights = torch.tensor(vector["weight"].to_numpy(), dtype=torch.float64)
        found.setdefault(int(step), []).append(Quadrature(nodes, weights))
    return found


def study_densities(study: StudyRuns, group_by: str = "model") -> list[tuple[dict, dict[int, list[Quadrature]]]]:
    """Per run (its longest member: the steps of its epochs), its labels and its quadratures by step; runs
    without a density are left out."""
    found = []
    for member in longest_members(study).itertuples():
        rows = trajectory.steps_prefix(pd.read_csv(study.file(member.run, rundir.DENSITY)), int(member.epochs))
        if rows.empty:
            continue
        config = study.config(member.run, member.epochs)
        labels = {"group": group_label(config, group_by), "variant": str(member.variant), "seed": member.seed}
        found.append(({**labels, "run": member.run}, quadratures(rows)))
    return found


def density_summary(densities: list[tuple[dict, dict[int, list[Quadrature]]]]) -> pd.DataFrame:
    """SUMMARY_COLUMNS, one row per run and step."""
    rows = []
    for labels, by_step in densities:
        for step, found in by_step.items():
            top = max(float(q.nodes[-1]) for q in found)
            rms = math.sqrt(max(moment(found, 2)[0], 0.0))
            rows.append(
                {
                    **labels,
                    "step": step,
                    "vectors": len(found),
                    "top_node": top,
                    "rms": rms,
                    "outlier_ratio": top / rms if rms > 0 else math.nan,
                    "mean": moment(found, 1)[0],
                }
            )
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


def _short(variant: str, group: str) -> str:
    """A run's name in its panel's legend: the variant without its group's name."""
    return variant[len(group) + 1 :] if variant.startswith(f"{group}-") else variant


def density_figure(densities: list[tuple[dict, dict[int, list[Quadrature]]]], title: str = "") -> Figure:
    """One panel per group (model), side by side: per run and step, the smoothed density against the eigenvalue
    on a logarithmic density axis; a colour per step, a line style per run of a panel."""
    groups = list(dict.fromkeys(labels["group"] for labels, _ in densities)) or [""]
    steps = sorted({step for _, by_step in densities for step in by_step})
    colours = {step: plt.get_cmap("viridis")(i / max(len(steps) - 1, 1) * 0.9) for i, step in enumerate(steps)}
    runs_of = {g: [(labels, by_step) for labels, by_step in densities if labels["group"] == g] for g in groups}
    names = list(dict.fromkeys(_short(labels["variant"], g) for g, runs in runs_of.items() for labels, _ in runs))
    dashes = {name: LINE_STYLES[i % len(LINE_STYLES)] for i, name in enumerate(names)}
    with plt.rc_context(STYLE):
        fig = plt.figure(figsize=(FIGURE_WIDTH_IN, 4.8), dpi=DPI, layout="constrained")
        axes = fig.subplots(1, len(groups), squeeze=False)[0]
        for ax, group in zip(axes, groups, strict=True):
            runs = runs_of[group]
            nodes = torch.cat([q.nodes for _, by_step in runs for found in by_step.values() for q in found])
            if not len(nodes):
                continue
            low, high = float(nodes.min()), float(nodes.max())
            width = max(high - low, abs(high), 1e-12)
            grid = torch.linspace(low - 0.05 * width, high + 0.05 * width, GRID_POINTS, dtype=torch.float64)
            peak = 0.0
            for labels, by_step in runs:
                for step, found in sorted(by_step.items()):
                    values = density(found, grid, SIGMA_SHARE * width).numpy()
                    peak = max(peak, float(values.max()))
                    style = {"color": colours[step], "linestyle": dashes[_short(labels["variant"], group)]}
                    ax.plot(grid.numpy(), np.maximum(values, 1e-300), linewidth=1.4, **style)
            ax.set_yscale("log")
            ax.set_ylim(peak * FLOOR, peak * 3)
            ax.set_title(f"{group}: Hessian eigenvalue density".lstrip(": "), fontsize=TITLE_PT)
            ax.set_xlabel("eigenvalue", fontsize=LABEL_PT)
            ax.set_ylabel("density (log)", fontsize=LABEL_PT)
            ax.grid(alpha=0.3, which="major")
            axes_text(ax)
        handles = [legend_handle({"color": c, "linewidth": 2.5}, f"step {step}") for step, c in colours.items()]
        if len(names) > 1:
            handles += [legend_handle({"color": "0.3", "linestyle": dash}, name) for name, dash in dashes.items()]
        finish(fig, handles, title)
    return fig
