"""Section 2.6's figures: effective β beside λ_max per step, and the 2-D surfaces with their 1-D paths.

Sized and styled like every figure of the report (ablate.analysis.figures: 1080 px wide, no text under 9 px).
"""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure

from ablate.analysis.figures import (
    DPI,
    FIGURE_WIDTH_IN,
    LABEL_PT,
    STYLE,
    TICK_PT,
    TITLE_PT,
    axes_text,
    finish,
    legend_handle,
    line_style,
)

QUANTITY_LABELS = {"curv_lambda_max": "λ_max (Hessian)", "ls_beta_max": "effective β (line search)"}
# drawn over the λ_max of every curvature probe whose Lanczos residuals did not certify it (a lower bound only)
UNCONVERGED = {"linestyle": "none", "marker": "x", "color": "black", "markersize": 8, "markeredgewidth": 1.6}
UNCONVERGED_LABEL = "λ_max not converged (residual above tol: a lower bound)"


def _short(variant: str, group: str) -> str:
    """A variant without its group's name (the panel's title has it): the same entry in every panel; "" where
    the variant is the group (one run per model)."""
    if variant == group:
        return ""
    return variant[len(group) + 1 :] if variant.startswith(f"{group}-") else variant


def beta_curvature_figure(table: pd.DataFrame, title: str = "") -> Figure:
    """One panel per group (model): per run, λ_max and effective β against the step, each at the steps it was
    recorded at, on one logarithmic axis shared by the panels (ablate.analysis.curvature_tables.beta_and_curvature);
    a black cross over each λ_max whose probe did not converge."""
    groups = list(dict.fromkeys(table["group"])) or [""]
    curves = list(
        dict.fromkeys(
            (column, _short(variant, group))
            for column in QUANTITY_LABELS
            for group, variant in table[["group", "variant"]].drop_duplicates().itertuples(index=False)
        )
    )
    points = int(table.groupby("run").size().max()) if not table.empty else 0
    styles = {curve: line_style(index, len(curves), points) for index, curve in enumerate(curves)}
    unconverged = False
    with plt.rc_context(STYLE):
        fig = plt.figure(figsize=(FIGURE_WIDTH_IN, 5.0), dpi=DPI, layout="constrained")
        axes = fig.subplots(1, len(groups), squeeze=False, sharey="row")[0]
        for ax, group in zip(axes, groups, strict=True):
            cells = table[table["group"] == group]
            for (column, short), style in styles.items():
                rows = cells[cells["variant"].map(lambda v, g=group: _short(v, g)) == short].dropna(subset=[column])
                if not rows.empty:
                    ax.plot(rows["step"], rows[column], **{**style, "linewidth": 1.3, "markersize": 5})
                if column == "curv_lambda_max":
                    loose = rows[rows["curv_converged"] != 1]
                    ax.plot(loose["step"], loose[column], **UNCONVERGED, zorder=3)
                    unconverged = unconverged or not loose.empty
            positive = cells[list(QUANTITY_LABELS)].to_numpy(dtype=float).ravel()
            if (positive[np.isfinite(positive)] > 0).any():
                ax.set_yscale("log")
            ax.set_title(f"{group}: λ_max and effective β" if group else "λ_max and effective β", fontsize=TITLE_PT)
            ax.set_xlabel("step", fontsize=LABEL_PT)
            ax.set_ylabel("curvature (1 / weight²)", fontsize=LABEL_PT)
            ax.grid(alpha=0.3, which="both")
            axes_text(ax)
        labels = {curve: ", ".join(filter(None, (QUANTITY_LABELS[curve[0]], curve[1]))) for curve in curves}
        handles = [legend_handle({**styles[curve], "markersize": 5}, labels[curve]) for curve in curves]
        if unconverged:
            handles.append(legend_handle(UNCONVERGED, UNCONVERGED_LABEL))
        finish(fig, handles, title)
    return fig


def _levels(grids: Mapping[str, pd.DataFrame]) -> tuple[np.ndarray, LogNorm | None]:
    """Contour levels shared by every panel: log-spaced where the losses span more than a factor of 20."""
    losses = np.concatenate([grid["loss"].to_numpy(dtype=float) for grid in grids.values()])
    losses = losses[np.isfinite(losses)]
    low, high = float(losses.min()), float(losses.max())
    if high <= low:
        high = low + 1e-6
    if low > 0 and high / low > 20:
        return np.geomspace(low, high, 16), LogNorm(low, high)
    return np.linspace(low, high, 16), None


