"""A full disk, on real small file systems (tmpfs, as root; where mounting is not allowed the free-space query is
monkeypatched, or the test is skipped where it needs real writes to fail): the check before a run trains counts
what a save really holds, runs that start together are checked again before each save, and a failed write
leaves no temporary file. Nothing a run saved before is lost."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch
from test_failures import CONFIG, EVAL_BATCH, checkpoint_after_one_epoch
from test_train import TRAIN_SCRIPT, config_file, quiet, run_config

from ablate.errors import NotEnoughSpace
from ablate.training import space
from ablate.training.trainer import Runtime, Trainer, train_run

from conftest import tool_env

FULL_WIDTH = {**CONFIG, "width": 1.0}  # the basic CNN at full width: a 4.4 MB checkpoint, 2.2 MB of weights


@contextmanager
def tmpfs(path: Path, size: str) -> Iterator[bool]:
    """A small file system at `path` (as root); yields False where mounting is not allowed (`path` is then a
    plain folder)."""
    path.mkdir(parents=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True)
    try:
        yield mounted.returncode == 0
    finally:
        if mounted.returncode == 0:
            subprocess.run(["umount", str(path)], check=True)


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*.tmp"))


@pytest.mark.slow
def test_a_full_disk_stops_the_run_before_it_trains(tmp_path, monkeypatch):
    """On an 8 MB tmpfs: a run that has its checkpoint there stops with one message naming the numbers and the
    path; the checkpoint stays as it was."""
    config = run_config(**FULL_WIDTH)
    made = checkpoint_after_one_epoch(config, tmp_path / "elsewhere")
    with tmpfs(tmp_path / "disk", "8m") as mounted:
        if not mounted:
            usage = shutil.disk_usage(tmp_path)
            free = 8 * 2**20 - made.stat().st_size
            monkeypatch.setattr(space.shutil, "disk_usage", lambda _: usage._replace(free=free))
        run_dir = tmp_path / "disk/run"
        shutil.copytree(tmp_path / "elsewhere", run_dir)
        before = (run_dir / "checkpoint.pt").read_bytes()
        lines: list[str] = []
        with pytest.raises(NotEnoughSpace) as error:
            train_run(config, run_dir, Runtime(threads=1, eval_batch_size=EVAL_BATCH), lines.append)
        message = str(error.value)
        assert re.fullmatch(
            rf"not enough disk space for run run in {run_dir}: it needs about [\d.]+ MB more at its peak "
            r"\(checkpoint.pt 8.8 MB, weights 2.2 MB\), and 3.\d MB is free there; free some space or move results/ "
            r"to a larger disk, then rerun \(its checkpoint.pt, 4.4 MB, is kept\)",
            message,
        ), message
        assert (run_dir / "checkpoint.pt").read_bytes() == before
        assert not any("epochs to train" in line for line in lines)  # it stopped before training


@pytest.mark.slow
def test_a_run_that_passed_the_old_estimate_by_a_little_stops_before_it_trains(tmp_path):
    """9 MB free: the estimate before counted the checkpoint once (4.4 + 2.2 + 1 MB of slack: 7.6 MB, passed), and
    the run then failed writing its second checkpoint beside the first. Its peak holds both."""
    config = run_config(**FULL_WIDTH)
    with tmpfs(tmp_path / "disk", "9m") as mounted:
        if not mounted:
            pytest.skip("needs a real small file system: mount is not allowed here")
        run_dir = tmp_path / "disk/run"
        run_dir.mkdir()
        trainer = Trainer(config, run_dir, Runtime(threads=1, eval_batch_size=EVAL_BATCH), quiet)
        peak = space.estimate(config, trainer.model, space.steps_of(config, 256), 0)
        free = shutil.disk_usage(run_dir).free
        assert peak["checkpoint.pt"] // 2 + peak["weights"] + space.SLACK < free  # the old estimate: passed
        with pytest.raises(NotEnoughSpace, match=r"it needs about 12.0 MB more at its peak \(checkpoint.pt 8.8 MB"):
            trainer.run()
        assert sorted(p.name for p in run_dir.iterdir()) == []  # nothing written


@pytest.mark.slow
def test_two_runs_started_together_on_one_disk(tmp_path):
    """A 14 MB tmpfs holds one run's peak (12 MB) and both runs' finished files (2 x 6.6 MB), not both peaks: both
    pass the check before training; the checks before each save stop what no longer fits, with one message, no
    temporary file, and each run's last checkpoint whole; with the other run gone, a stopped one resumes and ends."""
    config = run_config(**FULL_WIDTH)
    with tmpfs(tmp_path / "disk", "14m") as mounted:
        if not mounted:
            pytest.skip("needs a real small file system: mount is not allowed here")
        jobs = {}
        for name in ("a", "b"):
            folder = tmp_path / name
            folder.mkdir()
            command = [*TRAIN_SCRIPT, "--run-dir", str(tmp_path / "disk" / name), "--run-config"]
            command += [config_file(folder, config), "--threads", "1", "--eval-batch-size", str(EVAL_BATCH)]
            jobs[name] = (
                command,
                subprocess.Popen(command, env=tool_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True),
            )
        results = {name: (process.wait(timeout=300), process.stderr.read()) for name, (_, process) in jobs.items()}
        stopped = [name for name, (code, _) in results.items() if code != 0]
        assert stopped, results  # both cannot have ended: 2 x 12 MB peaks on 14 MB
        for name in stopped:
            code, stderr = results[name]
            lines = stderr.strip().splitlines()
            assert code == 2 and lines[-1].startswith(f"error: not enough disk space for run {name} in "), stderr
            assert (
                "stopped before writing it, what the run saved before is kept" in lines[-1]
                or "at its peak" in lines[-1]
            )
        assert leftovers(tmp_path / "disk") == []
        for name in jobs:
            checkpoint = tmp_path / "disk" / name / "checkpoint.pt"
            if checkpoint.exists():
                torch.load(checkpoint, weights_only=True)  # whole
        for other in set(jobs) - {stopped[0]}:  # the other run, stopped or ended, moved to a larger disk
            shutil.rmtree(tmp_path / "disk" / other)
        resumed = subprocess.run(jobs[stopped[0]][0], env=tool_env(), capture_output=True, text=True, timeout=300)
        assert resumed.returncode == 0, resumed.stderr
        assert (tmp_path / "disk" / stopped[0] / "metrics.json").exists()


def test_a_failed_write_leaves_no_temporary_file(tmp_path):
    from ablate import rundir

    def half_then_full(tmp: Path) -> None:
        tmp.write_bytes(b"half of it")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError):
        rundir.write_atomic(tmp_path / "checkpoint.pt", half_then_full)
    assert list(tmp_path.iterdir()) == []
    assert space.disk_full(OSError(28, "No space left on device"))
    assert space.disk_full(RuntimeError("PytorchStreamWriter failed writing file data/0: file write failed"))
    assert not space.disk_full(RuntimeError("CUDA error"))


def test_the_estimate_of_what_a_run_writes_is_close(tmp_path):
    """The checkpoint estimate against a real checkpoint (SGD with momentum: weights and one state tensor)."""
    config = run_config(**FULL_WIDTH)
    made = checkpoint_after_one_epoch(config, tmp_path)
    trainer = Trainer(config, tmp_path / "again", Runtime(threads=1), quiet)
    needs = space.estimate(config, trainer.model, space.steps_of(config, 256), 0)
    assert 2 * made.stat().st_size == pytest.approx(needs["checkpoint.pt"], rel=0.02)  # the old one and the new
    assert needs["steps.csv"] == 0  # no probes: a header only
