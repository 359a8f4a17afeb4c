"""One transfer recipe for every medium: start from a trained model, freeze named parts,
give parts their own learning rates, and adapt to a new domain adversarially.

The seed names three ways to carry knowledge to a small new domain; this module holds
what they share, free of any medium:

- fine-tuning: ``--init MODEL`` (each medium loads it), ``freeze`` of named parts (a model
  lists its parts in ``transfer_parts()``) and discriminative learning rates
  (``lr_scales``: e.g. the encoder at a tenth of the decoder's rate, Howard & Ruder 2018);
- adversarial adaptation (DANN, Ganin et al. 2016, "Domain-Adversarial Training of Neural
  Networks", JMLR 17): a small domain classifier learns to tell source from target
  features, while a gradient reversal layer makes the features learn to fool it. The
  reversal's weight follows the paper's schedule lambda_p = 2 / (1 + exp(-10 p)) - 1 over
  training progress p in [0, 1]. The target needs no labels.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F
from torch.optim import Optimizer

from museforge.errors import UserError


class _ReverseGradient(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, weight: float) -> Tensor:  # noqa: ANN001 (autograd's ctx)
        ctx.weight = weight
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None]:  # noqa: ANN001
        return -ctx.weight * grad, None


def reverse_gradient(x: Tensor, weight: float) -> Tensor:
    """Identity going forward; the gradient going back is multiplied by ``-weight``."""
    return _ReverseGradient.apply(x, weight)


def dann_lambda(progress: float) -> float:
    """DANN's schedule: 0 at the start of training, rising towards 1 (Ganin et al. 2016)."""
    p = min(max(progress, 0.0), 1.0)
    return 2.0 / (1.0 + math.exp(-10.0 * p)) - 1.0


class DomainClassifier(nn.Module):
    """A small MLP that says whether features come from the target domain (a logit)."""

    def __init__(self, features: int, hidden: int = 64) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(features, hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, 1),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)[:, 0]


def domain_adversarial_loss(
    classifier: DomainClassifier, source: Tensor, target: Tensor, weight: float
) -> tuple[Tensor, Tensor]:
    """The classifier's loss on source (label 0) and target (label 1) features seen through
    a gradient reversal of ``weight``, and its accuracy on this batch."""
    features = reverse_gradient(torch.cat([source, target]), weight)
    labels = torch.cat([source.new_zeros(len(source)), target.new_ones(len(target))])
    logits = classifier(features)
    loss = F.binary_cross_entropy_with_logits(logits, labels)
    accuracy = ((logits > 0).float() == labels).float().mean()
    return loss, accuracy.detach()


def freeze(model: nn.Module, parts: list[str]) -> None:
    """Stop training the named parts of ``model`` (as its ``transfer_parts()`` names them)."""
    for name in parts:
        for module in _part(model, name):
            hold(module)


def hold(module: nn.Module) -> None:
    """Keep ``module`` as it is: no gradient, and its batch-norm layers run as in
    evaluation, on the statistics the source model learnt, whatever mode the model is put
    in (in training mode they would move their running statistics every step)."""
    module.requires_grad_(False)
    for layer in module.modules():
        if isinstance(layer, nn.modules.batchnorm._BatchNorm):
            layer.register_forward_pre_hook(_as_in_evaluation)


def _as_in_evaluation(layer: nn.Module, inputs: tuple) -> None:
    layer.train(False)


def lr_scales(model: nn.Module, scales: dict[str, float]) -> dict[int, float]:
    """``{id(parameter): scale}`` for the parameters of each named part; the training loop
    multiplies each parameter group's learning rate by its ``lr_scale``."""
    out: dict[int, float] = {}
    for name, scale in scales.items():
        if not scale > 0:
            raise UserError(f"the learning-rate scale of {name!r} must be above 0, not {scale}")
        for module in _part(model, name):
            for p in module.parameters():
                out[id(p)] = scale
    return out


def param_groups(
    params: list[nn.Parameter], scales: dict[int, float], weight_decay: float
) -> list[dict]:
    """AdamW groups: decayed matrices and undecayed vectors, split by learning-rate scale."""
    groups: dict[tuple[float, bool], list[nn.Parameter]] = {}
    for p in params:
        groups.setdefault((scales.get(id(p), 1.0), p.dim() >= 2), []).append(p)
    return [
        {"params": ps, "lr_scale": scale, "weight_decay": weight_decay if matrix else 0.0}
        for (scale, matrix), ps in sorted(groups.items(), key=lambda kv: (kv[0][0], not kv[0][1]))
    ]


def scaled_adamw(scales: dict[int, float]) -> Callable[[list[nn.Parameter], Any], Optimizer]:
    """The training loop's ``make_optimizer``: AdamW over ``param_groups`` with ``scales``
    (``lr_scales``), at the run's learning rate and weight decay."""

    def make(params: list[nn.Parameter], config: Any) -> Optimizer:
        return torch.optim.AdamW(param_groups(params, scales, config.weight_decay), lr=config.lr)

    return make


def parse_scales(values: list[str] | None) -> dict[str, float]:
    """``["encoder=0.1", ...]`` from the command line -> ``{"encoder": 0.1}``."""
    scales = {}
    for value in values or []:
        name, sep, number = value.partition("=")
        try:
            if not sep or not name:
                raise ValueError
            scales[name] = float(number)
        except ValueError:
            raise UserError(
                f"--lr-scale wants PART=NUMBER, e.g. encoder=0.1, not {value!r}"
            ) from None
    return scales


def _part(model: nn.Module, name: str) -> list[nn.Module]:
    parts = model.transfer_parts() if hasattr(model, "transfer_parts") else {}
    if name not in parts:
        known = ", ".join(parts) or "none"
        raise UserError(f"{type(model).__name__} has no part {name!r} (its parts: {known})")
    return parts[name]
