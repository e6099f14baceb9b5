"""Rule findings (analysis.smk): each claim of ablate/analysis/claims.yaml with our numbers and its verdict, for the
report's section "What the runs show" (ablate.analysis.claims, ablate.analysis.findings)."""

from ablate.execution.forkserver import delegate

delegate(__file__)  # in a child of the workflow's fork server, where it runs one


import argparse
from pathlib import Path

from ablate.analysis.claims import findings_table, summaries
from ablate.analysis.members import StudyRuns
from ablate.errors import one_message

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--runs", nargs="*", default=[], help="results/studies/<study>/runs.csv of the claims' studies")
parser.add_argument("--files", nargs="*", default=[], help="the run files the rule declares")
parser.add_argument("--analyses", nargs="*", default=[], help="their Hessian density and surface summaries")
parser.add_argument("--toy", default="", help="how the config departs from the full study (empty: it does not)")
parser.add_argument("--out", required=True)
args = parser.parse_args()
with one_message("findings"):
    studies = {Path(runs).parent.name: StudyRuns.from_inputs(runs, args.files) for runs in args.runs}
    tables = {name: summaries(args.analyses, name) for name in studies}
    findings_table(studies, tables, args.toy).to_csv(args.out, index=False)
