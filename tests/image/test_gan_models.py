"""GAN models on tiny configs: DCGAN and StyleGAN2 shapes, determinism, truncation, style
mixing, conditioning and exact save/load; ADA's augmentations and its controller; the
logistic losses and R1; and training steps that move the weights."""

from __future__ import annotations

import json
import math

import pytest
import torch
from torch import nn

from museforge.errors import UserError
from museforge.image.gan.augment import OPS, AdaConfig, AdaptiveAugment, AugmentConfig, augment
from museforge.image.gan.dcgan import DCGAN, DCGANConfig
from museforge.image.gan.losses import d_loss, g_loss, r1_loss, r1_penalty
from museforge.image.gan.stylegan import StyleGAN, StyleGANConfig, minibatch_stddev

Z = 16


def tiny_dcgan(**kw) -> DCGAN:
    torch.manual_seed(0)
    return DCGAN(DCGANConfig(res=32, z_dim=Z, width=4, **kw))


def tiny_stylegan(**kw) -> StyleGAN:
    torch.manual_seed(0)
    config = StyleGANConfig(
        res=32, z_dim=Z, w_dim=16, mapping_layers=2, channel_base=512, channel_max=32, **kw
    )
    return StyleGAN(config)


def latents(n: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, Z, generator=torch.Generator().manual_seed(seed))


