"""Domain-adversarial adaptation of a melody VAE: the reversed gradient of the domain
classifier reaches the encoder, as DANN's feature extractor."""

from __future__ import annotations

import torch
from test_music_model import TINY, melody_windows

from museforge.core.transfer import dann_lambda, domain_adversarial_loss
from museforge.music.adapt import Adaptation, AdaptingVAE
from museforge.music.model import MelodyVAE
from museforge.music.train import MelodyTrainConfig, melody_loss


def test_the_domain_classifier_s_reversed_gradient_reaches_the_encoder():
    torch.manual_seed(0)
    model = AdaptingVAE(MelodyVAE(TINY))
    target = torch.from_numpy(melody_windows(8, 32, seed=1))
    adaptation = Adaptation(torch.from_numpy(melody_windows(40, 32, seed=2)), 2.0, steps=10)
    config = MelodyTrainConfig(model=TINY, transpose=0)
    step = 3
    encoder = [*model.vae.encoder.parameters(), *model.vae.enc_embed.parameters()]

    def encoder_grads(loss_fn) -> list[torch.Tensor]:
        model.zero_grad()
        torch.manual_seed(1)  # the same reparameterisation noise
        loss_fn(model, target, step)[0].backward()
        return [p.grad.clone() for p in encoder]

    with_domain = encoder_grads(melody_loss(config, adaptation))
    without = encoder_grads(melody_loss(config))

    # the classifier's loss with no reversal: the encoder's gradient towards telling apart
    model.zero_grad()
    source = adaptation.source_batch(len(target), step, config.seed)
    mu_source, mu_target = model.encode(source)[0], model.encode(target)[0]
    loss, _ = domain_adversarial_loss(model.domain, mu_source, mu_target, -1.0)
    loss.backward()
    telling = [p.grad.clone() for p in encoder]

    reversal = adaptation.weight * dann_lambda(step / adaptation.steps)
    assert reversal > 1.0
    for a, b, c in zip(with_domain, without, telling, strict=True):
        assert torch.allclose(a - b, -reversal * c, atol=1e-6, rtol=1e-4)
    assert sum((a - b).abs().sum() for a, b in zip(with_domain, without, strict=True)) > 0
