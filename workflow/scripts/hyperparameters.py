"""Rule hyperparameters (analysis.smk): Table 1, the basic network's hyperparameters, from its run's config."""

from ablate.execution.forkserver import delegate

delegate(__file__)  # in a child of the workflow's fork server, where it runs one

import argparse
from pathlib import Path

from ablate.analysis.hyperparameters import write_hyperparameters
from ablate.errors import one_message

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--run-config", required=True, help="results/plan/runs/<run>.json: the run's identity")
parser.add_argument("--epochs", type=int, required=True, help="the member's epochs")
parser.add_argument("--out", required=True)
args = parser.parse_args()
with one_message(f"hyperparameters of {args.run_config}"):
    write_hyperparameters(Path(args.run_config), args.epochs, Path(args.out))
