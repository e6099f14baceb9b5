"""Tables from run directories: study membership, per-study summaries (T2, T3), Table 1, published values."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from ablate import rundir


def read_members(runs_csv: Path) -> pd.DataFrame:
    return pd.read_csv(runs_csv, dtype={"variant": str, "study": str})


def histories(runs_csv: Path) -> pd.DataFrame:
    """Every epoch of every member of a study: the history columns plus variant, seed and run."""
    frames = []
    for member in read_members(runs_csv).itertuples():
        history = rundir.read_history(member.run_dir)
        frames.append(history.assign(variant=member.variant, seed=member.seed, run=member.run))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def member_results(runs_csv: Path) -> pd.DataFrame:
    """One row per member: what its config says and what its metrics say."""
    rows = []
    for member in read_members(runs_csv).itertuples():
        run_dir = Path(member.run_dir)
        config, metrics = rundir.read_config(run_dir), rundir.read_metrics(run_dir)
        rows.append(
            {
                "variant": member.variant,
                "seed": member.seed,
                "run": member.run,
                "model": config["model"],
                "parameters": metrics["parameters"],
                "epochs": config["epochs"],
                "batch_size": config["batch_size"],
                "optimizer": config["optimizer"]["name"],
                "lr": config["optimizer"]["lr"],
                "loss": config["loss"],
                "activation": config["activation"],
                "seconds_per_epoch": metrics["seconds_per_epoch"],
                "images_per_second": metrics["images_per_second"],
                "best_test_acc": metrics["best_test_acc"],
                "final_test_acc": metrics["final_test_acc"],
                "best_test_loss": metrics["best_test_loss"],
                "diverged": metrics["diverged"],
                "diverged_step": metrics["diverged_step"],
                "epochs_completed": metrics["epochs_completed"],
                "device": metrics["device"],
            }
        )
    return pd.DataFrame(rows)


MEASURED = ["seconds_per_epoch", "images_per_second", "best_test_acc", "final_test_acc", "best_test_loss"]


def study_summary(runs_csv: Path) -> pd.DataFrame:
    """Per variant, in config order: settings, size, then speed and accuracy over seeds.

    Every measured column `<col>` is the mean over the seeds that have a value, `<col>_sd` the sample standard
    deviation (ddof=1; NaN for one value) and `<col>_n` how many values there are (fewer than `seeds` where a
    run diverged before it had one).
    """
    results = member_results(runs_csv)
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


def write_study_summary(runs_csv: Path, out: Path) -> None:
    study_summary(runs_csv).to_csv(out, index=False)


def hyperparameters(config: Mapping) -> list[tuple[str, str]]:
    """Table 1: the settings of one run, in the words of the original report."""
    optimizer = config["optimizer"]
    extras = ", ".join(f"{k}={v}" for k, v in optimizer.items() if k not in ("name", "lr", "weight_decay"))
    scheduler = config["scheduler"]
    return [
        ("model", config["model"]),
        ("epochs", str(config["epochs"])),
        ("batch size", str(config["batch_size"])),
        ("learning rate", f"{optimizer['lr']:g}"),
        ("weight decay", f"{optimizer.get('weight_decay', 0.0):g}"),
        ("activation function", config["activation"]),
        ("optimizer", f"{optimizer['name']} ({extras})" if extras else optimizer["name"]),
        (
            "learning-rate schedule",
            ", ".join(f"{k}={v}" for k, v in scheduler.items()) if len(scheduler) > 1 else scheduler["name"],
        ),
        ("loss", config["loss"]),
        ("data augmentation", "random crop (padding 4) + horizontal flip" if config["augment"] else "none"),
        ("dropout probability", f"{config['dropout']:g}" if config["dropout"] else "no dropout"),
        ("normalisation", f"mean {config['normalize']['mean']}, std {config['normalize']['std']}"),
        ("precision policy", config["precision"]),
        ("seed", str(config["seed"])),
        (
            "dataset",
            f"{config['dataset']['id']} (train {config['dataset']['train_samples'] or 'all'}, "
            f"test {config['dataset']['test_samples'] or 'all'})",
        ),
    ]


def write_hyperparameters(run_config: Path, out: Path) -> None:
    rows = hyperparameters(rundir.read_json(run_config))
    pd.DataFrame(rows, columns=["hyperparameter", "value"]).to_csv(out, index=False)


def reproduced_values(spec: Mapping, runs_csv: Path) -> list:
    """Per seed, the reproduction's counterpart of one published number (see config/published.yaml).

    Numbers for a metric of metrics.json or of an epoch of history.csv (seeds without a value left out);
    for `metric: diverged`, every seed's `diverged` flag.
    """
    members = read_members(runs_csv)
    members = members[members["variant"] == str(spec["variant"])]
    metric = spec["metric"]
    if metric in ("test_acc_at_epoch", "test_loss_at_epoch"):
        values = []
        for member in members.itertuples():
            history = rundir.read_history(member.run_dir)
            row = history[history["epoch"] == spec["epoch"]]
            if not row.empty:
                values.append(float(row[metric.removesuffix("_at_epoch")].iloc[0]))
    else:
        values = [rundir.read_metrics(run_dir)[metric] for run_dir in members["run_dir"]]
    if metric == "diverged":
        return [bool(v) for v in values]
    return [float(v) for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]


def _spread(values: Sequence[float]) -> tuple[float | None, float | None]:
    """Mean and sample standard deviation (ddof=1; None for fewer than two values)."""
    if not values:
        return None, None
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, None
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


def published_comparison(published: Sequence[Mapping], runs_csvs: Mapping[str, Path]) -> list[dict]:
    """Every published number beside ours (mean ± sd over seeds); published losses converted to per-sample.

    `within` is "yes" when ours has at least two seeds and the published (per-sample) value lies within two
    sample standard deviations of our mean, "no" when not, "n/a (1 seed)" with one seed. For `metric: diverged`
    (value true: the original saw non-finite losses) it is "yes" when at least one of our seeds did the same.
    """
    rows = []
    for entry in published:
        compare = entry["compare"]
        runs_csv = runs_csvs.get(compare["study"])
        values = reproduced_values(compare, runs_csv) if runs_csv else []
        row = {
            "section": str(entry["section"]),
            "quantity": entry["quantity"],
            "source": entry["source"],
            "unit": entry.get("unit", ""),
            "study": compare["study"],
            "where": f"{compare['study']}/{compare['variant']}"
            + (f" epoch {compare['epoch']}" if "epoch" in compare else ""),
            "n": len(values),
            "values": values,
        }
        if compare["metric"] == "diverged":
            published_diverged = bool(entry["value"])
            diverged = sum(values)
            # some seed of ours did what the original's run did (diverged, or trained through)
            matched = diverged if published_diverged else len(values) - diverged
            row.update(
                kind="diverged",
                published=published_diverged,
                published_per_sample=None,
                diverged=diverged,
                reproduced=None,
                sd=None,
                difference=None,
                within=("yes" if matched else "no") if values else None,
            )
            rows.append(row)
            continue
        value = float(entry["value"])
        converted = value * float(entry.get("scale", 1.0))
        if compare["metric"] == "parameters":
            values = [v / 1e6 for v in values]
            row["values"] = values
        mean, sd = _spread(values)
        if mean is None:
            within = None
        elif sd is None:
            within = "n/a (1 seed)"
        else:
            within = "yes" if abs(converted - mean) <= 2 * sd else "no"
        row.update(
            kind="number",
            published=value,
            published_per_sample=converted if "scale" in entry else None,
            reproduced=mean,
            sd=sd,
            difference=None if mean is None else mean - converted,
            within=within,
        )
        rows.append(row)
    return rows
