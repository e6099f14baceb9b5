"""Rule hyperparameters (analysis.smk): Table 1, the basic network's hyperparameters, from its run's config."""

import argparse
from pathlib import Path

from ablate.analysis.tables import write_hyperparameters

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--run-config", required=True, help="results/runs/<run>/config.json")
parser.add_argument("--out", required=True)
args = parser.parse_args()
write_hyperparameters(Path(args.run_config), Path(args.out))
