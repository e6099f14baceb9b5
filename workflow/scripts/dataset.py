"""Rule dataset (data.smk): fetch (cifar10 with download), check and decode the data once: the identity's
splits as arrays in --out, and its manifest beside them."""

from ablate.execution.forkserver import delegate

delegate(__file__)  # in a child of the workflow's fork server, where it runs one

import argparse

from ablate import rundir
from ablate.data.datasets import prepare
from ablate.errors import one_message

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--identity", required=True, help="results/plan/data/<dataset>.json")
parser.add_argument("--root", required=True)
parser.add_argument("--download", action="store_true")
parser.add_argument("--out", required=True, help="results/data/<dataset>: the decoded splits")
parser.add_argument("--fingerprint", default="", help="the source's, from parse time: recorded in the manifest")
args = parser.parse_args()
with one_message(f"dataset check of {args.root}"):
    prepare(rundir.read_json(args.identity), args.root, args.download, args.out, args.fingerprint)
