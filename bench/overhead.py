"""Where a finished workflow's time went: per rule, its jobs, their wall seconds, the work inside them and the
rest, the fixed cost of starting and ending a job; and the share of the wall time that was training.

Reads, in a workflow's directory after a run (a fresh one: every epoch trained by that run's train jobs):
- the Snakemake log of that run (.snakemake/log/, the latest unless --log names one): which job of which rule
  wrote which benchmark and log file, when Snakemake started and finished each (to the second), and the cores;
- each job's benchmark file (`benchmark:` of every rule, results/benchmarks/): the wall seconds of its command;
- the work: a train job's epochs (the epoch_seconds of its run's history.csv), and for the other jobs their
  entry script's own computation, the `work:` line that ablate.errors.one_message ends a job's log with;
- "snakemake s": the seconds from Snakemake starting a job to noticing it finished, summed over the rule's jobs:
  what the job cost the workflow's scheduling, beyond the job's own command.

    snakemake --cores 2 --configfile config/smoke.yaml && python bench/overhead.py
    python bench/overhead.py /tmp/before --log /tmp/before/.snakemake/log/<date>.snakemake.log

It prints numbers and asserts nothing.
"""

from __future__ import annotations

import argparse
import csv
import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

STAMP = re.compile(r"^\[(\w{3} \w{3} +\d+ \d\d:\d\d:\d\d \d{4})\]$")
RULE = re.compile(r"^(?:local)?rule (\w+):$")
FIELD = re.compile(r"^\s+(jobid|benchmark|log|wildcards): (.*)$")
FINISHED = re.compile(r"^Finished jobid: (\d+) \(Rule: (\w+)\)$")
WORK = re.compile(r"^work: ([0-9.]+) s ")
CORES = re.compile(r"^Provided cores: (\d+)$")


@dataclass
class Job:
    rule: str
    started: datetime
    fields: dict[str, str] = field(default_factory=dict)
    finished: datetime | None = None


def read_log(path: Path) -> tuple[list[Job], int, datetime, datetime]:
    """The jobs a Snakemake log names, the cores it was given, and its first and last time stamps."""
    jobs: dict[str, Job] = {}
    current: Job | None = None
    stamp = first = None
    cores = 1
    for line in path.read_text().splitlines():
        if match := STAMP.match(line):
            stamp = datetime.strptime(match.group(1), "%a %b %d %H:%M:%S %Y")
            first = first or stamp
        elif match := RULE.match(line):
            current = Job(match.group(1), stamp)
        elif current and (match := FIELD.match(line)):
            current.fields[match.group(1)] = match.group(2)
            if match.group(1) == "jobid":
                jobs[match.group(2)] = current
        elif match := FINISHED.match(line):
            jobs[match.group(1)].finished = stamp
            current = None
        elif match := CORES.match(line):
            cores = int(match.group(1))
        elif not line.startswith(" "):
            current = None
    return list(jobs.values()), cores, first, stamp


def benchmark_seconds(path: Path) -> float | None:
    try:
        with open(path) as handle:
            return float(next(csv.DictReader(handle, delimiter="\t"))["s"])
    except (OSError, StopIteration, KeyError, ValueError):
        return None


def work_seconds(workdir: Path, job: Job) -> float | None:
    """A train job's epochs, or the `work:` line its entry script ended its log with; None where there is none."""
    if job.rule == "train":
        run = job.fields["wildcards"].removeprefix("run=")
        with open(workdir / "results/runs" / run / "history.csv") as handle:
            return sum(float(row["epoch_seconds"]) for row in csv.DictReader(handle))
    log = workdir / job.fields.get("log", "")
    if not log.is_file():
        return None
    found = [float(m.group(1)) for line in log.read_text().splitlines() if (m := WORK.match(line))]
    return found[-1] if found else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("workdir", nargs="?", default=".", type=Path)
    parser.add_argument("--log", type=Path, help="the Snakemake log of the run (default: the latest)")
    args = parser.parse_args()
    log = args.log or max((args.workdir / ".snakemake/log").glob("*.snakemake.log"))
    jobs, cores, first, last = read_log(log)
    totals: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for job in jobs:
        row = totals[job.rule]
        row["jobs"] += 1
        if job.finished:
            row["snakemake"] += (job.finished - job.started).total_seconds()
        wall = benchmark_seconds(args.workdir / job.fields["benchmark"]) if "benchmark" in job.fields else None
        if wall is None:
            continue
        row["timed"] += 1
        row["wall"] += wall
        work = work_seconds(args.workdir, job)
        if work is not None:
            row["worked"] += 1
            row["work"] += min(work, wall)
    wall_clock = (last - first).total_seconds()
    print(f"{log}: {len(jobs)} jobs, {wall_clock:.0f} s wall on {cores} cores\n")
    header = ("rule", "jobs", "wall s", "work s", "fixed s", "fixed s/job", "snakemake s")
    print("{:<20}{:>6}{:>10}{:>10}{:>10}{:>13}{:>13}".format(*header))
    for rule, row in sorted(totals.items(), key=lambda item: -item[1]["wall"]):
        fixed = row["wall"] - row["work"] if row["worked"] == row["timed"] and row["timed"] else None
        cells = (
            rule,
            int(row["jobs"]),
            f"{row['wall']:.1f}" if row["timed"] else "-",
            f"{row['work']:.1f}" if row["worked"] else "-",
            f"{fixed:.1f}" if fixed is not None else "-",
            f"{fixed / row['timed']:.2f}" if fixed is not None else "-",
            f"{row['snakemake']:.0f}",
        )
        print("{:<20}{:>6}{:>10}{:>10}{:>10}{:>13}{:>13}".format(*cells))
    job_seconds = sum(row["wall"] for row in totals.values())
    training = totals["train"]["work"]
    print(
        f"\njob seconds {job_seconds:.0f} ({job_seconds / max(wall_clock, 1):.2f} jobs busy on average); "
        f"training (epochs) {training:.0f} s = {training / max(job_seconds, 1):.0%} of the job seconds, "
        f"{training / max(wall_clock * cores, 1):.0%} of the wall time x {cores} cores"
    )
    train = totals["train"]
    if train["timed"]:
        print(
            f"a train job: {train['wall'] / train['timed']:.2f} s wall, {train['work'] / train['timed']:.2f} s of "
            f"epochs, {(train['wall'] - train['work']) / train['timed']:.2f} s fixed (mean of {int(train['timed'])})"
        )


if __name__ == "__main__":
    main()