def surface_figure(
    grids: Mapping[str, pd.DataFrame],
    paths: Mapping[str, pd.DataFrame],
    groups: Mapping[str, str],
    title: str = "",
) -> Figure:
    """Contours of the loss on each run's grid (run label -> alpha, beta, loss, accuracy), one column per group
    (model) side by side on shared levels; below, the loss and accuracy along each run's path from its initial
    (t = 0) to its final weights (t = 1)."""
    columns = list(dict.fromkeys(groups.values())) or [""]
    by_column = {column: [label for label in grids if groups[label] == column] for column in columns}
    rows = max((len(labels) for labels in by_column.values()), default=1) or 1
    levels, norm = _levels(grids) if grids else (np.linspace(0, 1, 16), None)
    with plt.rc_context(STYLE):
        fig = plt.figure(figsize=(FIGURE_WIDTH_IN, 3.6 * rows + 4.2), dpi=DPI, layout="constrained")
        top, bottom = fig.subfigures(2, 1, height_ratios=[3.6 * rows, 3.4])
        contour_axes = top.subplots(rows, len(columns), squeeze=False)
        filled = None
        for col, column in enumerate(columns):
            for row in range(rows):
                ax = contour_axes[row][col]
                if row >= len(by_column[column]):
                    ax.set_visible(False)
                    continue
                label = by_column[column][row]
                surface = grids[label].pivot(index="beta", columns="alpha", values="loss")
                x, y = surface.columns.to_numpy(dtype=float), surface.index.to_numpy(dtype=float)
                z = np.clip(surface.to_numpy(dtype=float), levels[0], levels[-1])
                filled = ax.contourf(x, y, z, levels=levels, norm=norm, cmap="viridis")
                ax.contour(x, y, z, levels=levels, norm=norm, colors="white", linewidths=0.4, alpha=0.6)
                ax.plot([0], [0], marker="*", color="red", markersize=9, linestyle="none")
                ax.set_title(label, fontsize=TITLE_PT)
                ax.set_xlabel("α (direction 1)", fontsize=LABEL_PT)
                ax.set_ylabel("β (direction 2)", fontsize=LABEL_PT)
                ax.set_aspect("equal")
                axes_text(ax)
        if filled is not None:
            bar = top.colorbar(filled, ax=contour_axes.ravel().tolist(), shrink=0.9)
            ticks = levels[::3]  # plain numbers: a log norm's default labels read 3.69×10⁰
            bar.set_ticks(ticks, labels=[f"{value:.3g}" for value in ticks])
            bar.ax.minorticks_off()
            bar.set_label("training loss (shared levels)", fontsize=LABEL_PT)
            bar.ax.tick_params(labelsize=TICK_PT)
            bar.ax.yaxis.get_offset_text().set_fontsize(TICK_PT)
        loss_ax, acc_ax = bottom.subplots(1, 2)
        handles = []
        for index, (label, path) in enumerate(paths.items()):
            style = line_style(index, len(paths), len(path))
            loss_ax.plot(path["t"], path["loss"], **style)
            acc_ax.plot(path["t"], path["accuracy"], **style)
            handles.append(legend_handle(style, label))
        losses = pd.concat(list(paths.values()))["loss"] if paths else pd.Series(dtype=float)
        if not losses.empty and losses.min() > 0 and losses.max() / losses.min() > 100:
            loss_ax.set_yscale("log")
        for ax, name in ((loss_ax, "training loss"), (acc_ax, "training accuracy (%)")):
            ax.axvline(0, color="grey", linewidth=0.8)
            ax.axvline(1, color="grey", linewidth=0.8)
            ax.set_title(f"{name} along (1 - t)·w_0 + t·w_final", fontsize=TITLE_PT)
            ax.set_xlabel("t (0: initial weights, 1: final weights)", fontsize=LABEL_PT)
            ax.set_ylabel(name, fontsize=LABEL_PT)
            ax.grid(alpha=0.3)
            axes_text(ax)
        finish(fig, handles, title)
    return fig
