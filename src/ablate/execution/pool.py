"""The local GPUs as a pool of slots: which GPUs train jobs may use (this machine's, or those
ABLATE_SIMULATED_GPUS pretends), and how many slots of one GPU a run takes.

Snakemake limits how many slots are taken at once (a global resource `gpu_slots` = GPUs x jobs_per_gpu;
every train job declares the slots it needs); which GPU a job gets is decided when it starts
(ablate.execution.claims). A slot is 1/jobs_per_gpu of a GPU's memory; a run whose estimated memory
(ablate.execution.memory) needs more takes several slots of the same GPU, so that large runs (ResNet-152 at
batch 128 on a small GPU) never share it into an out-of-memory error.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

from ablate.errors import ConfigError
from ablate.execution.machine import SIMULATED_GPUS, visible_gpus
from ablate.execution.memory import train_memory_mb


class GpuPoolError(ConfigError):
    """The GPUs the config asks for are not there, or a run cannot fit on one."""


class NoGpu(GpuPoolError):
    """No GPU is visible (device: auto then trains on the CPU)."""


def parts_of_one_gpu(memory_mb: int, gpu_mb: int, parts: int) -> int:
    """How many of the `parts` equal parts of a GPU of `gpu_mb` (its slots, or its SLURM shards) a job that
    needs `memory_mb` takes: 1 .. parts."""
    if memory_mb > gpu_mb:
        raise GpuPoolError(
            f"a train job needs about {memory_mb:,} MB of GPU memory, more than one GPU's {gpu_mb:,} MB: "
            "lower its batch_size or width, or set execution.gpu_memory_mb if the GPUs have more"
        )
    return max(1, min(parts, math.ceil(memory_mb / (gpu_mb // parts))))


@dataclass(frozen=True)
class GpuPool:
    """The GPUs train jobs may use (indices as the machine counts them), each with `memory_mb`, shared by up to
    `jobs_per_gpu` jobs (execution.jobs_per_gpu): that many slots per GPU."""

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
        return parts_of_one_gpu(memory_mb, self.memory_mb, self.jobs_per_gpu)

    def slots_for_run(self, run: Mapping, eval_batch_size: int = 1000) -> int:
        """The slots a train job of the resolved run config `run` takes: the same at parse time (its Snakemake
        resource) and when the job claims them."""
        return self.slots_for(train_memory_mb(run, eval_batch_size))

    def to_json(self) -> dict:
        return {**asdict(self), "indices": list(self.indices)}

    @classmethod
    def from_json(cls, payload: Mapping) -> GpuPool:
        return cls(**{**payload, "indices": tuple(payload["indices"])})


def require_no_gpus(execution: Mapping) -> None:
    """Stop where the config names GPUs (execution.gpus: a count or indices) but train jobs run on the CPU: no GPU
    was found (device auto) or device is cpu, mps. The default, all, asks for none in particular."""
    if execution["gpus"] == "all":
        return
    found = (
        f"execution.device is {execution['device']}"
        if execution["device"] != "auto"
        else f"no GPU was found: nvidia-smi lists none, CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES')!r}"
    )
    raise GpuPoolError(
        f"config error at execution.gpus: {execution['gpus']!r} asks for CUDA GPUs, but train jobs will run without "
        f"one ({found}): remove execution.gpus, or run where the GPUs are",
        ("execution", "gpus"),
    )


def detect_pool(jobs_per_gpu: int, gpus: str | int | Sequence[int] = "all", memory_mb: int | None = None) -> GpuPool:
    """The GPUs of this machine (nvidia-smi; CUDA_VISIBLE_DEVICES narrows them) or those simulated by
    ABLATE_SIMULATED_GPUS; `gpus` = "all", a count (the first N), or a list of indices."""
    simulated = os.environ.get(SIMULATED_GPUS)
    if simulated:
        match = re.fullmatch(r"(\d+)(?:x(\d+))?", simulated.strip())
        if not match:
            raise GpuPoolError(f"{SIMULATED_GPUS}={simulated!r}: expected G or GxMEMORY_MB, e.g. 2x16000")
        memory_of = dict.fromkeys(range(int(match[1])), int(match[2] or 80_000))
    else:
        memory_of = visible_gpus()
    available = list(memory_of)
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
    smallest = min(memory_of[i] for i in chosen)
    if not (memory_mb or smallest):
        raise GpuPoolError("config error at execution.gpu_memory_mb: no nvidia-smi to ask; set each GPU's memory in MB")
    return GpuPool(tuple(chosen), memory_mb or smallest, jobs_per_gpu, simulated=bool(simulated))
