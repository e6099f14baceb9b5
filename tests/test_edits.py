"""Every config edit is carried out by one snakemake call (tests/edits.yaml, a small workflow with every probe and
the surface). On a finished workflow each edit of a matrix is followed by one call, which runs the jobs the edit
affects; a second call then plans nothing, and in the end the outputs equal those of a fresh workflow run on the
final config. The edits pair a setting whose job reruns above others (the data, a run) with a setting of a job
below it, which Snakemake 9.27.1 missed until the next call (workflow/rules/upstream.smk)."""

from __future__ import annotations

import shlex
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
import yaml

from ablate.plan.config import read_config_files, validated
from ablate.plan.runs import make_plan

from conftest import REPO, copy_workflow, job_counts, snakemake, tool_env

sys.path.insert(0, str(REPO / "bench"))
from compare_runs import differences

pytestmark = pytest.mark.slow
EDITS_CONFIG = "tests/edits.yaml"
CONFIG = ("--configfile", EDITS_CONFIG)
# rules whose outputs are compared with a fresh workflow's, as tables: figures and the report hold the same numbers
COMPARED = ("results/analysis", "results/studies", "results/tables")
TIMINGS = {"seconds_per_epoch", "epoch_seconds", "images_per_second", "wall_seconds", "train_minutes"}
HISTORY_TIMINGS = ("epoch_seconds", "images_per_second")


def edit(workdir: Path, change: Callable[[dict], None]) -> None:
    path = workdir / EDITS_CONFIG
    config = yaml.safe_load(path.read_text())
    change(config)
    path.write_text(yaml.safe_dump(config, sort_keys=False))


def plan_of(workdir: Path):
    return make_plan(validated(read_config_files([workdir / "config/config.yaml", workdir / EDITS_CONFIG])))


def call(workdir: Path, *targets: str) -> dict[str, int]:
    """One snakemake call; the jobs it ran, by rule."""
    result = snakemake(workdir, "--cores", "2", *targets, *CONFIG, timeout=600)
    assert result.returncode == 0, result.stderr[-6000:]
    return job_counts(result.stderr)


def planned(workdir: Path, *targets: str) -> dict[str, int]:
    result = snakemake(workdir, "-n", "--cores", "2", *targets, *CONFIG, timeout=120)
    assert result.returncode == 0, result.stderr[-4000:]
    return job_counts(result.stdout)


def surface_settings(**settings) -> Callable[[dict], None]:
    return lambda config: config["studies"]["santurkar"]["surface"].update(settings)


def both(*changes: Callable[[dict], None]) -> Callable[[dict], None]:
    def change(config: dict) -> None:
        for one in changes:
            one(config)

    return change


def set_execution(config: dict) -> None:
    config["execution"]["eval_batch_size"] = 128


def move_data(config: dict) -> None:
    config["dataset"]["root"] = "data/elsewhere"  # generated data: the data job runs again, nothing retrains


def add_variant(config: dict) -> None:
    config["studies"]["basic"]["variants"]["b"] = {"epochs": 2, "optimizer.lr": 0.01}
    config["report"]["hyperparameters"]["variant"] = "b"


def probe_setting(config: dict) -> None:
    config["studies"]["santurkar"]["curvature"]["max_iter"] = 3  # a probe's setting is part of its runs' identity


SURFACE = {"surface": 2, "surface_figure": 1, "findings": 1}  # findings read the surfaces' summary
REPORT = {"report_spec": 1, "report": 1, "all": 1}
SANTURKAR_RUNS = {"train": 2, "member_weights": 2, "study_runs": 1, "study_summary": 1, "study_curves": 1}
PROBE_ANALYSES = {"probe_envelope": 5, "beta_vs_curvature": 1, "hessian_density": 1}
EDITS = [
    # (what, change, the jobs the one call runs)
    ("an execution and a surface setting", both(set_execution, surface_settings(points=5)), SURFACE | REPORT),
    (
        "the data's root and a surface setting",
        both(move_data, surface_settings(path_points=5)),
        {"dataset": 1} | SURFACE | REPORT,
    ),
    (
        "a variant and a report setting",
        add_variant,
        {"train": 1, "study_runs": 1, "study_summary": 1, "study_curves": 1, "hyperparameters": 1} | REPORT,
    ),
    ("a probe setting alone", probe_setting, SANTURKAR_RUNS | PROBE_ANALYSES | SURFACE | REPORT),
]


