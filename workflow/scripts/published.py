"""Rule published (analysis.smk): every number the original published beside ours, results/tables/published.csv."""

from ablate.execution.forkserver import delegate

delegate(__file__)  # in a child of the workflow's fork server, where it runs one

import argparse
from pathlib import Path

from ablate.analysis.members import StudyRuns
from ablate.analysis.published import write_published
from ablate.errors import one_message

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--published", required=True, help="config/published.yaml")
parser.add_argument("--runs", nargs="*", default=[], help="results/studies/<study>/runs.csv of the studies it names")
parser.add_argument("--files", nargs="*", default=[], help="the run files the rule declares (metrics, history)")
parser.add_argument("--out", required=True)
args = parser.parse_args()
with one_message(f"published ({args.published})"):
    studies = [StudyRuns.from_inputs(runs, args.files) for runs in args.runs]
    write_published(Path(args.published), studies, Path(args.out))
