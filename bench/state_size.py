"""What keeping a finished run's final state costs on disk, per model and optimizer of a config's plan (measured).

    python bench/state_size.py                                  # config/config.yaml
    python bench/state_size.py --configfile config/config.yaml extra.yaml

A run keeps checkpoint.pt once it finished: its final state, which a longer config grows it from
(ablate.trajectory). This builds each (model, width, optimizer) of the plan on the CPU, takes one optimizer step
on a few random images (so that the optimizer holds its state, as after training), saves what a checkpoint
holds of them (the model and optimizer state dicts) and weighs the file; model.pt is the weights alone. The
history, the RNG states and the probes' rows add kilobytes (steps.csv's rows: a few MB for the probe runs).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

import torch  # noqa: E402

from ablate.plan.config import read_config_files, validated  # noqa: E402
from ablate.plan.runs import make_plan  # noqa: E402
from ablate.training import components  # noqa: E402
from ablate.training.trainer import initial_model  # noqa: E402

MB = 2**20


def file_size(payload: dict) -> int:
    with tempfile.NamedTemporaryFile(suffix=".pt") as handle:
        torch.save(payload, handle.name)
        return Path(handle.name).stat().st_size


def measure(config: dict) -> tuple[int, int]:
    """(bytes of model.pt, bytes of the model and optimizer state a checkpoint keeps) of one run config."""
    model = initial_model(config, num_classes=10)
    optimizer = components.optimizer(model.parameters(), config["optimizer"])
    images, labels = torch.randn(2, 3, 32, 32), torch.tensor([0, 1])
    torch.nn.functional.cross_entropy(model(images), labels).backward()
    optimizer.step()
    weights = file_size(model.state_dict())
    return weights, file_size({"model": model.state_dict(), "optimizer": optimizer.state_dict()})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--configfile", nargs="+", default=["config/config.yaml"])
    args = parser.parse_args()
    plan = make_plan(validated(read_config_files([REPO / f for f in args.configfile]), check_paths=False))
    torch.set_num_threads(1)
    kinds = Counter(
        (run.config["model"], run.config["width"], run.config["optimizer"]["name"]) for run in plan.runs.values()
    )
    total_state = total_weights = 0
    print(f"{'model':<18}{'width':>6}{'optimizer':>10}{'runs':>6}{'model.pt MB':>13}{'final state MB':>16}")
    for (model, width, optimizer), count in sorted(kinds.items()):
        config = next(
            run.config
            for run in plan.runs.values()
            if (run.config["model"], run.config["width"], run.config["optimizer"]["name"]) == (model, width, optimizer)
        )
        weights, state = measure(config)
        total_state, total_weights = total_state + count * state, total_weights + count * weights
        print(f"{model:<18}{width:>6g}{optimizer:>10}{count:>6}{weights / MB:>13.1f}{state / MB:>16.1f}")
    print(
        f"\n{plan.counts()}\nkept final states: {total_state / 2**30:.2f} GiB over {len(plan.runs)} trajectories "
        f"(their model.pt: {total_weights / 2**30:.2f} GiB)"
    )


if __name__ == "__main__":
    main()
