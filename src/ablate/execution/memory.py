"""How much GPU memory a train job needs, estimated without torch from its model's footprint in
ablate/registry.yaml, so that the workflow can size a job's GPU slots (or SLURM shards) at parse time."""

from __future__ import annotations

import math
from collections.abc import Mapping

from ablate.registry import MODELS

# What a train job holds besides its tensors: the CUDA context, cuDNN/cuBLAS workspaces, the caching
# allocator's slack, and CIFAR-10 as uint8 on the device (184 MB).
BASE_MB = 1500
# The caching allocator rounds and fragments: what it reserves exceeds the tensors autograd keeps.
ALLOCATOR_FACTOR = 1.3


def train_memory_mb(run: Mapping, eval_batch_size: int = 1000) -> int:
    """Estimated peak GPU memory of one train job, from the model's footprint (ablate/registry.yaml: parameters
    and the bytes autograd saves per image, counted at width 1 by ablate.training.models.measure_footprint)
    scaled by width (activations ~ width, parameters ~ width^2)."""
    params, saved_bytes, largest_bytes = MODELS[run["model"]].footprint
    width = run.get("width", 1.0)
    # weights, gradients and up to two optimizer states (Adam); probes keep about as much again
    param_mb = params * width**2 * 4 * (8 if run.get("probes") else 4) / 2**20
    train_mb = run["batch_size"] * saved_bytes * width / 2**20
    # the test pass (no autograd): an input and an output of the largest layer per image
    eval_mb = eval_batch_size * 2 * largest_bytes * width / 2**20
    return math.ceil(BASE_MB + param_mb + ALLOCATOR_FACTOR * max(train_mb, eval_mb))
