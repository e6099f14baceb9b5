"""Rule study_curves (analysis.smk): train/test loss and accuracy per epoch of a study's variants."""

import argparse
from pathlib import Path

from ablate.analysis.figures import study_curves

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--runs", required=True, help="results/studies/<study>/runs.csv")
parser.add_argument("--title", default="")
parser.add_argument("--out", required=True)
args = parser.parse_args()
study_curves(Path(args.runs), Path(args.out), title=args.title)
