"""Seeds per study, and mean ± sd over seeds: the plan, the study summary, published vs reproduced, the report."""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path

import pandas as pd
import pytest
import yaml

from ablate.analysis.figures import study_curves
from ablate.analysis.members import StudyRuns
from ablate.analysis.published import published_comparison, read_published, write_published
from ablate.analysis.summary import study_summary, write_study_summary
from ablate.errors import ConfigError
from ablate.plan.config import read_config_files, validated
from ablate.plan.layout import write_members
from ablate.plan.runs import make_plan
from ablate.report.render import render_report

from conftest import REPO, job_counts, snakemake, synthetic_config


def seeded_config(**report) -> dict:
    """Study s on the top-level seed 0; study t on its own seeds 0, 1, 2 (t/a at seed 0 is the run s/a)."""
    config = synthetic_config()
    config["seeds"] = [0]
    config["studies"] = {
        "s": {"variants": {"a": {}, "b": {"optimizer.lr": 0.01}}},
        "t": {"seeds": [0, 1, 2], "variants": {"a": {}}},
    }
    config["report"] = {"hyperparameters": {"study": "s", "variant": "a"}, **report}
    return validated(config, check_paths=False)


def test_a_study_trains_its_own_seeds():
    plan = make_plan(seeded_config())
    s, t = plan.studies["s"], plan.studies["t"]
    assert (s.seeds, t.seeds) == ((0,), (0, 1, 2))
    assert [(m.variant, m.seed) for m in s.members] == [("a", 0), ("b", 0)]
    assert [(m.variant, m.seed) for m in t.members] == [("a", 0), ("a", 1), ("a", 2)]
    ids = [m.run_id for m in t.members]
    assert len(set(ids)) == 3  # one run per seed
    assert [plan.runs[i].config["seed"] for i in ids] == [0, 1, 2]
    # `seeds` is study bookkeeping, not a run setting: t/a at seed 0 resolves to the very run s/a
    assert plan.run_of("t", "a", 0) is plan.run_of("s", "a", 0)
    assert len(plan.runs) == 4
    assert all("seeds" not in run.config for run in plan.runs.values())


def test_report_refs_use_the_studys_first_seed():
    config = seeded_config(hyperparameters={"study": "t", "variant": "a"})
    config["studies"]["t"]["seeds"] = [5, 6]
    plan = make_plan(config)  # the top-level seed 0 is not one of t's
    assert plan.report_refs["hyperparameters"] == ("t", "a")
    assert plan.run_of("t", "a", plan.studies["t"].seeds[0]).config["seed"] == 5


@pytest.mark.parametrize("seeds", [[], [-1], [1, 1], ["zero"], 3])
def test_bad_study_seeds_are_rejected(seeds):
    config = synthetic_config()
    config["studies"]["s"]["seeds"] = seeds
    with pytest.raises(ConfigError, match=r"config error at studies\.s\.seeds"):
        validated(config, check_paths=False)


def test_smoke_config_gives_the_dropout_study_two_seeds():
    full = validated(read_config_files([REPO / "config/config.yaml"]), check_paths=False)
    smoke = validated(read_config_files([REPO / "config/config.yaml", REPO / "config/smoke.yaml"]))
    plan, full_plan = make_plan(smoke), make_plan(full)
    assert plan.studies["dropout"].seeds == (0, 1)
    assert plan.studies["dropout"].variants == full_plan.studies["dropout"].variants  # merged, not replaced
    # the other studies get one seed each in the smoke run (the full study gives six of them three)
    assert {n: s.seeds for n, s in plan.studies.items() if n != "dropout"} == {
        n: (0,) for n in full_plan.studies if n != "dropout"
    }


