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
