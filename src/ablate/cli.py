"""`python -m ablate <command>` (or the console script `ablate <command>`): the commands people run beside the
workflow. `models`, `plan` and `status` read a config as snakemake does and print a table (ablate.listing);
`retrain` removes runs and prints the snakemake command that trains them again. The workflow's own steps are its
entry scripts, workflow/scripts/<rule>.py, which Snakemake runs."""

from __future__ import annotations

import argparse
import signal
from collections.abc import Sequence

from ablate.errors import one_message
from ablate.listing import DEFAULT_CONFIG, FORMATS, cmd_models, cmd_plan, cmd_retrain, cmd_status


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python -m ablate", description=__doc__.split("\n\n")[0].replace("\n", " "))
    sub = top.add_subparsers(dest="command", required=True)

    def output_format(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--format", choices=FORMATS, default="table", help="tsv: tab-separated, header first, raw numbers"
        )

    def config_files(p: argparse.ArgumentParser, what: str) -> None:
        # as snakemake's --configfile: several after one flag, and the flag repeatable
        p.add_argument("--configfile", nargs="+", action="extend", default=[], metavar="FILE", help=what)
        p.add_argument("--default-config", default=DEFAULT_CONFIG, help=argparse.SUPPRESS)

    def command(name: str, summary: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=summary, description=summary[0].upper() + summary[1:] + ".")

    merged = f"config files merged over {DEFAULT_CONFIG} in order, as snakemake --configfile merges them"
    p = command("models", "every model with its exact parameter count, and the runs of a config using it")
    p.add_argument("--width", type=float, help="the width multiplier (default: the config's, as its runs use it)")
    config_files(p, merged)
    output_format(p)
    p.set_defaults(func=cmd_models)

    p = command(
        "plan",
        "per study, variant and seed: the run's recipe, its state (done, grows, partial, pending or damaged) "
        "and its run directory",
    )
    config_files(p, merged)
    output_format(p)
    p.set_defaults(func=cmd_plan)

    p = command(
        "status",
        "per study and run: done, grows, partial (epoch k of n), pending or damaged, and the time to go",
    )
    config_files(p, merged)
    output_format(p)
    p.set_defaults(func=cmd_status)

    p = command(
        "retrain",
        "remove runs (and their members' weights); print the snakemake command that trains them from scratch",
    )
    p.add_argument("runs", nargs="+", metavar="RUN", help="a run's id or directory (results/runs/<model>-<hash>)")
    config_files(p, "the workflow's --configfile files, for the snakemake command printed")
    p.set_defaults(func=cmd_retrain)

    return top


def main(argv: Sequence[str] | None = None) -> int:
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `python -m ablate plan | head` ends quietly
    args = parser().parse_args(argv)
    with one_message():
        return args.func(args)
