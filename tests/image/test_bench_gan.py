"""The GAN benchmark runs end to end in its quick mode and reports every figure."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

from museforge.image.data import build_image_dataset
from museforge.image.gan.dcgan import DCGANConfig
from museforge.image.gan.train import default_config, train_gan

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_gan.py"


def test_quick_gan_benchmark_prints_speed_transfer_and_discriminator_figures(tmp_path: Path):
    faces = build_image_dataset("skimage:lfw_subset", tmp_path / "faces.npz", 32, progress=False)
    tiny = replace(
        default_config("dcgan", 32),
        model=DCGANConfig(res=32, z_dim=16, width=4),
        steps=2,
        batch_size=4,
    )
    source = train_gan(faces, tmp_path / "source", tiny, progress=False)
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--init", str(source.model_dir)],
        capture_output=True,
        text=True,
        timeout=540,
        check=True,
    )
    figures = json.loads(proc.stdout.strip().splitlines()[-1])
    for variant in ("dcgan", "stylegan-c64"):  # quick mode leaves out the paper-sized StyleGAN
        for res in ("32", "64"):
            assert figures["speed"][variant][res]["images_per_s"] > 0
    assert figures["speed"]["stylegan-c64"]["32"]["r1_step_s"] > 0
    assert figures["reference_dcgan_32"]["images_per_s"] > 0 and figures["ratio_vs_reference"] > 0
    transfer = figures["transfer"]
    assert transfer["arch"] == "dcgan" and transfer["steps"] == 4
    assert 0 < transfer["floor_swd"]["mean"] < transfer["scratch_swd"]["mean"]
    assert transfer["fine_tuned_swd"]["mean"] > 0
    assert isinstance(transfer["fine_tuned_beats_scratch"], bool)
    compared = figures["discriminators"]
    for name in ("stylegan", "projected"):  # two steps each at equal (tiny) CPU time
        row = compared[name]
        assert row["steps"] == 2 and row["cpu_minutes"] > 0
        assert row["kid"] > row["kid_real"] and row["kid_std"] > 0
        assert 0 < row["ms_ssim_real"] < 1 and 0 < row["ms_ssim"] < 1
