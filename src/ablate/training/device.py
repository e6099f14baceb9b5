"""How a run's arithmetic is done: the device it trains on and the precision policy. torch is imported only
inside the functions. The machine's facts (is there a GPU, which, the CPU's name) are ablate.execution.machine's:
the workflow reads them at parse time."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


def pick_device(name: str = "auto") -> torch.device:
    """auto = cuda if available, else mps, else cpu."""
    import torch

    if name != "auto":
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


@dataclass(frozen=True)
class Precision:
    """How a run's arithmetic is done on its device (the run's `precision`, resolved by ablate.plan)."""

    autocast: torch.dtype | None  # autocast to this dtype (torch.bfloat16), or none
    tf32: bool  # TF32 tensor cores for fp32 matmuls and convolutions (CUDA only)

    @property
    def label(self) -> str:
        return "bf16-autocast" if self.autocast is not None else ("tf32" if self.tf32 else "fp32")


def precision_policy(policy: str, device: torch.device) -> Precision:
    """fp32: true fp32 everywhere (probe runs are always fp32); tf32: fp32 with TF32 tensor cores on CUDA;
    bf16: bf16 autocast wherever it runs; auto: tf32 on CUDA, fp32 elsewhere. Not bf16 for auto: on an H200
    ResNet-18 at batch 128 trained 10,300 images/s with bf16 autocast and 15,000 with TF32 (32x32 images
    and batches of at most 256 are bound by kernel launches, and autocast adds cast kernels)."""
    import torch

    cuda = device.type == "cuda"
    if policy == "bf16":
        return Precision(torch.bfloat16, tf32=cuda)
    return Precision(None, tf32=cuda and policy in ("tf32", "auto"))


def apply_precision(precision: Precision) -> None:
    """Set the process-wide matmul/convolution precision: one run per process, so nothing leaks."""
    import torch

    torch.backends.cuda.matmul.allow_tf32 = precision.tf32
    torch.backends.cudnn.allow_tf32 = precision.tf32
    torch.set_float32_matmul_precision("high" if precision.tf32 else "highest")
