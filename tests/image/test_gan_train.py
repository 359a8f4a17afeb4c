"""GAN training through the one loop, on tiny models: the two losses reach disjoint weights,
runs log their metrics and export loadable models, a resumed run ends bit for bit where an
uninterrupted one does (ADA's p included), and sampling repeats byte for byte."""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file
from typer.testing import CliRunner

from museforge.cli.gan import app
from museforge.core.checkpoints import load_state
from museforge.errors import UserError
from museforge.image.data import build_image_dataset
from museforge.image.gan.augment import AdaConfig
from museforge.image.gan.dcgan import DCGAN, DCGANConfig
from museforge.image.gan.generate import grid, load_gan, sample
from museforge.image.gan.stylegan import (
    StyleGAN,
    StyleGANConfig,
    spread_styles,
    with_mapping_lr_mult,
)
from museforge.image.gan.train import (
    GANTraining,
    default_config,
    discriminator_layers,
    gan_loss,
    train_gan,
)

TINY_MODELS = {
    "dcgan": DCGANConfig(res=32, z_dim=16, width=4),
    "stylegan": StyleGANConfig(
        res=32, z_dim=16, w_dim=16, mapping_layers=2, channel_base=512, channel_max=32
    ),
}
TINY_MODELS["projected"] = replace(
    TINY_MODELS["stylegan"], discriminator="projected", projected_res=32
)
METRICS = {"d_loss", "g_loss", "r1", "ada_p", "real_logits", "fake_logits", "r_t"}


def tiny_config(arch: str, steps: int = 6, **changes):
    """A few steps of batch 4; ADA fast and R1 every 2 steps, so both act within them.
    ``arch`` "projected" is a StyleGAN with the projected discriminator."""
    config = replace(
        default_config("stylegan" if arch == "projected" else arch, 32),
        model=TINY_MODELS[arch],
        steps=steps,
        batch_size=4,
        r1_gamma=1.0,
        r1_interval=2,
        ada=True,
        ada_config=AdaConfig(target=0.0, interval=1, speed_kimg=0.1),
        checkpoint_every=3,
        log_every=1,
    )
    return replace(config, **changes)


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    """Eight 32 px images of coloured stripes, cached with mirroring on."""
    root = tmp_path_factory.mktemp("gan-data")
    rng = np.random.default_rng(0)
    for i in range(8):
        pixels = np.zeros((40, 40, 3), np.uint8)
        pixels[:, : 8 + 3 * i] = rng.integers(0, 256, 3)
        Image.fromarray(pixels).save(root / f"{i}.png")
    return build_image_dataset(root, root / "images.npz", 32, progress=False)


def real_batch(n: int = 4) -> torch.Tensor:
    return torch.randint(0, 256, (n, 3, 32, 32), generator=torch.Generator().manual_seed(1)).to(
        torch.uint8
    )


def tensors(path: Path) -> dict[str, torch.Tensor]:
    """Every tensor of a checkpoint or of a model's weights file."""
    return load_state(path)[0] if path.name.startswith("checkpoint") else load_file(path)


