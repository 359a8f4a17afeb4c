"""Style transfer: the Gram and loss maths, the feature networks, and ``museforge image``
end to end on tiny images (colours kept, masks respected, same seed same bytes, lineage)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from museforge.cli import run
from museforge.core.store import Store
from museforge.errors import BadInputFile, MissingFile, UserError
from museforge.image.io import load_image, resolve_source
from museforge.image.style import features as features_module
from museforge.image.style.features import (
    VGG19,
    VGG19_LAYOUT,
    RandomMultiscale,
    RandomVGG,
    build_features,
    find_vgg19,
    vgg19_status,
)
from museforge.image.style.gatys import (
    StyleConfig,
    StyleLoss,
    check_blend,
    gram_matrix,
    keep_colors,
    match_palette,
    rgb_to_ycbcr,
    stylize,
    ycbcr_to_rgb,
)
from museforge.image.style.judge import colour_distance

SIZE = 64
# the settings these tests were measured with: no pretrained weights, Adam's lr
RANDOM_ADAM = {"features": "random-multiscale", "optimizer": "adam"}


@pytest.fixture(scope="module")
def content() -> torch.Tensor:
    return load_image("skimage:astronaut", SIZE)


@pytest.fixture(scope="module")
def gravel() -> torch.Tensor:
    return load_image("skimage:gravel", SIZE)


def test_gram_matrix_is_channel_correlation_averaged_over_positions():
    f = torch.randn(2, 4, 3, 5)
    g = gram_matrix(f)
    expected = torch.einsum("nchw,ndhw->ncd", f, f) / 15
    assert torch.allclose(g, expected, atol=1e-6)
    assert torch.allclose(g, g.transpose(1, 2))
    # normalised by size: the same statistics over a larger area give the same matrix
    assert torch.allclose(gram_matrix(torch.cat([f, f], dim=-1)), g, atol=1e-6)


def test_ycbcr_round_trip_and_keep_colors():
    rgb = torch.rand(1, 3, 8, 8)
    assert torch.allclose(ycbcr_to_rgb(rgb_to_ycbcr(rgb)), rgb, atol=1e-5)
    grey = rgb_to_ycbcr(rgb)[:, :1].expand(-1, 3, -1, -1)
    kept = rgb_to_ycbcr(keep_colors(grey, rgb))
    assert torch.allclose(kept, rgb_to_ycbcr(rgb), atol=1e-2)


@pytest.mark.parametrize("net", [RandomMultiscale(), RandomVGG()], ids=["multiscale", "vgg"])
def test_random_features_are_frozen_seeded_and_named(net):
    assert not net.training and not any(p.requires_grad for p in net.parameters())
    again = type(net)(type(net.config)(seed=0))
    other = type(net)(type(net.config)(seed=1))
    first = next(iter(net.parameters()))
    assert torch.equal(first, next(iter(again.parameters())))
    assert not torch.equal(first, next(iter(other.parameters())))
    x = torch.rand(1, 3, 48, 40)
    layers = net.content_layers + net.style_layers
    maps = net(x, layers)
    assert len(maps) == len(layers) and all(m.shape[0] == 1 for m in maps)


def _fake_vgg19(path: Path, drop: str | None = None) -> Path:
    """torchvision's VGG-19 state dict, with random weights, saved as a .pth file."""
    state, channels, index = {}, 3, 0
    for item in VGG19_LAYOUT:
        if item == "M":
            index += 1
            continue
        state[f"features.{index}.weight"] = torch.randn(item, channels, 3, 3) * 0.05
        state[f"features.{index}.bias"] = torch.zeros(item)
        channels, index = item, index + 2  # a conv, then its ReLU
    state["classifier.0.weight"] = torch.randn(8, 8)  # present in the real file, unused
    state.pop(drop, None)
    torch.save(state, path)
    return path


def test_vgg19_loads_torchvision_layout(tmp_path):
    path = _fake_vgg19(tmp_path / "vgg19-dcbb9e9d.pth")
    net = VGG19(path)
    assert net.style_layers == ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")
    assert net.content_layers == ("conv4_2",)
    state = torch.load(path, weights_only=True)
    assert torch.equal(net.convs["conv4_2"].weight, state["features.21.weight"])
    assert torch.equal(net.convs["conv5_1"].weight, state["features.28.weight"])
    maps = net(torch.rand(1, 3, 32, 32), ["conv1_1", "conv4_2", "conv5_1"])
    assert [tuple(m.shape[1:]) for m in maps] == [(64, 32, 32), (512, 4, 4), (512, 2, 2)]
    with pytest.raises(BadInputFile, match="lacks features.28.weight"):
        VGG19(_fake_vgg19(tmp_path / "short.pth", drop="features.28.weight"))
    with pytest.raises(MissingFile, match="VGG-19 weights file"):
        VGG19(tmp_path / "absent.pth")


