"""Wall-clock timing that one busy moment on a shared machine does not decide."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F


def best_of(fn: Callable[[], Any], repeats: int = 3) -> float:
    """The fastest of ``repeats`` calls of ``fn``, in seconds."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def reference_seconds(repeats: int = 3) -> float:
    """The fastest of ``repeats`` runs of a fixed computation: 8 convolutions of 64 to 64
    channels, 3 x 3, on a 256 x 256 map (4.8 GFLOP, like a VGG block), with the caller's
    threads. A time divided by this one changes little with how busy a shared machine is."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1, 64, 256, 256, generator=g)
    w = torch.randn(64, 64, 3, 3, generator=g) / 24

    def work() -> None:
        y = x
        with torch.no_grad():
            for _ in range(8):
                y = F.conv2d(y, w, padding=1)

    work()
    return best_of(work, repeats)


def load_average() -> list[float]:
    """The machine's 1, 5 and 15 minute load averages, rounded (Unix only)."""
    return [round(x, 2) for x in os.getloadavg()]
