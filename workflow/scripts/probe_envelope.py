"""Rule probe_envelope (analysis.smk): per step, the band of one probe over a study's runs, per model."""

import argparse
from pathlib import Path

from ablate.analysis.envelopes import probe_envelopes
from ablate.analysis.figures import envelope_figure

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--runs", required=True, help="results/studies/<study>/runs.csv")
parser.add_argument("--probe", required=True)
parser.add_argument("--group-by", default="model")
parser.add_argument("--smoothing", type=int, default=1)
parser.add_argument("--title", default="")
parser.add_argument("--table", required=True)
parser.add_argument("--figure", required=True)
args = parser.parse_args()
table = probe_envelopes(Path(args.runs), args.probe, args.group_by, args.smoothing)
table.to_csv(args.table, index=False)
envelope_figure(table, args.probe, Path(args.figure), title=args.title)
