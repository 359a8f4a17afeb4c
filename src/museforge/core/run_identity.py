"""What makes a training run the run it is, so ``--resume`` continues that run or refuses.

A checkpoint records the fingerprint of its data (the number of items and a hash of their
contents, or of the dataset's own ``fingerprint()``) and the training settings that shape
the weights. Resuming with other data, another seed or another batch size would silently
produce a run that is neither; ``mismatches`` names what differs so the loop can refuse in
one line, or record the change when the person asks for it on purpose.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import TensorDataset

# TrainConfig fields that change nothing about the weights: how often to log or save.
NOT_SHAPING = frozenset({"checkpoint_every", "log_every"})


def data_fingerprint(dataset: Any) -> dict[str, Any]:
    """``{"items": n, "sha256": ...}`` for tensors and TensorDatasets (every byte hashed),
    a dataset's own ``fingerprint()`` string when it has one, else its type and size."""
    digest = hashlib.sha256()
    if isinstance(dataset, Tensor):
        _hash_tensor(digest, dataset)
    elif isinstance(dataset, TensorDataset):
        for t in dataset.tensors:
            _hash_tensor(digest, t)
    elif hasattr(dataset, "fingerprint"):
        digest.update(str(dataset.fingerprint()).encode())
    else:
        digest.update(type(dataset).__qualname__.encode())
    return {"items": len(dataset), "sha256": digest.hexdigest()}


def shaping_config(config: Any) -> dict[str, Any]:
    """The training settings that shape the weights. ``steps`` shapes them only through a
    schedule that depends on the end (cosine); training longer on a constant or
    exponential schedule continues the same run."""
    values = {k: v for k, v in asdict(config).items() if k not in NOT_SHAPING}
    if values.get("lr_schedule") != "cosine":
        values.pop("steps", None)
    return values


def mismatches(saved: dict[str, Any], current: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """``(field, saved value, current value)`` for every field that differs."""
    keys = sorted(saved.keys() | current.keys())
    return [(k, saved.get(k), current.get(k)) for k in keys if saved.get(k) != current.get(k)]


def _hash_tensor(digest: Any, t: Tensor) -> None:
    t = t.detach().cpu().contiguous()
    digest.update(f"{t.dtype}{tuple(t.shape)}".encode())
    if t.dtype == torch.bfloat16:
        t = t.view(torch.int16)
    digest.update(t.numpy().tobytes())
