"""Where a run executes and how its arithmetic is done: the machine's facts (read at parse time, so this
module imports torch only inside the functions that need it), the device, and the precision policy."""

from __future__ import annotations

import os
import platform
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

NVIDIA_DRIVER = Path("/proc/driver/nvidia/version")
# "G" or "GxMEM_MB": pretend the machine has G GPUs of MEM_MB each (default 80,000). Train jobs then claim
# slots as on a GPU machine (ablate.training.gpus) but train on the CPU: for testing the scheduling on
# machines without GPUs.
SIMULATED_GPUS = "ABLATE_SIMULATED_GPUS"


def cuda_present() -> bool:
    """True where an NVIDIA driver is loaded (or nvidia-smi exists); torch.cuda would say the same, slower."""
    return NVIDIA_DRIVER.exists() or shutil.which("nvidia-smi") is not None


def uses_cuda(device: str) -> bool:
    """Whether train jobs with execution.device `device` will hold a GPU (and GPU slots, see ablate.training.gpus)."""
    return device == "cuda" or (device == "auto" and (cuda_present() or bool(os.environ.get(SIMULATED_GPUS))))


def cpu_name() -> str:
    """The CPU's model name (Linux), else the machine type: for the provenance of timings."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


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
