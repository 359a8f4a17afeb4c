"""The style benchmark runs end to end in its quick mode and reports every figure."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

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
