"""Exploring a GAN, on tiny untrained models: style mixing keeps its sources on the edges,
interpolations and variations start at a seed's own image byte for byte, a GIF repeats
byte for byte, a picture the generator made is found again, and the measures put real
images against real ones at the floor; then each command end to end."""

from __future__ import annotations

import hashlib
import json
import math
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from test_gan_train import TINY_MODELS

from museforge.cli import run
from museforge.core.store import Store
from museforge.errors import UserError
from museforge.image.data import build_image_dataset, load_image_dataset
from museforge.image.gan.dcgan import DCGAN
from museforge.image.gan.explore import (
    evaluate,
    evaluate_images,
    interpolate,
    mix_grid,
    project,
    render,
    save_gif,
    seed_latents,
    vary,
)
from museforge.image.gan.generate import sample
from museforge.image.gan.stylegan import StyleGAN


def tiny(arch: str) -> DCGAN | StyleGAN:
    """A tiny model in eval mode with what training would have given it beyond random
    weights: DCGAN's batch-norm statistics; StyleGAN's noise strengths, average w, and RGB
    outputs that stay mostly inside -1..1."""
    torch.manual_seed(0)
    if arch == "dcgan":
        model = DCGAN(TINY_MODELS["dcgan"])
        with torch.no_grad():
            for layer in model.G.modules():
                if isinstance(layer, torch.nn.BatchNorm2d):
                    layer.momentum = None  # a plain mean over the batches below
            for _ in range(5):
                model.G(torch.randn(64, 16))
        return model.eval()
    model = StyleGAN(TINY_MODELS["stylegan"]).eval()
    G = model.G_ema
    with torch.no_grad():
        for name, p in G.named_parameters():
            if name.endswith("noise_strength"):
                p.fill_(0.3)
        G.mapping.w_avg.copy_(G.mapping(torch.randn(1000, 16))[:, 0].mean(dim=0))
        for to_rgb in G.synthesis.to_rgbs:
            to_rgb.weight.mul_(0.4)  # at initialisation a third of the pixels clip
    return model


@pytest.fixture(scope="module")
def lfw(tmp_path_factory) -> Path:
    """A cache of the 100 LFW faces at 32 px."""
    out = tmp_path_factory.mktemp("lfw") / "lfw.npz"
    return build_image_dataset("skimage:lfw_subset", out, 32, progress=False)


def own_image(model: DCGAN | StyleGAN, seed: int) -> np.ndarray:
    return sample(model, 1, seed)[0]


def test_mix_grid_has_its_sources_on_the_edges_and_plain_samples_on_the_diagonal():
    model = tiny("stylegan")
    seeds = [1, 2, 3]
    cells = mix_grid(model, seeds, seeds)
    assert cells.shape == (4, 4, 32, 32, 3) and cells.dtype == np.uint8
    assert (cells[0, 0] == 255).all()
    for i, seed in enumerate(seeds):
        own = own_image(model, seed)
        assert np.array_equal(cells[0, i + 1], own)  # the fine seeds along the top
        assert np.array_equal(cells[i + 1, 0], own)  # the coarse seeds down the side
        assert np.array_equal(cells[i + 1, i + 1], own)  # a seed mixed with itself
    mixed = cells[1, 2]  # coarse styles of seed 1, fine ones of seed 2
    assert not np.array_equal(mixed, cells[1, 0]) and not np.array_equal(mixed, cells[0, 2])


def test_mix_crossover_at_either_end_gives_one_source_whole():
    model = tiny("stylegan")
    fine_only = mix_grid(model, [1], [2], crossover=0)
    coarse_only = mix_grid(model, [1], [2], crossover=model.G_ema.num_ws)
    assert np.array_equal(fine_only[1, 1], own_image(model, 2))
    assert np.array_equal(coarse_only[1, 1], own_image(model, 1))
    with pytest.raises(UserError, match="crossover"):
        mix_grid(model, [1], [2], crossover=model.G_ema.num_ws + 1)


def test_style_mixing_refuses_a_dcgan():
    with pytest.raises(UserError, match="needs a StyleGAN"):
        mix_grid(tiny("dcgan"), [1], [2])


