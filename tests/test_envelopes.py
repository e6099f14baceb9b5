"""The BatchNorm analyses: per-step envelopes of probe columns over the runs of each model."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

from ablate.analysis.envelopes import probe_envelopes
from ablate.analysis.figures import envelope_figure
from ablate.analysis.members import StudyRuns
from ablate.plan.layout import write_members


def fake_run(root: Path, name: str, model: str, losses: list[float], betas: list[float]) -> dict:
    run_dir = root / name
    run_dir.mkdir(parents=True)
    (run_dir / "config.json").write_text(json.dumps({"model": model}))
    pd.DataFrame(
        {
            "epoch": 1,
            "step": range(1, len(losses) + 1),
            "step_loss": losses,
            "ls_loss_min": [v - 1 if i % 2 else math.nan for i, v in enumerate(losses)],
            "ls_loss_max": [v + 1 if i % 2 else math.nan for i, v in enumerate(losses)],
            "ls_beta_max": betas,
        }
    ).to_csv(run_dir / "steps.csv", index=False)
    return {"study": "s", "variant": name, "seed": 0, "run": name, "epochs": 1, "run_dir": str(run_dir)}


@pytest.fixture
def runs_csv(tmp_path) -> Path:
    rows = [
        fake_run(tmp_path, "a1", "vgg_a", [4, 3, 2, 1], [1, 1, 1, 1]),
        fake_run(tmp_path, "a2", "vgg_a", [6, 5, 4, 3], [3, 3, 3, 3]),
        fake_run(tmp_path, "b1", "vgg_a_bn", [2, 2, 2, 2], [0.5, 0.5, 0.5, 0.5]),
    ]
    write_members(rows, tmp_path / "runs.csv")
    return tmp_path / "runs.csv"


def test_band_spans_each_models_runs_per_step(runs_csv):
    table = probe_envelopes(StudyRuns.from_csv(runs_csv), "step_loss")
    vgg = table[table["group"] == "vgg_a"]
    assert vgg["min"].tolist() == [4, 3, 2, 1] and vgg["max"].tolist() == [6, 5, 4, 3]
    assert vgg["mean"].tolist() == [5, 4, 3, 2] and (vgg["runs"] == 2).all()
    assert table[table["group"] == "vgg_a_bn"]["max"].tolist() == [2, 2, 2, 2]
    assert (table["band"] == table["group"]).all()  # Figures 13-15: one band per model, over its learning rates


def test_smoothing_is_a_rolling_mean_before_the_envelope(runs_csv):
    table = probe_envelopes(StudyRuns.from_csv(runs_csv), "step_loss", smoothing=2)
    assert table[table["group"] == "vgg_a"]["min"].tolist() == [4, 3.5, 2.5, 1.5]


def test_line_search_bands_use_their_min_and_max_columns(runs_csv, tmp_path):
    table = probe_envelopes(StudyRuns.from_csv(runs_csv), "line_search")
    assert list(dict.fromkeys(table["series"])) == ["loss range", "effective beta"]
    # one band per run (learning rate), never pooled over a model's runs
    a1 = table[(table["series"] == "loss range") & (table["band"] == "a1")]
    assert (a1["group"] == "vgg_a").all() and (a1["runs"] == 1).all()
    assert a1["step"].tolist() == [2, 4] and a1["min"].tolist() == [2, 0] and a1["max"].tolist() == [4, 2]
    a2 = table[(table["series"] == "loss range") & (table["band"] == "a2")]
    assert a2["min"].tolist() == [4, 2] and a2["max"].tolist() == [6, 4]
    assert set(table[table["group"] == "vgg_a"]["band"]) == {"a1", "a2"}
    envelope_figure(table, "line_search", tmp_path / "ls.png", title="t")
    assert (tmp_path / "ls.png").stat().st_size > 10_000


def test_curvature_summary_gives_the_converged_share_and_the_lambda_max_interval(tmp_path):
    """Two runs of one model, three curvature probes each, two of the six converged; a run recorded before the
    residuals were (no curv_converged column) counts as not converged."""
    from ablate.analysis.curvature_tables import beta_and_curvature, curvature_summary

    rows = []
    for name, converged in (("a1", [1.0, 0.0, 1.0]), ("a2", [0.0, 0.0, 0.0]), ("b1", None)):
        rows.append(fake_run(tmp_path, name, "vgg_a_bn" if name == "b1" else "vgg_a", [1, 1, 1], [2, 2, 2]))
        steps = pd.read_csv(tmp_path / name / "steps.csv")
        steps["curv_lambda_max"], steps["curv_residual_max"] = [10.0, 20.0, 30.0], [0.5, 4.0, 0.0]
        steps["curv_lambda_min"], steps["curv_trace"] = [-1.0, -2.0, -3.0], [5.0, 6.0, 7.0]
        if converged is not None:
            steps["curv_converged"] = converged
        steps.to_csv(tmp_path / name / "steps.csv", index=False)
    write_members(rows, tmp_path / "runs.csv")
    study = StudyRuns.from_csv(tmp_path / "runs.csv")
    summary = curvature_summary(study).set_index(["group", "quantity"])
    assert summary.loc[("vgg_a", "λ_max"), "converged"] == pytest.approx(2 / 6)
    assert summary.loc[("vgg_a", "λ_max"), "values"] == 6 and summary.loc[("vgg_a", "λ_max"), "runs"] == 2
    upper = summary.loc[("vgg_a", "λ_max + residual")]
    assert (upper["min"], upper["median"], upper["max"]) == (10.5, 24.0, 30.0)
    assert summary.loc[("vgg_a_bn", "λ_max"), "converged"] == 0.0
    assert math.isnan(summary.loc[("vgg_a", "effective β"), "converged"])
    pairs = beta_and_curvature(study)
    assert pairs.loc[pairs["run"] == "a1", "curv_converged"].tolist() == [1.0, 0.0, 1.0]
    assert pairs.loc[pairs["run"] == "b1", "curv_converged"].isna().all()
