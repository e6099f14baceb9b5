"""Rule beta_vs_curvature (analysis.smk): Santurkar's effective β beside the Hessian's λ_max per run and step,
and the curvature probe's summary per model (section 2.6)."""

from ablate.execution.forkserver import delegate

delegate(__file__)  # in a child of the workflow's fork server, where it runs one

import argparse
from pathlib import Path

from ablate.analysis.curvature_figures import beta_curvature_figure
from ablate.analysis.curvature_tables import beta_and_curvature, curvature_summary
from ablate.analysis.figures import save
from ablate.analysis.members import StudyRuns
from ablate.errors import one_message

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--runs", required=True, help="results/studies/<study>/runs.csv")
parser.add_argument("--files", nargs="+", required=True, help="the run files the rule declares (config, steps)")
parser.add_argument("--group-by", default="model")
parser.add_argument("--title", default="")
parser.add_argument("--table", required=True)
parser.add_argument("--summary", required=True)
parser.add_argument("--figure", required=True)
args = parser.parse_args()
with one_message(f"beta_vs_curvature of {args.runs}"):
    study = StudyRuns.from_inputs(args.runs, args.files)
    table = beta_and_curvature(study, args.group_by)
    table.to_csv(args.table, index=False)
    curvature_summary(study, args.group_by).to_csv(args.summary, index=False)
    save(beta_curvature_figure(table, args.title), Path(args.figure))
