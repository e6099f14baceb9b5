"""Rule filters (interpret.smk): the first-layer filters of a trained ResNet (Figure 9)."""

from ablate.execution.forkserver import delegate

delegate(__file__)  # in a child of the workflow's fork server, where it runs one

import argparse
from pathlib import Path

from ablate.analysis.interpret import first_layer_filters
from ablate.errors import one_message

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--run-dir", required=True)
parser.add_argument("--weights", required=True, help="the member's weights (results/weights/<run>/epoch<n>.pt)")
parser.add_argument("--out", required=True)
args = parser.parse_args()
with one_message(f"filters of {args.run_dir}"):
    first_layer_filters(Path(args.run_dir), Path(args.out), Path(args.weights))
