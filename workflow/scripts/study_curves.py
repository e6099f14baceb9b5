"""Rule study_curves (analysis.smk): train/test loss and accuracy per epoch of a study's variants."""

from ablate.execution.forkserver import delegate

delegate(__file__)  # in a child of the workflow's fork server, where it runs one

import argparse
from pathlib import Path

from ablate.analysis.figures import study_curves
from ablate.analysis.members import StudyRuns
from ablate.errors import one_message

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--runs", required=True, help="results/studies/<study>/runs.csv")
parser.add_argument("--files", nargs="+", required=True, help="the run files the rule declares")
parser.add_argument("--title", default="")
parser.add_argument("--out", required=True)
args = parser.parse_args()
with one_message(f"study_curves of {args.runs}"):
    study_curves(StudyRuns.from_inputs(args.runs, args.files), Path(args.out), title=args.title)
