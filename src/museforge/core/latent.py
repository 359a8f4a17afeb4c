"""Paths through a latent space drawn from N(0, I), shared by every medium's generators."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def slerp(a: Tensor, b: Tensor, t: Tensor | float) -> Tensor:
    """Spherical interpolation from ``a`` to ``b`` ``[N, D]``, row by row; ``t`` broadcasts
    over rows and gives ``a`` and ``b`` bit for bit at 0 and 1.

    Codes from N(0, I) lie near a sphere; slerp stays near it where a straight line would
    pass through the unlikely centre (White 2016, "Sampling Generative Networks").
    """
    cos = F.cosine_similarity(a, b, dim=-1).clamp(-1.0, 1.0)
    omega = torch.arccos(cos)[:, None]
    t = torch.as_tensor(t, dtype=a.dtype).reshape(-1, 1)
    sin = torch.sin(omega)
    near = sin.abs() < 1e-6  # (anti)parallel codes: slerp becomes a straight line
    safe = torch.where(near, torch.ones_like(sin), sin)
    curved = (torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / safe
    path = torch.where(near, torch.lerp(a, b, t), curved)
    return torch.where(t == 0, a, torch.where(t == 1, b, path))
