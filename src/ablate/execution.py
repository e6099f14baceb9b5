"""Facts about the machine the workflow plans on, without importing torch (parse time stays fast)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from ablate.gpus import SIMULATED_GPUS

NVIDIA_DRIVER = Path("/proc/driver/nvidia/version")


def cuda_present() -> bool:
    """True where an NVIDIA driver is loaded (or nvidia-smi exists); torch.cuda would say the same, slower."""
    return NVIDIA_DRIVER.exists() or shutil.which("nvidia-smi") is not None


def uses_cuda(device: str) -> bool:
    """Whether train jobs with execution.device `device` will hold a GPU (and GPU slots, see ablate.gpus)."""
    return device == "cuda" or (device == "auto" and (cuda_present() or bool(os.environ.get(SIMULATED_GPUS))))


def cpu_name() -> str:
    """The CPU's model name (Linux), else the machine type: for the provenance of timings."""
    import platform

    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()
