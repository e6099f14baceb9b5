"""Rule train (train.smk): train or resume one run into its run directory. The options after --log override
results/runtime.json, for running a train job by hand."""

from ablate.execution.forkserver import delegate

delegate(__file__)  # in a child of the workflow's fork server, where it runs one

import argparse
import gc

from ablate.errors import one_message
from ablate.training.job import train_job

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--run-config", required=True, help="results/plan/runs/<run>.json")
parser.add_argument("--run-dir", required=True)
parser.add_argument("--length", help="results/plan/lengths/<run>/epochs<n>.json: the epochs to train it to")
parser.add_argument("--epochs", type=int, help="instead of --length, by hand: train (or grow) it to this many")
parser.add_argument("--runtime", help="results/runtime.json: device, compile, eval_batch_size, data_root, GPUs")
parser.add_argument("--threads", type=int)
parser.add_argument("--log", help="append one line per epoch here and print it to stdout (else to stderr)")
parser.add_argument("--device", help="auto, cpu, cuda or mps")
parser.add_argument("--compile", action="store_true", default=None)
parser.add_argument("--eval-batch-size", type=int)
parser.add_argument("--data-root")
args = parser.parse_args()
overrides = {
    "device": args.device,
    "compile": args.compile,
    "eval_batch_size": args.eval_batch_size,
    "data_root": args.data_root,
}
with one_message(f"train {args.run_dir}"):
    length = {"epochs": args.epochs, "weights_at": [args.epochs]} if args.epochs else args.length
    train_job(args.run_config, args.run_dir, args.runtime, args.threads, args.log, overrides, length)
# Python's exit collects through every object still there (those of the compiler stack that torch.optim imports,
# which the job's freeze after torch's import missed): 0.3 s of a smoke job, for a process that ends anyway.
gc.freeze()
