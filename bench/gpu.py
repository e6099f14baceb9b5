"""Training on one CUDA GPU: throughput per model, jobs sharing the GPU, and the full study's projected wall time.

1. images/s of every (model, batch) pair of config/config.yaml's plan, probe runs apart: our Trainer's
   epoch loop (images on the device, the run's precision) against the original's loop (bench/throughput.py's
   seed_loop: DataLoader over PIL images, fp32, every batch copied to the GPU), on synthetic images;
2. the aggregate images/s of 1, 2, 4 and 8 train processes (ResNet-18, batch 128) started together on one GPU;
3. the basic CNN at batch 4: ms per step and the implied seconds per 50,000-image epoch;
4. the full study's projected wall time: one run at a time, and packed as the workflow packs train jobs
   (ablate.execution.pool slots), each job slowed by the sharing measured in 2.
Ends with the same tables as markdown, for bench/RESULTS.md.

    python bench/gpu.py                            # on a CUDA machine: a few minutes
    python bench/gpu.py --jobs-per-gpu 4 --gpus 2  # project for 2 such GPUs, 4 jobs on each
    python bench/gpu.py --quick                    # CPU self-test of the same code paths at tiny sizes
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "src"), str(REPO / "bench")]

import torch  # noqa: E402
from throughput import PILImages, ours, run_config, seed_loop  # noqa: E402
from torch.utils.data import DataLoader  # noqa: E402

from ablate.execution.machine import cpu_name  # noqa: E402
from ablate.execution.pool import GpuPool, GpuPoolError, detect_pool  # noqa: E402
from ablate.plan.config import read_config_files, validated  # noqa: E402
from ablate.plan.runs import make_plan  # noqa: E402
from ablate.training import components  # noqa: E402
from ablate.training.models import build_model  # noqa: E402
from ablate.training.trainer import Runtime, Trainer  # noqa: E402

TRAIN_IMAGES, TEST_IMAGES = 50_000, 10_000  # CIFAR-10
SHARED = ("resnet18", 128, False)  # the (model, batch, probes) of the concurrency measurement


@dataclass(frozen=True)
class Sizes:
    width: float  # multiplies the models' widths: 1.0 = the study's models
    images: int  # training images per timed epoch: as many whole batches, min_steps to max_steps of them
    max_steps: int
    repeats: int
    workers: int  # DataLoader workers of the original's loop
    test_images: int
    processes: tuple[int, ...]
    process_steps: int
    keys: tuple | None = None  # the (model, batch, probes) pairs measured; None = every pair of the plan
    min_steps: int = 5  # of a timed epoch


FULL = Sizes(1.0, 8192, 1000, 2, 2, 5000, (1, 2, 4, 8), 200)
# --quick: 5 steps an epoch at batch 128 (the probe run's step 10 probes, as the plan's probe_every: 10 says), and
# 2 for the processes' ResNet-18: each of the 3 processes pays its start-up, the steps need only time something
QUICK = Sizes(
    *(0.125, 640, 20, 1, 1, 200, (1, 2), 2),
    keys=(("basic_cnn", 4, False), ("vgg_a_light", 128, False), ("vgg_a", 128, True)),
    min_steps=2,
)


def key_of(config: dict) -> tuple[str, int, bool]:
    return config["model"], config["batch_size"], bool(config["probes"])


def bench_config(config: dict, sizes: Sizes) -> dict:
    """The run's config on synthetic images, enough whole batches for one timed epoch, at the bench's width."""
    batch = config["batch_size"]
    steps = min(sizes.max_steps, max(sizes.min_steps, sizes.images // batch))
    dataset = run_config(config["model"], batch, steps, "auto")["dataset"]  # synthetic, batch x steps images
    return {**config, "dataset": {**dataset, "test_samples": sizes.test_images}, "width": config["width"] * sizes.width}


def trainer_for(config: dict, scratch: Path, device: str, threads: int | None = None) -> Trainer:
    # nothing is written there: epochs and test passes only, no checkpoints
    run_dir = scratch / f"{config['model']}-b{config['batch_size']}"
    return Trainer(config, run_dir, Runtime(device=device, threads=threads), log=lambda _: None)


class OnDevice:
    """The original's loop copied every batch to the GPU: inputs.to(device), labels.to(device)."""

    def __init__(self, loader: DataLoader, device: str) -> None:
        self.loader, self.device = loader, device

    def __iter__(self):
        for inputs, labels in self.loader:  # a new DataLoader iterator per epoch, as the original's
            yield inputs.to(self.device), labels.to(self.device)


