"""Rule study_summary (analysis.smk): a study's per-variant table (Tables 2 and 3), mean ± sd over seeds."""

from ablate.execution.forkserver import delegate

delegate(__file__)  # in a child of the workflow's fork server, where it runs one

import argparse
from pathlib import Path

from ablate.analysis.members import StudyRuns
from ablate.analysis.summary import write_study_summary
from ablate.errors import one_message

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--runs", required=True, help="results/studies/<study>/runs.csv")
parser.add_argument("--files", nargs="+", required=True, help="the run files it declares: config, metrics, history")
parser.add_argument("--out", required=True)
args = parser.parse_args()
with one_message(f"study_summary of {args.runs}"):
    write_study_summary(StudyRuns.from_inputs(args.runs, args.files), Path(args.out))
