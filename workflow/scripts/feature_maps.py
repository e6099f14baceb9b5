"""Rule feature_maps (interpret.smk): a test image's feature maps through one stage of a trained ResNet
(Figure 10)."""

from ablate.execution.forkserver import delegate

delegate(__file__)  # in a child of the workflow's fork server, where it runs one

import argparse
from pathlib import Path

from ablate import rundir
from ablate.analysis.interpret import block_feature_maps, sample_image
from ablate.errors import one_message

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--run-dir", required=True)
parser.add_argument("--weights", required=True, help="the member's weights (results/weights/<run>/epoch<n>.pt)")
parser.add_argument("--runtime", required=True, help="results/runtime.json (for the decoded data)")
parser.add_argument("--stage", default="layer1")
parser.add_argument("--image", type=int, default=0)
parser.add_argument("--out", required=True)
args = parser.parse_args()
with one_message(f"feature_maps of {args.run_dir}"):
    runtime = rundir.read_json(args.runtime)
    image = sample_image(rundir.read_config(args.run_dir), runtime["data_root"], args.image, runtime["decoded_data"])
    block_feature_maps(Path(args.run_dir), image, Path(args.out), stage=args.stage, weights=Path(args.weights))
