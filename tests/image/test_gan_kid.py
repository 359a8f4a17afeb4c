"""KID: unbiased (a set against a sample of its own distribution scores about 0), and it
tells real faces from other pictures by ImageNet features."""

from __future__ import annotations

import torch

from museforge.image.data import build_image_dataset, load_image_dataset
from museforge.image.gan.kid import KIDConfig, kid, kid_report, mmd2_unbiased


def test_mmd_is_unbiased_and_sees_a_shift():
    g = torch.Generator().manual_seed(0)
    draws = [torch.randn(2, 100, 16, generator=g, dtype=torch.float64) for _ in range(40)]
    same = torch.tensor([mmd2_unbiased(a, b) for a, b in draws])
    shifted = torch.tensor([mmd2_unbiased(a, b + 0.5) for a, b in draws])
    assert (same < 0).any() and (same > 0).any()  # unbiased: zero-mean noise, either sign
    assert abs(float(same.mean())) < 3 * float(same.std()) / 40**0.5
    assert float(shifted.mean()) > 10 * float(same.std())


def test_kid_separates_faces_from_noise(home, tmp_path):
    cache = build_image_dataset("skimage:lfw_subset", tmp_path / "lfw.npz", 32, progress=False)
    faces = load_image_dataset(cache).images
    noise = torch.randint(
        0, 256, faces[:50].shape, dtype=torch.uint8, generator=torch.Generator().manual_seed(1)
    )
    config = KIDConfig(subsets=20)
    report = kid_report(noise, faces, seed=0, config=config)
    assert report["kid"] > 10 * max(report["kid_real"], report["kid_std"])
    assert report["kid_subset_size"] == 25 and report["kid_real_subset_size"] == 25
    assert report["kid_real_std"] > 0  # subsets differ, so their spread is a real error bar
    same = kid(torch.ones(8, 3, dtype=torch.float64), torch.ones(8, 3, dtype=torch.float64), config)
    assert abs(same["kid"]) < 1e-9
