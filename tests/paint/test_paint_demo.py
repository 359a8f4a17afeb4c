"""The painting part of the demo gallery: a painting, its time-lapse, its plotter SVG."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from museforge.cli.demo import run_demo
from museforge.paint import demo


def test_demo_section_paints_and_plots(
    tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(demo, "STROKES", 40)
    monkeypatch.setattr(demo, "SIZE", 48)
    monkeypatch.setattr(demo, "OUT_SIZE", 96)
    index = run_demo(tmp_path / "gallery", seed=0, demos=["museforge.paint.demo:demo_section"])
    html = index.read_text()
    assert "Robot painting" in html
    travel = re.search(r"pen-up travel ([\d.]+) m in painting order, ([\d.]+) m sorted", html)
    assert travel, html
    assert float(travel.group(2)) <= float(travel.group(1)) / 2
    files = {p.name for p in (tmp_path / "gallery" / "files").iterdir()}
    assert {"painting.png", "timelapse.gif", "plot.svg"} <= files
    folder = tmp_path / "gallery" / "paint"
    assert (folder / "plot.gcode").read_text().startswith("G21")
