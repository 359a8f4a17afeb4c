"""The style benchmark runs end to end in its quick mode and reports every figure."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_style.py"


def test_quick_style_benchmark_prints_all_figures_and_writes_the_sheet(tmp_path: Path):
    sheet = tmp_path / "sheet.png"
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--sheet", str(sheet)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    figures = json.loads(proc.stdout.strip().splitlines()[-1])
    table = figures["quality"]
    assert set(table) == {"vgg16", "mobilenetv2", "random-multiscale"}
    assert "vgg16" not in table["vgg16"] and "mobilenetv2" not in table["mobilenetv2"]
    assert 0 <= table["vgg16"]["mobilenetv2"] < 1.5
    assert -1 <= table["random-multiscale"]["content_structure"] <= 1
    assert figures["vgg16_vs_random_multiscale"] > 0
    assert figures["default_stylize_s"] > 0 and figures["speed_threads"] == 2
    assert "mean_of_judges" in proc.stderr  # the table
    with Image.open(sheet) as img:
        assert img.width > 128 and img.height > 128


def test_a_kept_result_is_read_back_not_computed_again(tmp_path: Path, monkeypatch):
    import importlib.util

    import torch

    spec = importlib.util.spec_from_file_location("bench_style", SCRIPT)
    bench = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "bench_style", bench)  # dataclasses look it up
    spec.loader.exec_module(bench)
    settings = bench.Settings(32, 2, ("chelsea",), ("gravel",), ("random-multiscale",), 32, 2)
    settings.results = tmp_path
    config = bench.config_for("random-multiscale", 32, 2)
    net = bench.build_features("random-multiscale")
    images = (torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32))
    first, seconds = bench.stylized(settings, config, net, ("chelsea", "gravel"), images)
    assert len(list(tmp_path.glob("*.png"))) == 1

    def no_second_run(*args, **kwargs):
        raise AssertionError("a kept result was computed again")

    monkeypatch.setattr(bench, "stylize", no_second_run)
    again, kept_seconds = bench.stylized(settings, config, net, ("chelsea", "gravel"), images)
    assert torch.equal(first, again) and kept_seconds == seconds
    # other settings are another result: computed, not read back
    config.steps = 3
    with pytest.raises(AssertionError, match="computed again"):
        bench.stylized(settings, config, net, ("chelsea", "gravel"), images)
