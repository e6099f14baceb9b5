"""bench/gpu.py: its --quick self-test runs every section's code path on the CPU, and its packing simulation.

No thresholds on speed: the numbers must be there, parse, be positive and agree with one another.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
import torch

pytestmark = pytest.mark.slow  # bench/gpu.py --quick trains in subprocesses

REPO = Path(__file__).resolve().parents[1]


def number(cell: str) -> float:
    return float(cell.replace(",", ""))


@pytest.fixture(scope="module")
def quick() -> tuple[str, dict[str, list[dict[str, str]]]]:
    """The script's stdout and its markdown tables: section number -> rows as {column: cell}."""
    result = subprocess.run(
        [sys.executable, "bench/gpu.py", "--quick"], cwd=REPO, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    plain, markdown = result.stdout.split("---- markdown for bench/RESULTS.md ----")
    tables: dict[str, list[dict[str, str]]] = {}
    for block in markdown.split("\n#### ")[1:]:
        title, *lines = block.strip().splitlines()
        assert title in plain  # the plain-text tables say the same
        rows = [[cell.strip() for cell in line.strip().strip("|").split("|")] for line in lines if line.startswith("|")]
        tables[title.split(".")[0]] = [dict(zip(rows[0], row, strict=True)) for row in rows[2:]]
    return result.stdout, tables


def test_header_names_device_torch_and_commit(quick):
    stdout, _ = quick
    header = stdout.splitlines()[0]
    assert header.startswith("bench/gpu.py --quick: ")
    assert "(cpu)" in header and "torch " in header and "commit " in header


def test_throughput_of_both_loops(quick):
    rows = quick[1]["1"]
    assert ("basic_cnn", "4", "") in {(row["model"], row["batch"], row["probes"]) for row in rows}
    for row in rows:
        for column in ("ours img/s", "test img/s", "s/epoch"):
            assert number(row[column]) > 0, (row, column)
        if row["probes"]:  # probe runs: ours only
            assert row["original img/s"] == row["ours bf16 img/s"] == "-"
        else:
            assert number(row["original img/s"]) > 0 and number(row["ours bf16 img/s"]) > 0, row
    assert {row["probes"] for row in rows} == {"", "yes"}  # runs with probes are measured too


def test_concurrent_processes(quick):
    rows = {row["processes"]: row for row in quick[1]["2"]}
    assert set(rows) == {"1", "2"}
    for count, row in rows.items():
        rates = [number(rate) for rate in row["per-process img/s"].split(", ")]
        assert len(rates) == int(count) and all(rate > 0 for rate in rates)
        assert number(row["sum img/s"]) == pytest.approx(sum(rates), abs=1.0 * len(rates))
        assert number(row["aggregate img/s"]) > 0
    assert rows["1"]["speed of each vs alone"] == "1.00"
    assert number(rows["2"]["speed of each vs alone"]) > 0


def test_basic_cnn_ms_per_step(quick):
    rows = {row["loop"]: row for row in quick[1]["3"]}
    assert set(rows) == {"ours", "original"}
    for row in rows.values():
        rate = number(row["img/s"])
        assert rate > 0
        assert number(row["ms/step"]) == pytest.approx(4000 / rate, rel=0.05, abs=0.06)
        assert number(row["s/epoch (50,000 images)"]) == pytest.approx(50_000 / rate, rel=0.01, abs=0.06)


def test_projected_minutes_for_both_packings(quick):
    rows = {row["packing"]: row for row in quick[1]["4"]}
    assert set(rows) == {"one run at a time", "workflow, jobs_per_gpu 1", "workflow, jobs_per_gpu 4"}
    minutes = {packing: number(row["minutes"]) for packing, row in rows.items()}
    assert all(value > 0 for value in minutes.values())
    # one GPU, one job on it at a time: the packed projection is the plain sum
    assert rows["workflow, jobs_per_gpu 1"]["GPUs"] == "1"
    assert minutes["workflow, jobs_per_gpu 1"] == pytest.approx(minutes["one run at a time"], abs=0.11)


@pytest.mark.skipif(torch.cuda.is_available(), reason="with CUDA the script would run the full benchmark")
def test_without_cuda_it_points_to_the_self_test():
    result = subprocess.run([sys.executable, "bench/gpu.py"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "no CUDA device: run with --quick for the CPU self-test" in result.stderr


@pytest.fixture(scope="module")
def gpu():
    spec = importlib.util.spec_from_file_location("bench_gpu", REPO / "bench" / "gpu.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_simulation_shares_slots_at_the_measured_speed(gpu):
    # two processes together: 1.5x the images of one, so each runs at 0.75 of its speed alone
    speed = gpu.speed_model({1: 100.0, 2: 150.0})
    assert speed(1) == 1.0 and speed(2) == 0.75 and speed(4) == pytest.approx(150 / 4 / 100)
    one, two = gpu.GpuPool((0,), 80_000, 1), gpu.GpuPool((0,), 80_000, 2)
    assert gpu.simulate([(60.0, 1), (60.0, 1)], one, speed) == pytest.approx(120)
    assert gpu.simulate([(60.0, 1), (60.0, 1)], two, speed) == pytest.approx(80)  # 60 / 0.75
    # a job that needs both slots waits until the GPU is free: 30 s alone, then 60 s alone
    assert gpu.simulate([(30.0, 1), (60.0, 2)], two, speed) == pytest.approx(90)
    # meanwhile a later one-slot job starts beside the first (both at 0.75): it ends at 10 / 0.75 s, the first
    # 50 s later alone, then the two-slot job
    assert gpu.simulate([(60.0, 1), (60.0, 2), (10.0, 1)], two, speed) == pytest.approx(10 / 0.75 + 50 + 60)
    # two GPUs: the second job goes to the idle GPU
    assert gpu.simulate([(60.0, 1), (60.0, 1)], gpu.GpuPool((0, 1), 80_000, 2), speed) == pytest.approx(60)
