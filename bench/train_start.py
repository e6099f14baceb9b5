"""A train job's fixed cost on this machine: its wall time less the time of its epochs, against `import torch`.

    python bench/train_start.py                        # resnet18 of the smoke plan, 3 repeats
    python bench/train_start.py --model basic_cnn --repeats 5
    python bench/train_start.py --fork-server          # each repeat also through the fork server, alternately

    # the same for the last commit's code (another copy of it: the working tree may be someone's work)
    mkdir /tmp/orig && git archive HEAD src workflow/scripts | tar -x -C /tmp/orig
    PYTHONPATH=/tmp/orig/src python bench/train_start.py --script /tmp/orig/workflow/scripts/train.py

Runs one smoke train job as the train rule does (workflow/scripts/train.py with a run config, a length file, a
runtime file naming the data job's decoded arrays, one thread and a log), each repeat in a fresh run directory,
beside `python -c "import torch"` (the least any train job pays). The epochs' time is the sum of history.csv's
epoch_seconds; the fixed cost is the rest: the interpreter, the imports, building the data and the model, the
checkpoints, the outputs and the exit. With --fork-server each repeat runs the job twice, alone and in a child of a
fork server of this checkout's entry scripts (ablate.execution.forkserver, as the workflow starts it), one after
the other, so that both see the same load; the server first runs the job once, untimed, as a workflow's first
train job makes it import what the script imports. The job runs the `ablate` that PYTHONPATH (or the installed package)
gives. Prints numbers; asserts nothing.
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SMOKE = [REPO / "config/config.yaml", REPO / "config/smoke.yaml"]


def wall(command: list[str], env: dict | None = None) -> float:
    """Seconds `command` ran; it must succeed."""
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    return time.perf_counter() - started


def smoke_run(model: str, data: Path) -> tuple[str, dict, dict]:
    """(name, train config, runtime settings) of the first run of the smoke plan with `model` and no probes, its
    dataset decoded into `data` as the data job does (workflow/rules/common.smk's RUNTIME, without GPUs)."""
    from ablate.data.datasets import prepare
    from ablate.plan.config import read_config_files, validated
    from ablate.plan.runs import dataset_identity, make_plan

    config = validated(read_config_files(SMOKE))
    run = next(r for r in make_plan(config).runs.values() if r.config["model"] == model and not r.config["probes"])
    prepare(dataset_identity(config["dataset"]), config["dataset"]["root"], download=False, folder=data)
    execution = config["execution"]
    runtime = {
        "device": execution["device"],
        "compile": False,
        "eval_batch_size": execution["eval_batch_size"],
        "data_root": config["dataset"]["root"],
        "decoded_data": str(data),
        "gpu_pool": None,
        "tensorboard": None,
    }
    return run.id, run.train_config, runtime


def epoch_seconds(run_dir: Path) -> float:
    with open(run_dir / "history.csv", newline="") as handle:
        return sum(float(row["epoch_seconds"]) for row in csv.DictReader(handle))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="resnet18", help="the smoke plan's first run of this model")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--script", default=str(REPO / "workflow/scripts/train.py"), help="the train entry script")
    parser.add_argument("--fork-server", action="store_true", help="each repeat alone and through a fork server")
    args = parser.parse_args()

    from ablate.execution import forkserver
    from ablate.rundir import write_json

    modes = {"alone": {k: v for k, v in os.environ.items() if k != forkserver.ENV}}
    if args.fork_server:
        forkserver.start(Path(args.script).parent)
        modes["fork server"] = dict(os.environ)
    imports = []
    walls, epochs, fixed = ({mode: [] for mode in modes} for _ in range(3))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        name, config, runtime = smoke_run(args.model, folder / "data")
        source = subprocess.run(
            [sys.executable, "-c", "import ablate; print(ablate.__file__)"], check=True, capture_output=True, text=True
        ).stdout.strip()
        print(f"run {name}: {config['model']} width {config['width']}, batch {config['batch_size']}, ", end="")
        print(f"{config['epochs']} epochs of {config['dataset']['train_samples']} images; ablate from {source}")
        write_json(folder / "run.json", config)
        write_json(folder / "runtime.json", runtime)
        write_json(folder / "length.json", {"epochs": config["epochs"], "weights_at": [config["epochs"]]})

        def command(run_dir: Path, log: Path) -> list[str]:
            job = [sys.executable, args.script, "--run-config", str(folder / "run.json")]
            job += ["--length", str(folder / "length.json"), "--run-dir", str(run_dir)]
            return [*job, "--runtime", str(folder / "runtime.json"), "--threads", "1", "--log", str(log)]

        if args.fork_server:  # untimed: the server imports what the script imports at its first job, as a workflow's
            wall(command(folder / "warm-up" / name, folder / "warm-up.log"), modes["fork server"])
        for repeat in range(args.repeats):
            imports.append(wall([sys.executable, "-c", "import torch"]))
            print(f"  repeat {repeat + 1}: import torch {imports[-1]:.2f} s", end="")
            for mode, env in modes.items():
                run_dir = folder / f"{repeat}-{mode}" / name
                walls[mode].append(wall(command(run_dir, folder / f"{repeat}-{mode}.log"), env))
                epochs[mode].append(epoch_seconds(run_dir))
                fixed[mode].append(walls[mode][-1] - epochs[mode][-1])
                print(f"; {mode}: train job {walls[mode][-1]:.2f} s, epochs {epochs[mode][-1]:.2f} s, ", end="")
                print(f"fixed {fixed[mode][-1]:.2f} s", end="")
            print()
    if args.fork_server:
        forkserver.stop()
    median = statistics.median
    print(f"import torch (median of {args.repeats}): {median(imports):.2f} s")
    for mode in modes:
        print(f"{mode}:")
        print(f"  train job wall (median):          {median(walls[mode]):.2f} s")
        print(f"  its epochs (median):              {median(epochs[mode]):.2f} s")
        print(f"  fixed cost = wall - epochs:       {median(fixed[mode]):.2f} s")
        print(f"  fixed / import torch:             {median(fixed[mode]) / median(imports):.2f}")
    if args.fork_server:
        ratios = [a / b for a, b in zip(fixed["alone"], fixed["fork server"], strict=True)]
        print(f"fixed cost alone / through the fork server, per repeat: {' '.join(f'{r:.1f}' for r in ratios)}")


if __name__ == "__main__":
    main()