@pytest.mark.parametrize("arch", ["dcgan", "stylegan"])
def test_interpolation_passes_through_each_seeds_own_image(arch):
    model = tiny(arch)
    seeds, frames = [4, 9, 2], 3
    images = interpolate(model, seeds, frames)
    assert images.shape == (frames * (len(seeds) - 1) + 1, 32, 32, 3)
    for k, seed in enumerate(seeds):
        assert np.array_equal(images[k * frames], own_image(model, seed))
    assert not np.array_equal(images[1], images[0]) and not np.array_equal(images[1], images[3])
    with pytest.raises(UserError, match="at least 2 seeds"):
        interpolate(model, [4], frames)
    with pytest.raises(UserError, match="frames"):
        interpolate(model, seeds, 1)


def test_gif_holds_every_frame_loops_and_repeats_byte_for_byte(tmp_path):
    model = tiny("stylegan")
    images = interpolate(model, [1, 2, 3], 4, truncation_psi=0.7)
    first = save_gif(images, tmp_path / "a.gif", duration_ms=60)
    again = save_gif(interpolate(model, [1, 2, 3], 4, truncation_psi=0.7), tmp_path / "b.gif", 60)
    assert first.read_bytes() == again.read_bytes()
    with Image.open(first) as gif:
        assert gif.n_frames == 4 * 2 + 1
        assert gif.info["loop"] == 0 and gif.info["duration"] == 60
    with pytest.raises(UserError, match="at least 20 ms"):
        save_gif(images, tmp_path / "c.gif", duration_ms=5)
    assert not (tmp_path / "c.gif").exists()


@pytest.mark.parametrize("arch", ["dcgan", "stylegan"])
def test_vary_at_amount_0_gives_the_seed_and_at_1_the_next_seeds(arch):
    model = tiny(arch)
    own = own_image(model, 5)
    assert all(np.array_equal(image, own) for image in vary(model, 5, 0.0, 3))
    halfway = vary(model, 5, 0.5, 3)
    assert not any(np.array_equal(image, own) for image in halfway)
    assert len({image.tobytes() for image in halfway}) == 3
    unrelated = vary(model, 5, 1.0, 3)
    assert all(np.array_equal(unrelated[i], own_image(model, 6 + i)) for i in range(3))
    assert np.array_equal(halfway, vary(model, 5, 0.5, 3))
    with pytest.raises(UserError, match="amount"):
        vary(model, 5, 1.5, 3)


def test_projection_finds_a_picture_the_generator_made():
    model = tiny("stylegan")
    a, b = seed_latents(model, [1000, 1001])
    ws = torch.cat([a[None, :4], b[None, 4:]], dim=1)  # a w+ that no seed gives
    target = render(model, ws)[0]
    found = project(model, target, steps=150, seed=0, distance="pixel")
    start_db = 10 * math.log10(4.0 / found.losses[0])  # pixels span -1..1
    assert found.psnr >= 25.0, (found.psnr, start_db)
    assert found.psnr > start_db + 8.0  # Adam did the work, not the choice of start
    assert found.latent.shape == (1, model.G_ema.num_ws, 16)
    assert np.array_equal(render(model, found.latent)[0], found.image)
    assert np.array_equal(found.target, target)


def test_projection_of_a_dcgan_moves_z_towards_the_target():
    model = tiny("dcgan")
    target = render(model, seed_latents(model, [1000]))[0]
    found = project(model, target, steps=30, distance="pixel")
    assert found.latent.shape == (1, 16)
    assert found.losses[-1] < found.losses[0]
    assert math.isfinite(found.psnr) and found.psnr > 30.0


def test_perceptual_projection_lowers_the_vgg16_distance(home):
    model = tiny("dcgan")
    target = render(model, seed_latents(model, [1000]))[0]
    start = project(model, target, steps=1, starts=0, distance="perceptual")
    found = project(model, target, steps=12, starts=0, distance="perceptual")
    assert found.losses[-1] < 0.7 * found.losses[0]
    assert found.psnr > start.psnr + 2.0  # closer in pixels too
    with pytest.raises(UserError, match="choose perceptual or pixel"):
        project(model, target, steps=1, distance="lpips")


