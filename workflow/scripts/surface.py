"""Rule surface (analysis.smk): Li et al.'s 2-D loss surface around one run's final weights and the 1-D path
from its initial to its final weights, with its study's `surface` settings as the config schema has them
(ablate.analysis.run_surface)."""

from ablate.execution.forkserver import delegate

delegate(__file__)  # in a child of the workflow's fork server, where it runs one

import argparse

import torch

from ablate import rundir
from ablate.analysis.run_surface import run_surface
from ablate.errors import one_message
from ablate.registry import load_yaml

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--run-dir", required=True)
parser.add_argument("--weights", required=True, help="the member's weights (results/weights/<run>/epoch<n>.pt)")
parser.add_argument("--runtime", required=True, help="results/runtime.json (decoded data, eval batch size)")
parser.add_argument("--settings", nargs="+", required=True, metavar="KEY=VALUE", help="the study's `surface` settings")
parser.add_argument("--threads", type=int, default=1)
parser.add_argument("--grid", required=True)
parser.add_argument("--path", required=True)
args = parser.parse_args()
with one_message(f"surface of {args.run_dir}"):
    torch.set_num_threads(args.threads)
    runtime = rundir.read_json(args.runtime)
    settings = {key: load_yaml(value) for key, value in (word.split("=", 1) for word in args.settings)}
    grid, path = run_surface(
        args.run_dir,
        runtime["data_root"],
        settings,
        runtime["eval_batch_size"],
        args.weights,
        decoded=runtime["decoded_data"],  # the data job's arrays
    )
    grid.to_csv(args.grid, index=False)
    path.to_csv(args.path, index=False)
