"""GPUs as slots (ablate.execution): detection, the memory estimate, claims between processes, and the workflow
running train jobs on simulated GPUs (ABLATE_SIMULATED_GPUS: the jobs claim slots as on a GPU machine and
train on the CPU)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from collections import defaultdict
from pathlib import Path

import pytest
import yaml

from ablate import registry
from ablate.execution.claims import claim
from ablate.execution.memory import train_memory_mb
from ablate.execution.pool import GpuPool, GpuPoolError, detect_pool
from ablate.execution.slurm import GpuShards, gpu_shards

from conftest import REPO, snakemake


@pytest.mark.slow  # a forward and backward pass of every model at full width
def test_footprints_are_what_autograd_saves():
    from ablate.training.models import measure_footprint

    for name, model in registry.MODELS.items():
        assert model.footprint == measure_footprint(name), name
    params, saved, _ = measure_footprint("resnet18", width=0.5)
    full_params, full_saved, _ = registry.MODELS["resnet18"].footprint
    # what train_memory_mb assumes for other widths: parameters ~ width^2, activations ~ width
    assert params == pytest.approx(full_params * 0.25, rel=0.05)
    assert saved == pytest.approx(full_saved * 0.5, rel=0.05)


def test_memory_estimate_grows_with_batch_width_and_depth():
    run = {"model": "resnet18", "batch_size": 128}
    assert train_memory_mb({**run, "batch_size": 256}) > train_memory_mb(run)
    assert train_memory_mb({**run, "width": 0.5}) < train_memory_mb(run)
    assert train_memory_mb({**run, "model": "resnet152"}) > 3 * train_memory_mb(run) - 3000
    # ResNet-152 at batch 128: 56 MB saved per image, so about 7 GB of activations
    assert 9_000 < train_memory_mb({**run, "model": "resnet152"}) < 14_000


def test_slots_follow_memory():
    h200, small = GpuPool((0,), 141_000, 4), GpuPool((0, 1), 24_000, 4)
    resnet152 = train_memory_mb({"model": "resnet152", "batch_size": 128})
    assert h200.slots_for(resnet152) == 1
    assert small.slots_for(resnet152) == 2  # 6 GB slots: it takes two of one GPU
    assert small.slots_for(100) == 1
    with pytest.raises(GpuPoolError, match="more than one GPU's"):
        GpuPool((0,), 8_000, 4).slots_for(resnet152)


def test_slurm_shards_follow_memory_as_slots_do():
    run = {"model": "resnet152", "batch_size": 128}
    memory = train_memory_mb(run)
    assert GpuShards(24_000, 4).shards_for_run(run) == GpuPool((0,), 24_000, 4).slots_for_run(run) == 2
    assert gpu_shards(4, 2 * memory + 100) == GpuShards(2 * memory + 100, 4)
    assert gpu_shards(4, 2 * memory + 100).shards_for_run(run) == 2  # shards a little over half its memory
    assert gpu_shards(4, 4 * memory).shards_for_run(run) == 1
    with pytest.raises(GpuPoolError, match=r"needed with execution\.slurm_gpu_shards"):
        gpu_shards(4, None)


def test_execution_imports_neither_torch_nor_the_stages_it_serves():
    """The workflow imports ablate.execution at parse time (no torch), and training imports it, not the reverse."""
    modules = sorted(p.stem for p in (REPO / "src/ablate/execution").glob("*.py") if p.stem != "__init__")
    assert {"machine", "memory", "pool", "claims", "slurm"} <= set(modules)
    check = (
        "import sys\n"
        + "".join(f"import ablate.execution.{name}\n" for name in modules)
        + "bad = sorted(m for m in sys.modules if m == 'torch' or m.startswith(('ablate.training', 'ablate.report', "
        "'ablate.analysis', 'ablate.plan')))\n"
        "assert not bad, bad\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    result = subprocess.run([sys.executable, "-c", check], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    for path in (REPO / "src/ablate/execution").glob("*.py"):  # not even inside a function
        assert not re.search(r"^\s*(from|import) ablate\.(training|report|analysis|plan)\b", path.read_text(), re.M), (
            path
        )


def fake_nvidia_smi(tmp_path: Path) -> dict[str, str]:
    """An nvidia-smi on PATH that lists four 81,559 MiB GPUs, answering the query detect_pool makes."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "nvidia-smi"
    script.write_text(
        "#!/bin/sh\n"
        '[ "$1" = "--query-gpu=index,memory.total" ] || exit 2\n'
        "printf '0, 81559\\n1, 81559\\n2, 81559\\n3, 81559\\n'\n"
    )
    script.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k not in ("CUDA_VISIBLE_DEVICES", "ABLATE_SIMULATED_GPUS")}
    return {**env, "PATH": f"{bin_dir}{os.pathsep}{env['PATH']}"}


