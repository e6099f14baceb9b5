"""Do two results/runs folders hold the same numbers? For checking that a change to the code changed no result.

Compares every run of the first folder with the run of the same name in the second: history.csv (every column
but the timings, as text), steps.csv (byte for byte) and metrics.json (every key but timings and where it ran).
Prints each difference and a count; exits 1 if there is any.

    git worktree add /tmp/before <commit> && (cd /tmp/before && snakemake --cores all --configfile config/smoke.yaml)
    snakemake --cores all --configfile config/smoke.yaml
    python bench/compare_runs.py /tmp/before/results/runs results/runs
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

TIMING_COLUMNS = {"epoch_seconds", "images_per_second"}
NOT_RESULTS = {
    "wall_seconds",
    "seconds_per_epoch",
    "images_per_second",
    "gpu_slot",
    "threads",
    "device_name",
    "peak_gpu_memory_mb",
    "oom_retries",
    "torchvision",  # provenance; read from its package metadata since issue 20, which has no "+cu130" label
}


def history_text(path: Path) -> list[list[str]]:
    rows = [line.split(",") for line in path.read_text().splitlines()]
    keep = [i for i, column in enumerate(rows[0]) if column not in TIMING_COLUMNS]
    return [[row[i] for i in keep] for row in rows]


def differences(before: Path, after: Path) -> list[str]:
    if not after.is_dir():
        return [f"{before.name}: missing"]
    found = []
    if history_text(before / "history.csv") != history_text(after / "history.csv"):
        found.append(f"{before.name}: history.csv")
    if (before / "steps.csv").read_bytes() != (after / "steps.csv").read_bytes():
        found.append(f"{before.name}: steps.csv")
    old, new = (json.loads((d / "metrics.json").read_text()) for d in (before, after))
    changed = sorted(k for k in old.keys() | new.keys() if k not in NOT_RESULTS and old.get(k) != new.get(k))
    if changed:
        found.append(f"{before.name}: metrics.json {', '.join(changed)}")
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    args = parser.parse_args()
    runs = sorted(d for d in args.before.iterdir() if (d / "metrics.json").exists())
    found = [line for run in runs for line in differences(run, args.after / run.name)]
    print(*found, f"{len(runs)} runs compared, {len(found)} differences", sep="\n")
    sys.exit(1 if found else 0)


if __name__ == "__main__":
    main()
