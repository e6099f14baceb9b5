"""Which GPU of the pool a train job gets, decided when it starts: it locks as many free slot files of one GPU
as its run needs (fcntl.flock, released by the kernel when the process ends, so a killed job frees its
slots) and sees that GPU alone through CUDA_VISIBLE_DEVICES. Claims are made one at a time under a pool
lock, so two jobs can never take the same slot."""

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
