"""The commands people run: `models`, `plan` and `status`, as aligned tables or tab-separated (--format tsv), and
`retrain`.

torch is imported only by `models` (to build each model) and, for a partial run, by `status` (to read its
checkpoint).
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ablate.plan.runs import Plan

DEFAULT_CONFIG = "config/config.yaml"


FORMATS = ("table", "tsv")


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]], right: Collection[str] = ()) -> None:
    """Aligned columns under a header; the columns named in `right` (numbers) right-aligned."""
    cells = [list(headers), *([str(c) for c in row] for row in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    for row in cells:
        line = "  ".join(c.rjust(w) if h in right else c.ljust(w) for c, w, h in zip(row, widths, headers, strict=True))
        print(line.rstrip())


def print_tsv(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """Tab-separated, header first, numbers as they are (None as an empty cell): for pipes and scripts."""
    for row in [headers, *rows]:
        print("\t".join("" if c is None else str(c) for c in row))


def cmd_models(args: argparse.Namespace) -> int:
    from ablate.registry import MODELS
    from ablate.training.models import build_model, parameter_count

    rows = [(name, parameter_count(build_model(name, width=args.width))) for name in MODELS]
    if args.format == "tsv":
        print_tsv(("model", "parameters"), rows)
    else:
        header = "parameters" if args.width == 1 else f"parameters at width {args.width:g}"
        print_table(("model", header), [(name, f"{count:,}") for name, count in rows], right={header})
    return 0


# what `plan` shows of a resolved run config, one value per column (--format tsv: as they are)
RECIPE_TSV = ("model", "width", "epochs", "batch", "optimizer", "momentum", "lr", "wd", "scheduler", "precision")
# the table: the same recipe at a glance, width folded into the model and momentum into the optimizer
RECIPE_COLUMNS = ("model", "epochs", "batch", "optimizer", "lr", "wd", "scheduler", "precision")


def recipe_tsv(run: dict) -> dict[str, object]:
    optimizer = run["optimizer"]
    return {
        "model": run["model"],
        "width": run["width"],
        "epochs": run["epochs"],
        "batch": run["batch_size"],
        "optimizer": optimizer["name"],
        "momentum": optimizer.get("momentum"),
        "lr": optimizer["lr"],
        "wd": optimizer.get("weight_decay", 0),
        "scheduler": run["scheduler"]["name"],
        "precision": run["precision"],
    }


def recipe_columns(run: dict) -> dict[str, str]:
    """recipe_tsv, formatted for the table."""
    recipe = recipe_tsv(run)
    return {
        **{key: str(recipe[key]) for key in ("epochs", "batch", "scheduler", "precision")},
        "model": recipe["model"] + (f" x{recipe['width']:g}" if recipe["width"] != 1 else ""),
        "optimizer": recipe["optimizer"] + (f" m{recipe['momentum']:g}" if recipe["momentum"] else ""),
        "lr": f"{recipe['lr']:g}",
        "wd": f"{recipe['wd']:g}",
    }


def load_plan(args: argparse.Namespace) -> Plan:
    """The plan of --configfile merged over the default config, as the workflow sees it."""
    from ablate.plan.config import read_config_files, validated
    from ablate.plan.runs import make_plan

    files = [args.default_config, *args.configfile] if Path(args.default_config).exists() else args.configfile
    return make_plan(validated(read_config_files(files), check_paths=False, files=files))


def cmd_plan(args: argparse.Namespace) -> int:
    from ablate.status import stage

    plan = load_plan(args)
    stages = {run.id: stage(Path(run.dir), run.epochs) for run in plan.runs.values()}  # done, grows, ...
    tsv = args.format == "tsv"
    recipe, columns = (recipe_tsv, RECIPE_TSV) if tsv else (recipe_columns, RECIPE_COLUMNS)
    headers = ("study", "variant", "seed", *columns, "state", "run_dir")
    rows = [
        {**m.row(), **recipe({**plan.runs[m.run_id].config, "epochs": m.epochs}), "state": stages[m.run_id]}
        for m in plan.members
    ]
    (print_tsv if tsv else print_table)(headers, [[r[h] for h in headers] for r in rows])
    if tsv:
        return 0
    variants = sum(len(s.variants) for s in plan.studies.values())
    counts = {name: sum(s == name for s in stages.values()) for name in ("done", "grows", "partial", "pending")}
    print(
        f"\n{len(plan.studies)} studies, {variants} variants listed; {plan.counts()}\n"
        f"trajectories: {counts['done']} done, {counts['grows']} to grow, {counts['partial']} partial, "
        f"{counts['pending']} pending"
    )
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from ablate.durations import format_duration
    from ablate.status import plan_status, summary

    plan = load_plan(args)
    status = plan_status(plan)
    if args.format == "tsv":
        headers = ("study", "variant", "seed", "state", "epochs_completed", "epochs", "eta_seconds", "run_dir")
        # state, epochs_completed, epochs and eta_seconds are the run's (a trajectory shared by members)
        rows = []
        for m in plan.members:
            s = status[m.run_id]
            eta = None if s.eta_seconds is None else round(s.eta_seconds, 1)
            rows.append((m.study, m.variant, m.seed, s.state, s.epochs_completed, s.epochs, eta, m.row()["run_dir"]))
        print_tsv(headers, rows)
        return 0

    def eta(s, label: str) -> str:
        if label.startswith("done"):
            return ""
        return "unknown" if s.eta_seconds is None else format_duration(s.eta_seconds)

    rows = []
    for m in plan.members:
        s, label = status[m.run_id], status[m.run_id].member_label(m.epochs)  # the run's, or done where it has them
        rows.append((m.study, m.variant, m.seed, label, eta(s, label), m.row()["run_dir"]))
    print_table(("study", "variant", "seed", "state", "eta", "run_dir"), rows, right={"eta"})
    print("\n" + "\n".join(summary(status.values())))
    return 0


def cmd_retrain(args: argparse.Namespace) -> int:
    """Remove each named run's directory and its members' weights (rundir.MEMBER_WEIGHTS), then print the snakemake
    command that trains it from scratch and reruns everything that reads it: the readers take a run's weights
    `ancient` (a run never changes once trained), so Snakemake is told (--forcerun) that these did. Runs are named
    by id or by run directory."""
    import shlex
    import shutil

    from ablate import rundir
    from ablate.errors import ConfigError

    run_ids = [Path(name).name for name in args.runs]
    for name, run_id in zip(args.runs, run_ids, strict=True):
        if not re.fullmatch(rundir.RUN_ID, run_id) or not Path(rundir.run_dir(run_id)).is_dir():
            raise ConfigError(
                f"{name!r} is not a run directory here ({rundir.RUNS_DIR}/<model>-<hash>, as `python -m ablate "
                "plan` lists them): run this command where you run snakemake, naming a run that exists"
            )
    forced = []
    for run_id in run_ids:
        weights = Path(rundir.MEMBER_WEIGHTS.format(run=run_id, epochs=0)).parent
        forced += [f"{rundir.run_dir(run_id)}/{rundir.METRICS}", *sorted(map(str, weights.glob("*.pt")))]
        shutil.rmtree(rundir.run_dir(run_id))
        shutil.rmtree(weights, ignore_errors=True)
        print(f"removed {rundir.run_dir(run_id)} and {weights}")
    configs = [option for path in args.configfile for option in ("--configfile", path)]
    command = ["snakemake", "--cores", "all", *configs, "--forcerun", *forced]
    print(f"now train them from scratch and rerun what reads them:\n  {shlex.join(command)}")
    return 0
