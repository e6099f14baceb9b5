"""Rule report (report.smk): report/report.html, one self-contained page with every table and figure."""

from ablate.execution.forkserver import delegate

delegate(__file__)  # in a child of the workflow's fork server, where it runs one

import argparse
from pathlib import Path

from ablate import rundir
from ablate.errors import one_message
from ablate.report.render import render_report

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--spec", required=True, help="results/report/spec.json (ablate.report.spec)")
parser.add_argument("--out", required=True)
args = parser.parse_args()
with one_message(f"report from {args.spec}"):
    render_report(rundir.read_json(args.spec), Path(args.out))
