"""Several processes under ``torchrun``: joining the group, agreeing, and who writes files.

Every rank runs the same command. Rank 0 alone writes files (data caches, checkpoints,
exported models); the others wait for it where they need what it wrote.
"""

from __future__ import annotations

import importlib
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor


def device() -> torch.device:
    """Where to train: ``$MUSEFORGE_DEVICE`` when set (``cpu`` leaves a busy GPU alone),
    else CUDA, then Apple's MPS, then the CPU."""
    if os.environ.get("MUSEFORGE_DEVICE"):
        return torch.device(os.environ["MUSEFORGE_DEVICE"])
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def launched() -> bool:
    """Whether this process is one of several that torchrun started."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def rank() -> int:
    """This process's rank: from the process group, else torchrun's environment, else 0."""
    if dist.is_initialized():
        return dist.get_rank()
    return int(os.environ.get("RANK", "0"))


def is_main_process() -> bool:
    return rank() == 0


@contextmanager
def session() -> Iterator[tuple[int, int, torch.device]]:
    """(rank, world size, device), joining torchrun's process group when there is one.

    A group this function starts it also ends; one the caller started is left alone, so a
    CLI can open a session around data preparation and training alike.
    """
    if not launched():
        yield 0, 1, device()
        return
    # Every rank must pick the same backend: NCCL only when each local rank has a GPU.
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    if device().type == "cuda" and torch.cuda.device_count() >= local_world:
        dev = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(dev)
        backend, options = "nccl", {"device_id": dev}
    else:
        dev, backend, options = torch.device("cpu"), "gloo", {}
    owns_group = not dist.is_initialized()
    if owns_group:
        # torch._dynamo, imported by DDP and the optimizers, keeps alive a process group made
        # before its import, and gloo's threads then abort the process at exit.
        importlib.import_module("torch._dynamo")
        dist.init_process_group(backend, **options)
    try:
        yield dist.get_rank(), dist.get_world_size(), dev
    finally:
        if owns_group:
            # A gloo thread frees a finished collective's tensors only once it holds the GIL;
            # hand it over before the threads are joined, or the two wait on each other.
            time.sleep(0.05)
            dist.destroy_process_group()


@contextmanager
def main_process_first() -> Iterator[None]:
    """Rank 0 runs the body first (building a data cache, say); the others run it after,
    when they find its files in place. Without a process group it just runs the body."""
    waits = dist.is_initialized() and dist.get_world_size() > 1
    if waits and dist.get_rank() != 0:
        dist.barrier()
    try:
        yield
    finally:
        if waits and dist.get_rank() == 0:
            dist.barrier()


def any_rank(flag: bool, world: int, dev: torch.device) -> bool:
    """Ranks see a signal (or a bad number) at different steps; they must all act alike."""
    if world == 1:
        return flag
    t = torch.tensor([float(flag)], device=dev)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


def gather_to_main(obj: Any, world: int) -> list[Any]:
    """Every rank's ``obj`` on rank 0 (a list by rank); the others get ``[obj]``.

    For small state such as RNG streams; the objects travel between this run's own
    processes only.
    """
    if world == 1:
        return [obj]
    gathered: list[Any] = [None] * world if dist.get_rank() == 0 else []
    dist.gather_object(obj, gathered if dist.get_rank() == 0 else None, dst=0)
    return gathered if dist.get_rank() == 0 else [obj]


def scatter_from_main(objs: list[Any] | None, world: int) -> Any:
    """Rank r gets ``objs[r]`` of rank 0's list."""
    if world == 1:
        return objs[0] if objs else None
    out: list[Any] = [None]
    dist.scatter_object_list(out, objs if dist.get_rank() == 0 else None, src=0)
    return out[0]


def mean_over_ranks(
    loss: Tensor, metrics: dict[str, Any], world: int
) -> tuple[float, dict[str, float]]:
    """The loss and metrics averaged over all ranks, as plain numbers."""
    names = sorted(metrics)
    values = torch.stack(
        [loss.detach().float().reshape(())]
        + [
            torch.as_tensor(metrics[k], dtype=torch.float32).to(loss.device).reshape(())
            for k in names
        ]
    ).detach()
    if world > 1:
        dist.all_reduce(values)  # gloo has no AVG
        values /= world
    loss_value, *rest = values.tolist()
    return loss_value, dict(zip(names, rest, strict=True))