def original_rate(config: dict, trainer: Trainer, sizes: Sizes, device: str) -> list[float]:
    """images/s of the original's loop on the trainer's images: its transforms, fp32, contiguous layout."""
    # the original ran with PyTorch's default settings; every Trainer sets process-wide ones of its own
    torch.backends.cudnn.benchmark, torch.backends.cudnn.allow_tf32 = False, True
    torch.set_float32_matmul_precision("highest")
    from torchvision import transforms  # here only: the concurrent workers start without it (~3 s each)

    norm = config["normalize"]
    augment = [transforms.RandomCrop(32, padding=4), transforms.RandomHorizontalFlip()] if config["augment"] else []
    transform = transforms.Compose([*augment, transforms.ToTensor(), transforms.Normalize(norm["mean"], norm["std"])])
    split = trainer.dataset.train
    images = PILImages(split.images.cpu(), split.labels.cpu(), transform)
    loader = OnDevice(DataLoader(images, config["batch_size"], shuffle=True, num_workers=sizes.workers), device)
    torch.manual_seed(0)
    model = build_model(config["model"], config["activation"], config["dropout"], width=config["width"]).to(device)
    optimizer = components.optimizer(model.parameters(), config["optimizer"])
    loss_fn = torch.nn.CrossEntropyLoss()
    return [seed_loop(model, loader, optimizer, loss_fn, len(split)) for _ in range(sizes.repeats + 1)][1:]


def measure_pair(config: dict, sizes: Sizes, device: str, scratch: Path) -> dict:
    config = bench_config(config, sizes)
    trainer = trainer_for(config, scratch, device)
    ours(trainer, 1)  # untimed: cuDNN autotuning, the caching allocator
    rates = [ours(trainer, 2) for _ in range(sizes.repeats)]
    trainer.loop.evaluate()
    started = time.perf_counter()
    trainer.loop.evaluate()
    eval_rate = len(trainer.dataset.test) / (time.perf_counter() - started)
    # probe runs record what the original's plain loop does not: no like-for-like original to time; and they
    # are always fp32, so bf16 autocast is timed for the others only (the evidence for precision: auto)
    original = bf16 = None
    if not config["probes"]:
        original = statistics.median(original_rate(config, trainer, sizes, device))
        autocast = trainer_for({**config, "precision": "bf16"}, scratch, device)
        ours(autocast, 1)
        bf16 = statistics.median(ours(autocast, 2) for _ in range(sizes.repeats))
        del autocast
    rate, steps = statistics.median(rates), len(trainer.dataset.train) // config["batch_size"]
    epoch_seconds = TRAIN_IMAGES / rate + TEST_IMAGES / eval_rate
    measured = {"ours": rate, "original": original, "bf16": bf16, "eval": eval_rate, "epoch_seconds": epoch_seconds}
    return {**measured, "steps": steps, "precision": trainer.precision.label}


def worker(result: Path, device: str, threads: int) -> None:
    """One of the concurrent train processes: warm up, say so, wait for the start file, time one epoch."""
    config = json.loads((result.parent / "config.json").read_text())
    trainer = trainer_for(config, result.parent, device, threads)
    ours(trainer, 1)
    result.with_suffix(".ready").touch()
    deadline = time.time() + 600  # never outlive a parent that died before releasing the workers
    while not (result.parent / "start").exists():
        if time.time() > deadline:
            raise SystemExit("worker: no start signal within 600 s")
        time.sleep(0.01)
    started = time.time()
    rate = ours(trainer, 2)
    result.write_text(
        json.dumps({"rate": rate, "start": started, "end": time.time(), "images": len(trainer.dataset.train)})
    )


