"""bench/overhead.py on a made-up finished workflow whose numbers are known: a Snakemake log of three jobs, their
benchmark files, a run's history and a job log's `work:` line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import REPO

LOG = """\
Provided cores: 2
Job stats:
job      count
-----  -------
total        3

[Sun Dec  6 05:00:00 2026]
rule train:
    output: results/runs/basic_cnn-0123456789/metrics.json
    log: results/logs/train/basic_cnn-0123456789.log
    jobid: 3
    benchmark: results/benchmarks/train/basic_cnn-0123456789.tsv
    reason: Missing output files: results/runs/basic_cnn-0123456789/metrics.json
    wildcards: run=basic_cnn-0123456789
    resources: tmpdir=/tmp
[Sun Dec  6 05:00:00 2026]
localrule study_runs:
    output: results/studies/s/runs.csv
    log: results/logs/plan/s-runs.log
    jobid: 2
    benchmark: results/benchmarks/plan/s-runs.tsv
    wildcards: study=s
[Sun Dec  6 05:00:01 2026]
Finished jobid: 2 (Rule: study_runs)
[Sun Dec  6 05:00:10 2026]
Finished jobid: 3 (Rule: train)
[Sun Dec  6 05:00:10 2026]
rule study_summary:
    input: results/studies/s/runs.csv
    output: results/studies/s/summary.csv
    log: results/logs/study_summary/s.log
    jobid: 1
    benchmark: results/benchmarks/study_summary/s.tsv
    wildcards: study=s
[Sun Dec  6 05:00:12 2026]
Finished jobid: 1 (Rule: study_summary)
"""

BENCHMARK = (  # Snakemake's columns; `s` is the job's wall seconds
    "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
    "{s}\t0:00:10\t1\t1\t1\t1\t0\t0\t90\t1\n"
)


def write(root: Path, name: str, text: str) -> None:
    (root / name).parent.mkdir(parents=True, exist_ok=True)
    (root / name).write_text(text)


def test_overhead_splits_each_rules_wall_time_into_work_and_fixed_cost(tmp_path):
    write(tmp_path, ".snakemake/log/2026-12-06T050000.000000.snakemake.log", LOG)
    write(tmp_path, "results/benchmarks/train/basic_cnn-0123456789.tsv", BENCHMARK.format(s=10.0))
    write(tmp_path, "results/benchmarks/plan/s-runs.tsv", BENCHMARK.format(s=0.01))
    write(tmp_path, "results/benchmarks/study_summary/s.tsv", BENCHMARK.format(s=2.0))
    history = "epoch,train_loss,epoch_seconds\n1,2.0,2.5\n2,1.9,3.5\n"
    write(tmp_path, "results/runs/basic_cnn-0123456789/history.csv", history)
    write(tmp_path, "results/logs/study_summary/s.log", "work: 0.500 s (study_summary of results/studies/s)\n")
    result = subprocess.run(
        [sys.executable, str(REPO / "bench/overhead.py"), str(tmp_path)], capture_output=True, text=True, check=True
    )
    rows = {line.split()[0]: line.split()[1:] for line in result.stdout.splitlines()[3:] if line.strip()}
    # jobs, wall s, work s, fixed s, fixed s/job, snakemake s
    assert rows["train"] == ["1", "10.0", "6.0", "4.0", "4.00", "10"]
    assert rows["study_summary"] == ["1", "2.0", "0.5", "1.5", "1.50", "2"]
    assert rows["study_runs"] == ["1", "0.0", "-", "-", "-", "1"]  # a run: job writes no work line
    assert "12 s wall on 2 cores" in result.stdout.splitlines()[0]
    assert "training (epochs) 6 s" in result.stdout and "25% of the wall time x 2 cores" in result.stdout
    assert "a train job: 10.00 s wall, 6.00 s of epochs, 4.00 s fixed (mean of 1)" in result.stdout
