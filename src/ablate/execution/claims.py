"""Which GPU of the pool a train job gets, decided when it starts: it locks as many free slot files of one GPU
as its run needs (fcntl.flock, released by the kernel when the process ends, so a killed job frees its
slots) and sees that GPU alone through CUDA_VISIBLE_DEVICES. Claims are made one at a time under a pool
lock, so two jobs can never take the same slot.

A job that ran out of memory beside others claims every slot of its GPU (`whole_gpu`): while it waits for
them it holds the GPU's reservation lock, and other claims leave a reserved GPU's freed slots alone, so that
new jobs cannot keep it waiting forever. It waits holding no slot, so two such jobs never deadlock."""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ablate.execution.pool import GpuPool

# where train jobs of one working directory lock their slots (flock needs a local file system)
LOCK_DIR = Path(".snakemake") / "gpu-slots"


@dataclass(frozen=True)
class Claim:
    gpu: int
    slots: tuple[int, ...]
    per_gpu: int  # the slots of each GPU of the pool (its jobs_per_gpu)

    def __str__(self) -> str:
        return f"GPU {self.gpu}, {len(self.slots)} of {self.per_gpu} slots"


def _try_lock(path: Path):
    handle = open(path, "a+")  # noqa: SIM115 - held open for the claim's lifetime
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    return handle


def _reservation(lock_dir: Path, gpu: int) -> Path:
    return lock_dir / f"gpu{gpu}-reserved.lock"


def _reserved(lock_dir: Path, gpu: int) -> bool:
    """Whether another job holds `gpu`'s reservation (it waits for all of the GPU's slots)."""
    handle = _try_lock(_reservation(lock_dir, gpu))
    if handle is None:
        return True
    handle.close()
    return False


@contextmanager
def claim(
    pool: GpuPool,
    slots: int,
    lock_dir: str | Path,
    log: Callable[[str], None] = print,
    poll: float = 1.0,
    gpu: int | None = None,
) -> Iterator[Claim]:
    """Hold `slots` slots of one GPU of `pool` until the block ends; waits while no GPU has that many free.
    The GPU with the most free slots wins (balance), then the lowest index. With `gpu`, that GPU only, and
    its reservation is held from the first try to the end of the block."""
    lock_dir = Path(lock_dir)
    lock_dir.mkdir(parents=True, exist_ok=True)
    candidates = pool.indices if gpu is None else (gpu,)
    held: list = []
    reservation = None
    waited = False
    try:
        while True:
            if gpu is not None and reservation is None:
                reservation = _try_lock(_reservation(lock_dir, gpu))
            if gpu is None or reservation is not None:
                with open(lock_dir / "pool.lock", "a+") as pool_lock:
                    fcntl.flock(pool_lock, fcntl.LOCK_EX)  # one claim at a time
                    free: dict[int, list] = {}
                    for index in candidates:
                        free[index] = []
                        if index != gpu and _reserved(lock_dir, index):
                            continue
                        for slot in range(pool.jobs_per_gpu):
                            handle = _try_lock(lock_dir / f"gpu{index}-slot{slot}.lock")
                            if handle is not None:
                                free[index].append((slot, handle))
                    best = max(candidates, key=lambda g: (len(free[g]), -g))
                    held = free[best][:slots] if len(free[best]) >= slots else []
                    for handles in free.values():  # let go of every slot this claim does not keep
                        for slot_handle in handles:
                            if not any(slot_handle is h for h in held):
                                slot_handle[1].close()
                if held:
                    break
            if not waited:
                log(f"waiting for {slots} free slot(s) on one GPU of {list(candidates)}")
                waited = True
            time.sleep(poll)
        yield Claim(best, tuple(slot for slot, _ in held), pool.jobs_per_gpu)
    finally:
        for _, handle in held:
            handle.close()
        if reservation is not None:
            reservation.close()


@contextmanager
def pinned(
    pool: GpuPool | None,
    run: Mapping,
    eval_batch_size: int,
    log: Callable[[str], None],
    lock_dir: Path = LOCK_DIR,
    whole_gpu: int | None = None,
) -> Iterator[Claim | None]:
    """Run the block on one GPU of `pool` (CUDA_VISIBLE_DEVICES), holding the slots `run` needs, or every slot
    of GPU `whole_gpu`; yields the claim (its str describes it for the run's provenance), or None without a
    pool (CPU, or a cluster job)."""
    if pool is None:
        yield None
        return
    need = pool.jobs_per_gpu if whole_gpu is not None else pool.slots_for_run(run, eval_batch_size)
    with claim(pool, need, lock_dir, log, gpu=whole_gpu) as taken:
        if not pool.simulated:
            os.environ["CUDA_VISIBLE_DEVICES"] = str(taken.gpu)  # before the first CUDA call of the process
        log(f"claimed {taken} (slots {list(taken.slots)}) at {time.time():.3f}")
        try:
            yield taken
        finally:
            log(f"released GPU {taken.gpu} at {time.time():.3f}")
