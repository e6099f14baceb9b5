"""Figures of the report (matplotlib, no display).

Sized for the page they end up in. report.html.j2 sets the column to `body { max-width: 1100px }` and shows
every figure as `figure img { max-width: 100%; border: 1px solid }`. Every figure here is saved
FIGURE_WIDTH_PX = 1080 px wide at DPI = 100 (10.8 in), so with its 2 px of border it fits the column
unscaled: at 100% zoom one image pixel is one CSS pixel, and a font of s points is s * DPI / 72 CSS pixels.
The smallest font used is 9 pt = 12.5 px, above the MIN_TEXT_PX = 9 floor, which still holds when a
narrower window scales a figure down to 72% of its width (about 790 px of column).
`smallest_text_px` measures this on a figure; tests/test_figures.py checks it for every figure kind.

Each figure has one legend, below its panels (above them it would cover the title). Variants (and probe
bands) cycle colour, dash pattern and a hollow marker shape, with the markers of long curves at offset
positions: two identical curves still both show (the upper one's gaps and hollow markers let the lower one
through).
"""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.text import Text
from matplotlib.ticker import MaxNLocator

from ablate import registry
from ablate.analysis.members import StudyRuns, histories, member_results

REPORT_COLUMN_PX = 1100  # report.html.j2: body max-width, the widest an <img> is shown
FIGURE_WIDTH_PX = 1080  # + the img's 1 px border on both sides <= the column: never scaled down at 100% zoom
DPI = 100
FIGURE_WIDTH_IN = FIGURE_WIDTH_PX / DPI
MIN_TEXT_PX = 9

# point sizes: at DPI 100 one point is 100/72 = 1.39 px, so 9 pt = 12.5 px, 12 pt = 16.7 px
TICK_PT = 9
LEGEND_PT = 9
LABEL_PT = 10
TITLE_PT = 10.5
SUPTITLE_PT = 12
STYLE = {
    "font.size": LABEL_PT,
    "axes.titlesize": TITLE_PT,
    "axes.labelsize": LABEL_PT,
    "xtick.labelsize": TICK_PT,
    "ytick.labelsize": TICK_PT,
    "legend.fontsize": LEGEND_PT,
    "legend.title_fontsize": LEGEND_PT,
    "figure.titlesize": SUPTITLE_PT,
    "figure.dpi": DPI,
    "savefig.dpi": DPI,
}
SUPTITLE_CHARS = 110  # ~9 px per character at 12 pt: a wrapped title stays inside the 1080 px

COLORS = plt.get_cmap("tab10").colors
# solid, dashed, dotted, dash-dot, dash-dot-dot: a dashed curve over an identical one lets it show in its gaps
LINESTYLES = ["-", (0, (5, 2.5)), (0, (1.2, 1.8)), (0, (6, 2, 1.5, 2)), (0, (3, 1.5, 1, 1.5, 1, 1.5))]
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "<", ">", "h"]
MARKERS_PER_CURVE = 8  # on long curves; short ones (<= 12 points) mark every point


