"""When things go wrong on a real machine: CUDA out of memory on a shared GPU (injected, on simulated GPUs), a
damaged checkpoint (a full disk: tests/test_full_disk.py). Each test checks what the user sees (the log lines)
and that the numbers are those of an uninterrupted run."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
from test_train import RESULT_COLUMNS, TRAIN_SCRIPT, config_file, quiet, run_config

from ablate.execution.claims import claim
from ablate.execution.memory import train_memory_mb
from ablate.execution.pool import GpuPool
from ablate.training.trainer import Runtime, Trainer, train_run

from conftest import tool_env

# dropout and augmentation draw random numbers every step: a resume must restore every generator
CONFIG = {"epochs": 3, "augment": True, "dropout": 0.5, "optimizer": {"lr": 0.01}}
EVAL_BATCH = 128


def same_numbers(run_dir: Path, reference: Path) -> None:
    """history.csv (all but the timings) and model.pt, bit for bit."""
    pd.testing.assert_frame_equal(
        pd.read_csv(run_dir / "history.csv")[RESULT_COLUMNS],
        pd.read_csv(reference / "history.csv")[RESULT_COLUMNS],
        check_exact=True,
    )
    ours, theirs = (torch.load(d / "model.pt", weights_only=True) for d in (run_dir, reference))
    assert ours.keys() == theirs.keys() and all(torch.equal(ours[k], theirs[k]) for k in ours)


def train_cli(
    folder: Path, config: dict, run_dir: Path, runtime: dict | None, env: dict
) -> subprocess.CompletedProcess:
    """The train rule's entry script in `folder` (where .snakemake/gpu-slots is), logging to run.log."""
    command = [*TRAIN_SCRIPT, "--run-dir", str(run_dir), "--run-config", config_file(folder, config), "--threads", "1"]
    if runtime is not None:
        (folder / "runtime.json").write_text(json.dumps(runtime))
        command += ["--runtime", str(folder / "runtime.json")]
    command += ["--log", str(folder / "run.log"), "--eval-batch-size", str(EVAL_BATCH)]
    return subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """The uninterrupted CPU run of CONFIG."""
    folder = tmp_path_factory.mktemp("reference")
    result = train_cli(folder, run_config(**CONFIG), folder / "run", None, tool_env())
    assert result.returncode == 0, result.stderr
    return folder / "run"


def simulated_gpu(config: dict) -> dict:
    """results/runtime.json on one simulated GPU of two slots, the run needing one of them."""
    need = train_memory_mb(config, EVAL_BATCH)
    pool = GpuPool((0,), 2 * need, 2, simulated=True)  # ABLATE_SIMULATED_GPUS=1x<2 need>
    assert pool.slots_for_run(config, EVAL_BATCH) == 1
    return {"device": "auto", "gpu_pool": pool.to_json()}


@pytest.mark.slow
def test_out_of_memory_on_a_shared_gpu_claims_the_whole_gpu_and_resumes(tmp_path, reference):
    config = run_config(**CONFIG)
    env = {**tool_env(), "ABLATE_INJECT_OOM_AT_STEP": "12"}  # 8 steps an epoch: in epoch 2
    result = train_cli(tmp_path, config, tmp_path / "run", simulated_gpu(config), env)
    assert result.returncode == 0, result.stderr
    log = (tmp_path / "run.log").read_text()
    lines = [line for line in log.splitlines() if "GPU" in line or "resumed" in line]
    assert lines[0].startswith("claimed GPU 0, 1 of 2 slots (slots [0])")
    assert lines[1].startswith("released GPU 0")
    assert lines[2].startswith(
        "run ran out of GPU memory at epoch 2, step 12 with GPU 0, 1 of 2 slots: released them; claiming all 2 slots "
        "of GPU 0 to resume from its last checkpoint alone"
    )
    assert lines[3].startswith("claimed GPU 0, 2 of 2 slots (slots [0, 1])")
    assert lines[4].startswith("run resumed from") and lines[4].endswith("after epoch 1: continuing at epoch 2 of 3")
    assert "ran out of GPU memory at epoch 2" in result.stdout  # the terminal says so too
    metrics = json.loads((tmp_path / "run/metrics.json").read_text())
    assert metrics["oom_retries"] == [{"epoch": 2, "step": 12, "slots": 1, "peak_gpu_memory_mb": None}]
    assert metrics["gpu_memory_estimate_mb"] == train_memory_mb(config, EVAL_BATCH)
    assert metrics["peak_gpu_memory_mb"] is None  # measured on CUDA only
    assert metrics["gpu_slot"] == "GPU 0, 2 of 2 slots"
    same_numbers(tmp_path / "run", reference)