def test_detection_reads_nvidia_smi_and_honours_cuda_visible_devices(tmp_path, monkeypatch):
    env = fake_nvidia_smi(tmp_path)
    monkeypatch.setattr(os, "environ", env)
    assert detect_pool(4) == GpuPool((0, 1, 2, 3), 81_559, 4)
    assert detect_pool(2, gpus=2).indices == (0, 1)
    assert detect_pool(2, gpus=[3, 1], memory_mb=40_000) == GpuPool((3, 1), 40_000, 2)
    env["CUDA_VISIBLE_DEVICES"] = "2,3"
    assert detect_pool(4).indices == (2, 3)
    with pytest.raises(GpuPoolError, match=r"execution.gpus lists GPU \[0\]"):
        detect_pool(4, gpus=[0])
    env["CUDA_VISIBLE_DEVICES"] = ""
    with pytest.raises(GpuPoolError, match="no GPU was found"):
        detect_pool(4)
    env["ABLATE_SIMULATED_GPUS"] = "3x16000"
    assert detect_pool(2) == GpuPool((0, 1, 2), 16_000, 2, simulated=True)


CLAIMANT = textwrap.dedent(
    """
    import sys, time
    from ablate.execution.claims import claim
    from ablate.execution.pool import GpuPool
    pool = GpuPool((0, 1), 8000, 2)
    with claim(pool, int(sys.argv[2]), sys.argv[1], log=lambda line: None, poll=0.05) as taken:
        start = time.time()
        time.sleep(0.4)
        print(taken.gpu, len(taken.slots), start, time.time(), flush=True)
    """
)


def busiest(intervals: list[tuple[float, float, int]]) -> int:
    """The most slots held at one time, from (start, end, slots) intervals."""
    events = sorted([(start, slots) for start, _, slots in intervals] + [(end, -s) for _, end, s in intervals])
    held = most = 0
    for _, change in events:  # a release at the same instant as a claim counts first (sorted by -slots)
        held += change
        most = max(most, held)
    return most


@pytest.mark.slow
def test_claims_between_processes_never_exceed_a_gpus_slots(tmp_path):
    """Ten processes (two needing both slots of a GPU) claim from two GPUs of two slots, all at once."""
    needs = [1, 1, 2, 1, 1, 1, 2, 1, 1, 1]
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    command = [sys.executable, "-c", CLAIMANT, str(tmp_path / "locks")]
    procs = [subprocess.Popen([*command, str(n)], stdout=subprocess.PIPE, env=env) for n in needs]
    rows = [proc.communicate(timeout=120)[0].decode().split() for proc in procs]
    assert all(proc.returncode == 0 for proc in procs)
    by_gpu: dict[int, list] = defaultdict(list)
    for (gpu, slots, start, end), need in zip(rows, needs, strict=True):
        assert int(slots) == need
        by_gpu[int(gpu)].append((float(start), float(end), need))
    assert set(by_gpu) == {0, 1}  # both GPUs used
    for intervals in by_gpu.values():
        assert busiest(intervals) <= 2
    assert busiest([i for intervals in by_gpu.values() for i in intervals]) > 2  # they did run side by side


@pytest.mark.slow
def test_a_claim_waits_and_frees_its_slots(tmp_path):
    pool = GpuPool((0,), 1000, 2)
    lines: list[str] = []
    with claim(pool, 2, tmp_path, lines.append) as first:
        assert first.slots == (0, 1)
        with pytest.raises(subprocess.TimeoutExpired):  # another process cannot get in while they are held
            subprocess.run(
                [sys.executable, "-c", CLAIMANT.replace("(0, 1), 8000", "(0,), 1000"), str(tmp_path), "1"],
                env={**os.environ, "PYTHONPATH": str(REPO / "src")},
                timeout=3,
                capture_output=True,
            )
    with claim(pool, 1, tmp_path, lines.append) as again:  # released when the block ended
        assert again.slots == (0,)
    assert lines == []


