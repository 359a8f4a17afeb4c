"""Melody models adapted to a new corpus: fine-tuning with frozen parts and learning-rate
scales, and domain-adversarial adaptation of the latent codes (``core/transfer.py``).

With ``--adapt-from SOURCE --domain-adversarial W`` a small domain classifier learns to tell
the codes mu of q(z|x) of source windows from those of the target's, and the encoder, seen
through a gradient reversal layer, learns to make them alike, so the target's tunes land
where the decoder knows its way. The loss on a target batch becomes
recon + KL + W * BCE(classifier(reverse(mu)), domain), the reversal weighted by DANN's
lambda_p over training progress.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from museforge.core.transfer import DomainClassifier, dann_lambda, domain_adversarial_loss
from museforge.errors import UserError
from museforge.music.augment import random_transpose
from museforge.music.data import load_dataset
from museforge.music.model import MelodyVAE

SOURCE_STREAM = 7  # keeps the source batches' draws apart from the target's transpositions


@dataclass
class Adaptation:
    """Where the source windows come from and how much the domain term weighs."""

    source: Tensor  # source windows [N, steps]
    weight: float  # W above
    steps: int  # the run's steps, for lambda_p's progress
    transpose: int = 5

    def source_batch(self, size: int, step: int, seed: int) -> Tensor:
        """``size`` source windows for ``step``, drawn and transposed by a seeded generator."""
        mixed = np.random.SeedSequence([seed, step, SOURCE_STREAM]).generate_state(1)[0]
        gen = torch.Generator().manual_seed(int(mixed))
        rows = torch.randint(len(self.source), (size,), generator=gen)
        return random_transpose(self.source[rows], self.transpose, gen)


class AdaptingVAE(nn.Module):
    """A melody VAE with the domain classifier it trains against; saves as the VAE alone."""

    def __init__(self, vae: MelodyVAE) -> None:
        super().__init__()
        self.vae = vae
        self.domain = DomainClassifier(vae.config.z_dim)

    @property
    def config(self) -> Any:
        return self.vae.config

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        return self.vae.encode(x)

    def forward(self, x: Tensor, z: Tensor, teacher_forcing_prob: float = 1.0) -> Tensor:
        return self.vae(x, z, teacher_forcing_prob)

    def save_pretrained(self, path: str | Path, extra: dict | None = None) -> Path:
        return self.vae.save_pretrained(path, extra=extra)


def load_source(source: str | Path, bars: int) -> Tensor:
    """The training windows of a source melody cache."""
    windows = load_dataset(source).windows(bars, "train")
    if len(windows) == 0:
        raise UserError(f"{source}: no {bars}-bar windows to adapt from")
    return torch.from_numpy(windows)


def domain_term(
    model: nn.Module, adaptation: Adaptation, target_mu: Tensor, step: int, seed: int
) -> tuple[Tensor, dict[str, Any]]:
    """W * the domain classifier's loss through the reversal, and what to log of it."""
    source = adaptation.source_batch(len(target_mu), step, seed).to(target_mu.device)
    source_mu, _ = model.encode(source)
    reversal = dann_lambda(step / adaptation.steps)
    loss, accuracy = domain_adversarial_loss(model.domain, source_mu, target_mu, reversal)
    return adaptation.weight * loss, {"domain_loss": loss.detach(), "domain_acc": accuracy}