def png_claiming_size(path: Path, width: int, height: int) -> Path:
    """A PNG whose header claims ``width`` x ``height`` pixels over a few bytes of data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    data = chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + data)
    return path


def test_projection_reads_pictures_safely_and_crops_them_to_the_model(tmp_path):
    model = tiny("stylegan")
    wide = tmp_path / "wide.png"
    Image.new("RGB", (60, 40), (200, 30, 30)).save(wide)
    found = project(model, wide, steps=1, starts=0)
    assert found.target.shape == (32, 32, 3) and (found.target == (200, 30, 30)).all()
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    with pytest.raises(UserError, match="corrupt.png"):
        project(model, corrupt, steps=1)
    with pytest.raises(UserError, match="too large|limit"):
        project(model, png_claiming_size(tmp_path / "bomb.png", 50_000, 50_000), steps=1)


def test_real_images_against_other_real_images_sit_at_the_swd_floor(lfw):
    faces = load_image_dataset(lfw).images
    order = torch.randperm(100, generator=torch.Generator().manual_seed(0))
    real, other = faces[order[:50]], faces[order[50:75]]
    report = evaluate_images(other, real, seed=0)
    assert report["swd_images"] == 25
    for key in ("swd", "swd_floor", "ms_ssim", "nn_ratio"):
        assert math.isfinite(report[key]), key
    assert report["swd"] < 1.5 * report["swd_floor"]  # within the floor's own noise
    assert 0.8 < report["nn_ratio"] < 1.25  # as close to the real images as they lie
    # KID: real faces against other real faces sit where real halves do, near 0
    assert abs(report["kid"] - report["kid_real"]) < 3 * (
        report["kid_std"] + report["kid_real_std"]
    )
    with pytest.raises(UserError, match="2 samples"):
        evaluate_images(other[:1], real)


def test_evaluate_measures_samples_against_a_cache_of_the_models_size(lfw, tmp_path):
    model = tiny("stylegan")
    report = evaluate(model, lfw, n_samples=16, seed=0)
    assert {"swd", "swd_floor", "ms_ssim", "nn_ratio"} <= report.keys()
    assert all(math.isfinite(report[k]) for k in ("swd", "swd_floor", "ms_ssim", "nn_ratio"))
    assert report["swd"] > 2 * report["swd_floor"]  # an untrained model is far from faces
    assert report["kid"] > report["kid_real"] + 5 * report["kid_std"]  # so KID says too
    big = build_image_dataset("skimage:lfw_subset", tmp_path / "lfw64.npz", 64, progress=False)
    with pytest.raises(UserError, match="64 px"):
        evaluate(model, big, n_samples=16)


# --- the commands ----------------------------------------------------------------------


@pytest.fixture
def model_dir(tmp_path) -> Path:
    tiny("stylegan").save_pretrained(tmp_path / "model")
    return tmp_path / "model"


def gan(*args: str | Path) -> int:
    return run(["image", "gan", *map(str, args)])


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def kept(store: Store, path: Path):
    """The store's record of a file: its id is the sha256 of its bytes."""
    return store.get(hashlib.sha256(path.read_bytes()).hexdigest())


def parent_ids(store: Store, path: Path) -> set[str]:
    return {edge.artifact.id for edge in store.parents(kept(store, path).id)}


def test_the_mix_command_keeps_each_mix_with_its_two_sources(home, model_dir, tmp_path):
    out = tmp_path / "mix"
    assert gan("mix", "--model", model_dir, "--coarse", "1,2", "--fine", "3", "--out", out) == 0
    assert names(out) == [
        "coarse-s1.png",
        "coarse-s2.png",
        "fine-s3.png",
        "grid.png",
        "mix-s1-s3.png",
        "mix-s2-s3.png",
    ]
    assert Image.open(out / "grid.png").size == (2 * 34 + 2, 3 * 34 + 2)
    with Store() as store:
        images = store.list_artifacts(kind="image")
        assert len(images) == 6 and all(a.params["crossover"] == 3 for a in images)
        sources = {kept(store, out / name).id for name in ("coarse-s2.png", "fine-s3.png")}
        assert parent_ids(store, out / "mix-s2-s3.png") == sources
        assert kept(store, out / "mix-s2-s3.png").seed == 2
        assert len(parent_ids(store, out / "grid.png")) == 5


