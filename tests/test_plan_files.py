"""The plan's files written at parse time (ablate.plan.layout): those named by their content once and never again,
results/runtime.json only where it changed, and the length file each train job reads."""

from __future__ import annotations

import os

from ablate import rundir
from ablate.plan.config import validated
from ablate.plan.layout import DATASET_IDENTITY, RUN_CONFIG, RUN_LENGTH, write_if_changed, write_plan_files
from ablate.plan.runs import make_plan

from conftest import synthetic_config


def plan_of(epochs: dict[str, int]):
    """One study whose variants differ only in length: one trajectory (constant learning rate)."""
    config = synthetic_config()
    config["studies"]["s"]["variants"] = {name: {"epochs": n} for name, n in epochs.items()}
    return make_plan(validated(config, check_paths=False))


def test_each_run_gets_its_config_and_the_length_file_of_its_longest_member(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    plan = plan_of({"a": 2, "b": 3})
    (run,) = plan.runs.values()
    lengths = write_plan_files(plan, {"name": "synthetic"}, "synthetic-0123456789")
    assert lengths == {run.id: (RUN_LENGTH.format(run=run.id, epochs=3), True)}  # never trained: new work
    assert rundir.read_json(RUN_CONFIG.format(run=run.id)) == run.config
    assert rundir.read_json(lengths[run.id][0]) == {"epochs": 3, "weights_at": [2, 3]}
    assert rundir.read_json(DATASET_IDENTITY.format(dataset="synthetic-0123456789")) == {"name": "synthetic"}


def test_a_file_named_by_its_content_is_never_rewritten(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    plan = plan_of({"a": 2})
    write_plan_files(plan, {"name": "synthetic"}, "synthetic-0123456789")
    files = sorted(p for p in tmp_path.rglob("*.json"))
    for path in files:
        os.utime(path, (1_000_000, 1_000_000))
    write_plan_files(plan, {"name": "synthetic"}, "synthetic-0123456789")
    assert [p.stat().st_mtime for p in files] == [1_000_000] * len(files)


def test_a_finished_run_that_covers_the_plan_reads_its_own_length_and_is_no_new_work(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    plan = plan_of({"a": 2})
    (run,) = plan.runs.values()
    os.makedirs(run.dir)
    rundir.write_json(f"{run.dir}/{rundir.PROGRESS}", {"finished": True, "epochs": 4, "epochs_completed": 4})
    lengths = write_plan_files(plan, {"name": "synthetic"}, "synthetic-0123456789")
    assert lengths[run.id] == (RUN_LENGTH.format(run=run.id, epochs=4), False)  # lowered: trains nothing
    raised = plan_of({"a": 6})
    assert write_plan_files(raised, {"name": "synthetic"}, "synthetic-0123456789")[run.id] == (
        RUN_LENGTH.format(run=run.id, epochs=6),
        True,  # raised: it grows
    )


def test_runtime_settings_are_rewritten_only_where_they_changed(tmp_path):
    path = tmp_path / "runtime.json"
    write_if_changed(path, {"device": "cpu"})
    os.utime(path, (1_000_000, 1_000_000))
    write_if_changed(path, {"device": "cpu"})
    assert path.stat().st_mtime == 1_000_000
    write_if_changed(path, {"device": "cuda"})
    assert rundir.read_json(path) == {"device": "cuda"} and path.stat().st_mtime > 1_000_000
