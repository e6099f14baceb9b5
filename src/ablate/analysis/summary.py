"""A study's per-variant table (Tables 2 and 3): settings, size, speed and accuracy, mean ± sd over seeds."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ablate.analysis.members import StudyRuns, member_results

MEASURED = ["seconds_per_epoch", "images_per_second", "best_test_acc", "final_test_acc", "best_test_loss"]


def study_summary(study: StudyRuns) -> pd.DataFrame:
    """Per variant, in config order: settings, size, then speed and accuracy over seeds.

    Every measured column `<col>` is the mean over the seeds that have a value, `<col>_sd` the sample standard
    deviation (ddof=1; NaN for one value) and `<col>_n` how many values there are (fewer than `seeds` where a
    run diverged before it had one).
    """
    results = member_results(study)
    order = list(dict.fromkeys(results["variant"]))
    fixed = ["model", "parameters", "epochs", "batch_size", "optimizer", "lr", "loss", "activation"]
    results[MEASURED] = results[MEASURED].astype(float)  # None (no epoch finished) -> NaN
    grouped = results.groupby("variant", sort=False)
    summary = grouped[fixed].first()
    means, sds, counts = grouped[MEASURED].mean(), grouped[MEASURED].std(ddof=1), grouped[MEASURED].count()
    for column in MEASURED:
        summary[column] = means[column]
        summary[f"{column}_sd"] = sds[column]
        summary[f"{column}_n"] = counts[column]
    summary["seeds"] = grouped["seed"].count()
    summary["diverged"] = grouped["diverged"].sum().astype(int)
    summary["diverged_step"] = grouped["diverged_step"].min()
    summary["runs"] = grouped["run"].agg(" ".join)
    return summary.loc[order].reset_index()


def write_study_summary(study: StudyRuns, out: Path) -> None:
    study_summary(study).to_csv(out, index=False)
