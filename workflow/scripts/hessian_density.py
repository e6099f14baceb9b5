"""Rule hessian_density (analysis.smk): the Hessian's eigenvalue density of each run of a study at the steps its
curvature probe took it, as a figure (one panel per model) and a summary per run and step (section 2.6)."""

from ablate.execution.forkserver import delegate

delegate(__file__)  # in a child of the workflow's fork server, where it runs one


import argparse
from pathlib import Path

from ablate.analysis.density import density_figure, density_summary, study_densities
from ablate.analysis.figures import save
from ablate.analysis.members import StudyRuns
from ablate.errors import one_message

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--runs", required=True, help="results/studies/<study>/runs.csv")
parser.add_argument("--files", nargs="+", required=True, help="the run files the rule declares (config, density)")
parser.add_argument("--group-by", default="model")
parser.add_argument("--title", default="")
parser.add_argument("--summary", required=True)
parser.add_argument("--figure", required=True)
args = parser.parse_args()
with one_message(f"hessian_density of {args.runs}"):
    densities = study_densities(StudyRuns.from_inputs(args.runs, args.files), args.group_by)
    density_summary(densities).to_csv(args.summary, index=False)
    save(density_figure(densities, args.title), Path(args.figure))