@pytest.mark.slow
def test_snakemake_points_the_report_at_the_studys_first_seed(workflow_dir):
    """common.smk's report_run: Table 1 from a study whose seeds do not include the top-level first seed."""
    extra = {"studies": {"batch_size": {"seeds": [7, 8]}}}
    (workflow_dir / "extra.yaml").write_text(yaml.safe_dump(extra))
    files = ["config/config.yaml", "config/smoke.yaml", "extra.yaml"]
    plan = make_plan(validated(read_config_files([workflow_dir / f for f in files]), check_paths=False))
    expected = plan.run_of("batch_size", "bs4", 7).id
    result = snakemake(
        workflow_dir, "-n", "-p", "--cores", "1", "--configfile", "config/smoke.yaml", "extra.yaml", timeout=120
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"--run-config results/plan/runs/{expected}.json --epochs 2 " in result.stdout
    assert job_counts(result.stdout)["train"] == len(plan.runs)


# hand-made run directories: what the summary, the curves and the report read of a run


def fake_run(root: Path, variant: str, seed: int, diverged_step: int | None = None, **metrics) -> dict:
    run = f"basic_cnn-{variant}{seed}"
    run_dir = root / "results/runs" / run
    run_dir.mkdir(parents=True)
    config = {
        "model": "basic_cnn",
        "epochs": 2,
        "batch_size": 4,
        "optimizer": {"name": "sgd", "lr": 0.001},
        "loss": "cross_entropy",
        "activation": "relu",
        "seed": seed,
    }
    acc = metrics.get("final_test_acc", 50.0)
    (run_dir / "config.json").write_text(json.dumps(config))
    (run_dir / "metrics.json").write_text(
        json.dumps(
            {
                "parameters": 62006,
                "seconds_per_epoch": 2.0,
                "images_per_second": 1000.0,
                "best_test_acc": acc,
                "final_test_acc": acc,
                "best_test_loss": 1.0,
                "diverged": diverged_step is not None,
                "diverged_step": diverged_step,
                "epochs_completed": 2,
                "device": "cpu",
                "device_name": "test cpu",
                "precision": "fp32",
                "torch": "2.x",
                "torchvision": "0.x",
                "python": "3.11",
                **metrics,
            }
        )
    )
    pd.DataFrame(
        {
            "epoch": [1, 2],
            "train_loss": [2.0 + seed, 1.0 + seed],
            "test_loss": [2.0, 1.5],
            "train_acc": [30.0, 40.0 + seed],
            "test_acc": [acc - 10, acc],
        }
    ).head(1 if diverged_step else 2).to_csv(run_dir / "history.csv", index=False)  # a run that diverged stopped
    return {"study": "s", "variant": variant, "seed": seed, "run": run, "epochs": 2, "run_dir": str(run_dir)}


ACCS = [70.0, 71.0, 72.5]


@pytest.fixture
def runs_csv(tmp_path) -> Path:
    """Variant a: three seeds; b: one seed; c: two seeds, one diverged before it had a test loss."""
    rows = [fake_run(tmp_path, "a", seed, final_test_acc=acc) for seed, acc in enumerate(ACCS)]
    rows.append(fake_run(tmp_path, "b", 0, final_test_acc=60.0))
    rows.append(fake_run(tmp_path, "c", 0, best_test_loss=0.8))
    rows.append(fake_run(tmp_path, "c", 1, diverged_step=17, best_test_loss=None, seconds_per_epoch=None))
    out = tmp_path / "results/studies/s/runs.csv"
    write_members(rows, out)
    return out


def test_summary_holds_mean_sd_and_n_per_measured_column(runs_csv):
    summary = study_summary(StudyRuns.from_csv(runs_csv)).set_index("variant")
    assert list(summary.index) == ["a", "b", "c"]
    a, b, c = summary.loc["a"], summary.loc["b"], summary.loc["c"]
    assert a["final_test_acc"] == pytest.approx(statistics.mean(ACCS))
    assert a["final_test_acc_sd"] == pytest.approx(statistics.stdev(ACCS))  # sample sd, n - 1
    assert a["best_test_acc_sd"] == pytest.approx(statistics.stdev(ACCS))
    assert a["seconds_per_epoch_sd"] == 0 and a["final_test_acc_n"] == 3 and a["seeds"] == 3
    assert math.isnan(b["final_test_acc_sd"]) and b["final_test_acc_n"] == 1 and b["seeds"] == 1
    # a diverged seed without a value leaves the mean to the others, and says so in _n
    assert (c["seeds"], c["diverged"], c["diverged_step"]) == (2, 1, 17)
    assert (c["best_test_loss"], c["best_test_loss_n"], c["final_test_acc_n"]) == (0.8, 1, 2)
    assert math.isnan(c["best_test_loss_sd"]) and c["seconds_per_epoch_n"] == 1
    for column in ("seconds_per_epoch", "images_per_second", "best_test_acc", "final_test_acc", "best_test_loss"):
        assert {column, f"{column}_sd", f"{column}_n"} <= set(summary.columns)


def entry(metric: str, value, variant: str = "a", **extra) -> dict:
    return {
        "section": "1.1",
        "quantity": f"{variant} {metric}",
        "source": "text",
        "value": value,
        "compare": {"study": "s", "variant": variant, "metric": metric, **extra.pop("compare", {})},
        **extra,
    }


def test_published_comparison_spread_rule(runs_csv):
    mean, sd = statistics.mean(ACCS), statistics.stdev(ACCS)  # 71.17 ± 1.26
    published = [
        entry("final_test_acc", 73.5),  # within 2 sd
        entry("final_test_acc", 74.0),  # beyond
        entry("final_test_acc", 60.0, variant="b"),  # one seed
        entry("final_test_acc", 60.0, variant="nope"),  # nothing of ours
        entry("best_test_loss", 0.01, scale=100),  # per-sample 1.0; every seed 1.0: sd 0, equal
        entry("test_acc_at_epoch", 61.0, compare={"epoch": 1}),
        entry("parameters", 0.062006),
    ]
    rows = published_comparison(published, {"s": StudyRuns.from_csv(runs_csv)})
    within, beyond, single, missing, loss, epoch, params = rows
    assert (within["reproduced"], within["sd"], within["n"]) == (pytest.approx(mean), pytest.approx(sd), 3)
    assert within["difference"] == pytest.approx(mean - 73.5) and within["within"] == "yes"
    assert abs(74.0 - mean) > 2 * sd and beyond["within"] == "no"
    assert (single["n"], single["sd"], single["within"]) == (1, None, "n/a (1 seed)")
    assert single["difference"] == pytest.approx(0.0)
    assert (missing["n"], missing["reproduced"], missing["within"]) == (0, None, None)
    assert loss["published_per_sample"] == pytest.approx(1.0) and loss["within"] == "yes"
    assert loss["difference"] == pytest.approx(0.0)
    assert epoch["reproduced"] == pytest.approx(mean - 10) and epoch["within"] == "yes"
    assert params["reproduced"] == pytest.approx(0.062006) and params["sd"] == 0 and params["within"] == "yes"


def test_published_divergence(runs_csv):
    rows = published_comparison(
        [entry("diverged", True, variant="c"), entry("diverged", True), entry("diverged", False)],
        {"s": StudyRuns.from_csv(runs_csv)},
    )
    c, a, a_false = rows
    assert (c["kind"], c["diverged"], c["n"], c["within"]) == ("diverged", 1, 2, "yes")
    assert (a["diverged"], a["n"], a["within"]) == (0, 3, "no")
    assert a_false["within"] == "yes"  # the original trained through, and so did our seeds


def test_a_number_compared_with_two_recipes_gives_a_row_for_each_and_round_trips(runs_csv, tmp_path):
    both = {
        "section": "1.2",
        "quantity": "final acc",
        "source": "table 2",
        "value": 60.0,
        "compare": [
            {"study": "s", "variant": "b", "metric": "final_test_acc", "recipe": "lr 0.01, implied"},
            {"study": "s", "variant": "a", "metric": "final_test_acc", "recipe": "lr 0.001, the code's"},
        ],
    }
    published = [entry("final_test_acc", 73.5), both, entry("diverged", True, variant="c")]
    rows = published_comparison(published, {"s": StudyRuns.from_csv(runs_csv)})
    plain, implied, code, diverged = rows
    assert (plain["recipe"], plain["explains"]) == ("", False)
    assert (implied["variant"], implied["recipe"], implied["explains"]) == ("b", "lr 0.01, implied", True)
    assert (implied["within"], implied["difference"]) == ("n/a (1 seed)", pytest.approx(0.0))
    assert (code["variant"], code["explains"], code["within"]) == ("a", False, "no")
    (tmp_path / "published.yaml").write_text(yaml.safe_dump(published))
    write_published(tmp_path / "published.yaml", [StudyRuns.from_csv(runs_csv)], tmp_path / "published.csv")
    assert read_published(tmp_path / "published.csv") == rows
    assert diverged["values"] == [False, True]


def test_report_shows_mean_sd_and_the_spread_rule(runs_csv, tmp_path, monkeypatch):
    study = runs_csv.parent
    write_study_summary(StudyRuns.from_csv(runs_csv), study / "summary.csv")
    bands = []
    original = __import__("matplotlib.axes", fromlist=["Axes"]).Axes.fill_between

    def counting(self, *args, **kwargs):
        bands.append(len(args[0]))
        return original(self, *args, **kwargs)

    monkeypatch.setattr("matplotlib.axes.Axes.fill_between", counting)
    study_curves(StudyRuns.from_csv(runs_csv), study / "curves.png", title="s")
    assert len(bands) == 2 * 4  # a and c have several seeds: a min-max band in each of the four panels
    pd.DataFrame([("model", "basic_cnn")], columns=["hyperparameter", "value"]).to_csv(
        tmp_path / "hyper.csv", index=False
    )
    published = [
        entry("final_test_acc", 73.5),
        entry("final_test_acc", 60.0, variant="b"),
        entry("diverged", True, variant="c"),
    ]
    (tmp_path / "published.yaml").write_text(yaml.safe_dump(published))
    spec = {
        "title": "seeds",
        "config_hash": "0123456789",
        "studies": [
            {
                "name": "s",
                "title": "1.1 s",
                "runs": str(runs_csv),
                "shown": [
                    {"id": "summary", "macro": "summary", "number": "Table 2", "file": str(study / "summary.csv")},
                    {"id": "curves", "macro": "curves", "number": "", "file": str(study / "curves.png")},
                ],
            }
        ],
        "hyperparameters": {
            "id": "hyperparameters",
            "macro": "hyperparameters",
            "number": "Table 1",
            "file": str(tmp_path / "hyper.csv"),
            "study": "s",
            "variant": "a",
            "run_dir": "r",
        },
        "published": str(tmp_path / "published.csv"),
        "benchmarks": [],
    }
    write_published(tmp_path / "published.yaml", [StudyRuns.from_csv(runs_csv)], tmp_path / "published.csv")
    out = tmp_path / "report.html"
    render_report(spec, out)
    html = out.read_text()
    assert '<td class="num">71.17 ± 1.26 (3)</td>' in html  # final test acc of a
    assert '<td class="num">60.00</td>' in html  # b: one seed, no ±
    assert "1 of 2 (first at step 17)" in html  # c's diverged column
    assert '<td class="num">0.8000</td>' in html  # c's best test loss: one value of its two seeds
    assert "sample standard deviation" in html and "over 3 seeds (0, 1, 2)" in html
    assert "mean over 3 seeds, band = min to max over seeds" in html
    # published vs reproduced: both kinds of entry
    assert "71.17 ± 1.3 (3)" in html and "+-2.33" not in html and "-2.33" in html
    assert "<td>yes</td>" in html and "<td>n/a (1 seed)</td>" in html
    assert "diverged in 1 of 2 seeds" in html and "diverged (non-finite loss)" in html
    assert "|published − mean| ≤ 2 sd" in html
