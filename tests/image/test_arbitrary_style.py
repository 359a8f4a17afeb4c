"""The arbitrary-style network: identity at the start, one network for any style picture,
presets kept in a model folder, and a style pool that never shows its held-out pictures."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from museforge.cli import run
from museforge.image.style.arbitrary import ArbitraryStyleConfig, ArbitraryStyleNet, stylize_any
from museforge.image.style.arbitrary_train import (
    ArbitraryTrainConfig,
    StylePool,
    train_arbitrary_style,
)
from museforge.image.style.fast import load_fast_style, stylize_fast
from museforge.image.style.features import build_features

TINY = ArbitraryStyleConfig(width=4, res_blocks=1, bottleneck=8)


@pytest.mark.parametrize("size", [(37, 50), (64, 64), (17, 9)])
def test_an_untrained_network_returns_the_picture_at_any_size(size):
    torch.manual_seed(0)
    image = torch.rand(1, 3, *size)
    out = ArbitraryStyleNet(TINY).eval()(image)
    assert out.shape == image.shape
    # the half-size pass starts as the identity and the detail it lacks is added back
    torch.testing.assert_close(out, image, atol=2e-3, rtol=0)


def test_the_style_pool_is_a_function_of_the_step_and_skips_held_out_pictures():
    pictures = {"a": torch.rand(1, 3, 50, 80), "b": torch.zeros(1, 3, 60, 60)}
    config = ArbitraryTrainConfig(style_sizes=(32, 48), style_crop=40)
    pool = StylePool(pictures, config)
    assert torch.equal(pool(5), StylePool(pictures, config)(5))
    assert all(max(pool(k).shape[-2:]) <= 40 for k in range(1, 20))
    only_b = StylePool({"b": pictures["b"]}, config)
    assert all(float(only_b(k).abs().max()) == 0 for k in range(1, 10))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("arbitrary")
    mp = pytest.MonkeyPatch()
    mp.setenv("MUSEFORGE_HOME", str(root / "home"))
    torch.manual_seed(0)
    contents = [torch.rand(1, 3, 64, 64)]
    styles = {"red": torch.rand(1, 3, 48, 48) * torch.tensor([1.0, 0.2, 0.2]).view(1, 3, 1, 1)}
    styles["held"] = torch.rand(1, 3, 48, 48)
    config = ArbitraryTrainConfig(
        net=TINY, steps=6, batch_size=2, crop=32, style_sizes=(32, 48), style_crop=32
    )
    config.checkpoint_every = config.log_every = 3
    result = train_arbitrary_style(
        contents, styles, root / "run", config, held_out=["held"], progress=False
    )
    yield result, styles
    mp.undo()


def test_training_records_its_held_out_pictures_and_styles_differ(trained):
    result, styles = trained
    model = ArbitraryStyleNet.from_pretrained(result.model_dir)
    assert model.config.held_out == ("held",) and model.config.features == "mobilenetv2"
    encoder = build_features(model.config.encoder)
    photo = torch.rand(1, 3, 40, 56)
    red, other = (stylize_any(model, photo, styles[k], encoder) for k in ("red", "held"))
    assert red.shape == photo.shape and not torch.equal(red, other)


def test_a_preset_survives_saving_in_half_precision(trained, tmp_path):
    result, styles = trained
    model = ArbitraryStyleNet.from_pretrained(result.model_dir)
    encoder = build_features(model.config.encoder)
    model.keep_style(encoder, styles["red"], "red")
    model.save_pretrained(tmp_path / "style-red", dtype=torch.float16)
    loaded = load_fast_style(tmp_path / "style-red")
    assert isinstance(loaded, ArbitraryStyleNet) and loaded.config.style == "red"
    photo = torch.rand(1, 3, 40, 56)
    expected = stylize_any(model, photo, styles["red"], encoder)
    torch.testing.assert_close(stylize_fast(loaded, photo), expected, atol=1e-2, rtol=0)


def test_stylize_fast_takes_any_style_picture_with_an_arbitrary_network(trained, home, tmp_path):
    result, _ = trained
    out = tmp_path / "any.png"
    args = ["image", "stylize", "skimage:coffee", "--fast", str(result.model_dir)]
    assert run([*args, "--style", "skimage:brick", "--size", "48", "--out", str(out)]) == 0
    with Image.open(out) as img:
        assert max(img.size) == 48
    two = ["--style", "skimage:brick", "--style", "skimage:gravel", "--out", str(out)]
    assert run([*args, *two]) == 2