def concurrent(count: int, config: dict, sizes: Sizes, device: str, scratch: Path) -> list[dict]:
    """Start `count` worker processes on the same device and release them together once all are warm."""
    folder = scratch / f"concurrent{count}"
    folder.mkdir()
    steps = replace(sizes, images=sizes.process_steps * config["batch_size"])
    (folder / "config.json").write_text(json.dumps(bench_config(config, steps)))
    threads = str(max(1, (os.cpu_count() or 1) // count))
    results = [folder / f"{i}.json" for i in range(count)]
    command = [sys.executable, __file__, "--device", device, "--threads", threads, "--worker"]
    processes = [subprocess.Popen([*command, str(r)]) for r in results]
    try:
        while not all(r.with_suffix(".ready").exists() for r in results):
            if any(p.poll() is not None for p in processes):
                raise SystemExit(f"a worker of the {count}-process measurement failed")
            time.sleep(0.05)
        (folder / "start").touch()
        if any(p.wait() for p in processes):
            raise SystemExit(f"a worker of the {count}-process measurement failed")
    finally:
        for process in processes:  # those still waiting when another failed
            if process.poll() is None:
                process.kill()
    return [json.loads(r.read_text()) for r in results]


def speed_model(aggregate: dict[int, float]) -> Callable[[int], float]:
    """Each of k jobs on one GPU runs at aggregate(k) / k / aggregate(1) of its speed alone; aggregate is
    interpolated linearly between measured k and held at the largest measured k beyond it."""
    points = sorted(aggregate.items())

    def speed(k: int) -> float:
        for (k0, a0), (k1, a1) in itertools.pairwise(points):
            if k0 <= k <= k1:
                return (a0 + (a1 - a0) * (k - k0) / (k1 - k0)) / k / aggregate[1]
        return points[-1][1] / k / aggregate[1]

    return speed


def simulate(jobs: list[tuple[float, int]], pool: GpuPool, speed: Callable[[int], float]) -> float:
    """Wall seconds of (solo seconds, slots) jobs: event by event, every waiting job that fits starts (plan order,
    the GPU with the most free slots first) and all jobs on a GPU progress at speed(jobs on it)."""
    waiting = [list(job) for job in jobs]
    running: dict[int, list[list]] = {gpu: [] for gpu in pool.indices}
    now = 0.0
    while waiting or any(running.values()):
        for job in list(waiting):
            free = {gpu: pool.jobs_per_gpu - sum(slots for _, slots in running[gpu]) for gpu in pool.indices}
            gpu = max(pool.indices, key=lambda g: (free[g], -g))
            if free[gpu] >= job[1]:
                running[gpu].append(job)
                waiting.remove(job)
        rate = {gpu: speed(len(jobs_on)) for gpu, jobs_on in running.items()}
        step = min(job[0] / rate[gpu] for gpu, jobs_on in running.items() for job in jobs_on)
        now += step
        for gpu, jobs_on in running.items():
            for job in jobs_on:
                job[0] -= step * rate[gpu]
            running[gpu] = [job for job in jobs_on if job[0] > 1e-6]
    return now


def table(headers: list[str], rows: list[list], markdown: bool) -> str:
    cells = [headers, *[[f"{c:,.1f}" if isinstance(c, float) else str(c) for c in row] for row in rows]]
    if markdown:
        lines = ["| " + " | ".join(r) + " |" for r in cells]
        return "\n".join([lines[0], "|---" * len(headers) + "|", *lines[1:]])
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    return "\n".join("  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in cells)


def provenance(device: str) -> str:
    name = torch.cuda.get_device_name(device) if device.startswith("cuda") else cpu_name()
    git = ["git", "-C", str(REPO)]
    commit = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run([*git, "diff", "--quiet", "HEAD"]).returncode != 0
    return (
        f"{name} ({device}), torch {torch.__version__}, {datetime.now():%Y-%m-%d %H:%M}, "
        f"commit {commit or '?'}{' + uncommitted changes' if dirty else ''}"
    )


def throughput_section(measured: dict, sizes: Sizes) -> tuple:
    rows = []
    for (model, batch, probes), m in measured.items():
        ratio = f"{m['ours'] / m['original']:.2f}x" if m["original"] else "-"
        row = [model, batch, "yes" if probes else "", m["precision"], m["steps"], m["ours"], m["original"] or "-"]
        rows.append([*row, ratio, m["bf16"] or "-", m["eval"], m["epoch_seconds"]])
    notes = [
        f"measured: width x{sizes.width} models on synthetic images in device memory, median of {sizes.repeats} "
        "timed epoch(s) after a warm-up epoch; ours = the Trainer's train_epoch in the run's precision",
        f"original = DataLoader over PIL images, worker processes: {sizes.workers}, started every epoch; every batch "
        "copied to the device; fp32 with PyTorch's default settings; probe runs: not timed (the original had none)",
        "ours bf16 = the same loop with bf16 autocast (precision: bf16); precision: auto picks bf16 nowhere, as long "
        "as this column is slower than the run's own precision (docs/performance.md)",
        f"derived: s/epoch = {TRAIN_IMAGES:,} / ours img/s + {TEST_IMAGES:,} / test img/s",
    ]
    headers = "model|batch|probes|precision|steps|ours img/s|original img/s|ours/original|ours bf16 img/s|test img/s"
    headers += "|s/epoch"
    return "1. Training images/s of every (model, batch) of the full study", headers.split("|"), rows, notes


def concurrency_section(shared: dict[int, list[dict]], sizes: Sizes) -> tuple[tuple, dict[int, float]]:
    aggregate, rows = {}, []
    for count, results in shared.items():
        # all images over first start to last end: a process that finishes early does not inflate it
        aggregate[count] = sum(r["images"] for r in results) / (
            max(r["end"] for r in results) - min(r["start"] for r in results)
        )
        per_process = ", ".join(f"{r['rate']:,.0f}" for r in results)
        rows.append([count, per_process, sum(r["rate"] for r in results), aggregate[count]])
    speed = speed_model(aggregate)
    rows = [[*row, f"{speed(row[0]):.2f}"] for row in rows]
    notes = [
        f"measured: each process trains {sizes.process_steps} steps after a warm-up epoch, all released together; "
        "aggregate = all images / (first start to last end); speed of each = aggregate / processes / aggregate of 1"
    ]
    headers = ["processes", "per-process img/s", "sum img/s", "aggregate img/s", "speed of each vs alone"]
    title = f"2. Concurrent train processes on one device ({SHARED[0]}, batch {SHARED[1]})"
    return (title, headers, rows, notes), aggregate


def projection_section(plan, measured: dict, speed: Callable[[int], float], args: argparse.Namespace) -> tuple:
    try:
        detected = detect_pool(1, memory_mb=args.gpu_memory_mb)
        gpus, memory_mb = args.gpus or len(detected.indices), detected.memory_mb
    except GpuPoolError:  # no GPU here (--quick): project for one of 80 GB unless told otherwise
        gpus, memory_mb = args.gpus or 1, args.gpu_memory_mb or 80_000
    runs = [run.train_config for run in plan.runs.values() if key_of(run.config) in measured]  # each trajectory once
    solo = [run["epochs"] * measured[key_of(run)]["epoch_seconds"] for run in runs]
    rows = [["one run at a time", 1, 1, sum(solo) / 60]]
    for per_gpu in dict.fromkeys((1, args.jobs_per_gpu)):
        pool = GpuPool(tuple(range(gpus)), memory_mb, per_gpu)
        jobs = [(seconds, pool.slots_for_run(run)) for seconds, run in zip(solo, runs, strict=True)]
        rows.append([f"workflow, jobs_per_gpu {per_gpu}", gpus, per_gpu, simulate(jobs, pool, speed) / 60])
    subset = "" if len(runs) == len(plan.runs) else ", only those of the measured pairs (--quick)"
    notes = [
        "derived: epochs x s/epoch of every run (section 1), packed event by event as the workflow packs train "
        f"jobs (GPU slots, GPUs of {memory_mb:,} MB); k jobs on one GPU each run at section 2's speed, "
        "interpolated between measured k and held at the largest measured aggregate beyond it",
        "not counted: job start-up, loading CIFAR-10, checkpoint writes",
    ]
    title = f"4. Projected wall time of the full study: {len(runs)} of {len(plan.runs)} runs (trajectories){subset}"
    return title, ["packing", "GPUs", "jobs/GPU", "minutes"], rows, notes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="CPU self-test: tiny models, few steps, 1-2 processes")
    parser.add_argument("--device", help="torch device (default: cuda; cpu with --quick)")
    parser.add_argument("--jobs-per-gpu", type=int, default=4, help="the packing to project besides 1 (default 4)")
    parser.add_argument("--gpus", type=int, help="GPUs to project for (default: this machine's)")
    parser.add_argument("--gpu-memory-mb", type=int, help="memory of one GPU (default: detected, else 80,000)")
    parser.add_argument("--configfile", nargs="+", default=["config/config.yaml"])
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    device = args.device or ("cpu" if args.quick else "cuda")
    if args.worker:
        return worker(args.worker, device, args.threads)
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit("no CUDA device: run with --quick for the CPU self-test")
    sizes = QUICK if args.quick else FULL
    plan = make_plan(validated(read_config_files([REPO / f for f in args.configfile]), check_paths=False))
    first: dict[tuple, dict] = {}  # (model, batch, probes) -> the first run of the plan with them
    for run in plan.runs.values():
        first.setdefault(key_of(run.config), run.train_config)
    header = f"bench/gpu.py{' --quick' if args.quick else ''}: {provenance(device)}"
    print(header, flush=True)

    with tempfile.TemporaryDirectory() as tmp:  # the trainers' run directories: kept while they train
        measured = {}
        for key in [k for k in first if sizes.keys is None or k in sizes.keys]:
            print(f"  measuring {key[0]} batch {key[1]}{' with probes' if key[2] else ''}", file=sys.stderr, flush=True)
            measured[key] = measure_pair(first[key], sizes, device, Path(tmp))
            if device.startswith("cuda"):
                torch.cuda.empty_cache()  # leave the GPU to the concurrent processes
        shared = {count: concurrent(count, first[SHARED], sizes, device, Path(tmp)) for count in sizes.processes}

    concurrency, aggregate = concurrency_section(shared, sizes)
    basic = measured[("basic_cnn", 4, False)]  # ms/step = 1000 ms x 4 images / (images/s)
    rows = [[loop, basic[loop], 4000 / basic[loop], TRAIN_IMAGES / basic[loop]] for loop in ("ours", "original")]
    sections = [
        throughput_section(measured, sizes),
        concurrency,
        ("3. Basic CNN at batch 4", ["loop", "img/s", "ms/step", f"s/epoch ({TRAIN_IMAGES:,} images)"], rows, []),
        projection_section(plan, measured, speed_model(aggregate), args),
    ]
    for title, headers, rows, notes in sections:
        print(f"\n{title}\n{table(headers, rows, markdown=False)}", *(f"  {note}" for note in notes), sep="\n")
    print(f"\n---- markdown for bench/RESULTS.md ----\n\n### {header}")
    for title, headers, rows, notes in sections:
        print(f"\n#### {title}\n\n{table(headers, rows, markdown=True)}")
        if notes:
            print("", *(f"- {note}" for note in notes), sep="\n")


if __name__ == "__main__":
    main()