def test_vgg19_is_found_in_the_torch_hub_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    assert find_vgg19() is None
    assert "not found" in vgg19_status()
    with pytest.raises(UserError, match="VGG-19 weights not found"):
        build_features("vgg19")
    (tmp_path / "hub" / "checkpoints").mkdir(parents=True)
    path = _fake_vgg19(tmp_path / "hub" / "checkpoints" / "vgg19-dcbb9e9d.pth")
    assert find_vgg19() == path
    assert str(path) in vgg19_status()
    assert features_module.build_features("vgg19").path == path


def test_losses_decrease(content, gravel):
    result = stylize(content, [gravel], StyleConfig(steps=25, size=SIZE, lr=0.05, **RANDOM_ADAM))
    first, last = result.history[0], result.history[-1]
    assert last["style"] < 0.2 * first["style"]
    assert last["loss"] < 0.2 * first["loss"]
    assert result.image.shape == content.shape


def test_blend_weights_must_match_the_styles(content, gravel):
    with pytest.raises(UserError, match="2 blend weights for 1 style"):
        stylize(content, [gravel], StyleConfig(steps=1, size=SIZE), blend=[0.5, 0.5])
    assert check_blend(2, [3, 1]) == [0.75, 0.25]
    with pytest.raises(UserError, match="positive"):
        check_blend(2, [-1, 1])


def _mean_chroma(image: torch.Tensor) -> torch.Tensor:
    return rgb_to_ycbcr(image)[:, 1:].mean(dim=(2, 3))


def test_preserve_colors_keeps_the_contents_chroma(content):
    style = load_image("skimage:immunohistochemistry", SIZE)
    config = StyleConfig(steps=30, size=SIZE, lr=0.05, **RANDOM_ADAM)
    free = stylize(content, [style], config).image
    kept = stylize(content, [style], StyleConfig(**{**vars(config), "preserve_colors": True}))
    target = _mean_chroma(content)
    kept_gap = (_mean_chroma(kept.image) - target).norm()
    free_gap = (_mean_chroma(free) - target).norm()
    assert kept_gap < 0.01
    assert kept_gap < 0.25 * free_gap