@pytest.mark.slow
def test_out_of_memory_again_alone_fails_with_one_message(tmp_path):
    config = run_config(**CONFIG)
    env = {**tool_env(), "ABLATE_INJECT_OOM_AT_STEP": "12,14"}  # 12 with a slot, then 14 alone
    result = train_cli(tmp_path, config, tmp_path / "run", simulated_gpu(config), env)
    assert result.returncode == 2
    pool_mb = 2 * train_memory_mb(config, EVAL_BATCH)
    message = (
        f"run ran out of GPU memory at epoch 2, step 14 with GPU 0 ({pool_mb:,} MB, all 2 slots) to itself "
        f"(estimated need {train_memory_mb(config, EVAL_BATCH):,} MB): model basic_cnn at width 0.25, batch 32. "
        "It does not fit on one GPU: lower its batch_size"
    )
    assert f"run failed: GpuPoolError: {message}" in result.stdout
    assert f"error: {message}" in result.stderr and "Traceback" not in result.stderr
    assert (tmp_path / "run/checkpoint.pt").exists() and not (tmp_path / "run/metrics.json").exists()


def test_a_whole_gpu_claim_waits_for_the_gpu_and_keeps_new_claims_off_it(tmp_path):
    """A job holds one slot of the only GPU; the whole-GPU claim waits for it, and meanwhile a new claim does not
    take the free slot (the reservation), which it gets once the whole-GPU claim has ended."""
    pool = GpuPool((0,), 1000, 2)
    events: list[str] = []

    def claimant(name: str, slots: int, gpu: int | None) -> None:
        with claim(pool, slots, tmp_path, quiet, poll=0.02, gpu=gpu) as taken:
            events.append(f"{name} {len(taken.slots)}")
            time.sleep(0.2)
        events.append(f"{name} done")

    with claim(pool, 1, tmp_path, quiet) as first:
        assert first.slots == (0,)
        whole = threading.Thread(target=claimant, args=("whole", 2, 0))
        whole.start()
        time.sleep(0.2)  # it holds the reservation now
        newcomer = threading.Thread(target=claimant, args=("new", 1, None))
        newcomer.start()
        time.sleep(0.3)
        assert events == []  # slot 1 is free, but reserved
    whole.join(timeout=10)
    newcomer.join(timeout=10)
    assert events == ["whole 2", "whole done", "new 1", "new done"]


def checkpoint_after_one_epoch(config: dict, run_dir: Path) -> Path:
    """checkpoint.pt of `config` after its first epoch, as a killed job leaves it."""
    run_dir.mkdir(parents=True, exist_ok=True)
    Trainer(config, run_dir, Runtime(threads=1, eval_batch_size=EVAL_BATCH), quiet).train_epoch(1)
    return run_dir / "checkpoint.pt"


@pytest.mark.slow
@pytest.mark.parametrize("damage", ["truncated", "another run's"])
def test_a_damaged_checkpoint_is_kept_aside_and_the_run_starts_again(tmp_path, reference, damage):
    config = run_config(**CONFIG)
    run_dir = tmp_path / "run"
    if damage == "truncated":
        path = checkpoint_after_one_epoch(config, run_dir)
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
        why = "it does not load"
    else:
        path = checkpoint_after_one_epoch(run_config(**{**CONFIG, "optimizer": {"lr": 0.02}}), run_dir)
        why = "it is another run's (its config differs from this run's)"
    bad = path.read_bytes()
    lines: list[str] = []
    train_run(config, run_dir, Runtime(threads=1, eval_batch_size=EVAL_BATCH), lines.append)
    [said] = [line for line in lines if "checkpoint" in line]  # one line
    assert said.startswith(f"run damaged checkpoint {path}: {why}")
    assert said.endswith("kept as checkpoint.pt.damaged, training from scratch")
    assert (run_dir / "checkpoint.pt.damaged").read_bytes() == bad  # kept, not deleted
    assert not any("resumed" in line for line in lines)
    same_numbers(run_dir, reference)