def assert_same_tensors(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert not different, different


@pytest.mark.parametrize("arch", ["dcgan", "stylegan", "projected"])
def test_d_loss_reaches_only_D_and_g_loss_only_G(arch):
    config = tiny_config(arch)
    torch.manual_seed(0)
    gan = DCGAN(config.model) if arch == "dcgan" else StyleGAN(config.model)
    training = GANTraining(gan, config, mirror=True)
    training.ada_p.fill_(0.5)  # augmentations on: their gradients must keep to the rule too
    step = config.r1_interval  # an R1 step: the penalty's double backward included

    def grads(part: str) -> dict[str, torch.Tensor | None]:
        fresh = copy.deepcopy(training)  # the step moves w_avg, G_ema and ADA's state
        torch.manual_seed(1)  # StyleGAN's noise
        if part == "both":
            loss, _ = gan_loss(fresh, real_batch(), step)
        else:
            d_loss, g_loss, _ = fresh(real_batch(), step)
            loss = d_loss if part == "d" else g_loss
        loss.backward()
        return {name: p.grad for name, p in fresh.named_parameters()}

    both, d_only, g_only = grads("both"), grads("d"), grads("g")
    d_names = [n for n in both if n.startswith("gan.D.")]
    g_names = [n for n in both if n.startswith("gan.G.")]
    assert d_names and g_names
    for name in d_names:
        assert g_only[name] is None, name
        assert torch.equal(both[name], d_only[name]), name
    for name in g_names:
        assert d_only[name] is None, name
        assert torch.equal(both[name], g_only[name]), name
    assert all(both[n] is None for n in both if n.startswith("gan.G_ema."))


def test_alternating_steps_train_d_then_g_against_the_new_d():
    config = tiny_config("stylegan", alternate=True)
    torch.manual_seed(0)
    training = GANTraining(StyleGAN(config.model), config, mirror=True)
    names = dict(training.named_parameters())
    for step, player, other in ((1, "gan.D.", "gan.G."), (2, "gan.G.", "gan.D.")):
        loss, metrics = gan_loss(training, real_batch(), step)
        loss.backward()
        assert all(names[n].grad is not None for n in names if n.startswith(player)), step
        assert all(names[n].grad is None for n in names if n.startswith(other)), step
        assert ("d_loss" in metrics) == (player == "gan.D."), metrics.keys()
        training.zero_grad(set_to_none=True)


def test_the_projected_discriminator_keeps_imagenet_weights_out_of_the_model(cache, tmp_path):
    config = tiny_config("projected", steps=2)
    result = train_gan(cache, tmp_path / "run", config, progress=False, command="a")
    saved = tensors(result.model_dir / "model.safetensors")
    assert any(k.startswith("D.discs.") for k in saved)
    assert any(k.startswith("D.ccm") for k in saved)  # the random projections, fixed
    assert not any("_blocks" in k or "_conv_stem" in k for k in saved)  # EfficientNet's
    model = load_gan(result.model_dir)
    assert model.config.discriminator == "projected"
    assert torch.equal(model.D.ccm0, StyleGAN(model.config).D.ccm0)  # drawn from a seed
    with pytest.raises(UserError, match="Freeze-D"):
        train_gan(cache, tmp_path / "b", config, init=result.model_dir, freeze_d=1, progress=False)
    with pytest.raises(UserError, match="stylegan"):
        default_config("dcgan", 32, "projected")
    args = ["train", str(cache), "--arch", "dcgan", "--discriminator", "projected"]
    outcome = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "c")])
    assert outcome.exit_code == 2 and "stylegan" in outcome.output
    assert not (tmp_path / "c").exists()


@pytest.mark.parametrize("arch", ["dcgan", "stylegan"])
def test_a_run_logs_its_metrics_and_resumes_bit_for_bit(arch, cache, tmp_path):
    whole = train_gan(cache, tmp_path / "whole", tiny_config(arch), progress=False, command="a")
    train_gan(cache, tmp_path / "part", tiny_config(arch, steps=3), progress=False, command="b")
    p_at_3 = float(load_state(tmp_path / "part" / "checkpoint.safetensors")[0]["model/ada_p"])
    resumed = train_gan(
        cache, tmp_path / "part", tiny_config(arch), resume=True, progress=False, command="c"
    )

    assert whole.steps == resumed.steps == 6
    assert 0.0 < p_at_3 < 1.0, "ADA's p should have moved: the resume test needs it to"
    lines = [
        json.loads(x) for x in (tmp_path / "whole" / "metrics.jsonl").read_text().split("\n")[:-1]
    ]
    assert [x["step"] for x in lines] == list(range(1, 7))
    assert all(x.keys() >= METRICS for x in lines)
    assert lines[2]["ada_p"] == pytest.approx(p_at_3)
    again = [json.loads(x) for x in (tmp_path / "part" / "metrics.jsonl").read_text().splitlines()]
    assert [x | {"time": 0} for x in again] == [x | {"time": 0} for x in lines]
    assert any(x["r1"] > 0 for x in lines)
    # everything the loop keeps (weights, G_ema, w_avg, ADA's state, Adam's moments)
    assert_same_tensors(
        tensors(tmp_path / "whole" / "checkpoint.safetensors"),
        tensors(tmp_path / "part" / "checkpoint.safetensors"),
    )
    exported = tmp_path / "whole" / "model" / "model.safetensors"
    assert_same_tensors(
        tensors(exported), tensors(tmp_path / "part" / "model" / "model.safetensors")
    )
    cls = DCGAN if arch == "dcgan" else StyleGAN
    model = cls.from_pretrained(tmp_path / "whole" / "model")
    assert model.config == TINY_MODELS[arch]
    record = json.loads((tmp_path / "whole" / "model" / "config.json").read_text())
    assert record["gan_train_config"]["arch"] == arch and record["steps"] == 6