def test_each_edit_takes_one_call_and_ends_where_a_fresh_workflow_does(tmp_path):
    workdir = copy_workflow(tmp_path / "edited")
    assert call(workdir)["train"] == 3
    assert planned(workdir) == {}
    for what, change, reruns in EDITS:
        edit(workdir, change)
        assert call(workdir) == reruns, what
        assert planned(workdir) == {}, f"{what}: a second call still has work"

    # a target naming one run: its train job alone (it grows), then the rest at the next full call
    edit(workdir, lambda config: config["studies"]["basic"]["variants"]["a"].update(epochs=3))
    metrics = f"results/runs/{plan_of(workdir).run_of('basic', 'a', 0).id}/metrics.json"
    assert call(workdir, metrics) == {"train": 1}
    assert planned(workdir, metrics) == {}
    assert call(workdir) == {"study_runs": 1, "study_summary": 1, "study_curves": 1} | REPORT
    assert planned(workdir) == {}

    # retraining a run that works (docs/config.md): its train job, its weights and all that reads them, one call
    [bn_run] = [run for run in plan_of(workdir).runs.values() if run.config["model"] == "vgg_a_bn"]
    retrain = subprocess.run(
        [sys.executable, "-m", "ablate", "retrain", bn_run.dir, "--configfile", EDITS_CONFIG],
        cwd=workdir,
        env=tool_env(),
        capture_output=True,
        text=True,
    )
    assert retrain.returncode == 0, retrain.stderr
    printed = shlex.split(retrain.stdout.splitlines()[-1])  # snakemake --cores all --configfile ... --forcerun ...
    result = snakemake(workdir, *printed[1:], timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    assert job_counts(result.stderr) == {
        "train": 1,
        "member_weights": 1,
        "surface": 1,
        "surface_figure": 1,
        "probe_envelope": 5,
        "beta_vs_curvature": 1,
        "hessian_density": 1,
        "findings": 1,
        "study_summary": 1,
        "study_curves": 1,
        "report": 1,
        "all": 1,
    }
    assert planned(workdir) == {}

    fresh = copy_workflow(tmp_path / "fresh")
    (fresh / EDITS_CONFIG).write_text((workdir / EDITS_CONFIG).read_text())
    call(fresh)
    for run in sorted(p.name for p in (fresh / "results/runs").iterdir()):
        one, other = fresh / "results/runs" / run, workdir / "results/runs" / run
        assert [line for line in differences(one, other) if not line.endswith("history.csv")] == []
        # epochs evaluated before the eval_batch_size edit: their test loss rounded in another order
        history, history_ = (pd.read_csv(d / "history.csv").drop(columns=list(HISTORY_TIMINGS)) for d in (one, other))
        pd.testing.assert_frame_equal(history.drop(columns="test_loss"), history_.drop(columns="test_loss"), obj=run)
        pd.testing.assert_series_equal(history["test_loss"], history_["test_loss"], rtol=1e-6, check_exact=False)
    assert_same_tables(fresh, workdir)


def assert_same_tables(fresh: Path, edited: Path) -> None:
    """Every table and JSON output of the analyses: the same files, the same numbers (timings aside)."""
    for folder in COMPARED:  # the edited workflow also keeps the outputs of runs its config no longer has
        for name in sorted(p.relative_to(fresh) for p in (fresh / folder).rglob("*") if p.suffix in (".csv", ".json")):
            if name.suffix == ".csv":
                one, other = pd.read_csv(fresh / name), pd.read_csv(edited / name)
                kept = [c for c in one.columns if c not in TIMINGS]
                pd.testing.assert_frame_equal(one[kept], other[kept], obj=str(name))
            else:
                assert (fresh / name).read_text() == (edited / name).read_text(), name
