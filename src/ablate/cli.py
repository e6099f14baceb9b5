"""`python -m ablate <command>`: the commands people run (models, plan, status) and the steps the workflow runs.

Workflow rules call these commands from `shell:` rather than `script:` on purpose: Snakemake reruns
every job of a `script:` rule whose script file is newer than its outputs (a `git pull` or a plain
touch does that), which would retrain the whole study. Each command parses its arguments and hands
them to the library; nothing else happens here. torch is imported only by the commands that need it.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from ablate.errors import ConfigError, DataUnavailable
from ablate.listing import DEFAULT_CONFIG, FORMATS, cmd_models, cmd_plan, cmd_status


def cmd_data(args: argparse.Namespace) -> int:
    from ablate.data import prepare

    prepare(json.loads(args.identity), args.root, args.download, Path(args.out))
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from ablate.gpus import GpuPool, pinned
    from ablate.train import Runtime, train_run

    # One line per epoch (each starting with the run's name). With --log: to that file and to stdout, which
    # the workflow leaves on snakemake's terminal (it appends stderr, tracebacks included, to the log). Else
    # to stderr.
    streams = (open(args.log, "a"), sys.stdout) if args.log else (sys.stderr,)  # noqa: SIM115 - lives as long as the run

    def log(line: str) -> None:
        for stream in streams:
            print(line, file=stream, flush=True)

    settings = json.loads(Path(args.runtime).read_text()) if args.runtime else {}
    settings.update(
        {
            k: v
            for k, v in {
                "device": args.device,
                "compile": args.compile or None,
                "eval_batch_size": args.eval_batch_size,
                "data_root": args.data_root,
            }.items()
            if v is not None
        }
    )
    pool_json = settings.pop("gpu_pool", None)
    on_gpu = pool_json and settings.get("device") not in ("cpu", "mps")  # not with --device cpu, for one
    pool = GpuPool.from_json(pool_json) if on_gpu else None
    run_config = json.loads(args.run_config)
    try:
        with pinned(pool, run_config, settings.get("eval_batch_size", 1000), log) as slot:
            train_run(run_config, args.run_dir, Runtime(threads=args.threads, gpu_slot=slot, **settings), log)
    except Exception as error:
        if args.log:  # the traceback goes to stderr (the log); the terminal gets what failed
            log(f"{Path(args.run_dir).name} failed: {type(error).__name__}: {error} (traceback in {args.log})")
        raise
    return 0


def cmd_write_json(args: argparse.Namespace) -> int:
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(json.loads(args.json), indent=2, sort_keys=True) + "\n")
    return 0


def cmd_study_runs(args: argparse.Namespace) -> int:
    from ablate.analysis import write_study_runs

    write_study_runs(json.loads(args.rows), Path(args.out))
    return 0


def cmd_curves(args: argparse.Namespace) -> int:
    from ablate.figures import study_curves

    study_curves(Path(args.runs), Path(args.out), title=args.title)
    return 0


def cmd_summary(args: argparse.Namespace) -> int:
    from ablate.analysis import write_study_summary

    write_study_summary(Path(args.runs), Path(args.out))
    return 0


def cmd_envelope(args: argparse.Namespace) -> int:
    from ablate.envelopes import probe_envelopes
    from ablate.figures import envelope_figure

    table = probe_envelopes(Path(args.runs), args.probe, args.group_by, args.smoothing)
    table.to_csv(args.table, index=False)
    envelope_figure(table, args.probe, Path(args.figure), title=args.title)
    return 0


def cmd_architecture(args: argparse.Namespace) -> int:
    from ablate.architecture import write_architecture_table

    write_architecture_table(Path(args.out), width=args.width)
    return 0


def cmd_filters(args: argparse.Namespace) -> int:
    from ablate.interpret import first_layer_filters

    first_layer_filters(Path(args.run_dir), Path(args.out))
    return 0


def cmd_feature_maps(args: argparse.Namespace) -> int:
    from ablate.interpret import block_feature_maps, sample_image

    config = json.loads((Path(args.run_dir) / "config.json").read_text())  # block_feature_maps loads the model
    data_root = json.loads(Path(args.runtime).read_text())["data_root"]
    image = sample_image(config, data_root, args.image)
    block_feature_maps(Path(args.run_dir), image, Path(args.out), stage=args.stage)
    return 0


def cmd_hyperparameters(args: argparse.Namespace) -> int:
    from ablate.analysis import write_hyperparameters

    write_hyperparameters(Path(args.run_config), Path(args.out))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from ablate.report import render_report

    render_report(json.loads(args.spec), Path(args.out))
    return 0


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
        help="per study and run: done, partial (epoch k of n) or pending, and the time to go",
    )
    config_files(p)
    output_format(p)
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("data", help="(workflow) fetch/verify a dataset and write its manifest")
    p.add_argument("--identity", required=True, help="the dataset identity (JSON)")
    p.add_argument("--root", required=True)
    p.add_argument("--download", action="store_true")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_data)

    p = sub.add_parser("train", help="(workflow) train or resume one run")
    p.add_argument("--run-dir", required=True)
    p.add_argument("--run-config", required=True, help="the resolved run config (JSON)")
    p.add_argument("--runtime", help="JSON file of runtime settings (device, compile, eval_batch_size, data_root)")
    p.add_argument("--device", help="overrides --runtime (auto, cpu, cuda, mps)")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--compile", action="store_true", help="overrides --runtime")
    p.add_argument("--eval-batch-size", type=int, help="overrides --runtime")
    p.add_argument("--data-root", help="overrides --runtime")
    p.add_argument("--log", default=None, help="append one line per epoch here and print it to stdout (else stderr)")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("write-json", help="(workflow) write a JSON document given on the command line")
    p.add_argument("--json", required=True)
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_write_json)

    p = sub.add_parser("study-runs", help="(workflow) write a study's variant -> run table")
    p.add_argument("--rows", required=True)
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_study_runs)

    p = sub.add_parser("curves", help="(workflow) train/test loss and accuracy per epoch of a study")
    p.add_argument("--runs", required=True)
    p.add_argument("--title", default="")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_curves)

    p = sub.add_parser("summary", help="(workflow) per-variant table of a study (T2, T3)")
    p.add_argument("--runs", required=True)
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_summary)

    p = sub.add_parser("envelope", help="(workflow) per-step min/max/mean of a probe over a study's runs")
    p.add_argument("--runs", required=True)
    p.add_argument("--probe", required=True)
    p.add_argument("--group-by", default="model")
    p.add_argument("--smoothing", type=int, default=1)
    p.add_argument("--title", default="")
    p.add_argument("--table", required=True)
    p.add_argument("--figure", required=True)
    p.set_defaults(func=cmd_envelope)

    p = sub.add_parser("architecture", help="(workflow) per-stage sizes, kernels, parameters, MACs of the ResNets")
    p.add_argument("--width", type=float, default=1.0)
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_architecture)

    p = sub.add_parser("filters", help="(workflow) first-layer filters of a trained run")
    p.add_argument("--run-dir", required=True)
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_filters)

    p = sub.add_parser("feature-maps", help="(workflow) feature maps of a test image through a ResNet stage")
    p.add_argument("--run-dir", required=True)
    p.add_argument("--runtime", required=True, help="results/runtime.json (for the data root)")
    p.add_argument("--stage", default="layer1")
    p.add_argument("--image", type=int, default=0)
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_feature_maps)

    p = sub.add_parser("hyperparameters", help="(workflow) Table 1 from a run's config.json")
    p.add_argument("--run-config", required=True)
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_hyperparameters)

    p = sub.add_parser("report", help="(workflow) render report/report.html")
    p.add_argument("--spec", required=True, help="what the report holds (JSON)")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_report)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `python -m ablate plan | head` ends quietly
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except (ConfigError, DataUnavailable) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
