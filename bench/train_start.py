"""A train job's fixed cost on this machine: its wall time less the time of its epochs, against `import torch`.

    python bench/train_start.py                        # resnet18 of the smoke plan, 3 repeats
    python bench/train_start.py --model basic_cnn --repeats 5

    # the same for the last commit's code (another copy of it: the working tree may be someone's work)
    mkdir /tmp/orig && git archive HEAD src workflow/scripts | tar -x -C /tmp/orig
    PYTHONPATH=/tmp/orig/src python bench/train_start.py --script /tmp/orig/workflow/scripts/train.py

Runs one smoke train job as the train rule does (workflow/scripts/train.py with a run config, a length file, a
runtime file naming the data job's decoded arrays, one thread and a log), each repeat in a fresh run directory,
beside `python -c "import torch"` (the least any train job pays). The epochs' time is the sum of history.csv's
epoch_seconds; the fixed cost is the rest: the interpreter, the imports, building the data and the model, the
checkpoints, the outputs and the exit. The job runs the `ablate` that PYTHONPATH (or the installed package)
gives. Prints numbers; asserts nothing.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SMOKE = [REPO / "config/config.yaml", REPO / "config/smoke.yaml"]


def wall(command: list[str]) -> float:
    """Seconds `command` ran; it must succeed."""
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
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
    args = parser.parse_args()

    from ablate.rundir import write_json

    imports, walls, epochs, fixed = [], [], [], []
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
        for repeat in range(args.repeats):
            imports.append(wall([sys.executable, "-c", "import torch"]))
            run_dir = folder / f"{repeat}" / name
            job = [sys.executable, args.script, "--run-config", str(folder / "run.json")]
            job += ["--length", str(folder / "length.json"), "--run-dir", str(run_dir)]
            job += ["--runtime", str(folder / "runtime.json"), "--threads", "1", "--log", str(folder / f"{repeat}.log")]
            walls.append(wall(job))
            epochs.append(epoch_seconds(run_dir))
            fixed.append(walls[-1] - epochs[-1])
            print(
                f"  repeat {repeat + 1}: import torch {imports[-1]:.2f} s, train job {walls[-1]:.2f} s, "
                f"epochs {epochs[-1]:.2f} s, fixed {fixed[-1]:.2f} s"
            )
    median = statistics.median
    print(f"import torch (median of {args.repeats}): {median(imports):.2f} s")
    print(f"train job wall (median):          {median(walls):.2f} s")
    print(f"its epochs (median):              {median(epochs):.2f} s")
    print(f"fixed cost = wall - epochs:       {median(fixed):.2f} s")
    print(f"fixed / import torch:             {median(fixed) / median(imports):.2f}")


if __name__ == "__main__":
    main()
