"""A study's members and the run files its rule declared: what every per-study analysis reads.

results/studies/<study>/runs.csv says which run each variant and seed is, and its epochs: a member reads its
prefix of the run's trajectory (ablate.trajectory), never the epochs after. The rule that reads a study
declares the run files it needs (workflow/rules/analysis.smk) and hands exactly those paths to its script.
`StudyRuns` pairs the two, so an analysis reads the files Snakemake tracks and no others: a run file that
was not declared is an error, never a silent read.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ablate import rundir, trajectory


def read_members(runs_csv: Path) -> pd.DataFrame:
    """runs.csv: study, variant, seed, run, epochs, run_dir (variant names stay strings: "0.5" is not a number)."""
    return pd.read_csv(runs_csv, dtype={"variant": str, "study": str})


@dataclass(frozen=True)
class StudyRuns:
    """A study's membership table with the declared files of its runs (run id -> file name -> path)."""

    name: str
    members: pd.DataFrame
    files: dict[str, dict[str, Path]]

    @classmethod
    def from_inputs(cls, runs_csv: str | Path, files: Iterable[str | Path]) -> StudyRuns:
        """The study of `runs_csv` (results/studies/<study>/runs.csv) with `files`, each a run file
        (results/runs/<run>/<name>); every run the table lists must have some."""
        runs_csv = Path(runs_csv)
        by_run: dict[str, dict[str, Path]] = {}
        for path in map(Path, files):
            by_run.setdefault(path.parent.name, {})[path.name] = path
        members = read_members(runs_csv)
        missing = sorted(set(members["run"]) - set(by_run))
        if missing:
            raise ValueError(f"{runs_csv} lists runs whose files were not declared as inputs: {', '.join(missing)}")
        return cls(runs_csv.parent.name, members, by_run)

    @classmethod
    def from_csv(cls, runs_csv: str | Path) -> StudyRuns:
        """The study of `runs_csv` with every file of its run directories (its run_dir column): for reading a
        study outside the workflow (a notebook, the tests), where no rule declares the files."""
        members = read_members(Path(runs_csv))
        files = [path for run_dir in members["run_dir"].unique() for path in Path(run_dir).iterdir()]
        return cls.from_inputs(runs_csv, files)

    def file(self, run: str, name: str) -> Path:
        """The declared path of run `run`'s file `name` (rundir.CONFIG, METRICS, HISTORY, STEPS, ...)."""
        try:
            return self.files[run][name]
        except KeyError:
            raise ValueError(f"study {self.name}: {name} of run {run} was not declared as an input") from None

    def config(self, run: str, epochs: int) -> dict:
        """A member's config: its run's, with its `epochs`."""
        return trajectory.at_length(rundir.read_json(self.file(run, rundir.CONFIG)), epochs)

    def metrics(self, run: str, epochs: int) -> dict:
        """A member's metrics: final and best within its epochs (needs the run's history.csv declared too)."""
        run_metrics = rundir.read_json(self.file(run, rundir.METRICS))
        return trajectory.member_metrics(run_metrics, pd.read_csv(self.file(run, rundir.HISTORY)), int(epochs))

    def history(self, run: str, epochs: int) -> pd.DataFrame:
        """A member's rows of history.csv: its first `epochs`."""
        return trajectory.history_prefix(pd.read_csv(self.file(run, rundir.HISTORY)), int(epochs))

    def steps(self, run: str, epochs: int) -> pd.DataFrame:
        """A member's rows of steps.csv: the steps of its first `epochs`."""
        return trajectory.steps_prefix(pd.read_csv(self.file(run, rundir.STEPS)), int(epochs))


def longest_members(study: StudyRuns) -> pd.DataFrame:
    """One member per run: the one that reads the most of its trajectory (the per-step analyses show a run once)."""
    members = study.members.sort_values("epochs", ascending=False, kind="stable").drop_duplicates("run")
    return members.sort_index()


def histories(study: StudyRuns) -> pd.DataFrame:
    """Every epoch of every member of a study: the history columns plus variant, seed and run."""
    frames = [
        study.history(member.run, member.epochs).assign(variant=member.variant, seed=member.seed, run=member.run)
        for member in study.members.itertuples()
    ]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def member_results(study: StudyRuns) -> pd.DataFrame:
    """One row per member: what its config says and what its metrics say."""
    rows = []
    for member in study.members.itertuples():
        config, metrics = study.config(member.run, member.epochs), study.metrics(member.run, member.epochs)
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
