"""GPUs as a pool of slots: how many train jobs fit on each GPU, and which GPU a job gets.

Snakemake limits how many slots are taken at once (a global resource `gpu_slots` = GPUs x jobs_per_gpu;
every train job declares the slots it needs). Which GPU a job gets is decided here, when the job starts:
it locks that many free slot files of one GPU (fcntl.flock, released by the kernel when the process
ends, so a killed job frees its slots) and sees that GPU alone through CUDA_VISIBLE_DEVICES. Claims are
made one at a time under a pool lock, so two jobs can never take the same slot.

A slot is 1/jobs_per_gpu of a GPU's memory; a run whose estimated memory needs more takes several slots
of the same GPU, so that large runs (ResNet-152 at batch 128 on a small GPU) never share it into an
out-of-memory error. Torch-free: the workflow computes slots at parse time.
"""

from __future__ import annotations

import fcntl
import math
import os
import re
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from ablate.errors import ConfigError
from ablate.registry import MODELS
from ablate.training.device import SIMULATED_GPUS

# What a train job holds besides its tensors: the CUDA context, cuDNN/cuBLAS workspaces, the caching
# allocator's slack, and CIFAR-10 as uint8 on the device (184 MB).
BASE_MB = 1500
NVIDIA_GPUS = Path("/proc/driver/nvidia/gpus")
# The caching allocator rounds and fragments: what it reserves exceeds the tensors autograd keeps.
ALLOCATOR_FACTOR = 1.3


class GpuPoolError(ConfigError):
    """The GPUs the config asks for are not there, or a run cannot fit on one."""


class NoGpu(GpuPoolError):
    """No GPU is visible (device: auto then trains on the CPU)."""


@dataclass(frozen=True)
class GpuPool:
    """The GPUs train jobs may use (indices as the machine counts them), each with `memory_mb`."""

    indices: tuple[int, ...]
    memory_mb: int
    jobs_per_gpu: int
    simulated: bool = False

    @property
    def slots(self) -> int:
        return len(self.indices) * self.jobs_per_gpu

    @property
    def slot_mb(self) -> int:
        return self.memory_mb // self.jobs_per_gpu

    def slots_for(self, memory_mb: int) -> int:
        """The slots of one GPU a job that needs `memory_mb` takes (1 .. jobs_per_gpu)."""
        if memory_mb > self.memory_mb:
            raise GpuPoolError(
                f"a train job needs about {memory_mb:,} MB of GPU memory, more than one GPU's {self.memory_mb:,} MB: "
                "lower its batch_size or width, or set execution.gpu_memory_mb if the GPUs have more"
            )
        return max(1, min(self.jobs_per_gpu, math.ceil(memory_mb / self.slot_mb)))

    def slots_for_run(self, run: Mapping, eval_batch_size: int = 1000) -> int:
        """The slots a train job of the resolved run config `run` takes: the same at parse time (its Snakemake
        resource) and when the job claims them."""
        return self.slots_for(train_memory_mb(run, eval_batch_size))

    def to_json(self) -> dict:
        return {**asdict(self), "indices": list(self.indices)}

    @classmethod
    def from_json(cls, payload: Mapping) -> GpuPool:
        return cls(**{**payload, "indices": tuple(payload["indices"])})


def train_memory_mb(run: Mapping, eval_batch_size: int = 1000) -> int:
    """Estimated peak GPU memory of one train job, from the model's footprint (ablate/registry.yaml: parameters
    and the bytes autograd saves per image, counted at width 1 by ablate.training.models.measure_footprint)
    scaled by width (activations ~ width, parameters ~ width^2)."""
    params, saved_bytes, largest_bytes = MODELS[run["model"]].footprint
    width = run.get("width", 1.0)
    # weights, gradients and up to two optimizer states (Adam); probes keep about as much again
    param_mb = params * width**2 * 4 * (8 if run.get("probes") else 4) / 2**20
    train_mb = run["batch_size"] * saved_bytes * width / 2**20
    # the test pass (no autograd): an input and an output of the largest layer per image
    eval_mb = eval_batch_size * 2 * largest_bytes * width / 2**20
    return math.ceil(BASE_MB + param_mb + ALLOCATOR_FACTOR * max(train_mb, eval_mb))


