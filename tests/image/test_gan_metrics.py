"""GAN measures without a pretrained network: SWD is 0 for a set against itself and grows
with noise, MS-SSIM is 1 for identical images and falls with noise, and the
nearest-neighbour ratio tells copies of the training set from new images."""

from __future__ import annotations

import math

import pytest
import torch

from museforge.errors import UserError
from museforge.image.data import build_image_dataset, load_image_dataset
from museforge.image.gan.metrics import (
    ms_ssim,
    ms_ssim_diversity,
    nearest_neighbour_ratio,
    sliced_wasserstein_distance,
    swd_floor,
)


@pytest.fixture(scope="module")
def faces(tmp_path_factory) -> torch.Tensor:
    """32 grey LFW faces at 32 px, float in -1..1."""
    out = tmp_path_factory.mktemp("lfw") / "lfw.npz"
    ds = load_image_dataset(build_image_dataset("skimage:lfw_subset", out, 32, progress=False))
    return torch.stack([ds[i] for i in range(32)])


def noisy(x: torch.Tensor, sigma: float, seed: int = 0) -> torch.Tensor:
    return x + sigma * torch.randn(x.shape, generator=torch.Generator().manual_seed(seed))


def test_swd_of_a_set_against_itself_is_zero_at_every_level(faces):
    assert sliced_wasserstein_distance(faces, faces) == {"32px": 0.0, "16px": 0.0, "mean": 0.0}


def test_swd_grows_with_noise(faces):
    distances = [
        sliced_wasserstein_distance(noisy(faces, sigma), faces)["mean"]
        for sigma in (0.05, 0.2, 0.5)
    ]
    assert 0 < distances[0] < distances[1] < distances[2]


def test_swd_repeats_for_a_seed_and_reads_uint8_like_float(faces):
    as_uint8 = ((faces + 1) * 127.5).round().to(torch.uint8)
    fake = noisy(faces, 0.2)
    first = sliced_wasserstein_distance(fake, faces, seed=3)
    assert first == sliced_wasserstein_distance(fake, faces, seed=3)
    assert first != sliced_wasserstein_distance(fake, faces, seed=4)
    from_uint8 = sliced_wasserstein_distance(fake, as_uint8, seed=3)
    assert from_uint8["mean"] == pytest.approx(first["mean"], rel=1e-3)


def test_swd_floor_of_two_random_halves_is_finite_and_positive(faces):
    floor = swd_floor(faces, seed=1)
    assert set(floor) == {"32px", "16px", "mean"}
    assert all(math.isfinite(v) and v > 0 for v in floor.values())


def test_swd_refuses_sets_of_different_sizes(faces):
    with pytest.raises(UserError, match="equally large sets"):
        sliced_wasserstein_distance(faces[:10], faces)


def test_ms_ssim_is_one_for_identical_images_and_falls_with_noise(faces):
    assert torch.allclose(ms_ssim(faces, faces), torch.ones(len(faces)))
    means = [float(ms_ssim(noisy(faces, s), faces).mean()) for s in (0.05, 0.2, 0.5)]
    assert 1 > means[0] > means[1] > means[2] > 0


def test_ms_ssim_refuses_images_smaller_than_its_window():
    tiny = torch.zeros(2, 3, 8, 8)
    with pytest.raises(UserError, match="at least 11 px"):
        ms_ssim(tiny, tiny)


def test_ms_ssim_diversity_is_one_for_a_collapsed_generator_and_lower_for_faces(faces):
    collapsed = faces[:1].expand(8, -1, -1, -1)
    assert ms_ssim_diversity(collapsed, pairs=20) == pytest.approx(1.0)
    assert ms_ssim_diversity(faces, pairs=200) < 0.5


def test_nearest_neighbour_ratio_tells_copies_from_noise(faces):
    copies = nearest_neighbour_ratio(faces[:8], faces)
    assert copies["ratio"] < 1e-6 and copies["train_median"] > 0
    noise = torch.rand(8, 3, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1
    fresh = nearest_neighbour_ratio(noise, faces)
    assert fresh["ratio"] > 1.0
    assert fresh["train_median"] == copies["train_median"]