def with_noise(model: StyleGAN) -> StyleGAN:
    """Noise strengths start at 0; make them matter so the noise modes differ."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("noise_strength"):
                p.fill_(0.5)
    return model


def images(n: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, 3, 32, 32, generator=torch.Generator().manual_seed(seed)) * 2 - 1


# --- generators -----------------------------------------------------------------------------


@pytest.mark.parametrize("make", [tiny_dcgan, tiny_stylegan])
def test_generators_make_images_of_the_configured_shape_within_range(make):
    out = make().generate(latents(3))  # DCGAN in train mode: batch norm sets the scale
    assert out.shape == (3, 3, 32, 32)
    assert out.min() >= -1.0 and out.max() <= 1.0
    assert out.std() > 0.01


def test_dcgan_is_deterministic_in_eval_mode():
    model = tiny_dcgan().eval()
    assert torch.equal(model.generate(latents(2)), model.generate(latents(2)))


def test_const_noise_gives_bit_identical_images_and_random_noise_does_not():
    model = with_noise(tiny_stylegan())
    model.update_ema(0.0)
    z = latents(2, seed=5)
    const = model.generate(z, noise_mode="const")
    assert torch.equal(const, model.generate(latents(2, seed=5), noise_mode="const"))
    assert not torch.equal(const, model.generate(z, noise_mode="random"))
    assert not torch.equal(const, model.generate(z, noise_mode="none"))
    with pytest.raises(UserError, match="noise_mode"):
        model.generate(z, noise_mode="loud")


def test_w_avg_follows_training_and_truncation_to_zero_gives_one_image_for_every_z():
    model = tiny_stylegan()
    beta = model.config.w_avg_beta
    z = latents(4)
    w = model.G.mapping(z)[:, 0]
    model.G(z, update_w_avg=True)  # a training step of G moves w_avg toward the batch mean
    torch.testing.assert_close(model.G.mapping.w_avg, (1 - beta) * w.mean(0).detach())
    model.update_ema(0.999)  # buffers are copied, not averaged
    assert torch.equal(model.G_ema.mapping.w_avg, model.G.mapping.w_avg)

    same = model.generate(latents(3, seed=1), truncation_psi=0.0)
    torch.testing.assert_close(same, same[:1].expand_as(same))
    different = model.generate(latents(3, seed=1))
    assert (different[0] - different[1]).abs().max() > 1e-2


def test_style_mixing_takes_layers_before_the_crossover_from_the_first_z():
    model = tiny_stylegan()
    z1, z2 = latents(2, seed=1), latents(2, seed=2)
    num_ws = model.G_ema.num_ws
    assert num_ws == 8  # 4x4: one convolution; 8, 16, 32: two each; plus the last toRGB
    assert torch.equal(model.mix(z1, z2, num_ws), model.generate(z1))
    assert torch.equal(model.mix(z1, z2, 0), model.generate(z2))
    mixed = model.mix(z1, z2, 4)
    assert not torch.equal(mixed, model.generate(z1))
    assert not torch.equal(mixed, model.generate(z2))
    with pytest.raises(UserError, match="crossover"):
        model.mix(z1, z2, num_ws + 1)


# --- discriminators -------------------------------------------------------------------------


@pytest.mark.parametrize("make", [tiny_dcgan, tiny_stylegan])
@pytest.mark.parametrize("batch", [3, 8])
def test_discriminators_give_one_logit_per_image(make, batch):
    logits = make().D(images(batch))
    assert logits.shape == (batch,)
    assert torch.isfinite(logits).all()


def test_minibatch_stddev_groups_four_images_and_takes_in_a_short_last_group():
    x = torch.randn(10, 2, 4, 4, generator=torch.Generator().manual_seed(0))
    out = minibatch_stddev(x, 4)
    assert out.shape == (10, 3, 4, 4)
    assert torch.equal(out[:, :2], x)
    # groups 0-3, 4-7 and 8-9; each image's extra channel is its group's mean deviation
    for group in (slice(0, 4), slice(4, 8), slice(8, 10)):
        expected = x[group].std(dim=0, correction=0).mean()
        torch.testing.assert_close(out[group, 2], expected.expand(out[group, 2].shape))
    lone = minibatch_stddev(x[:5], 4)  # a fifth image would be a group of one: it joins
    torch.testing.assert_close(lone[0, 2, 0, 0], x[:5].std(dim=0, correction=0).mean())
    assert minibatch_stddev(x[:3], 4).shape == (3, 3, 4, 4)


# --- saving and conditioning ----------------------------------------------------------------


@pytest.mark.parametrize("make", [tiny_dcgan, tiny_stylegan])
def test_save_and_load_round_trip_exactly(make, tmp_path):
    model = make()
    if isinstance(model, StyleGAN):  # make G_ema and w_avg differ from their start
        model.G(latents(4), update_w_avg=True)
        with torch.no_grad():
            for p in model.G.parameters():
                p.add_(0.1)
        model.update_ema(0.5)
    model.eval()
    loaded = type(model).from_pretrained(model.save_pretrained(tmp_path / "gan"))
    assert loaded.config == model.config
    before, after = model.state_dict(), loaded.state_dict()
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert torch.equal(loaded.generate(latents(2)), model.generate(latents(2)))


@pytest.mark.parametrize("make", [tiny_dcgan, tiny_stylegan])
def test_conditional_models_follow_their_labels(make):
    model = make(num_classes=3).eval()
    z = latents(2)
    a = model.generate(z, torch.tensor([0, 0]))
    b = model.generate(z, torch.tensor([2, 2]))
    # relative: an untrained DCGAN in eval mode (running statistics 0, 1) draws near-zero images
    assert (a - b).abs().max() > 0.01 * torch.cat([a, b]).abs().max()
    assert model.D(a, torch.tensor([0, 1])).shape == (2,)
    with pytest.raises(UserError, match="conditional"):
        model.generate(z)
    with pytest.raises(UserError, match="0..2"):
        model.generate(z, torch.tensor([0, 3]))
    with pytest.raises(UserError, match="unconditional"):
        make().generate(z, torch.tensor([0, 0]))


# --- augmentation ---------------------------------------------------------------------------


def test_augment_with_p_zero_is_the_identity():
    x = images(4)
    assert augment(x, 0.0, torch.Generator().manual_seed(0)) is x


def test_augment_with_p_one_changes_images_and_passes_gradients():
    x = images(4).requires_grad_(True)
    out = augment(x, 1.0, torch.Generator().manual_seed(0))
    assert out.shape == x.shape
    assert (out - x).abs().max() > 0.1
    again = augment(x, 1.0, torch.Generator().manual_seed(0))
    assert torch.equal(out, again)  # a seed repeats the same augmentations
    weights = torch.randn(x.shape, generator=torch.Generator().manual_seed(1))
    (out * weights).sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


@pytest.mark.parametrize("op", OPS)
def test_each_augmentation_alone_changes_images(op):
    x = images(4)
    out = augment(x, 1.0, torch.Generator().manual_seed(0), AugmentConfig(ops=(op,)))
    assert out.shape == x.shape
    assert not torch.equal(out, x)
    if op == "xflip":
        assert torch.equal(out, x.flip(-1))


def test_ada_raises_p_when_d_is_sure_of_the_reals_and_lowers_it_otherwise():
    config = AdaConfig(speed_kimg=1.0)  # 8 images x 4 steps move p by 32 / 1000
    sure, unsure = AdaptiveAugment(config), AdaptiveAugment(config, p=0.5)
    for _ in range(3):
        sure.update(torch.full((8,), 2.0))
        unsure.update(torch.full((8,), -2.0))
    assert sure.p == 0.0 and unsure.p == 0.5  # p moves every 4 calls
    for _ in range(5):
        sure.update(torch.full((8,), 2.0))
        unsure.update(torch.full((8,), -2.0))
    assert sure.p == pytest.approx(0.064) and sure.r_t == 1.0
    assert unsure.p == pytest.approx(0.5 - 0.064) and unsure.r_t == -1.0


def test_ada_state_is_plain_numbers_and_resumes_exactly():
    ada = AdaptiveAugment(AdaConfig(speed_kimg=1.0))
    for _ in range(6):  # stop between two adjustments
        ada.update(torch.tensor([1.0, 1.0, -1.0, 1.0]))
    state = json.loads(json.dumps(ada.state_dict()))
    resumed = AdaptiveAugment(AdaConfig(speed_kimg=1.0))
    resumed.load_state_dict(state)
    assert resumed.state_dict() == ada.state_dict()
    for model in (ada, resumed):
        model.update(torch.tensor([1.0, 1.0, 1.0, 1.0]))
        model.update(torch.tensor([1.0, 1.0, 1.0, 1.0]))
    # 4 calls at r_t = 0.5 leave p at 0, the next 4 (r_t = 0.75) raise it by 16 / 1000
    assert resumed.p == ada.p == pytest.approx(0.016) and ada.r_t == 0.75


# --- losses and training --------------------------------------------------------------------


class _Bias(nn.Module):
    """A discriminator that ignores its input."""

    def __init__(self) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.ones(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bias.expand(x.shape[0])


def test_r1_penalty_is_zero_for_a_blind_d_and_the_mean_squared_gradient_otherwise():
    x = images(3).requires_grad_(True)
    assert r1_penalty(x, _Bias()(x)) == 0.0
    logits = x.square().flatten(1).sum(1)  # gradient 2x
    expected = (2 * x).square().flatten(1).sum(1).mean()
    torch.testing.assert_close(r1_penalty(x, logits), expected)
    torch.testing.assert_close(r1_loss(x, logits, gamma=0.5, interval=16), 4 * expected)
    with pytest.raises(ValueError, match="requires_grad"):
        r1_penalty(x.detach(), logits)


def test_logistic_losses_at_an_undecided_d():
    zero = torch.zeros(4)
    torch.testing.assert_close(d_loss(zero, zero), torch.tensor(2 * math.log(2)))
    torch.testing.assert_close(g_loss(zero), torch.tensor(math.log(2)))


def _snapshot(module: nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in module.parameters()]


def _moved(before: list[torch.Tensor], module: nn.Module) -> bool:
    return any(not torch.equal(a, b) for a, b in zip(before, module.parameters(), strict=True))


def test_dcgan_training_steps_move_both_networks():
    model = tiny_dcgan()
    opt_g = torch.optim.Adam(model.G.parameters(), lr=2e-4, betas=(0.5, 0.999))  # Radford
    opt_d = torch.optim.Adam(model.D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    g_before, d_before = _snapshot(model.G), _snapshot(model.D)
    real = images(4)
    for step in range(3):
        fake = model.G(latents(4, seed=step))
        loss_d = d_loss(model.D(real), model.D(fake.detach()))
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()
        loss_g = g_loss(model.D(fake))
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()
        assert torch.isfinite(loss_d) and torch.isfinite(loss_g)
    assert _moved(g_before, model.G) and _moved(d_before, model.D)


def test_a_stylegan_step_with_ada_and_r1_moves_g_d_and_g_ema():
    model = tiny_stylegan()
    ada = AdaptiveAugment(p=0.5)
    gen = torch.Generator().manual_seed(0)
    opt_g = torch.optim.Adam(model.G.parameters(), lr=2e-3, betas=(0.0, 0.99))
    opt_d = torch.optim.Adam(model.D.parameters(), lr=2e-3, betas=(0.0, 0.99))
    before = [_snapshot(m) for m in (model.G, model.D, model.G_ema)]
    real = images(4).requires_grad_(True)
    real_logits = model.D(ada(real, gen))
    fake_logits = model.D(ada(model.G(latents(4)).detach(), gen))
    loss = d_loss(real_logits, fake_logits) + r1_loss(real, real_logits, gamma=1.0)
    opt_d.zero_grad()
    loss.backward()
    opt_d.step()
    ada.update(real_logits)
    loss_g = g_loss(model.D(ada(model.G(latents(4), update_w_avg=True), gen)))
    opt_g.zero_grad()
    loss_g.backward()
    opt_g.step()
    model.update_ema(0.9)
    assert all(_moved(b, m) for b, m in zip(before, (model.G, model.D, model.G_ema), strict=True))