def test_fine_tuning_with_frozen_d_layers_leaves_them_unchanged(cache, tmp_path):
    config = tiny_config("dcgan", steps=2)
    source = train_gan(cache, tmp_path / "source", config, progress=False, command="a")
    train_gan(cache, tmp_path / "tuned", config, init=source.model_dir, freeze_d=1, progress=False)
    before, after = load_gan(source.model_dir), load_gan(tmp_path / "tuned" / "model")
    first, second = (discriminator_layers(m.D) for m in (before, after))
    assert_same_tensors(first[0].state_dict(), second[0].state_dict())
    assert not torch.equal(before.D.out.weight, after.D.out.weight)
    assert not torch.equal(before.G.net[0].weight, after.G.net[0].weight)


def test_bad_settings_fail_in_words(cache, tmp_path):
    with pytest.raises(UserError, match="64 px"):
        train_gan(cache, tmp_path / "a", replace(tiny_config("dcgan"), res=64), progress=False)
    with pytest.raises(UserError, match="freeze_d needs init"):
        train_gan(cache, tmp_path / "b", tiny_config("dcgan"), freeze_d=1, progress=False)
    with pytest.raises(UserError, match="arch"):
        default_config("biggan", 32)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


@pytest.mark.parametrize("arch", ["dcgan", "stylegan"])
def test_samples_repeat_byte_for_byte(arch):
    torch.manual_seed(0)
    model = (DCGAN if arch == "dcgan" else StyleGAN)(TINY_MODELS[arch]).eval()
    a, b = sample(model, 5, seed=3), sample(model, 5, seed=3)
    assert a.dtype == np.uint8 and a.shape == (5, 32, 32, 3)
    assert a.tobytes() == b.tobytes()
    assert a.tobytes() != sample(model, 5, seed=4).tobytes()
    assert grid(a, cols=3).size == (3 * 34 + 2, 2 * 34 + 2)


def test_stylegan_at_truncation_zero_draws_one_image_for_every_seed():
    torch.manual_seed(0)
    model = StyleGAN(TINY_MODELS["stylegan"]).eval()
    with torch.no_grad():
        model.G_ema.mapping.w_avg.normal_()  # a trained model's average w is not zero
        for name, p in model.G_ema.named_parameters():
            if name.endswith("noise_strength"):
                p.fill_(0.5)  # constant noise must keep it the same image
    images = np.concatenate([sample(model, 3, seed=s, truncation_psi=0.0) for s in (0, 1)])
    assert all(image.tobytes() == images[0].tobytes() for image in images)
    assert sample(model, 2, seed=0)[0].tobytes() != sample(model, 2, seed=0)[1].tobytes()
    with pytest.raises(UserError, match="psi"):
        sample(DCGAN(TINY_MODELS["dcgan"]), 2, seed=0, truncation_psi=0.5)


