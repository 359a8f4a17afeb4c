"""How well a melody VAE rebuilds held-out melodies, measured as MusicVAE measures it.

MusicVAE (Roberts et al. 2018, table 1) reports per-step reconstruction accuracy over all
steps of held-out sequences, teacher-forced (each step predicted from the true previous
events) and sampled (the whole sequence decoded from a code of q(z|x), each step drawn from
the model's own previous choices). Three figures here:

- ``recon_acc_teacher_forced``: each step's most likely event given the true past;
- ``recon_acc_greedy``: decoded from the mean code, each step the most likely event
  (deterministic, so it marks the best checkpoint);
- ``recon_acc_sampled``: decoded from the mean code with each step drawn at temperature 1
  (seeded), the paper's sampled figure.

A stacked (16-bar) model's predictions hold a note over a segment seam where it predicts a
tie (``stacked.carry_seams``), so every seam is scored as the melody has it. For such a
model (with ``seam_ties``) two more figures of the greedy reconstructions:
``seam_ties_held``, the share of the seams a note is tied over that the reconstruction holds
too, and ``seam_ties_false``, the share of the other seams that it holds (a note the melody
strikes again, or ends, played held on).
"""

from __future__ import annotations

import numpy as np
import torch

from museforge.errors import UserError
from museforge.music.model import MelodyVAE
from museforge.music.stacked import StackedMelodyVAE, carry_seams, seam_ties


@torch.no_grad()
def reconstruction_accuracy(
    model: MelodyVAE | StackedMelodyVAE,
    windows: np.ndarray | torch.Tensor,
    batch_size: int = 256,
    seed: int = 0,
) -> dict[str, float]:
    """Teacher-forced, greedy and sampled per-step accuracy of rebuilding ``windows``
    [N, steps]; the sampled figure is drawn with a generator seeded by ``seed``."""
    x_all = torch.as_tensor(np.asarray(windows), dtype=torch.long)
    if x_all.ndim != 2 or len(x_all) == 0:
        raise UserError(f"need a non-empty 2-d array of windows, got shape {tuple(x_all.shape)}")
    device = next(model.parameters()).device
    generator = torch.Generator(device=device).manual_seed(seed)
    stacked = isinstance(model, StackedMelodyVAE)
    scored_seams = stacked and model.config.seam_ties
    hits = {"teacher_forced": 0, "greedy": 0, "sampled": 0}
    seams = {"tied": 0, "held": 0, "untied": 0, "false": 0}
    for x in x_all.split(batch_size):
        x = x.to(device)
        mu, _ = model.encode(x)
        predicted = model(x, mu).argmax(dim=-1)
        if stacked:
            length = model.segment_steps
            ties = model.ties(mu, -(-x.shape[1] // length))
            predicted = carry_seams(predicted, length, ties, history=x)
        hits["teacher_forced"] += (predicted == x).sum().item()
        steps = x.shape[1]
        greedy = model.decode(mu, steps=steps, temperature=0.0)
        hits["greedy"] += (greedy == x).sum().item()
        if scored_seams:
            tied = seam_ties(x, model.segment_steps)[:, 1:].bool()
            held = seam_ties(greedy, model.segment_steps)[:, 1:].bool()
            seams["tied"] += tied.sum().item()
            seams["held"] += (held & tied).sum().item()
            seams["untied"] += (~tied).sum().item()
            seams["false"] += (held & ~tied).sum().item()
        drawn = model.decode(mu, steps=steps, temperature=1.0, generator=generator)
        hits["sampled"] += (drawn == x).sum().item()
    total = x_all.numel()
    scores = {f"recon_acc_{name}": count / total for name, count in hits.items()}
    if scored_seams:
        scores["seam_ties_held"] = seams["held"] / seams["tied"] if seams["tied"] else None
        scores["seam_ties_false"] = seams["false"] / seams["untied"] if seams["untied"] else None
    return scores
