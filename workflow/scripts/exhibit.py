"""Rule exhibit (analysis.smk): a generic figure of ablate/exhibits.yaml, drawn by its entry's function from a
study's runs."""

from ablate.execution.forkserver import delegate

delegate(__file__)  # in a child of the workflow's fork server, where it runs one

import argparse
from pathlib import Path

from ablate.analysis.members import StudyRuns
from ablate.errors import one_message
from ablate.references import import_reference

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--function", required=True, help="the entry's function, module:attribute")
parser.add_argument("--runs", required=True, help="results/studies/<study>/runs.csv")
parser.add_argument("--files", nargs="+", required=True, help="the run files the rule declares")
parser.add_argument("--title", default="")
parser.add_argument("--out", required=True)
args = parser.parse_args()
with one_message(f"{args.function} of {args.runs}"):
    import_reference(args.function)(StudyRuns.from_inputs(args.runs, args.files), Path(args.out), args.title)
