"""Rule surface_figure (analysis.smk): a study's surfaces side by side on shared levels, one column per model,
and the runs' paths from initial to final weights, with a table of their loss ranges (section 2.6)."""

from ablate.execution.forkserver import delegate

delegate(__file__)  # in a child of the workflow's fork server, where it runs one

import argparse
from pathlib import Path

import pandas as pd

from ablate.analysis.curvature_figures import surface_figure
from ablate.analysis.curvature_tables import surface_summary
from ablate.analysis.envelopes import group_label
from ablate.analysis.figures import save
from ablate.analysis.members import StudyRuns
from ablate.analysis.surface import require_finite
from ablate.errors import one_message

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--runs", required=True, help="results/studies/<study>/runs.csv")
parser.add_argument("--files", nargs="+", required=True, help="the run files the rule declares (config)")
parser.add_argument(
    "--grids", nargs="+", required=True, help="results/analysis/<study>/surface/<run>/epoch<n>/grid.csv"
)
parser.add_argument("--paths", nargs="+", required=True, help="the same runs' interpolation.csv")
parser.add_argument("--group-by", default="model")
parser.add_argument("--title", default="")
parser.add_argument("--out", required=True)
parser.add_argument("--summary", required=True, help="per run: the loss range of its grid and along its path")
args = parser.parse_args()
with one_message(f"surface_figure of {args.runs}"):
    study = StudyRuns.from_inputs(args.runs, args.files)
    members = study.members.drop_duplicates(["run", "epochs"])
    variants = {(m.run, m.epochs): m.variant for m in members.itertuples()}
    grids, paths, groups = {}, {}, {}
    for grid, path in zip(args.grids, args.paths, strict=True):
        run, epochs = Path(grid).parent.parent.name, int(Path(grid).parent.name.removeprefix("epoch"))
        label = str(variants[run, epochs])
        grids[label] = require_finite(pd.read_csv(grid), grid, ["alpha", "beta"])
        paths[label] = require_finite(pd.read_csv(path), path, ["t"])
        groups[label] = group_label(study.config(run, epochs), args.group_by)
    surface_summary(grids, paths, groups).to_csv(args.summary, index=False)
    save(surface_figure(grids, paths, groups, args.title), Path(args.out))
