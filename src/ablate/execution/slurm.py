"""A SLURM cluster's GPUs as the scheduler shares them: with execution.slurm_gpu_shards, each GPU is that many
shards (gres.conf), and a train job asks for the shards its estimated memory needs (sbatch --gres=shard:N)
instead of a whole GPU. Which GPU it lands on is SLURM's choice, so there is no pool and no claim here."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ablate.execution.memory import train_memory_mb
from ablate.execution.pool import GpuPoolError, parts_of_one_gpu


@dataclass(frozen=True)
class GpuShards:
    """One of the cluster's GPUs, of `memory_mb`, split by SLURM into `shards` shards."""

    memory_mb: int
    shards: int

    def shards_for_run(self, run: Mapping, eval_batch_size: int = 1000) -> int:
        """The shards of one GPU a train job of the resolved run config `run` asks for (1 .. shards)."""
        return parts_of_one_gpu(train_memory_mb(run, eval_batch_size), self.memory_mb, self.shards)


def gpu_shards(shards: int, memory_mb: int | None) -> GpuShards:
    """The cluster's GPU of execution.slurm_gpu_shards and execution.gpu_memory_mb (required with shards)."""
    if not memory_mb:
        raise GpuPoolError(
            "config error at execution.gpu_memory_mb: needed with execution.slurm_gpu_shards, to know how many "
            "shards a run's memory needs (the memory of the cluster's GPUs, in MB)"
        )
    return GpuShards(memory_mb, shards)