def test_mask_leaves_unmasked_pixels_as_content(content, gravel):
    mask = torch.zeros(1, 1, SIZE, SIZE)
    mask[..., :, SIZE // 2 :] = 1
    result = stylize(
        content, [gravel], StyleConfig(steps=10, size=SIZE, lr=0.05, **RANDOM_ADAM), mask=mask
    )
    left = (result.image - content)[..., : SIZE // 2]
    assert left.abs().max() <= 2 / 255
    assert (result.image - content)[..., SIZE // 2 :].abs().mean() > 0.02


# --- through the command line -------------------------------------------------------------


def _stylize_args(out: Path, *extra: str) -> list[str]:
    return [
        "image",
        "stylize",
        "skimage:astronaut",
        "--style",
        "skimage:gravel",
        "--out",
        str(out),
        "--size",
        str(SIZE),
        "--steps",
        "4",
        *extra,
    ]


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_cli_same_seed_same_bytes_and_store_records_parents(home, tmp_path):
    a, b, c = tmp_path / "a.png", tmp_path / "b.png", tmp_path / "c.png"
    assert run(_stylize_args(a, "--seed", "3")) == 0
    assert run(_stylize_args(b, "--seed", "3")) == 0
    assert run(_stylize_args(c, "--seed", "3", "--features", "random-vgg")) == 0
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes() != c.read_bytes()
    with Store() as store:
        result = store.get(_sha(a))
        assert result.kind == "image" and result.seed == 3
        assert result.params["features"] == "vgg16"
        assert result.params["styles"] == ["skimage:gravel"]
        parents = {edge.artifact.id: edge.relation for edge in store.parents(result.id)}
    inputs = {_sha(resolve_source("skimage:astronaut")), _sha(resolve_source("skimage:gravel"))}
    assert parents == dict.fromkeys(inputs, "input")


def test_cli_mask_and_blend(home, tmp_path):
    mask = tmp_path / "mask.png"
    Image.new("L", (SIZE, SIZE), 0).save(mask)
    out = tmp_path / "masked.png"
    args = _stylize_args(out, "--mask", str(mask), "--style", "skimage:brick", "--blend", "2,1")
    assert run(args) == 0
    content = load_image("skimage:astronaut", SIZE)
    assert (load_image(out) - content).abs().max() <= 2 / 255


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        (["--blend", "0.7,0.3"], "2 blend weights for 1 style"),
        (["--blend", "a,b"], "--blend"),
        (["--features", "vgg19:{tmp}/missing.pth"], "missing.pth: no such VGG-19 weights file"),
        (["--features", "resnet"], "unknown features"),
        (["--init", "{tmp}/nowhere.png"], "nowhere.png: no such"),
    ],
)
def test_cli_bad_settings_are_one_line(home, tmp_path, capsys, extra, words):
    out = tmp_path / "out.png"
    extra = [e.format(tmp=tmp_path) for e in extra]
    assert run(_stylize_args(out, *extra)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and words in err[0], err
    assert not out.exists()


def test_cli_corrupt_and_bomb_images_are_one_line(home, tmp_path, capsys, monkeypatch):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    bomb = tmp_path / "bomb.png"
    Image.new("RGB", (100, 100)).save(bomb)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # Pillow's own check, lowered
    for bad, words in (
        (broken, "broken.png: is not a readable image"),
        (bomb, "bomb.png: is too large to open safely"),
    ):
        out = tmp_path / "out.png"
        args = _stylize_args(out)
        args[2] = str(bad)
        assert run(args) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error: ") and words in err[0], err
        assert not out.exists()


def test_style_sheet_grid(home, tmp_path):
    out = tmp_path / "sheet.png"
    args = ["image", "style", "sheet", "skimage:astronaut", "--out", str(out), "--size", "48"]
    args += ["--styles", "skimage:gravel", "--styles", "skimage:brick", "--steps", "2"]
    assert run(args) == 0
    with Image.open(out) as sheet:
        assert sheet.size == (3 * (48 + 8) + 8, 2 * (48 + 20 + 8) + 8)
    with Store() as store:
        assert len(store.parents(_sha(out))) == 3


def test_lbfgs_lowers_the_loss_like_adam(content, gravel):
    config = StyleConfig(steps=6, size=SIZE, optimizer="lbfgs", scales=(SIZE,))
    history = stylize(content, [gravel], config).history
    assert len(history) == 6 and history[-1]["loss"] < 0.5 * history[0]["loss"], history


def test_lbfgs_starts_from_a_permuted_init_image(content, gravel):
    """An image made channels-last and permuted back (as numpy arrays come) is not
    contiguous; L-BFGS flattens its gradient with a view and used to refuse it."""
    start = content[0].permute(1, 2, 0).contiguous().permute(2, 0, 1)[None]
    assert not start.is_contiguous()
    config = StyleConfig(steps=2, size=SIZE, optimizer="lbfgs", scales=(SIZE,), init="image")
    assert len(stylize(content, [gravel], config, init=start).history) == 2


def test_palette_start_takes_the_styles_colours_and_keeps_the_contents_order(content, gravel):
    matched = match_palette(content, gravel)
    for c in range(3):
        want = gravel[0, c].flatten().sort().values
        got = matched[0, c].flatten().sort().values
        assert torch.allclose(got, want), c  # same sizes here: the very same values
        # each pixel keeps its rank: a darker pixel never ends up lighter (ties in any order)
        before, after = content[0, c].flatten().numpy(), matched[0, c].flatten().numpy()
        assert (np.diff(after[np.lexsort((after, before))]) >= 0).all(), c
    config = StyleConfig(steps=2, size=SIZE, scales=(SIZE,), init="content", **RANDOM_ADAM)
    plain = stylize(content, [gravel], config).image
    config.init = "palette"
    painted = stylize(content, [gravel], config).image
    assert colour_distance(painted, gravel) < 0.6 * colour_distance(plain, gravel)
    # with the content's colours kept, the palette start matches the luminance only
    config.preserve_colors = True
    kept = stylize(content, [gravel], config).image
    assert (_mean_chroma(kept) - _mean_chroma(content)).norm() < 0.01


def test_default_vgg16_lbfgs_keeps_descending_without_clamping_between_steps(home, content, gravel):
    """Clamping L-BFGS' iterate between steps broke its curvature pairs: the loss stalled."""
    config = StyleConfig(steps=8, size=SIZE, scales=(SIZE,))
    assert (config.features, config.optimizer) == ("vgg16", "lbfgs")
    result = stylize(content, [gravel], config)
    losses = [h["loss"] for h in result.history]
    assert losses[-1] < 0.3 * losses[0] and losses[-1] < losses[len(losses) // 2], losses
    assert float(result.image.min()) >= 0 and float(result.image.max()) <= 1
    with pytest.raises(UserError, match="precision 'fp8'"):
        stylize(content, [gravel], StyleConfig(steps=1, size=SIZE, precision="fp8"))
    with pytest.raises(UserError, match="choose adam or lbfgs"):
        stylize(content, [gravel], StyleConfig(steps=1, size=SIZE, optimizer="sgd"))


def test_fine_scales_match_only_the_shallow_layers_against_the_coarse_result():
    net = build_features("random-multiscale")
    config = StyleConfig(size=512)
    assert config.resolved_scales() == (256, 512)
    image, style = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32)
    loss = StyleLoss(net, image, [style], [1.0], config, shallow=2)
    assert loss.style_layers == net.style_layers[:2]
    assert loss.content_layers == net.style_layers[1:2]
    assert float(loss(image)["content"]) == 0.0  # the anchor itself keeps its layout
