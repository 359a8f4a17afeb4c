"""The Gaussian that new melodies' codes are drawn from, fitted to real melodies' codes.

A VAE trained with many free bits leaves its codes far from N(0, I): on the corpus the
codes of real melodies fill a small part of it (a spread of about 0.3, not 1), and codes
drawn from N(0, I) decode to melodies that wander out of key. Fitting a Gaussian to the
mean codes of the training melodies (ex-post density estimation, Ghosh et al. 2020, "From
Variational to Deterministic Autoencoders") and drawing from it makes samples sound like
the tunes. Until ``fit_prior`` runs, the prior is N(0, I).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

PRIOR_BUFFERS = ("prior_mean", "prior_scale")  # model folders saved before them still load


class FittedPrior:
    """Mixed into a melody model with ``encode`` and ``config.z_dim``: the prior's buffers,
    ``fit_prior`` and ``draw_codes``."""

    prior_mean: Tensor
    prior_scale: Tensor

    def register_prior(self: nn.Module, z_dim: int) -> None:
        self.register_buffer("prior_mean", torch.zeros(z_dim))
        self.register_buffer("prior_scale", torch.eye(z_dim))

    def draw_codes(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """``n`` codes from the model's prior: [n, z_dim]."""
        noise = torch.randn(n, len(self.prior_mean), generator=generator)
        return self.prior_mean + noise.to(self.prior_mean) @ self.prior_scale.T

    @torch.no_grad()
    def fit_prior(self, windows: Tensor, batch_size: int = 256) -> None:
        """Fit the prior to the mean codes of ``windows`` [N, steps]: their mean and
        covariance, with a touch of every direction so that its Cholesky factor exists."""
        codes = torch.cat([self.encode(chunk)[0] for chunk in windows.split(batch_size)]).double()
        if len(codes) < 2:
            raise ValueError("fitting the prior needs at least 2 windows")
        cov = torch.cov(codes.T)
        cov += 1e-4 * cov.diagonal().mean().clamp_min(1e-12) * torch.eye(len(cov), dtype=cov.dtype)
        self.prior_mean.copy_(codes.mean(dim=0))
        self.prior_scale.copy_(torch.linalg.cholesky(cov))
