"""Rule study_summary (analysis.smk): a study's per-variant table (Tables 2 and 3), mean ± sd over seeds."""

import argparse
from pathlib import Path

from ablate.analysis.tables import write_study_summary

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--runs", required=True, help="results/studies/<study>/runs.csv")
parser.add_argument("--out", required=True)
args = parser.parse_args()
write_study_summary(Path(args.runs), Path(args.out))
