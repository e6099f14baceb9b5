"""Rule probe_envelope (analysis.smk): per step, the band of one probe over a study's runs, per model."""

from ablate.execution.forkserver import delegate

delegate(__file__)  # in a child of the workflow's fork server, where it runs one

import argparse
from pathlib import Path

from ablate.analysis.envelopes import probe_envelopes
from ablate.analysis.figures import envelope_figure
from ablate.analysis.members import StudyRuns
from ablate.errors import one_message

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--runs", required=True, help="results/studies/<study>/runs.csv")
parser.add_argument("--files", nargs="+", required=True, help="the run files the rule declares (config, steps)")
parser.add_argument("--probe", required=True)
parser.add_argument("--group-by", default="model")
parser.add_argument("--smoothing", type=int, default=1)
parser.add_argument("--title", default="")
parser.add_argument("--table", required=True)
parser.add_argument("--figure", required=True)
args = parser.parse_args()
with one_message(f"probe_envelope {args.probe} of {args.runs}"):
    study = StudyRuns.from_inputs(args.runs, args.files)
    table = probe_envelopes(study, args.probe, args.group_by, args.smoothing)
    table.to_csv(args.table, index=False)
    envelope_figure(table, args.probe, Path(args.figure), title=args.title)