GPU_STUDY = {
    "dataset": {"name": "synthetic", "train_samples": 2048, "test_samples": 128, "seed": 0},
    "execution": {"train_threads": 1, "eval_batch_size": 256, "jobs_per_gpu": 2},
    "overrides": {"epochs": 2},
    "defaults": {"model": "basic_cnn", "batch_size": 32, "width": 0.25},
    "report": {"hyperparameters": {"study": "gpus", "variant": "lr1"}, "filters": None, "feature_maps": None},
    "studies": {
        "gpus": {
            "variants": {
                **{f"lr{k}": {"optimizer": {"lr": k / 1000}} for k in range(1, 6)},
                "heavy": {"width": 1.0, "batch_size": 128},  # more memory than one slot: two of one GPU
            }
        },
        **dict.fromkeys(
            ("batch_size", "dropout", "residual", "resnet_depth", "loss", "activation", "optimizer", "vgg", "landscape")
        ),
        "santurkar": None,
    },
}


@pytest.mark.slow
def test_the_workflow_packs_train_jobs_onto_simulated_gpus(workflow_dir, monkeypatch):
    light = train_memory_mb({"model": "basic_cnn", "batch_size": 32, "width": 0.25}, 256)
    heavy = train_memory_mb({"model": "basic_cnn", "batch_size": 128, "width": 1.0}, 256)
    assert light < heavy <= 2 * light
    gpus, per_gpu = 2, 2
    monkeypatch.setenv("ABLATE_SIMULATED_GPUS", f"{gpus}x{2 * light}")  # slot = light: heavy needs two
    (workflow_dir / "gpus.yaml").write_text(yaml.safe_dump(GPU_STUDY))
    result = snakemake(
        workflow_dir, "results/studies/gpus/summary.csv", "--cores", "8", "--configfile", "gpus.yaml", timeout=600
    )
    assert result.returncode == 0, result.stderr[-5000:]
    out = result.stdout + result.stderr
    assert 'gpu_slots=Resource("gpu_slots", 4)' in out  # Snakemake's limit: G x jobs_per_gpu
    assert out.count("gpu_slots=2") == 1 and out.count("gpu_slots=1") == 5

    by_gpu: dict[int, list] = defaultdict(list)
    for log in (workflow_dir / "results/logs/train").glob("*.log"):
        text = log.read_text()
        claimed = re.search(r"claimed GPU (\d+), (\d) of 2 slots .* at ([\d.]+)", text)
        released = re.search(r"released GPU (\d+) at ([\d.]+)", text)
        assert claimed and released, text
        gpu = int(claimed[1])
        assert gpu < gpus and int(released[1]) == gpu
        by_gpu[gpu].append((float(claimed[3]), float(released[2]), int(claimed[2])))
        metrics = (workflow_dir / "results/runs" / log.stem / "metrics.json").read_text()
        assert f'"gpu_slot": "GPU {gpu}, {claimed[2]} of 2 slots"' in metrics
    assert sum(len(v) for v in by_gpu.values()) == 6
    assert sorted(slots for v in by_gpu.values() for _, _, slots in v) == [1, 1, 1, 1, 1, 2]
    for intervals in by_gpu.values():
        assert busiest(intervals) <= per_gpu  # the heavy run never shares its GPU
    everything = [i for intervals in by_gpu.values() for i in intervals]
    assert 1 < busiest(everything) <= gpus * per_gpu


@pytest.mark.slow
def test_without_a_visible_gpu_auto_trains_on_the_cpu_and_cuda_says_why_not(workflow_dir, monkeypatch):
    (workflow_dir / "gpus.yaml").write_text(yaml.safe_dump(GPU_STUDY))
    monkeypatch.setenv("ABLATE_SIMULATED_GPUS", "0")  # a driver, but no GPU to use
    auto = snakemake(workflow_dir, "-n", "--cores", "8", "--configfile", "gpus.yaml", timeout=120)
    assert auto.returncode == 0, auto.stderr[-3000:]
    assert auto.stdout.count("gpu=0, gpu_slots=0") == 6
    cuda = snakemake(
        workflow_dir, "-n", "--cores", "8", "--configfile", "gpus.yaml", "--config", "execution={device: cuda}"
    )
    assert cuda.returncode != 0
    message = "config error at execution.device: train jobs would run on CUDA, but no GPU was found"
    assert message in cuda.stdout + cuda.stderr
