"""Projected GPU time of a config's study, from seconds per epoch measured on one GPU.

    python bench/projected_cost.py                                   # config/config.yaml
    python bench/projected_cost.py --baseline-seeds                  # the same with one seed per study
    python bench/projected_cost.py --configfile config/config.yaml extra.yaml

The curvature probe, its Hessian density and the 2-D surface (section 2.6) are not measured on a GPU: their cost
is the ratio of their seconds to a probe-off training step measured on the CPU (bench/probe_cost.py, CPU_MEASURED
below), applied to the probe-off GPU seconds per epoch. Those columns are projections, never GPU measurements.

The seconds per epoch are the measurements of ../shared/DESIGN.md §Cost (one NVIDIA H200, commit 5ed26fe,
bf16 autocast, one train job at a time, full 50,000 images plus the test pass). Runs shared by several
studies are counted once, against the first study that lists them. A (model, batch) pair that was not
measured takes the nearest measured batch of the same model, and is marked with * in the output: it is a
projection from measurements, not a measurement.

A run is a trajectory (ablate.trajectory): runs that differ only in length train once, to the longest. The
column "apart" is what the same study cost when each length trained on its own (before runs grew).
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from ablate.plan.config import read_config_files, validated  # noqa: E402
from ablate.plan.runs import make_plan  # noqa: E402
from ablate.training.probes import density_steps  # noqa: E402

# (model, batch) -> seconds per epoch; DESIGN.md §Cost
MEASURED = {
    ("basic_cnn", 4): 34.2,
    ("basic_cnn", 128): 1.1,
    ("basic_cnn", 256): 0.5,
    ("resnet18", 128): 4.6,
    ("resnet34", 128): 6.8,
    ("resnet50", 128): 9.8,
    ("resnet101", 128): 19.8,
    ("resnet152", 128): 29.5,
    ("vgg_a", 128): 2.8,
    ("vgg_a_light", 128): 1.3,
    ("vgg_a_dropout", 128): 2.4,
    ("vgg_a_bn", 128): 4.0,
    ("vgg_a_bn_dropout", 128): 3.8,
}
# runs with every probe (line_search every 10 steps)
MEASURED_WITH_PROBES = {("vgg_a", 128): 5.6, ("vgg_a_bn", 128): 8.3}


# bench/probe_cost.py on this project's 2-core CPU machine (one thread, batch 128, true fp32; 2026-12-03, commit
# 91d5842, a machine shared with other jobs, so only the ratios between them count), seconds: a probe-off training
# step, the curvature probe's set-up (a forward pass and the gradient with create_graph), one Hessian-vector
# product, one eval-mode forward pass over 1,000 images (a surface point on `images` images)
CPU_MEASURED = {
    "vgg_a": {"step": 18.45, "setup": 20.90, "hvp": 38.20, "forward_1000": 34.89},
    "vgg_a_bn": {"step": 19.26, "setup": 20.67, "hvp": 52.03, "forward_1000": 33.71},
}
CIFAR10_TRAIN = 50_000


def curvature_ratio(config: dict) -> float:
    """Extra seconds per training step over a probe-off step's, on the CPU: a call every `every` steps with
    Lanczos at its cap (max_iter products) and `samples` Hutchinson products, an upper bound."""
    setting, cpu = config["curvature"], CPU_MEASURED[config["model"]]
    call = cpu["setup"] + (setting["max_iter"] + setting["samples"]) * cpu["hvp"]
    return call / setting["every"] / cpu["step"]


def density_ratio(config: dict, epochs: int) -> float:
    """Extra seconds per training step over a probe-off step's, on the CPU, of the curvature probe's density: at
    each of its steps (ablate.training.probes.density_steps) a set-up and `vectors` x `steps` products."""
    setting, cpu = config["curvature"], CPU_MEASURED[config["model"]]
    density = setting["density"]
    if not density["vectors"]:
        return 0.0
    total = epochs * math.ceil(CIFAR10_TRAIN / config["batch_size"])
    calls = len(density_steps(density["at"], setting["every"], total))
    return calls * (cpu["setup"] + density["vectors"] * density["steps"] * cpu["hvp"]) / total / cpu["step"]


def surface_steps(config: dict, surface: dict) -> float:
    """A run's surface and path in probe-off training steps (CPU ratio): points² + path_points forward passes
    over `images` images (the surface's settings)."""
    cpu = CPU_MEASURED[config["model"]]
    passes = surface["points"] ** 2 + surface["path_points"] + 2  # the path adds t = 0 and t = 1
    return passes * cpu["forward_1000"] * surface["images"] / 1000 / cpu["step"]


def section_26_minutes(plan) -> tuple[dict[str, float], dict[str, float], dict[str, float]]:
    """Projected GPU minutes the curvature probe and its density (per run) and the surface (per study and run)
    add."""
    probe, density, surface = {}, {}, {}
    for study in plan.studies.values():
        for run_id in study.run_ids:
            config = plan.runs[run_id].config
            if "curvature" in config["probes"] and run_id not in probe:
                probe_off = MEASURED[config["model"], config["batch_size"]]  # s / epoch
                epochs = plan.runs[run_id].epochs
                probe[run_id] = curvature_ratio(config) * probe_off * epochs / 60
                density[run_id] = density_ratio(config, epochs) * probe_off * epochs / 60
        for member in study.surface_members:
            run_id, config = member.run_id, plan.runs[member.run_id].config
            steps_per_epoch = CIFAR10_TRAIN / config["batch_size"]
            step_s = MEASURED[config["model"], config["batch_size"]] / steps_per_epoch
            surface[f"{study.name}/{run_id}"] = surface_steps(config, study.surface) * step_s / 60
    return probe, density, surface


def seconds_per_epoch(config: dict) -> tuple[float, bool]:
    """(seconds, measured exactly) for one run's resolved config."""
    table = MEASURED_WITH_PROBES if config.get("probes") else MEASURED
    model, batch = config["model"], config["batch_size"]
    if (model, batch) in table:
        return table[model, batch], True
    batches = [b for m, b in table if m == model]
    if not batches:
        raise SystemExit(f"no measurement for model {model!r}: add it to MEASURED")
    nearest = min(batches, key=lambda b: abs(b - batch))
    return table[model, nearest], False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--configfile", nargs="+", default=["config/config.yaml"])
    parser.add_argument("--baseline-seeds", action="store_true", help="one seed per study (the study before seeds)")
    args = parser.parse_args()
    config = read_config_files([REPO / f for f in args.configfile])
    if args.baseline_seeds:
        config["seeds"] = config["seeds"][:1]
        for study in (config.get("studies") or {}).values():
            if study:
                study.pop("seeds", None)
    plan = make_plan(validated(config, check_paths=False))
    counted: set[str] = set()
    total = total_apart = 0.0
    print(f"{'study':<14}{'runs':>6}{'minutes':>10}{'apart':>10}")
    for study in plan.studies.values():
        minutes, apart, estimated = 0.0, 0.0, False
        new = [run_id for run_id in study.run_ids if run_id not in counted]
        for run_id in new:
            run = plan.runs[run_id]
            seconds, exact = seconds_per_epoch(run.config)
            minutes += seconds * run.epochs / 60
            apart += seconds * sum(run.member_epochs) / 60
            estimated |= not exact
        counted.update(new)
        total, total_apart = total + minutes, total_apart + apart
        print(f"{study.name:<14}{len(new):>6}{minutes:>9.1f}{'*' if estimated else ' '}{apart:>9.1f}")
    print(
        f"{'total':<14}{len(counted):>6}{total:>9.1f} {total_apart:>9.1f}  (one train job at a time; * = batch not "
        f"measured)\n{plan.counts()}; runs that grow save {total_apart - total:.1f} min "
        f"({100 * (total_apart - total) / total_apart:.1f}%)"
    )
    probe, density, surface = section_26_minutes(plan)
    if probe or surface:
        added = sum(probe.values()) + sum(density.values()) + sum(surface.values())
        print(
            f"\nsection 2.6, a PROJECTION (CPU-measured ratios x GPU s/epoch, not a GPU measurement):\n"
            f"  curvature probe: +{sum(probe.values()):.1f} min over {len(probe)} runs"
            f" ({', '.join(sorted(_settings(plan, probe)))})\n"
            f"  its Hessian density: +{sum(density.values()):.2f} min over {sum(map(bool, density.values()))} runs\n"
            f"  2-D surface and path: +{sum(surface.values()):.2f} min over {len(surface)} runs\n"
            f"  together: +{added:.1f} min, {100 * added / total:.1f}% of the {total:.1f} min above"
        )


def _settings(plan, runs: dict) -> set[str]:
    """The curvature settings of these runs, as text."""
    return {
        "every {every}, max_iter {max_iter}, samples {samples}, density {density[vectors]} x {density[steps]}".format(
            **plan.runs[run].config["curvature"]
        )
        for run in runs
    }


if __name__ == "__main__":
    main()
