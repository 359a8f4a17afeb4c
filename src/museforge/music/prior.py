"""The density new melodies' codes are drawn from, fitted to real melodies' codes.

A VAE trained with many free bits leaves its codes far from N(0, I): on the corpus the
codes of real melodies fill a small part of it (a spread of about 0.3, not 1), and codes
drawn from N(0, I) decode to melodies that wander out of key. Fitting a density to the
mean codes of the training melodies and drawing from it (ex-post density estimation,
Ghosh et al. 2020, "From Variational to Deterministic Autoencoders") makes samples sound
like the tunes. The paper's estimator is a Gaussian mixture of 10 components with full
covariances, fitted by EM (scikit-learn's ``GaussianMixture``); ``fit_prior`` fits that,
and keeps the single Gaussian of all the codes beside it. Until ``fit_prior`` runs, the
prior is N(0, I); a model folder saved with the single Gaussian alone (before the mixture
was added) draws from that Gaussian.

The mixture lives in the codes' principal subspace: the ``PRIOR_DIMS`` directions of
largest variance (principal component analysis of the same codes), the code set to the
mean along the others. The low-variance directions are where the encoder's noise lies; a
full-rank Gaussian draws a typical amount of every one of them at once, a combination no
real melody's code has. Measured on melody-16bar (256-d codes, 512 samples each, notes in
the key music21 finds; the held-out melodies score 0.986): the mixture in all 256
dimensions 0.944-0.956, in the 128 / 64 / 32 / 16 leading ones 0.960 / 0.971 / 0.972 /
0.976; at 16 the share of distinct 2-bar segments falls (0.974 against 0.996 at 32), so 32
it is. A model may add directions the decoder reads that carry little variance
(``prior_directions``): the 16-bar model's notes tied over seams, without which no drawn
melody held a note over a seam. ``draw_codes`` needs nothing new: a component's factor is
the subspace's basis times its Cholesky factor there, zero in the other columns.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from torch import Tensor, nn

MIXTURE_COMPONENTS = 10  # Ghosh et al. 2020, section 4: a 10-component GMM
# a mixture needs this many codes per component, or the single Gaussian is drawn from
CODES_PER_COMPONENT = 20
PRIOR_DIMS = 32  # the mixture's principal subspace (see above); all of z when it has fewer
MIXTURE_MAX_CODES = 20_000  # EM runs on at most this many codes (a seeded random subset)
_SINGLE = ("prior_mean", "prior_scale")
_MIXTURE = ("prior_mixture_weights", "prior_mixture_means", "prior_mixture_scales")
PRIOR_BUFFERS = _SINGLE + _MIXTURE  # model folders saved before them still load


class FittedPrior:
    """Mixed into a melody model with ``encode`` and ``config.z_dim``: the prior's buffers,
    ``fit_prior`` and ``draw_codes``."""

    prior_mean: Tensor
    prior_scale: Tensor
    prior_mixture_weights: Tensor  # [K]; all 0 while no mixture is fitted
    prior_mixture_means: Tensor  # [K, z_dim]
    prior_mixture_scales: Tensor  # [K, z_dim, z_dim], factors L of the covariances (L L^T)

    def register_prior(self: nn.Module, z_dim: int) -> None:
        self.register_buffer("prior_mean", torch.zeros(z_dim))
        self.register_buffer("prior_scale", torch.eye(z_dim))
        k = MIXTURE_COMPONENTS
        self.register_buffer("prior_mixture_weights", torch.zeros(k))
        self.register_buffer("prior_mixture_means", torch.zeros(k, z_dim))
        self.register_buffer("prior_mixture_scales", torch.eye(z_dim).expand(k, -1, -1).clone())

    def prior_directions(self, windows: Tensor, batch_size: int) -> Tensor | None:
        """Directions of the code [k, z_dim] the mixture must span besides the principal
        ones, because something the decoder reads lies along them (none here; the stacked
        model adds those of its seam ties)."""
        return None

    @property
    def prior_is_mixture(self) -> bool:
        return bool(self.prior_mixture_weights.sum() > 0)

    def draw_codes(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """``n`` codes from the model's prior: [n, z_dim]."""
        noise = torch.randn(n, len(self.prior_mean), generator=generator).to(self.prior_mean)
        if not self.prior_is_mixture:
            return self.prior_mean + noise @ self.prior_scale.T
        weights = self.prior_mixture_weights.detach().double().cpu()
        pick = torch.multinomial(weights, n, replacement=True, generator=generator)
        pick = pick.to(self.prior_mean.device)
        spread = torch.einsum("nij,nj->ni", self.prior_mixture_scales[pick], noise)
        return self.prior_mixture_means[pick] + spread

    @torch.no_grad()
    def fit_prior(
        self,
        windows: Tensor,
        batch_size: int = 256,
        components: int = MIXTURE_COMPONENTS,
        dims: int | None = PRIOR_DIMS,
    ) -> None:
        """Fit the prior to the mean codes of ``windows`` [N, steps]: their mean and
        covariance, and a Gaussian mixture of ``components`` (at most ``MIXTURE_COMPONENTS``;
        1, or too few windows for it, leaves the single Gaussian alone) fitted by EM to at
        most ``MIXTURE_MAX_CODES`` of them, in their ``dims`` leading principal directions
        (None: all); each covariance with a touch of every direction so that its Cholesky
        factor exists."""
        codes = torch.cat([self.encode(chunk)[0] for chunk in windows.split(batch_size)]).double()
        if len(codes) < 2:
            raise ValueError("fitting the prior needs at least 2 windows")
        if not 1 <= components <= MIXTURE_COMPONENTS:
            raise ValueError(f"components must be 1..{MIXTURE_COMPONENTS}, got {components}")
        cov = torch.cov(codes.T)
        touch = 1e-4 * cov.diagonal().mean().clamp_min(1e-12).item()
        cov += touch * torch.eye(len(cov), dtype=cov.dtype)
        self.prior_mean.copy_(codes.mean(dim=0))
        self.prior_scale.copy_(torch.linalg.cholesky(cov))
        self.prior_mixture_weights.zero_()
        self.prior_mixture_means.zero_()
        self.prior_mixture_scales.copy_(
            torch.eye(cov.shape[0]).expand_as(self.prior_mixture_scales)
        )
        if components == 1 or len(codes) < CODES_PER_COMPONENT * components:
            return
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.mixture import GaussianMixture

        points = codes.cpu().numpy()
        if len(points) > MIXTURE_MAX_CODES:
            keep = np.random.default_rng(0).choice(len(points), MIXTURE_MAX_CODES, replace=False)
            points = points[np.sort(keep)]
        centre = points.mean(axis=0)
        basis = np.eye(points.shape[1])  # [d, z_dim], orthonormal rows
        if dims is not None and dims < points.shape[1]:
            basis = np.linalg.svd(points - centre, full_matrices=False)[2][:dims]
            extra = self.prior_directions(windows, batch_size)
            if extra is not None and len(extra):  # orthonormal rows spanning both
                both = np.concatenate([basis, extra.double().cpu().numpy()])
                basis = np.linalg.qr(both.T)[0].T
        gmm = GaussianMixture(components, covariance_type="full", reg_covar=touch, random_state=0)
        with warnings.catch_warnings():  # EM's best fit after max_iter is kept all the same
            warnings.simplefilter("ignore", ConvergenceWarning)
            gmm.fit((points - centre) @ basis.T)
        factors = np.einsum("dz,kde->kze", basis, np.linalg.cholesky(gmm.covariances_))
        self.prior_mixture_weights[:components].copy_(torch.from_numpy(gmm.weights_))
        self.prior_mixture_means[:components].copy_(torch.from_numpy(centre + gmm.means_ @ basis))
        self.prior_mixture_scales[:components].zero_()
        self.prior_mixture_scales[:components, :, : len(basis)] = torch.from_numpy(factors)
