"""Rule member_weights (train.smk): a member's weights, a link to those its run kept after the member's epochs."""

from ablate.execution.forkserver import delegate

delegate(__file__)  # in a child of the workflow's fork server, where it runs one

import argparse
from pathlib import Path

from ablate.errors import one_message
from ablate.trajectory import member_weights

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--run-dir", required=True)
parser.add_argument("--epochs", type=int, required=True)
parser.add_argument("--out", required=True)
args = parser.parse_args()
with one_message(f"member_weights of {args.run_dir} after epoch {args.epochs}"):
    member_weights(Path(args.run_dir), args.epochs, Path(args.out))
