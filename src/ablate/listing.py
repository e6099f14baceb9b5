"""The commands people run: `models`, `plan` and `status`, as aligned tables or tab-separated (--format tsv), and
`retrain`.

torch is imported only by `models` (to build each model) and, for a partial run, by `plan` and `status` (to read
its checkpoint).
"""

from __future__ import annotations

import argparse
import re
import sys
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
    """Every model's parameter count at --width (default 1), and, for the config's runs, how many use it and their
    parameter count at the width they train at."""
    from ablate.registry import MODELS
    from ablate.training.models import build_model, parameter_count

    plan = load_plan(args)
    width = 1.0 if args.width is None else args.width
    widths: dict[str, dict[float, int]] = {name: {} for name in MODELS}  # model -> width -> runs
    for run in plan.runs.values():
        used = widths[run.config["model"]]
        used[run.config["width"]] = used.get(run.config["width"], 0) + 1
    rows = []
    for name in MODELS:
        count = parameter_count(build_model(name, width=width))
        at_widths = {w: count if w == width else parameter_count(build_model(name, width=w)) for w in widths[name]}
        rows.append((name, count, sum(widths[name].values()), at_widths))
    header = "parameters" if width == 1 else f"parameters at width {width:g}"
    if args.format == "tsv":
        flat = [(n, c, runs, w, at) for n, c, runs, ws in rows for w, at in (ws.items() or [(None, None)])]
        print_tsv(("model", "parameters", "runs", "run_width", "run_parameters"), flat)
        return 0
    headers = ("model", header, "runs", "in the runs")
    table = [
        (n, f"{c:,}", str(runs), "; ".join(f"{at:,} at width {w:g}" for w, at in sorted(ws.items())))
        for n, c, runs, ws in rows
    ]
    print_table(headers, table, right={header, "runs"})
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
    """The plan of --configfile merged over the default config, as the workflow sees it; says which files it read
    (on stderr where the output is for pipes)."""
    from ablate.plan.config import read_config_files, validated
    from ablate.plan.runs import make_plan

    files = [args.default_config, *args.configfile] if Path(args.default_config).exists() else args.configfile
    plan = make_plan(validated(read_config_files(files), check_paths=False, files=files))
    hint = "" if args.configfile else " (add --configfile <file> ... as you gave it to snakemake, if you did)"
    print(f"config: {' + '.join(map(str, files)) or 'none, the defaults'}{hint}", file=_info(args))
    return plan


def _info(args: argparse.Namespace):
    """Where a line about the command goes: stdout above a table, stderr beside tab-separated output."""
    return sys.stderr if args.format == "tsv" else sys.stdout


def cmd_plan(args: argparse.Namespace) -> int:
    from ablate.status import plan_status, summary
    from ablate.trajectory import at_length

    plan = load_plan(args)
    status = plan_status(plan)  # the states and counts `status` shows
    tsv = args.format == "tsv"
    recipe, columns = (recipe_tsv, RECIPE_TSV) if tsv else (recipe_columns, RECIPE_COLUMNS)
    headers = ("study", "variant", "seed", *columns, "state", "run_dir")
    rows = [
        {**m.row(), **recipe(at_length(plan.runs[m.run_id].config, m.epochs)), "state": status[m.run_id].state}
        for m in plan.members
    ]
    (print_tsv if tsv else print_table)(headers, [[r[h] for h in headers] for r in rows])
    if tsv:
        return 0
    variants = sum(len(s.variants) for s in plan.studies.values())
    print(f"\n{len(plan.studies)} studies, {variants} variants listed; {plan.counts()}")
    print(summary(status.values())[0])
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
