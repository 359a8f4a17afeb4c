"""Pieces every model card shares: the machine a model was trained on, the resumed runs."""

from __future__ import annotations

import os
import platform
from pathlib import Path

import torch


def hardware() -> str:
    """The CPU model, the cores this process may use, the GPU if any, and PyTorch's version."""
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return f"{cpu}, {cores} cores, {gpu}, PyTorch {torch.__version__}"


def resumes(commands: list[str]) -> str:
    """``; then `cmd`; `cmd2``` for a run that was resumed, else nothing."""
    return "; then " + "; ".join(f"`{c}`" for c in commands) if commands else ""
