"""Rule architecture (interpret.smk): the ResNets' stages, output sizes, kernels, parameters and MACs
(Figure 8), measured by a forward pass."""

from ablate.execution.forkserver import delegate

delegate(__file__)  # in a child of the workflow's fork server, where it runs one

import argparse
from pathlib import Path

from ablate.analysis.architecture import write_architecture_table
from ablate.errors import one_message

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--width", type=float, default=1.0)
parser.add_argument("--out", required=True)
args = parser.parse_args()
with one_message("architecture"):
    write_architecture_table(Path(args.out), width=args.width)
