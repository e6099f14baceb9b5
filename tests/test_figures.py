"""Figures a reader can read: shown unscaled in the report's column, no text under 9 px, one legend, identical
curves both visible; and figure numbers that match the original's, with extras numbered apart."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from matplotlib.legend import Legend
from PIL import Image

from ablate import registry
from ablate.analysis.curvature_figures import UNCONVERGED_LABEL, beta_curvature_figure, surface_figure
from ablate.analysis.curvature_tables import PAIR_COLUMNS
from ablate.analysis.density import density_figure
from ablate.analysis.envelopes import COLUMNS
from ablate.analysis.figures import (
    MIN_TEXT_PX,
    REPORT_COLUMN_PX,
    curves_figure,
    line_style,
    probe_figure,
    save,
    smallest_text_px,
)
from ablate.analysis.members import StudyRuns
from ablate.plan.config import read_config_files, validated
from ablate.plan.layout import write_members
from ablate.plan.runs import make_plan
from ablate.report.spec import report_spec, shown_items
from ablate.report.text import probe_caption
from ablate.training.spectrum import Quadrature

REPO = Path(__file__).resolve().parents[1]
TEMPLATE = REPO / "src/ablate/report/templates/report.html.j2"


def fake_run(root: Path, variant: str, seed: int, epochs: int, shift: float) -> dict:
    run = f"basic_cnn-{variant}-{seed}"
    run_dir = root / "runs" / run
    run_dir.mkdir(parents=True)
    config = {
        "model": "basic_cnn",
        "epochs": epochs,
        "batch_size": 4,
        "optimizer": {"name": "sgd", "lr": 0.001},
        "loss": "cross_entropy",
        "activation": "relu",
    }
    (run_dir / "config.json").write_text(json.dumps(config))
    metrics = {
        "parameters": 62006,
        "seconds_per_epoch": 2.0,
        "images_per_second": 1000.0,
        "best_test_acc": 60.0,
        "final_test_acc": 60.0,
        "best_test_loss": 1.0,
        "diverged": False,
        "diverged_step": None,
        "epochs_completed": epochs,
        "device": "cpu",
    }
    (run_dir / "metrics.json").write_text(json.dumps(metrics))
    epoch = np.arange(1, epochs + 1)
    pd.DataFrame(
        {
            "epoch": epoch,
            "train_loss": 2.0 / epoch + shift + 0.02 * seed,
            "test_loss": 2.2 / epoch + shift,
            "train_acc": 90 - 50 / epoch - 10 * shift + seed,
            "test_acc": 80 - 40 / epoch - 10 * shift,
        }
    ).to_csv(run_dir / "history.csv", index=False)
    return {"study": "s", "variant": variant, "seed": seed, "run": run, "epochs": epochs, "run_dir": str(run_dir)}


def curves_runs(root: Path, epochs: int) -> StudyRuns:
    """Three variants of two seeds each; bs128 and bs256 give identical curves."""
    rows = [fake_run(root, "bs4", seed, epochs, 0.5) for seed in (0, 1)]
    rows += [fake_run(root, variant, seed, epochs, 0.0) for variant in ("bs128", "bs256") for seed in (0, 1)]
    write_members(rows, root / "runs.csv")
    return StudyRuns.from_csv(root / "runs.csv")


def probe_table(probe: str, groups: dict[str, list[str]], steps: int = 600) -> pd.DataFrame:
    """An envelope table (ablate.analysis.envelopes.COLUMNS) for `groups` (group -> bands): per-group bands for
    step_loss, per-run bands in every line-search series."""
    series = list(registry.PROBES[probe].series)
    step = np.arange(1, steps + 1) * 10
    frames = []
    for name in series:
        for g, (group, bands) in enumerate(groups.items()):
            for b, band in enumerate(bands):
                mean = 2.5 * np.exp(-step / 2000) + 0.2 * g + 0.05 * b
                frames.append(
                    pd.DataFrame(
                        {
                            "series": name,
                            "group": group,
                            "band": band,
                            "step": step,
                            "min": mean * 0.8,
                            "max": mean * 1.3,
                            "mean": mean,
                            "runs": 1 if probe == "line_search" else len(bands),
                        }
                    )
                )
    return pd.concat(frames, ignore_index=True)[COLUMNS]


def beta_curvature_table(groups: dict[str, list[str]], steps: int = 300) -> pd.DataFrame:
    """ablate.analysis.curvature_tables.beta_and_curvature's table: the line search every 10 steps, the
    curvature probe every 20 (shared steps and steps of one only), not converged at its first five steps."""
    rows = []
    for g, (group, variants) in enumerate(groups.items()):
        for v, variant in enumerate(variants):
            for step in range(10, 10 * steps + 1, 10):
                curvature = 50 * np.exp(-step / 1500) + 5 * g + v if step % 20 == 0 else np.nan
                converged = np.nan if np.isnan(curvature) else float(step > 100)
                beta = 20 + 10 * np.sin(step / 50) + g
                rows.append((group, variant, f"{variant}-run", step, beta, curvature, converged))
    return pd.DataFrame(rows, columns=PAIR_COLUMNS)


def surface_tables(groups: dict[str, list[str]], points: int) -> tuple[dict, dict, dict]:
    """(grids, paths, groups) as the rule surface_figure reads them: a bowl per run, steeper without BatchNorm."""
    axis = np.linspace(-1, 1, points)
    alpha, beta = (a.ravel() for a in np.meshgrid(axis, axis, indexing="ij"))
    grids, paths, labels = {}, {}, {}
    t = np.array([-0.25, 0.0, 0.25, 0.5, 0.75, 1.0, 1.25])
    for g, (group, variants) in enumerate(groups.items()):
        for v, variant in enumerate(variants):
            loss = 0.1 + (3 - 2 * g + v) * (alpha**2 + 0.5 * beta**2)
            grids[variant] = pd.DataFrame({"alpha": alpha, "beta": beta, "loss": loss, "accuracy": 90 - 10 * loss})
            path_loss = 2.3 * (1 - t) ** 2 + 0.1 + 0.3 * t * (1 - t)
            paths[variant] = pd.DataFrame({"t": t, "loss": path_loss, "accuracy": 10 + 80 * t})
            labels[variant] = group
    return grids, paths, labels


def densities(groups: dict[str, list[str]]) -> list:
    """Made-up quadratures as ablate.analysis.density.study_densities returns them: per run three steps of two
    start vectors, a bulk and, without BatchNorm, two outliers of weight 1e-6."""
    found = []
    for group, variants in groups.items():
        for variant in variants:
            by_step = {}
            for place, step in enumerate((50, 7_600, 15_200)):
                outliers = [] if group.endswith("_bn") else [40.0 + 20 * place, 90.0 + 30 * place]
                nodes = torch.tensor([*np.linspace(-0.5, 3.0, 28), *outliers], dtype=torch.float64)
                weights = torch.full((len(nodes),), 1.0, dtype=torch.float64)
                weights[28:] = 1e-6
                by_step[step] = [Quadrature(nodes, weights / weights.sum())] * 2
            found.append(({"group": group, "variant": variant, "seed": 0, "run": variant}, by_step))
    return found


LANDSCAPE = {m: [f"{m}-lr{lr}" for lr in (0.001, 0.002, 0.0001, 0.0005)] for m in ("vgg_a", "vgg_a_bn")}
SANTURKAR = {"vgg_a": ["vgg_a"], "vgg_a_bn": ["vgg_a_bn"]}


def figures(tmp_path: Path):
    """Every kind of figure the report shows, built from made-up data."""
    yield "curves, 2 epochs", curves_figure(curves_runs(tmp_path / "short", 2), title="1.1-1.2 The basic network")
    yield "curves, 60 epochs", curves_figure(curves_runs(tmp_path / "long", 60), title="1.5 ResNet depth")
    title = "2.2-2.4 Loss landscape, gradient change and beta-smoothness of VGG-A with and without BatchNorm"
    yield "step_loss", probe_figure(probe_table("step_loss", {m: [m] for m in LANDSCAPE}), "step_loss", title)
    yield "line_search", probe_figure(probe_table("line_search", LANDSCAPE), "line_search", title)
    yield "line_search, santurkar", probe_figure(probe_table("line_search", SANTURKAR), "line_search", "2.5 S")
    yield "curvature", probe_figure(probe_table("curvature", {m: [m] for m in LANDSCAPE}), "curvature", title)
    yield "beta vs curvature", beta_curvature_figure(beta_curvature_table(LANDSCAPE), title)
    yield "beta vs curvature, santurkar", beta_curvature_figure(beta_curvature_table(SANTURKAR), "2.5 S")
    yield "density", density_figure(densities(LANDSCAPE), title)
    yield "density, santurkar", density_figure(densities(SANTURKAR), "2.5 S")
    yield "surface", surface_figure(*surface_tables(SANTURKAR, points=11), title="2.5 S")
    yield "surface, landscape", surface_figure(*surface_tables(LANDSCAPE, points=5), title=title)


def test_figures_read_at_the_report_column_width(tmp_path):
    template = TEMPLATE.read_text()
    assert f"max-width: {REPORT_COLUMN_PX}px" in template and "figure img { max-width: 100%" in template
    for kind, fig in figures(tmp_path):
        assert len(fig.findobj(Legend)) == 1, kind  # one legend per figure
        smallest = smallest_text_px(fig)
        assert smallest >= MIN_TEXT_PX, (kind, smallest)
        out = tmp_path / f"{kind}.png"
        save(fig, out)
        width, _ = Image.open(out).size
        assert width + 2 <= REPORT_COLUMN_PX, kind  # with the img's border: shown at 1 image px = 1 CSS px


def test_smallest_text_px_counts_a_wide_figure_scaled_down(tmp_path):
    fig = curves_figure(curves_runs(tmp_path, 3))
    fig.set_figwidth(2 * REPORT_COLUMN_PX / fig.dpi)
    assert smallest_text_px(fig) == pytest.approx(9 * fig.dpi / 72 / 2)


def test_identical_curves_both_show(tmp_path):
    for epochs in (2, 60):
        fig = curves_figure(curves_runs(tmp_path / str(epochs), epochs))
        lines = {line.get_label(): line for line in fig.axes[0].get_lines()}
        a, b = lines["bs128"], lines["bs256"]
        assert np.array_equal(a.get_ydata(), b.get_ydata())
        # get_linestyle() says "--" for every dash pattern; the pattern itself is what differs
        assert a._unscaled_dash_pattern != b._unscaled_dash_pattern and a.get_marker() != b.get_marker()
        assert a.get_markerfacecolor() == "none"  # hollow: a marker drawn over another leaves it visible
        if epochs > 12:  # markers on different points
            x = np.asarray(a.get_xdata())
            marked = [set(x[slice(*(line.get_markevery()[0], None, line.get_markevery()[1]))]) for line in (a, b)]
            assert not marked[0] & marked[1]
    for count in (2, 3, 5):
        starts = {line_style(i, count, 1000)["markevery"][0] for i in range(count)}
        assert len(starts) == count


def test_line_search_shares_one_legend_entry_per_learning_rate(tmp_path):
    fig = probe_figure(probe_table("line_search", LANDSCAPE), "line_search", "t")
    (legend,) = fig.findobj(Legend)
    assert [t.get_text() for t in legend.get_texts()] == [
        "lr0.001 (1 run)",
        "lr0.002 (1 run)",
        "lr0.0001 (1 run)",
        "lr0.0005 (1 run)",
    ]
    assert len(fig.axes) == 6


def test_beta_curvature_figure_marks_the_unconverged_probes():
    table = beta_curvature_table(SANTURKAR, steps=30)
    fig = beta_curvature_figure(table, "t")
    (legend,) = fig.findobj(Legend)
    assert UNCONVERGED_LABEL in [t.get_text() for t in legend.get_texts()]
    for ax, group in zip(fig.axes, SANTURKAR, strict=True):
        crosses = [line for line in ax.get_lines() if line.get_marker() == "x"]
        loose = table[(table["group"] == group) & (table["curv_converged"] == 0)]
        assert len(crosses) == 1 and list(crosses[0].get_xdata()) == loose["step"].tolist() == [20, 40, 60, 80, 100]
        assert list(crosses[0].get_ydata()) == loose["curv_lambda_max"].tolist()
    converged = table.assign(curv_converged=table["curv_converged"].where(table["curv_converged"].isna(), 1.0))
    (legend,) = beta_curvature_figure(converged, "t").findobj(Legend)
    assert UNCONVERGED_LABEL not in [t.get_text() for t in legend.get_texts()]


NUMBER = re.compile(r"(Figure|Extra)s? (\d+)(?:(?:-|–| and )(\d+))?")


def numbers(text: str) -> list[str]:
    found = []
    for kind, first, last in NUMBER.findall(text):
        found += [f"{kind} {n}" for n in range(int(first), int(last or first) + 1)]
    return found


def test_figure_numbers_match_the_original_and_extras_are_numbered_apart():
    config = validated(read_config_files([REPO / "config/config.yaml"]))
    spec = report_spec(make_plan(config), config)
    shown = []  # every numbered figure in the order of the report (ablate/exhibits.yaml's numbers)
    for item in shown_items(spec):
        if item["id"] in ("curves", "envelope"):
            assert item["number"], item  # every study's curves and figures of its probes are numbered
        if not item["number"].startswith("Table"):
            shown += numbers(item["number"])
    original = {f"Figure {n}" for n in (2, 3, 4, 5, 6, 8, 9, 10, 11, 12, 13, 14, 15)}
    ours = [n for n in shown if n.startswith("Figure ")]
    assert sorted(ours, key=lambda n: int(n.split()[1])) == ours and set(ours) == original
    extras = [n for n in shown if n.startswith("Extra ")]
    assert extras == [f"Extra {i}" for i in range(1, len(extras) + 1)]  # in order, none twice
    assert len(shown) == len(set(shown))
    tables = [item["number"] for item in shown_items(spec) if item["number"].startswith("Table")]
    assert tables == ["Table 1", "Table 2", "Table 3"]


def test_probe_captions():
    landscape = probe_caption("step_loss", "Figure 13")
    assert landscape.startswith("Figure 13. Loss landscape.") and "Original (Figure 13" in landscape
    assert probe_caption("beta", "Figure 15").startswith("Figure 15. beta-smoothness.")
    assert probe_caption("line_search", "Extra 4").startswith("Extra 4. After Santurkar")
    santurkar = probe_caption("step_loss", "Extra 6")
    assert santurkar.startswith("Extra 6. Loss landscape.") and "Figure 1" not in santurkar
    assert not NUMBER.match(probe_caption("beta", ""))  # a study the entry does not number: no number
