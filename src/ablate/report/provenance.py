"""What the report says about how it was made: the workflow's commit, Snakemake's and the train jobs' versions,
where each run trained and for how long."""

from __future__ import annotations

import csv
import importlib.metadata
import os
import subprocess
from collections.abc import Mapping
from pathlib import Path

from ablate.plan.runs import natural_key
from ablate.report.text import TEXT

PHRASES = TEXT["provenance"]


def workflow_dir() -> Path:
    """The workflow checkout whose code renders the report: the Snakefile puts its own src/ first on PYTHONPATH,
    so this module lies in <workflow>/src/ablate; an installed copy elsewhere falls back to the working directory."""
    checkout = Path(__file__).resolve().parents[3]
    return checkout if (checkout / "Snakefile").is_file() else Path.cwd()


def git_state(directory: Path) -> str:
    """The commit checked out in `directory`, "(modified)" when its files differ from it; read at render time
    (a rule param would rerun the report on every commit). Without git or a checkout: "not a git checkout"."""
    env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0"}  # git status must not take the index lock

    def git(*args: str) -> subprocess.CompletedProcess | None:
        try:
            return subprocess.run(
                ["git", "-C", str(directory), *args], capture_output=True, text=True, timeout=60, env=env
            )
        except (OSError, subprocess.SubprocessError):
            return None

    head = git("rev-parse", "--verify", "HEAD")
    if head is None or head.returncode != 0:
        return PHRASES["not_a_checkout"]
    commit = head.stdout.strip()
    status = git("status", "--porcelain", "--", ".")
    if status is None or status.returncode != 0:
        return PHRASES["status_unreadable"].format(commit=commit)
    changed = len(status.stdout.splitlines())
    if not changed:
        return commit
    return PHRASES["modified"].format(commit=commit, changed=changed, s="s" if changed > 1 else "")


def snakemake_version() -> str:
    try:
        return importlib.metadata.version("snakemake")
    except importlib.metadata.PackageNotFoundError:
        return PHRASES["no_snakemake"]


def cuda(metrics: Mapping) -> str:
    """metrics.json's `cuda` (torch.version.cuda of the train job): None on a CPU build of PyTorch."""
    if "cuda" not in metrics:
        return PHRASES["cuda_not_recorded"]
    return metrics["cuda"] or PHRASES["cpu_build"]


def run_devices(metrics: list[dict], wall: Mapping[str, float]) -> list[dict]:
    """One row per run: where it trained, at which precision, for how long (training loop; whole job)."""
    rows = [
        {
            "run": m["run"],
            "device": m.get("device"),
            "device_name": m.get("device_name"),
            "precision": m.get("precision"),
            "train_seconds": m.get("wall_seconds"),
            "job_seconds": wall.get(m["run"]),
        }
        for m in metrics
    ]
    return sorted(rows, key=lambda row: natural_key(row["run"]))


def benchmarks(paths: list[str]) -> dict[str, float]:
    """Each train job's wall time in seconds (its Snakemake benchmark file, named after the run)."""
    seconds = {}
    for path in map(Path, sorted(paths)):
        with path.open() as handle:
            rows = list(csv.DictReader(handle, delimiter="\t"))
        if rows:
            seconds[path.stem] = float(rows[-1]["s"])
    return seconds
