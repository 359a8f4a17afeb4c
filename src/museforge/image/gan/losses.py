"""GAN losses: the non-saturating logistic loss and the R1 penalty, with lazy regularisation.

Goodfellow et al. 2014, "Generative Adversarial Nets": D maximises
``log sigmoid(D(x)) + log(1 - sigmoid(D(G(z))))``, and G, instead of minimising
``log(1 - sigmoid(D(G(z))))``, which saturates while D still wins easily, maximises
``log sigmoid(D(G(z)))``. Written with softplus (``-log sigmoid(t) = softplus(-t)``) it is
the binary cross-entropy DCGAN trains with and the loss of StyleGAN2.

Mescheder, Geiger & Nowozin 2018, "Which Training Methods for GANs do actually
Converge?": the R1 penalty ``gamma / 2 * E ||grad_x D(x)||^2`` on real images keeps D
flat on the data, which makes training converge; StyleGAN2 and ADA use it alone.

Lazy regularisation (Karras et al. 2020, StyleGAN2, appendix B): the penalty changes
slowly, so it is computed only every ``R1_INTERVAL`` minibatches and weighted by the
interval to keep its average strength, and Adam's settings for D are adjusted to match::

    lr, betas = lazy_adam(0.0025, (0.0, 0.99))  # StyleGAN2's D optimiser, made lazy
    ...
    if step % R1_INTERVAL == 0:
        real = real.detach().requires_grad_(True)
        loss = r1_loss(real, D(real), gamma=r1_gamma(res, batch_size))
        loss.backward()
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

R1_INTERVAL = 16  # StyleGAN2: R1 every 16 minibatches costs a sixteenth, works as well


def d_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """D's logistic loss: ``softplus(-D(x)) + softplus(D(G(z)))``, each averaged."""
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def g_loss(fake_logits: Tensor) -> Tensor:
    """G's non-saturating loss: ``softplus(-D(G(z)))`` averaged."""
    return F.softplus(-fake_logits).mean()


def r1_penalty(real_images: Tensor, real_logits: Tensor) -> Tensor:
    """The batch mean of ``||grad_x D(x)||^2`` over real images (not yet weighted by gamma).

    ``real_images`` must require gradients and ``real_logits`` be ``D(real_images)``. The
    graph is kept (``create_graph``), so the penalty's own gradient reaches D's weights.
    """
    if not real_images.requires_grad:
        raise ValueError("call real_images.requires_grad_(True) before computing D's logits")
    if not real_logits.requires_grad:
        raise ValueError("real_logits carry no gradient: were they computed under no_grad?")
    (grad,) = torch.autograd.grad(
        real_logits.sum(), real_images, create_graph=True, allow_unused=True
    )
    if grad is None:  # D ignores its input: its gradient there is zero
        return real_logits.new_zeros(())
    return grad.square().flatten(1).sum(dim=1).mean()


def r1_loss(
    real_images: Tensor, real_logits: Tensor, gamma: float, interval: int = R1_INTERVAL
) -> Tensor:
    """The lazy R1 term for a regularisation step: ``gamma / 2 * penalty * interval``."""
    return r1_penalty(real_images, real_logits) * (gamma / 2 * interval)


def r1_gamma(res: int, batch_size: int) -> float:
    """ADA's rule of thumb for gamma: ``0.0002 * res^2 / batch_size`` (e.g. 0.0128 at 32 px, 16)."""
    return 0.0002 * res**2 / batch_size


def lazy_adam(
    lr: float, betas: tuple[float, float], interval: int = R1_INTERVAL
) -> tuple[float, tuple[float, float]]:
    """Adam's ``lr`` and ``betas`` for a network regularised every ``interval`` steps.

    Each regularisation step adds a minibatch's worth of updates, so StyleGAN2 scales the
    learning rate and the betas' horizons by ``interval / (interval + 1)``.
    """
    ratio = interval / (interval + 1)
    return lr * ratio, (betas[0] ** ratio, betas[1] ** ratio)