def test_the_sample_command_writes_a_grid_and_each_image_to_the_store(home, tmp_path):
    from museforge.core.store import Store

    torch.manual_seed(0)
    StyleGAN(TINY_MODELS["stylegan"]).save_pretrained(tmp_path / "model")
    args = ["sample", "--model", str(tmp_path / "model"), "--n", "3", "--seed", "7"]
    result = CliRunner().invoke(app, [*args, "--truncation", "0.5", "--out", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in (tmp_path / "o").iterdir())
    assert names == ["grid.png", "sample-s7-0.png", "sample-s7-1.png", "sample-s7-2.png"]
    with Store() as store:
        kept = store.list_artifacts(kind="image")
        assert len(kept) == 4
        assert {a.seed for a in kept} == {7}
        assert all(a.params["truncation_psi"] == 0.5 for a in kept)
        assert all(a.model_id.startswith("model@") for a in kept)
        sheet = next(a for a in kept if "index" not in a.params)
        assert len(store.parents(sheet.id)) == 3  # the grid is made of the samples


def test_the_train_command_builds_a_cache_in_the_run_folder(tmp_path):
    folder = tmp_path / "pictures"
    folder.mkdir()
    for i in range(4):
        Image.new("RGB", (36, 36), (60 * i, 0, 0)).save(folder / f"{i}.png")
    args = ["train", str(folder), "--arch", "dcgan", "--out", str(tmp_path / "run")]
    result = CliRunner().invoke(app, [*args, "--steps", "1", "--batch-size", "2"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "run" / "images-32px.npz").is_file()
    assert load_gan(tmp_path / "run" / "model").config.res == 32


@pytest.mark.parametrize("arch", ["dcgan", "stylegan"])
def test_conditional_training_learns_one_class_per_sub_folder(arch, tmp_path):
    root = tmp_path / "two-kinds"
    for name, colour in (("blue", (20, 40, 220)), ("red", (220, 30, 20))):
        (root / name).mkdir(parents=True)
        for i in range(4):
            pixels = np.full((36, 36, 3), colour, np.uint8)
            pixels[i * 8 : i * 8 + 4] = 255
            Image.fromarray(pixels).save(root / name / f"{i}.png")
    faces = build_image_dataset(root, tmp_path / "two.npz", 32, progress=False)
    config = tiny_config(arch, steps=3, conditional=True)
    result = train_gan(faces, tmp_path / "run", config, progress=False)
    model = load_gan(result.model_dir)
    assert model.config.num_classes == 2
    torch.manual_seed(config.seed)  # the run's initial weights
    start = (DCGAN if arch == "dcgan" else StyleGAN)(model.config)
    # the class embeddings of both networks took gradients: the labels reached G and D
    for name in (
        "D.embed.weight",
        "G.embed.weight" if arch == "dcgan" else "G.mapping.embed.weight",
    ):
        before, after = start.state_dict()[name], model.state_dict()[name]
        assert not torch.equal(before, after), name
    images = sample(model, 4, seed=0)  # classes 0, 1, 0, 1 in turn
    assert images.shape == (4, 32, 32, 3)
    (tmp_path / "one").mkdir()
    for i in range(2):
        Image.fromarray(np.full((32, 32, 3), 40 * i, np.uint8)).save(tmp_path / "one" / f"{i}.png")
    one = build_image_dataset(tmp_path / "one", tmp_path / "one.npz", 32, progress=False)
    with pytest.raises(UserError, match="at least 2 sub-folders"):
        train_gan(one, tmp_path / "x", config, progress=False)


def test_a_faster_mapping_network_keeps_every_image():
    torch.manual_seed(0)
    model = StyleGAN(TINY_MODELS["stylegan"]).eval()
    faster = with_mapping_lr_mult(model, 1.0)
    assert faster.config.mapping_lr_mult == 1.0 and model.config.mapping_lr_mult == 0.01
    z = torch.randn(3, model.config.z_dim, generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(faster.generate(z), model.generate(z), atol=1e-5, rtol=0)
    first, before = faster.G.mapping.net[0].weight, model.G.mapping.net[0].weight
    stored = float(first.detach().abs().mean() / before.detach().abs().mean())
    assert stored == pytest.approx(0.01)  # what Adam moves is 100 x smaller: it moves 100 x faster


def test_spreading_the_styles_bakes_a_truncation_into_the_model():
    torch.manual_seed(0)
    model = StyleGAN(TINY_MODELS["stylegan"]).eval()
    with torch.no_grad():
        model.G_ema.mapping.w_avg.normal_()  # a trained model's average w is not zero
    wider = spread_styles(model, 1.5)
    z = torch.randn(3, model.config.z_dim, generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(wider.generate(z), model.generate(z, truncation_psi=1.5))
    assert not torch.equal(wider.generate(z), model.generate(z))
