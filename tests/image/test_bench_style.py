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
    scores = figures["quality"]["random-vgg"]
    assert 0 <= scores["style_distance"] < 1.5
    assert -1 <= scores["content_structure"] <= 1
    assert figures["best_style_distance"] == figures["best_content_structure"] == "random-vgg"
    assert figures["stylize_s"] > 0 and figures["stylize_vs_reference_ratio"] > 0
    with Image.open(sheet) as img:
        assert img.width > 128 and img.height > 128
