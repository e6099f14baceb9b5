"""A train job as the workflow runs it: the run's config and the runtime settings from their files, its GPU
slots held for the whole run (where there is a pool of them: ablate.execution.pool), one log line per epoch to
the log file and the terminal, and a one-line reason on the terminal when it fails.

Out of GPU memory beside other jobs (the run's memory estimate was low): the job releases its slots, claims
every slot of its GPU (its CUDA context lives there) and resumes from its last checkpoint, in the same
process, as a rerun would; metrics.json records the event (`oom_retries`). Out of memory again, alone, the
job fails with one message naming the run and what to change.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from ablate import rundir, trajectory
from ablate.errors import ONE_MESSAGE
from ablate.execution.claims import Claim, pinned
from ablate.execution.memory import train_memory_mb
from ablate.execution.pool import GpuPool, GpuPoolError

if TYPE_CHECKING:
    from ablate.training.trainer import OutOfMemory


def train_job(
    run_config: str | Path,
    run_dir: str | Path,
    runtime: str | Path | None = None,
    threads: int | None = None,
    log_file: str | Path | None = None,
    overrides: Mapping | None = None,
    length: str | Path | Mapping | None = None,
) -> dict:
    """Train, resume or grow the run of `run_config` (results/plan/runs/<run>.json, its identity) into `run_dir`
    to the length of `length` (results/plan/lengths/<run>/epochs<n>.json, or its content: epochs, weights_at;
    none where the identity holds `epochs`), with the settings of `runtime` (results/runtime.json) updated by
    `overrides` (device, compile, eval_batch_size, data_root).
    With `log_file`, every line goes to it and to stdout (which snakemake shows; the rule appends stderr,
    tracebacks included, to the log); without, to stderr. Returns the run's metrics."""
    # Importing torch makes ~400,000 objects that live as long as the job's process (and <1 MB of garbage):
    # collecting while they pile up, and going through them again at each full collection while the run trains
    # and at exit, frees nothing. Measured on a smoke job: collections 0.5 s -> 0.15 s, its exit 1.2 s -> 0.6 s.
    gc.disable()
    try:
        from ablate.training.trainer import OutOfMemory, Runtime, train_run  # torch: only once the job trains
    finally:
        gc.freeze()
        gc.enable()
    streams = (open(log_file, "a"), sys.stdout) if log_file else (sys.stderr,)  # noqa: SIM115 - open for the run

    def log(line: str) -> None:
        for stream in streams:
            print(line, file=stream, flush=True)

    name = Path(run_dir).name
    settings = dict(rundir.read_json(runtime)) if runtime else {}
    settings.update({key: value for key, value in (overrides or {}).items() if value is not None})
    pool_json = settings.pop("gpu_pool", None)
    event_dirs = settings.pop("tensorboard", None) or {}  # run -> its TensorBoard directories
    on_gpu = pool_json and settings.get("device") not in ("cpu", "mps")  # not with a --device cpu, for one
    pool = GpuPool.from_json(pool_json) if on_gpu else None
    if length is not None and not isinstance(length, Mapping):
        length = rundir.read_json(length)
    config = rundir.read_json(run_config)
    if length:
        config = trajectory.at_length(config, length["epochs"])
    if "epochs" not in config:
        raise ValueError(f"{run_config} holds no epochs (they are not part of its identity): give the run's length")
    eval_batch_size = settings.get("eval_batch_size", 1000)
    how = Runtime(threads=threads, tensorboard=tuple(event_dirs.get(name, ())), **settings)
    held: list[Claim | None] = [None]  # the claim of the latest attempt
    estimate = train_memory_mb(config, eval_batch_size)  # what its slots were sized by

    def attempt(whole_gpu: int | None = None) -> dict:
        with pinned(pool, config, eval_batch_size, log, whole_gpu=whole_gpu) as taken:
            held[0] = taken
            how.gpu_slot = str(taken) if taken is not None else None
            return train_run(config, run_dir, how, log, length["weights_at"] if length else ())

    try:
        try:
            return attempt()
        except OutOfMemory as error:
            shared = held[0]
            if shared is None or len(shared.slots) == shared.per_gpu:  # it had its GPU to itself already
                raise GpuPoolError(out_of_memory(name, config, error, shared, pool, estimate)) from None
            how.oom_retries.append(
                {
                    "epoch": error.epoch,
                    "step": error.step,
                    "slots": len(shared.slots),
                    "peak_gpu_memory_mb": error.peak_mb,
                }
            )
            log(
                f"{name} ran out of GPU memory {error.where} with {shared}: released them; claiming all "
                f"{shared.per_gpu} slots of GPU {shared.gpu} to resume from its last checkpoint alone (the run's "
                f"memory estimate, {estimate:,} MB, was low: a lower execution.jobs_per_gpu gives every run more "
                "memory)"
            )
        free_gpu_memory()
        try:
            return attempt(whole_gpu=shared.gpu)
        except OutOfMemory as error:
            raise GpuPoolError(out_of_memory(name, config, error, held[0], pool, estimate)) from None
    except Exception as error:
        if log_file:  # the traceback goes to stderr (the log); the terminal gets what failed
            where = "" if isinstance(error, ONE_MESSAGE) else f" (traceback in {log_file})"
            log(f"{name} failed: {type(error).__name__}: {error}{where}")
        raise


def free_gpu_memory() -> None:
    """Give the failed attempt's GPU memory back (its tensors went with its exception) and restart the peak."""
    import torch

    gc.collect()
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def out_of_memory(
    name: str, config: Mapping, error: OutOfMemory, taken: Claim | None, pool: GpuPool | None, estimate: int
) -> str:
    """The one message of a run that ran out of GPU memory with a GPU to itself: what it had, what to change."""
    had = (
        f"with GPU {taken.gpu} ({pool.memory_mb:,} MB, all {taken.per_gpu} slots) to itself"
        if taken and pool
        else "on the GPU it was given"  # no pool of slots to fall back on: a cluster job
    )
    peak = f", {error.peak_mb:,.0f} MB allocated at the peak" if error.peak_mb is not None else ""
    return (
        f"{name} ran out of GPU memory {error.where} {had} "
        f"(estimated need {estimate:,} MB{peak}): model {config['model']} at width "
        f"{config['width']}, batch {config['batch_size']}. It does not fit on one GPU: lower its batch_size (or "
        "width), or train it on GPUs with more memory; where execution.gpu_memory_mb is set above the GPUs' real "
        "memory, correct it"
    )
