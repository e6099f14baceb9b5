"""`python -m ablate <command>`: the commands people run: models, plan, status, retrain (ablate.listing). The
steps the workflow runs are its entry scripts, workflow/scripts/<rule>.py."""

from __future__ import annotations

import argparse
import signal
from collections.abc import Sequence

from ablate.errors import one_message
from ablate.listing import DEFAULT_CONFIG, FORMATS, cmd_models, cmd_plan, cmd_retrain, cmd_status


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python -m ablate", description=__doc__.split("\n")[0])
    sub = top.add_subparsers(dest="command", required=True)

    def output_format(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--format", choices=FORMATS, default="table", help="tsv: tab-separated, header first, raw numbers"
        )

    def config_files(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--configfile",
            action="append",
            default=[],
            help=f"merged over {DEFAULT_CONFIG}, as snakemake --configfile does (repeatable)",
        )
        p.add_argument("--default-config", default=DEFAULT_CONFIG, help=argparse.SUPPRESS)

    p = sub.add_parser("models", help="every model with its exact parameter count")
    p.add_argument("--width", type=float, default=1.0, help="the width multiplier (a config's `width`)")
    output_format(p)
    p.set_defaults(func=cmd_models)

    p = sub.add_parser(
        "plan", help="the run table of a config: study, variant, seed, recipe, done/partial/new, run directory"
    )
    config_files(p)
    output_format(p)
    p.set_defaults(func=cmd_plan)

    p = sub.add_parser(
        "status",
        help="per study and run: done, grows, partial (epoch k of n), pending or damaged, and the time to go",
    )
    config_files(p)
    output_format(p)
    p.set_defaults(func=cmd_status)

    p = sub.add_parser(
        "retrain",
        help="remove runs (and their members' weights); print the snakemake command that trains them from scratch",
    )
    p.add_argument("runs", nargs="+", metavar="RUN", help="a run's id or directory (results/runs/<model>-<hash>)")
    p.add_argument("--configfile", action="append", default=[], help="those of the workflow, for the command printed")
    p.set_defaults(func=cmd_retrain)

    return top


def main(argv: Sequence[str] | None = None) -> int:
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `python -m ablate plan | head` ends quietly
    args = parser().parse_args(argv)
    with one_message():
        return args.func(args)