def line_style(index: int, count: int, points: int) -> dict:
    """Line2D keywords for curve `index` of `count` drawn together, each with `points` points: its own colour,
    dash pattern and hollow marker; on long curves, markers every points/8 points, each curve's shifted by
    index/count of that spacing so identical curves do not put their markers on the same points."""
    every = 1 if points <= 12 else math.ceil(points / MARKERS_PER_CURVE)
    style = {
        "color": COLORS[index % len(COLORS)],
        "linestyle": LINESTYLES[index % len(LINESTYLES)],
        "marker": MARKERS[index % len(MARKERS)],
        "markerfacecolor": "none",
        "markeredgewidth": 1.3,
        "markersize": 6,
        "linewidth": 1.6,
    }
    if every > 1:
        style["markevery"] = ((index * every) // max(count, 1) % every, every)
    return style


def legend_handle(style: dict, label: str) -> Line2D:
    return Line2D([], [], **{k: v for k, v in style.items() if k != "markevery"}, label=label)


def finish(fig: Figure, handles: list[Line2D], title: str) -> None:
    """The figure's one legend, below its panels, in as many columns as fit."""
    if title:
        fig.suptitle(textwrap.fill(title, SUPTITLE_CHARS), fontsize=SUPTITLE_PT)
    if handles:
        longest = max(len(h.get_label()) for h in handles)
        columns = max(1, min(len(handles), 5, 120 // (longest + 8)))
        fig.legend(handles=handles, loc="outside lower center", ncols=columns, fontsize=LEGEND_PT, frameon=False)


def axes_text(ax) -> None:
    ax.tick_params(which="both", labelsize=TICK_PT)
    ax.xaxis.get_offset_text().set_fontsize(TICK_PT)
    ax.yaxis.get_offset_text().set_fontsize(TICK_PT)


def smallest_text_px(fig: Figure, column_px: int = REPORT_COLUMN_PX) -> float:
    """The size in CSS px, at 100% zoom in the report's column, of the smallest visible text in `fig`: points
    * dpi / 72, scaled down by column_px / width where the image (width px at its dpi) is wider than the column."""
    fig.canvas.draw()  # creates the tick labels
    width = fig.get_figwidth() * fig.dpi
    scale = min(1.0, column_px / width)
    sizes = [
        t.get_fontsize()
        for t in fig.findobj(Text)
        if t.get_visible() and t.get_text().strip() and (t.axes is None or t.axes.get_visible())
    ]
    return min(sizes) * fig.dpi / 72 * scale


def save(fig: Figure, out: Path) -> None:
    """PNG at DPI: FIGURE_WIDTH_PX wide (see the module's docstring)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with plt.rc_context(STYLE):
        fig.savefig(out, dpi=DPI)
    plt.close(fig)


PANELS = (
    ("train_loss", "train loss"),
    ("test_loss", "test loss"),
    ("train_acc", "train accuracy (%)"),
    ("test_acc", "test accuracy (%)"),
)


def curves_figure(study: StudyRuns, title: str = "") -> Figure:
    """Train/test loss and accuracy per epoch, one line per variant: the mean over seeds with a min-max band."""
    epochs = histories(study)
    results = member_results(study)
    variants = list(dict.fromkeys(results["variant"]))
    points = int(epochs["epoch"].nunique()) if not epochs.empty else 0
    with plt.rc_context(STYLE):
        fig = plt.figure(figsize=(FIGURE_WIDTH_IN, 7.6), dpi=DPI, layout="constrained")
        axes = fig.subplots(2, 2, sharex=True)
        handles = []
        for index, variant in enumerate(variants):
            rows = results[results["variant"] == variant]
            label = variant
            if rows["diverged"].any():
                label += f" (diverged at step {int(rows['diverged_step'].min())})"
            style = line_style(index, len(variants), points)
            handles.append(legend_handle(style, label))
            curve = epochs[epochs["variant"] == variant] if not epochs.empty else pd.DataFrame()
            if curve.empty:
                continue
            for ax, (column, _) in zip(axes.flat, PANELS, strict=True):
                stats = curve.groupby("epoch")[column].agg(["mean", "min", "max"])
                ax.plot(stats.index, stats["mean"], label=label, **style)
                if curve["seed"].nunique() > 1:
                    ax.fill_between(stats.index, stats["min"], stats["max"], color=style["color"], alpha=0.15)
        for ax, (column, name) in zip(axes.flat, PANELS, strict=True):
            ax.set_title(name, fontsize=TITLE_PT)
            ax.grid(alpha=0.3)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            values = epochs[column] if column in epochs else pd.Series(dtype=float)
            positive = values[values > 0]
            # a diverging variant's loss would flatten every other curve on a linear axis
            if column.endswith("loss") and not positive.empty and positive.max() / positive.min() > 100:
                ax.set_yscale("log")
            axes_text(ax)
        for ax in axes[1]:
            ax.set_xlabel("epoch", fontsize=LABEL_PT)
        finish(fig, handles, title)
    return fig


def study_curves(study: StudyRuns, out: Path, title: str = "") -> None:
    save(curves_figure(study, title), out)


def _log_scale_if_wide(ax, values) -> None:
    positive = values[values > 0]
    if positive.size and positive.max() / positive.min() > 1000:
        ax.set_yscale("log")


def _band_label(band: str, group: str | None, runs: int) -> str:
    """A band's legend entry; in a per-group row, without the group's name (the row's title has it), so the
    same learning rate gets the same entry and style in every row."""
    if group is not None and band.startswith(f"{group}-"):
        band = band[len(group) + 1 :]
    return f"{band} ({runs} run{'s' if runs > 1 else ''})"


def probe_figure(table: pd.DataFrame, probe: str, title: str = "") -> Figure:
    """Bands of a probe per step (see ablate.analysis.envelopes): one panel per series and, for probes with a
    band per variant (line_search), one row per group (model) with a band per run; otherwise a band per group.
    Title and axis label are the probe's registry entry's."""
    entry = registry.PROBES[probe]
    series = list(dict.fromkeys(table["series"])) or [probe]
    groups = list(dict.fromkeys(table["group"])) or [""]
    rows = groups if entry.band == "variant" else [None]
    heading, ylabel = entry.title, entry.y_label
    # one style per legend entry, shared by every panel
    labels: dict[str, int] = {}
    for group in rows:
        cells = table if group is None else table[table["group"] == group]
        for band in dict.fromkeys(cells["band"]):
            runs = int(cells.loc[cells["band"] == band, "runs"].max())
            labels.setdefault(_band_label(band, group, runs), len(labels))
    points = int(table.groupby(["series", "group", "band"]).size().max()) if not table.empty else 0
    styles = {label: line_style(index, len(labels), points) for label, index in labels.items()}
    single = len(series) == 1 and len(rows) == 1
    height = 5.2 if single else 3.1 * len(rows) + 1.4
    with plt.rc_context(STYLE):
        fig = plt.figure(figsize=(FIGURE_WIDTH_IN, height), dpi=DPI, layout="constrained")
        axes = fig.subplots(len(rows), len(series), squeeze=False, sharey="col")  # rows (models) on one scale
        for row, group in enumerate(rows):
            for ax, name in zip(axes[row], series, strict=True):
                cells = table[table["series"] == name]
                if group is not None:
                    cells = cells[cells["group"] == group]
                for band in dict.fromkeys(cells["band"]):
                    values = cells[cells["band"] == band]
                    style = styles[_band_label(band, group, int(values["runs"].max()))]
                    ax.fill_between(
                        values["step"], values["min"], values["max"], color=style["color"], alpha=0.25, linewidth=0
                    )
                    ax.plot(values["step"], values["mean"], **{**style, "linewidth": 1.2, "markersize": 5})
                _log_scale_if_wide(ax, cells[["min", "max"]].to_numpy().ravel())
                panel = name if len(series) > 1 else heading
                ax.set_title(f"{group}: {panel}" if group is not None else panel, fontsize=TITLE_PT)
                ax.set_xlabel("step", fontsize=LABEL_PT)
                ax.set_ylabel(ylabel or name, fontsize=LABEL_PT)
                ax.grid(alpha=0.3)
                axes_text(ax)
        handles = [legend_handle({**styles[label], "markersize": 5}, label) for label in labels]
        finish(fig, handles, f"{title}: {heading}" if title and len(series) > 1 else title)
    return fig


def envelope_figure(table: pd.DataFrame, probe: str, out: Path, title: str = "") -> None:
    save(probe_figure(table, probe, title), out)