def _nvidia_smi(query: str) -> list[str]:
    try:
        result = subprocess.run(
            ["nvidia-smi", f"--query-gpu={query}", "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired):
        return []
    return result.stdout.split("\n") if result.returncode == 0 else []


def detect_pool(jobs_per_gpu: int, gpus: str | int | Sequence[int] = "all", memory_mb: int | None = None) -> GpuPool:
    """The GPUs of this machine (nvidia-smi; CUDA_VISIBLE_DEVICES narrows them) or those simulated by
    ABLATE_SIMULATED_GPUS; `gpus` = "all", a count (the first N), or a list of indices."""
    simulated = os.environ.get(SIMULATED_GPUS)
    if simulated:
        match = re.fullmatch(r"(\d+)(?:x(\d+))?", simulated.strip())
        if not match:
            raise GpuPoolError(f"{SIMULATED_GPUS}={simulated!r}: expected G or GxMEMORY_MB, e.g. 2x16000")
        available = list(range(int(match[1])))
        detected_mb = [int(match[2] or 80_000)] * len(available)
    else:
        rows = [row.split(",") for row in _nvidia_smi("index,memory.total") if row.strip()]
        memory_of = {int(index): int(float(total)) for index, total in rows}
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        if visible is not None:
            keep = [int(x) for x in visible.split(",") if x.strip().isdigit()]
            memory_of = {i: memory_of[i] for i in keep if i in memory_of}
        available, detected_mb = list(memory_of), list(memory_of.values())
        if not available and visible is None and NVIDIA_GPUS.is_dir():
            # a driver without nvidia-smi: count the GPUs; their memory must come from the config
            available = list(range(len(list(NVIDIA_GPUS.iterdir()))))
            detected_mb = [0] * len(available)
    if gpus == "all":
        chosen = available
    elif isinstance(gpus, int):
        chosen = available[:gpus]
    else:
        missing = [i for i in gpus if i not in available]
        if missing:
            raise GpuPoolError(f"execution.gpus lists GPU {missing} but this machine has {available or 'none'}")
        chosen = list(gpus)
    if not chosen:
        raise NoGpu(
            "config error at execution.device: train jobs would run on CUDA, but no GPU was found "
            f"(nvidia-smi lists none; CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES')!r}); "
            "set execution.device: cpu, or run where the GPUs are"
        )
    smallest = min(detected_mb[available.index(i)] for i in chosen)
    if not (memory_mb or smallest):
        raise GpuPoolError("config error at execution.gpu_memory_mb: no nvidia-smi to ask; set each GPU's memory in MB")
    return GpuPool(tuple(chosen), memory_mb or smallest, jobs_per_gpu, simulated=bool(simulated))


def shard_pool(shards_per_gpu: int, memory_mb: int | None) -> GpuPool:
    """A cluster's GPU as SLURM shares it: `shards_per_gpu` shards (gres.conf) of `memory_mb` each."""
    if not memory_mb:
        raise GpuPoolError(
            "config error at execution.gpu_memory_mb: needed with execution.slurm_gpu_shards, to know how many "
            "shards a run's memory needs (the memory of the cluster's GPUs, in MB)"
        )
    return GpuPool((0,), memory_mb, shards_per_gpu)


@dataclass(frozen=True)
class Claim:
    gpu: int
    slots: tuple[int, ...]


def _try_lock(path: Path):
    handle = open(path, "a+")  # noqa: SIM115 - held open for the claim's lifetime
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    return handle


@contextmanager
def claim(
    pool: GpuPool, slots: int, lock_dir: str | Path, log: Callable[[str], None] = print, poll: float = 1.0
) -> Iterator[Claim]:
    """Hold `slots` slots of one GPU of `pool` until the block ends; waits while no GPU has that many free.
    The GPU with the most free slots wins (balance), then the lowest index."""
    lock_dir = Path(lock_dir)
    lock_dir.mkdir(parents=True, exist_ok=True)
    waited = False
    while True:
        with open(lock_dir / "pool.lock", "a+") as pool_lock:
            fcntl.flock(pool_lock, fcntl.LOCK_EX)  # one claim at a time
            free: dict[int, list] = {}
            for gpu in pool.indices:
                free[gpu] = []
                for slot in range(pool.jobs_per_gpu):
                    handle = _try_lock(lock_dir / f"gpu{gpu}-slot{slot}.lock")
                    if handle is not None:
                        free[gpu].append((slot, handle))
            best = max(pool.indices, key=lambda g: (len(free[g]), -g))
            held = free[best][:slots] if len(free[best]) >= slots else []
            for handles in free.values():  # let go of every slot this claim does not keep
                for slot_handle in handles:
                    if not any(slot_handle is h for h in held):
                        slot_handle[1].close()
        if held:
            break
        if not waited:
            log(f"waiting for {slots} free slot(s) on one GPU of {list(pool.indices)}")
            waited = True
        time.sleep(poll)
    taken = Claim(best, tuple(slot for slot, _ in held))
    try:
        yield taken
    finally:
        for _, handle in held:
            handle.close()


# where train jobs of one working directory lock their slots (flock needs a local file system)
LOCK_DIR = Path(".snakemake") / "gpu-slots"


@contextmanager
def pinned(
    pool: GpuPool | None, run: Mapping, eval_batch_size: int, log: Callable[[str], None], lock_dir: Path = LOCK_DIR
) -> Iterator[str | None]:
    """Run the block on one GPU of `pool` (CUDA_VISIBLE_DEVICES), holding the slots `run` needs; yields a
    description of the slot for the run's provenance, or None without a pool (CPU, or a cluster job)."""
    if pool is None:
        yield None
        return
    need = pool.slots_for_run(run, eval_batch_size)
    with claim(pool, need, lock_dir, log) as taken:
        if not pool.simulated:
            os.environ["CUDA_VISIBLE_DEVICES"] = str(taken.gpu)  # before the first CUDA call of the process
        where = f"GPU {taken.gpu}, {need} of {pool.jobs_per_gpu} slots"
        log(f"claimed {where} (slots {list(taken.slots)}) at {time.time():.3f}")
        try:
            yield where
        finally:
            log(f"released GPU {taken.gpu} at {time.time():.3f}")
