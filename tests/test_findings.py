"""The findings' rules (ablate.analysis.findings) on constructed data: a case for each verdict and for each reason
a claim is not established; and a findings table from constructed run files. Selected by `pytest -k findings`."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from ablate.analysis.claims import findings_table
from ablate.analysis.findings import FAILS, HOLDS, MIN_SEEDS, OPEN, Evidence, best_of, compare
from ablate.analysis.members import StudyRuns

LOW = Evidence.of([1.0, 1.1, 0.9])
HIGH = Evidence.of([2.0, 2.1, 1.9])


def test_findings_holds_where_the_bands_are_apart_on_the_claimed_side():
    found = compare(LOW, HIGH, "lower")
    assert found == compare(HIGH, LOW, "higher") and found.verdict == HOLDS and found.reason == ""


def test_findings_does_not_hold_where_the_bands_are_apart_on_the_other_side():
    assert compare(HIGH, LOW, "lower").verdict == FAILS
    assert compare(LOW, HIGH, "higher").verdict == FAILS


def test_findings_not_established_where_the_seed_spreads_overlap():
    wide = Evidence.of([0.5, 1.5, 2.5])  # mean 1.5 ± 1.0 reaches into HIGH's band
    found = compare(wide, HIGH, "lower")
    assert found.verdict == OPEN and found.reason == "seed spreads overlap"


def test_findings_not_established_with_too_few_seeds():
    found = compare(Evidence.of([1.0, 1.1]), HIGH, "lower")  # apart, but two seeds
    assert found.verdict == OPEN and found.reason.startswith("too few seeds (n = 2 and 3")
    assert MIN_SEEDS == 3


def test_findings_not_established_where_a_probe_did_not_converge():
    loose = Evidence.of([(1.0, 1.01), (1.1, 1.11), (0.9, 0.91)], converged=False)
    found = compare(loose, HIGH, "lower")
    assert found.verdict == OPEN and found.reason.startswith("unconverged probes")


def test_findings_not_established_where_the_probe_intervals_overlap():
    """The points are apart (1 against 2, sd 0), but the certified intervals [θ, θ + r] reach across."""
    claimed = Evidence.of([(1.0, 2.5)] * 3)
    other = Evidence.of([(2.0, 2.2)] * 3)
    found = compare(claimed, other, "lower")
    assert found.verdict == OPEN and found.reason == "probe intervals overlap"
    assert compare(Evidence.of([(1.0, 1.5)] * 3), other, "lower").verdict == HOLDS  # narrower: apart


def test_findings_on_toy_data_are_not_established_and_say_what_the_rules_would():
    found = compare(LOW, HIGH, "lower", toy="synthetic data")
    assert found.verdict == OPEN and found.reason == "toy data; on these numbers the rules say holds"
    few = compare(Evidence.of([1.0]), HIGH, "lower", toy="synthetic data")
    assert few.verdict == OPEN and "the rules say not established: too few seeds" in few.reason


def test_findings_best_of_several():
    others = {"b": HIGH, "c": Evidence.of([3.0, 3.1, 2.9])}
    assert best_of(LOW, others, "lower").verdict == HOLDS
    beaten = best_of(HIGH, {"a": LOW, "c": others["c"]}, "lower")
    assert beaten.verdict == FAILS and beaten.reason.startswith("a ")
    close = best_of(LOW, {"b": HIGH, "d": Evidence.of([0.8, 1.2, 1.0])}, "lower")
    assert close.verdict == OPEN and close.reason == "against d: seed spreads overlap"


def test_findings_evidence_drops_values_that_are_not_finite_and_reads_as_mean_sd_n():
    evidence = Evidence.of([1.0, math.nan, 3.0, math.inf])
    assert evidence.n == 2 and evidence.text() == "2 ± 1.4 (2)"
    assert Evidence.of([]).text() == "—" and Evidence.of([0.5]).text() == "0.5"


def vgg_study(root, rises: dict[str, list[float]]) -> StudyRuns:
    """A `vgg` study whose runs' test losses fall to 1.0 and end `rise` above it, one run per variant and seed."""
    rows, files = [], []
    for variant, per_seed in rises.items():
        for seed, rise in enumerate(per_seed):
            run = f"{variant}-{seed:010d}"
            run_dir = root / run
            run_dir.mkdir(parents=True)
            (run_dir / "config.json").write_text(json.dumps({"model": variant}))
            losses = [2.0, 1.0, 1.0 + rise]
            pd.DataFrame({"epoch": [1, 2, 3], "train_loss": losses, "test_loss": losses}).to_csv(
                run_dir / "history.csv", index=False
            )
            files += [run_dir / "config.json", run_dir / "history.csv"]
            rows.append({"study": "vgg", "variant": variant, "seed": seed, "run": run, "epochs": 3, "run_dir": run_dir})
    runs = root / "studies/vgg/runs.csv"
    runs.parent.mkdir(parents=True)
    pd.DataFrame(rows).to_csv(runs, index=False)
    return StudyRuns.from_inputs(runs, files)


@pytest.mark.parametrize(
    ("rises", "toy", "verdict"),
    [
        ({"vgg_a": [0.5, 0.6, 0.55], "vgg_a_dropout": [0.0, 0.05, 0.02]}, "", HOLDS),
        ({"vgg_a": [0.0, 0.05, 0.02], "vgg_a_dropout": [0.5, 0.6, 0.55]}, "", FAILS),
        ({"vgg_a": [0.5, 0.6, 0.55], "vgg_a_dropout": [0.0, 0.05, 0.02]}, "synthetic data", OPEN),
    ],
)
def test_findings_table_from_run_files(tmp_path, rises, toy, verdict):
    table = findings_table({"vgg": vgg_study(tmp_path, rises)}, {}, toy)
    assert list(table["id"]) == ["dropout"]  # the one claim of the vgg study; the others' studies are not here
    row = table.iloc[0]
    assert row["verdict"] == verdict and row["figure"] == "curves-vgg"
    assert row["quote"] == "Implementing Dropout does have a benefit against overfitting."
    assert row["than"] == "vgg_a" and row["claimed_value"].endswith("(3)")


def test_findings_leave_out_a_claim_whose_measure_the_runs_do_not_record(tmp_path):
    """A landscape study trained without the step_loss probe: Figure 13's loss-variance row is left out (as a claim
    whose groups the config does not train), the rows its history gives stay."""
    rows, files = [], []
    for model in ("vgg_a", "vgg_a_bn"):
        run = f"{model}-{0:010d}"
        run_dir = tmp_path / run
        run_dir.mkdir()
        (run_dir / "config.json").write_text(json.dumps({"model": model}))
        pd.DataFrame({"epoch": [1, 2], "train_loss": [2.0, 1.5], "test_loss": [2.0, 1.6]}).to_csv(
            run_dir / "history.csv", index=False
        )
        pd.DataFrame({"epoch": [1, 2], "step": [1, 2]}).to_csv(run_dir / "steps.csv", index=False)  # no probes
        files += [run_dir / name for name in ("config.json", "history.csv", "steps.csv")]
        rows.append({"study": "landscape", "variant": model, "seed": 0, "run": run, "epochs": 2, "run_dir": run_dir})
    runs = tmp_path / "studies/landscape/runs.csv"
    runs.parent.mkdir(parents=True)
    pd.DataFrame(rows).to_csv(runs, index=False)
    table = findings_table({"landscape": StudyRuns.from_inputs(runs, files)}, {}, "synthetic data")
    assert "loss_variance" not in set(table["id"]) and "faster" in set(table["id"])
