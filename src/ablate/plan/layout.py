"""The plan as files: each run's identity and the lengths it trains to, the dataset's identity (write_plan_files)
and the runtime settings jobs read (write_if_changed), written at parse time; each study's membership table,
written by a job of workflow/rules/plan.smk. The other stages' outputs are theirs: ablate.data.layout, ablate.rundir,
ablate.analysis.layout, ablate.report.spec. Torch-free: the workflow reads this at parse time.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from ablate import rundir, trajectory
from ablate.errors import DamagedRun

if TYPE_CHECKING:
    from ablate.plan.runs import Plan

RUN_CONFIG = "results/plan/runs/{run}.json"  # its identity (ablate.trajectory): never rewritten
# the length a train job takes the run to, and the member lengths it keeps weights at (ablate.trajectory)
RUN_LENGTH = "results/plan/lengths/{run}/epochs{epochs}.json"
DATASET_IDENTITY = "results/plan/data/{dataset}.json"
RUNTIME_SETTINGS = "results/runtime.json"
STUDY_RUNS = "results/studies/{study}/runs.csv"  # membership: variant, seed -> run

MEMBER_COLUMNS = ("study", "variant", "seed", "run", "epochs", "run_dir")


def write_members(members: Iterable[Mapping], path: str | Path) -> None:
    """A study's membership table (results/studies/<study>/runs.csv): one row per variant and seed."""

    def dump(tmp: Path) -> None:
        with open(tmp, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=MEMBER_COLUMNS, lineterminator="\n")
            writer.writeheader()
            writer.writerows(members)

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    rundir.write_atomic(path, dump)


def write_once(path: str | Path, payload: Mapping | list) -> None:
    """Write a file named by its content, unless it exists: it is never rewritten, so its readers take it `ancient`
    and a new name is what makes them run."""
    path = Path(path)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        rundir.write_json(path, payload)


def write_if_changed(path: str | Path, payload: Mapping | list) -> None:
    """Write a file whose readers all take it `ancient` (they read it when they run, a change reruns none of
    them), only where what it holds changed."""
    path = Path(path)
    text = rundir.json_text(payload)
    if not path.exists() or path.read_text() != text:
        path.parent.mkdir(parents=True, exist_ok=True)
        rundir.write_atomic(path, lambda tmp: tmp.write_text(text))


def finished_damage(run_dir: str) -> str | None:
    """rundir.damage of a finished run (one with metrics.json); None for any other."""
    return rundir.damage(run_dir) if Path(run_dir, rundir.METRICS).exists() else None


def write_plan_files(plan: Plan, dataset: Mapping, dataset_name: str) -> dict[str, tuple[str, bool]]:
    """The plan's files that are named by their content, written at parse time by the Snakemake process (no job
    per file: the plan exists there already), dry runs included, each once: every run's identity (RUN_CONFIG),
    the length file its train job reads, and the dataset's identity (DATASET_IDENTITY, named `dataset_name`).

    A finished run whose files disagree (rundir.damage) stops it: such a run never feeds a report.

    Returns run -> (its length file, whether it is new work): the file of the plan's length where the run's
    finished state falls short of it (it trains, grows or resumes), else that of the length it was trained to
    (a lowered length trains nothing; ablate.trajectory.length_to_train)."""
    write_once(DATASET_IDENTITY.format(dataset=dataset_name), dataset)
    damaged = {run.dir: problem for run in plan.runs.values() if (problem := finished_damage(run.dir))}
    if damaged:
        raise DamagedRun(
            "; ".join(f"{run_dir} is damaged: {problem}" for run_dir, problem in damaged.items())
            + ". Nothing reads a damaged run: remove it with "
            + " && ".join(rundir.RETRAIN.format(run_dir=run_dir) for run_dir in damaged)
            + ", which prints the snakemake command that trains it again"
        )
    lengths = {}
    for run in plan.runs.values():
        write_once(RUN_CONFIG.format(run=run.id), run.config)
        epochs, grows = trajectory.length_to_train(run.dir, run.epochs)
        path = RUN_LENGTH.format(run=run.id, epochs=epochs)
        # the member lengths it keeps weights at, as the plan has them when the file is written
        write_once(path, {"epochs": epochs, "weights_at": [e for e in run.member_epochs if e <= epochs]})
        lengths[run.id] = (path, grows)
    return lengths
