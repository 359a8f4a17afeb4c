"""How well a melody VAE rebuilds held-out melodies, measured as MusicVAE measures it.

MusicVAE (Roberts et al. 2018, table 1) reports per-step reconstruction accuracy over all
steps of held-out sequences, twice: teacher-forced (each step predicted from the true
previous events) and sampled (the whole sequence decoded from the mean code of q(z|x),
each step from the model's own previous choices; greedy here, so the figure is exact).
"""

from __future__ import annotations

import numpy as np
import torch

from museforge.errors import UserError
from museforge.music.model import MelodyVAE


@torch.no_grad()
def reconstruction_accuracy(
    model: MelodyVAE, windows: np.ndarray | torch.Tensor, batch_size: int = 256
) -> dict[str, float]:
    """Teacher-forced and sampled per-step accuracy of rebuilding ``windows`` [N, steps]."""
    x_all = torch.as_tensor(np.asarray(windows), dtype=torch.long)
    if x_all.ndim != 2 or len(x_all) == 0:
        raise UserError(f"need a non-empty 2-d array of windows, got shape {tuple(x_all.shape)}")
    device = next(model.parameters()).device
    teacher_forced = sampled = 0
    for x in x_all.split(batch_size):
        x = x.to(device)
        mu, _ = model.encode(x)
        teacher_forced += (model(x, mu).argmax(dim=-1) == x).sum().item()
        sampled += (model.decode(mu, steps=x.shape[1], temperature=0.0) == x).sum().item()
    total = x_all.numel()
    return {
        "recon_acc_teacher_forced": teacher_forced / total,
        "recon_acc_sampled": sampled / total,
    }
