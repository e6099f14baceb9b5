"""The machine's facts that rules (at parse time) and train jobs both read: whether an NVIDIA driver is
there, which GPUs this process may use and their memory (nvidia-smi, narrowed by CUDA_VISIBLE_DEVICES), the
CPU's name, and whether TensorBoard is installed. Torch-free: torch.cuda would say the same, slower."""

from __future__ import annotations

import importlib.util
import os
import platform
import shutil
import subprocess
from pathlib import Path

from ablate.errors import ConfigError

NVIDIA_DRIVER = Path("/proc/driver/nvidia/version")
NVIDIA_GPUS = Path("/proc/driver/nvidia/gpus")
# "G" or "GxMEM_MB": pretend the machine has G GPUs of MEM_MB each (default 80,000). Train jobs then claim
# slots as on a GPU machine (ablate.execution.claims) but train on the CPU: for testing the scheduling on
# machines without GPUs. Read by uses_cuda and ablate.execution.pool.detect_pool.
SIMULATED_GPUS = "ABLATE_SIMULATED_GPUS"


def cuda_present() -> bool:
    """True where an NVIDIA driver is loaded (or nvidia-smi exists); torch.cuda would say the same, slower."""
    return NVIDIA_DRIVER.exists() or shutil.which("nvidia-smi") is not None


def uses_cuda(device: str) -> bool:
    """Whether train jobs with execution.device `device` will hold a GPU (and GPU slots, see ablate.execution.pool)."""
    return device == "cuda" or (device == "auto" and (cuda_present() or bool(os.environ.get(SIMULATED_GPUS))))


def cpu_name() -> str:
    """The CPU's model name (Linux), else the machine type: for the provenance of timings."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _nvidia_smi(query: str) -> list[str]:
    try:
        result = subprocess.run(
            ["nvidia-smi", f"--query-gpu={query}", "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired):
        return []
    return result.stdout.split("\n") if result.returncode == 0 else []


def visible_gpus() -> dict[int, int]:
    """The GPUs this process may use, index (as the machine counts them) -> memory in MB: those nvidia-smi
    lists, narrowed by CUDA_VISIBLE_DEVICES. A driver without nvidia-smi: its GPUs with memory 0 (unknown)."""
    rows = [row.split(",") for row in _nvidia_smi("index,memory.total") if row.strip()]
    memory_of = {int(index): int(float(total)) for index, total in rows}
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        keep = [int(x) for x in visible.split(",") if x.strip().isdigit()]
        memory_of = {i: memory_of[i] for i in keep if i in memory_of}
    if not memory_of and visible is None and NVIDIA_GPUS.is_dir():
        # a driver without nvidia-smi: count the GPUs; their memory must come from the config
        memory_of = dict.fromkeys(range(len(list(NVIDIA_GPUS.iterdir()))), 0)
    return memory_of


def require_tensorboard() -> None:
    """Stop with one message where execution.tensorboard is on but the package is not installed (an extra)."""
    if importlib.util.find_spec("tensorboard") is None:
        raise ConfigError(
            "config error at execution.tensorboard: true, but the tensorboard package is not installed: "
            "pip install -e '.[tensorboard]' -c constraints.txt, or set it to false"
        )