def test_the_interpolate_command_writes_a_looping_gif(home, model_dir, tmp_path):
    out = tmp_path / "walk" / "walk.gif"
    args = ["interpolate", "--model", model_dir, "--seeds", "1,2,3", "--frames", "3"]
    assert gan(*args, "--out", out) == 0
    with Image.open(out) as gif:
        assert gif.n_frames == 7 and gif.info["loop"] == 0
    with Store() as store:
        walk = kept(store, out)
        assert walk.params["seeds"] == [1, 2, 3] and walk.seed == 1


def test_the_vary_command_keeps_variations_as_children_of_the_seed(home, model_dir, tmp_path):
    out = tmp_path / "vary"
    args = ["vary", "--model", model_dir, "--seed", "5", "--amount", "0.4", "--n", "3"]
    assert gan(*args, "--out", out) == 0
    assert names(out) == [
        "grid.png",
        "seed-s5.png",
        "variation-s5-0.png",
        "variation-s5-1.png",
        "variation-s5-2.png",
    ]
    assert np.array_equal(
        np.asarray(Image.open(out / "seed-s5.png")), own_image(tiny("stylegan"), 5)
    )
    with Store() as store:
        child = out / "variation-s5-1.png"
        assert parent_ids(store, child) == {kept(store, out / "seed-s5.png").id}
        assert kept(store, child).params["amount"] == 0.4
        assert kept(store, child).params["index"] == 1


def test_the_project_command_writes_target_rebuilt_image_and_variations(
    home, model_dir, tmp_path, capsys
):
    picture = tmp_path / "picture.png"
    Image.fromarray(own_image(tiny("stylegan"), 1000)).save(picture)
    out = tmp_path / "found"
    args = ["project", picture, "--model", model_dir, "--out", out, "--steps", "20"]
    args += ["--distance", "pixel"]
    assert gan(*args, "--vary", "2", "--amount", "0.2") == 0
    assert "PSNR" in capsys.readouterr().out
    assert names(out) == [
        "grid.png",
        "projection.png",
        "target.png",
        "variation-0.png",
        "variation-1.png",
    ]
    with Store() as store:
        assert parent_ids(store, out / "projection.png") == {kept(store, picture).id}
        assert parent_ids(store, out / "variation-1.png") == {
            kept(store, out / "projection.png").id
        }
        assert kept(store, out / "projection.png").params["psnr_db"] > 0


def test_the_evaluate_command_prints_one_json_object(model_dir, capsys):
    args = ["evaluate", "--model", model_dir, "--data", "skimage:lfw_subset", "--samples", "8"]
    assert gan(*args, "--json") == 0
    report = json.loads(capsys.readouterr().out)
    assert {
        "swd",
        "swd_floor",
        "ms_ssim",
        "nn_ratio",
        "kid",
        "kid_std",
        "kid_real",
    } <= report.keys()
    assert report["model"].startswith("model@") and report["samples"] == 8
    assert gan(*args) == 0
    assert "SWD" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["mix", "--coarse", "1", "--fine", "2"], "needs a StyleGAN"),
        (["interpolate", "--seeds", "1,2", "--frames", "2"], ".gif"),
        (["project", "{corrupt}"], "corrupt.png"),
        (["vary", "--seed", "1", "--amount", "-0.1"], "--amount"),
    ],
)
def test_command_errors_are_one_line_and_write_nothing(args, words, tmp_path, capsys, home):
    tiny("dcgan").save_pretrained(tmp_path / "dcgan")
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"not a picture")
    args = [a.format(corrupt=corrupt) for a in args]
    out = tmp_path / "out.png"
    assert gan(*args, "--model", tmp_path / "dcgan", "--out", out) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and words in err[0], err
    assert not out.exists()
