"""Fast style transfer: the transform network, tiling, training through the CLI, and
``image stylize --fast`` end to end (store lineage, colours kept, masks respected)."""

from __future__ import annotations

import hashlib
import json

import pytest
import torch
from PIL import Image

from museforge.cli import run
from museforge.core.checkpoints import shipped_models
from museforge.core.store import Store
from museforge.image.io import load_image
from museforge.image.style.fast import (
    ContentCrops,
    FastStyleConfig,
    TransformNet,
    load_fast_style,
    stylize_fast,
)
from museforge.image.style.gatys import rgb_to_ycbcr


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("size", [(37, 50), (64, 64), (5, 9)])
def test_transform_net_keeps_the_size_and_range(size):
    torch.manual_seed(0)
    net = TransformNet(FastStyleConfig(width=4, res_blocks=1)).eval()
    out = net(torch.rand(2, 3, *size))
    assert out.shape == (2, 3, *size)
    assert out.min() >= 0.0 and out.max() <= 1.0


def test_tiles_blend_to_the_untiled_result_for_a_local_network():
    # A 1x1 convolution sees one pixel: tiled and whole passes must agree exactly, so any
    # error in the tile positions or the cross-fade weights shows.
    local = torch.nn.Conv2d(3, 3, 1)
    image = torch.rand(1, 3, 150, 230)
    whole = stylize_fast(local, image)
    tiled = stylize_fast(local, image, tile=64)
    torch.testing.assert_close(tiled, whole, atol=1e-5, rtol=1e-5)


def test_content_crops_are_a_function_of_seed_and_index():
    images = [torch.rand(1, 3, 40, 50), torch.rand(1, 3, 60, 33)]
    a, b = ContentCrops(images, 32, seed=3), ContentCrops(images, 32, seed=3)
    assert torch.equal(a[7], b[7]) and a[7].shape == (3, 32, 32)
    assert not torch.equal(a[7], ContentCrops(images, 32, seed=4)[7])
    with pytest.raises(Exception, match="at least 48 px"):
        ContentCrops(images, 48, seed=0)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny style network trained through the CLI: brick texture, crops of one photo."""
    root = tmp_path_factory.mktemp("fast")
    home = root / "home"
    mp = pytest.MonkeyPatch()
    mp.setenv("MUSEFORGE_HOME", str(home))
    mp.delenv("MUSEFORGE_DB_URL", raising=False)
    args = ["image", "style", "train", "skimage:brick", "--out", str(root / "run")]
    args += ["--content", "skimage:astronaut", "--content", "skimage:coffee", "--steps", "40"]
    args += ["--crop", "48", "--batch-size", "2", "--style-size", "48", "--width", "4"]
    assert run(args) == 0
    mp.undo()
    return root / "run"


def test_training_lowers_the_style_loss_and_records_its_command(trained):
    lines = [json.loads(x) for x in (trained / "metrics.jsonl").read_text().splitlines()]
    first, last = lines[0], lines[-1]
    assert last["step"] == 40
    assert last["style"] < 0.9 * first["style"], (first, last)  # VGG16 perceptual loss
    model = load_fast_style(trained / "model")
    assert model.config.style == "skimage:brick" and model.config.width == 4
    record = json.loads((trained / "model" / "config.json").read_text())
    assert "style train skimage:brick" in record["command"]


def test_stylize_fast_end_to_end(trained, home, tmp_path):
    out = tmp_path / "fast.png"
    args = ["image", "stylize", "skimage:chelsea", "--fast", str(trained / "model")]
    args += ["--out", str(out), "--size", "80"]
    assert run(args) == 0
    with Image.open(out) as img:
        assert max(img.size) == 80
    again = tmp_path / "again.png"
    assert run([*args[:-3], str(again), "--size", "80"]) == 0
    assert out.read_bytes() == again.read_bytes(), "same model, same content, same bytes"
    with Store() as store:
        artifact = store.get(_sha(out))
        assert artifact.params["fast"] == str(trained / "model")
        assert artifact.model_id.startswith("model@")
        assert len(store.parents(artifact.id)) == 1  # the content image


def test_stylize_fast_keeps_colours_and_respects_the_mask(trained, home, tmp_path):
    content = load_image("skimage:coffee", 64)
    mask = tmp_path / "mask.png"
    pixels = torch.zeros(content.shape[-2:], dtype=torch.uint8)
    pixels[:, : pixels.shape[1] // 2] = 255  # stylise the left half only
    Image.fromarray(pixels.numpy(), mode="L").save(mask)
    out = tmp_path / "masked.png"
    args = ["image", "stylize", "skimage:coffee", "--fast", str(trained / "model"), "--size"]
    args += ["64", "--out", str(out), "--mask", str(mask), "--preserve-colors"]
    assert run(args) == 0
    result = load_image(out)
    right = slice(pixels.shape[1] // 2 + 1, None)
    assert (result[..., right] - content[..., right]).abs().max() <= 2 / 255
    chroma = lambda im: rgb_to_ycbcr(im)[:, 1:].mean(dim=(2, 3))  # noqa: E731
    assert (chroma(result) - chroma(content)).abs().max() < 0.01


def test_fast_and_style_together_is_one_clear_error(trained, home, tmp_path, capsys):
    out = tmp_path / "x.png"
    args = ["image", "stylize", "skimage:coffee", "--fast", str(trained / "model")]
    args += ["--style", "skimage:brick", "--out", str(out)]
    assert run(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not both" in err[0] and not out.exists()
    assert run(["image", "stylize", "skimage:coffee", "--out", str(out)]) == 2
    assert "--style" in capsys.readouterr().err


@pytest.mark.parametrize("name", [m for m in shipped_models() if m.startswith("style-")])
def test_shipped_styles_load_and_stylise(name):
    model = load_fast_style(name)
    out = stylize_fast(model, load_image("skimage:astronaut", 96))
    assert out.shape[-2:] == (96, 96) and out.std() > 0.02


def test_optimisation_beyond_its_size_points_to_fast_mode(home, tmp_path, capsys):
    out = tmp_path / "big.png"
    args = ["image", "stylize", "skimage:coffee", "--style", "skimage:brick", "--size", "4096"]
    assert run([*args, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--fast" in err[0] and not out.exists()


def test_fast_mode_bad_models_are_one_line(home, tmp_path, capsys):
    from museforge.music.model import MelodyVAE, MelodyVAEConfig

    melody = MelodyVAE(MelodyVAEConfig(embed_dim=8, enc_hidden=8, z_dim=4, dec_hidden=8))
    melody.save_pretrained(tmp_path / "melody")
    broken = TransformNet(FastStyleConfig(width=4, res_blocks=1)).save_pretrained(tmp_path / "bad")
    (broken / "model.safetensors").write_bytes(b"not safetensors")
    out = tmp_path / "o.png"
    for fast, words in (
        ("style-nope", "no such model folder or shipped model"),
        (str(tmp_path / "melody"), "holds a 'melody-vae' model"),
        (str(broken), "model.safetensors"),
    ):
        assert run(["image", "stylize", "skimage:coffee", "--fast", fast, "--out", str(out)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error: ") and words in err[0], err
        assert not out.exists()
