"""A train job as the workflow runs it: the run's config and the runtime settings from their files, one GPU
slot held for the whole run (where there is a pool of them), one log line per epoch to the log file and the
terminal, and a one-line reason on the terminal when it fails."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path

from ablate import rundir
from ablate.execution.claims import pinned
from ablate.execution.pool import GpuPool


def train_job(
    run_config: str | Path,
    run_dir: str | Path,
    runtime: str | Path | None = None,
    threads: int | None = None,
    log_file: str | Path | None = None,
    overrides: Mapping | None = None,
) -> dict:
    """Train or resume the run of `run_config` (results/plan/runs/<run>.json) into `run_dir`, with the settings
    of `runtime` (results/runtime.json) updated by `overrides` (device, compile, eval_batch_size, data_root).
    With `log_file`, every line goes to it and to stdout (which snakemake shows; the rule appends stderr,
    tracebacks included, to the log); without, to stderr. Returns the run's metrics."""
    from ablate.training.trainer import Runtime, train_run  # torch: only once the job really trains

    streams = (open(log_file, "a"), sys.stdout) if log_file else (sys.stderr,)  # noqa: SIM115 - open for the run

    def log(line: str) -> None:
        for stream in streams:
            print(line, file=stream, flush=True)

    settings = dict(rundir.read_json(runtime)) if runtime else {}
    settings.update({key: value for key, value in (overrides or {}).items() if value is not None})
    pool_json = settings.pop("gpu_pool", None)
    on_gpu = pool_json and settings.get("device") not in ("cpu", "mps")  # not with a --device cpu, for one
    pool = GpuPool.from_json(pool_json) if on_gpu else None
    config = rundir.read_json(run_config)
    try:
        with pinned(pool, config, settings.get("eval_batch_size", 1000), log) as slot:
            return train_run(config, run_dir, Runtime(threads=threads, gpu_slot=slot, **settings), log)
    except Exception as error:
        if log_file:  # the traceback goes to stderr (the log); the terminal gets what failed
            log(f"{Path(run_dir).name} failed: {type(error).__name__}: {error} (traceback in {log_file})")
        raise
