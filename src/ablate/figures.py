"""Figures of the report (matplotlib, no display)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.ticker import MaxNLocator

from ablate.analysis import histories, member_results

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
