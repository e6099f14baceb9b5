"""Figures of the report (matplotlib, no display)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.ticker import MaxNLocator

from ablate.analysis import histories, member_results
from ablate.envelopes import PER_RUN

PANELS = (
    ("train_loss", "train loss"),
    ("test_loss", "test loss"),
    ("train_acc", "train accuracy (%)"),
    ("test_acc", "test accuracy (%)"),
)


def study_curves(runs_csv: Path, out: Path, title: str = "") -> None:
    """Train/test loss and accuracy per epoch, one line per variant: the mean over seeds with a min-max band."""
    epochs = histories(runs_csv)
    results = member_results(runs_csv)
    fig, axes = plt.subplots(2, 2, figsize=(11, 7.5), sharex=True)
    for variant in dict.fromkeys(results["variant"]):
        rows = results[results["variant"] == variant]
        label = variant
        if rows["diverged"].any():
            label += f" (diverged at step {int(rows['diverged_step'].min())})"
        curve = epochs[epochs["variant"] == variant] if not epochs.empty else pd.DataFrame()
        for ax, (column, _) in zip(axes.flat, PANELS, strict=True):
            if curve.empty:
                ax.plot([], [], label=label)  # keeps colours and the legend in step
                continue
            stats = curve.groupby("epoch")[column].agg(["mean", "min", "max"])
            (line,) = ax.plot(
                stats.index, stats["mean"], label=label, marker="o" if len(stats) < 12 else None, markersize=3
            )
            if curve["seed"].nunique() > 1:
                ax.fill_between(stats.index, stats["min"], stats["max"], color=line.get_color(), alpha=0.2)
    for ax, (column, name) in zip(axes.flat, PANELS, strict=True):
        ax.set_title(name)
        ax.grid(alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        values = epochs[column] if column in epochs else pd.Series(dtype=float)
        positive = values[values > 0]
        # a diverging variant's loss would flatten every other curve on a linear axis
        if column.endswith("loss") and not positive.empty and positive.max() / positive.min() > 100:
            ax.set_yscale("log")
    for ax in axes[1]:
        ax.set_xlabel("epoch")
    axes[0, 1].legend(fontsize=8, loc="best")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)


PROBE_TITLES = {
    "step_loss": ("Loss landscape: training loss per step", "loss"),
    "grad_change": ("Gradient change: ||g_t - g_(t-1)|| of the last linear layer", "gradient change"),
    "beta": ("beta-smoothness: ||g_t - g_(t-1)|| / ||w_t - w_(t-1)||, last linear layer", "beta"),
    "line_search": ("Along each run's step (Santurkar et al. 2018, Fig. 4)", ""),
}


def _log_scale_if_wide(ax, values) -> None:
    positive = values[values > 0]
    if positive.size and positive.max() / positive.min() > 1000:
        ax.set_yscale("log")


def envelope_figure(table: pd.DataFrame, probe: str, out: Path, title: str = "") -> None:
    """Bands of a probe per step (see ablate.envelopes): one panel per series and, for per-run probes
    (line_search), one row per group (model) with a band per run; otherwise a band per group."""
    series = list(dict.fromkeys(table["series"])) or [probe]
    groups = list(dict.fromkeys(table["group"])) or [""]
    rows = groups if probe in PER_RUN else [None]
    heading, ylabel = PROBE_TITLES[probe]
    fig, axes = plt.subplots(
        len(rows),
        len(series),
        figsize=(5.2 * len(series) if len(series) > 1 else 11, 4.2 * len(rows) + 0.6),
        squeeze=False,
        sharey="col",  # the models' rows on one scale: the comparison the figure is for
    )
    for row, group in enumerate(rows):
        for ax, name in zip(axes[row], series, strict=True):
            cells = table[table["series"] == name]
            if group is not None:
                cells = cells[cells["group"] == group]
            for band in dict.fromkeys(cells["band"]):
                values = cells[cells["band"] == band]
                runs = int(values["runs"].max())
                label = f"{band} ({runs} run{'s' if runs > 1 else ''})"
                (line,) = ax.plot(values["step"], values["mean"], linewidth=0.8, label=label)
                ax.fill_between(
                    values["step"], values["min"], values["max"], color=line.get_color(), alpha=0.3, linewidth=0
                )
            _log_scale_if_wide(ax, cells[["min", "max"]].to_numpy().ravel())
            panel = name if len(series) > 1 else heading
            ax.set_title(f"{group}: {panel}" if group is not None else panel, fontsize=10)
            ax.set_xlabel("step")
            ax.set_ylabel(ylabel or name)
            ax.grid(alpha=0.3)
        axes[row][-1].legend(fontsize=8)
    if title:
        fig.suptitle(f"{title}: {heading}" if len(series) > 1 else title, fontsize=11)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
