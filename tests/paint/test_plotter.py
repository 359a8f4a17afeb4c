"""Plotter output: G-code parsed back, vpype reading the SVG, sorting, profiles, bad paper."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from museforge.errors import BadInputFile, UserError
from museforge.paint.gcode import GcodeProfile, gcode_text, load_profile
from museforge.paint.plotter import (
    PlotterConfig,
    drawable_area,
    pen_lines_mm,
    plan,
    write_plot_hpgl,
    write_plot_svg,
)
from museforge.paint.strokes import BrushConfig

_WORD = re.compile(r"([GXYZFSMP])(-?\d+(?:\.\d+)?)")


def parse_gcode(text: str, profile: GcodeProfile, page_height: float) -> tuple[list, list]:
    """(pen-down polylines, every X/Y point visited) in mm with y downwards, read the way a
    machine would: a G0/G1 with X/Y moves there; Z or servo commands move the pen."""
    down, at, lines, visited = False, None, [], []
    for raw in text.splitlines():
        code = raw.split(";")[0].strip()
        if not code:
            continue
        if profile.lift == "servo" and code == profile.servo_down:
            down = True
            lines.append([at])
            continue
        if profile.lift == "servo" and code == profile.servo_up:
            down = False
            continue
        words = dict(_WORD.findall(code))
        if "Z" in words:
            now_down = float(words["Z"]) <= profile.z_down + 1e-9
            if now_down and not down:
                lines.append([at])
            down = now_down
        if "X" in words or "Y" in words:
            x = float(words["X"])
            y = float(words["Y"])
            at = complex(x, page_height - y if profile.flip_y else y)
            visited.append(at)
            if down:
                assert words.get("G") == "1", f"pen down travel with G0: {raw}"
                lines[-1].append(at)
            else:
                assert words.get("G") == "0", f"drawing with the pen up: {raw}"
    return [np.array(line) for line in lines], visited


def _strokes(n: int = 60, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    s = torch.rand(n, 13, generator=gen)
    s[:, 4:6] = (s[:, 0:2] + 0.2 * (torch.rand(n, 2, generator=gen) - 0.5)).clamp(0, 1)
    s[:, 6:8] *= 0.3
    return s


@pytest.mark.parametrize("lift", ["z", "servo"])
def test_gcode_parses_back_inside_the_sheet_and_draws_the_strokes(lift: str) -> None:
    config = PlotterConfig(paper="a4", margin=20.0, pen_width=0.6)
    for brush in (BrushConfig(), BrushConfig(pen=True)):
        plot = plan(_strokes(), 48, 64, brush, config)
        profile = GcodeProfile(lift=lift)
        left, top, right, bottom = drawable_area(config)
        text = gcode_text(pen_lines_mm(plot), plot.page[1], profile, complex(left, bottom))
        drawn, visited = parse_gcode(text, profile, plot.page[1])
        pts = np.array(visited)
        assert len(pts) > 100
        assert (pts.real >= left - 1e-3).all() and (pts.real <= right + 1e-3).all()
        assert (pts.imag >= top - 1e-3).all() and (pts.imag <= bottom + 1e-3).all()
        expected = pen_lines_mm(plot)
        assert len(drawn) == len(expected)
        for got, want in zip(drawn, expected, strict=True):
            want = want if len(want) > 1 else np.repeat(want, 2)
            assert np.abs(got - want).max() < 2e-3  # printed with 3 decimals
        if lift == "servo":
            assert "G4 P0.15" in text and "Z" not in text


def test_wide_strokes_become_several_passes_and_white_ones_are_left_out() -> None:
    config = PlotterConfig(pen_width=0.5)
    stroke = torch.tensor([[0.2, 0.5, 0.5, 0.5, 0.8, 0.5, 0.5, 0.5, 1.0, 1.0, 0.0, 0.0, 0.0]])
    white = stroke.clone()
    white[0, 10:13] = 1.0
    plot = plan(torch.cat([stroke, white]), 64, 64, BrushConfig(), config)
    lines = pen_lines_mm(plot)
    # radius 0.105 of a 180 mm square: 37.8 mm wide, darkness 1, 0.5 mm pen: 76 passes
    assert len(lines) == 76
    ys = sorted(float(line[0].imag) for line in lines)
    assert ys[-1] - ys[0] == pytest.approx(37.8 - 0.5, abs=0.05)


def test_sorting_halves_the_pen_up_travel_and_vpype_reads_the_svg(tmp_path: Path) -> None:
    config = PlotterConfig(paper="a3", landscape=True, margin=10.0)
    plot = plan(_strokes(200, seed=1), 64, 64, BrushConfig(pen=True), config)
    assert plot.page == (420.0, 297.0)
    assert plot.pen_up_sorted <= plot.pen_up_unsorted / 2
    svg = write_plot_svg(plot, tmp_path / "plot.svg")
    vpype = Path(sys.executable).with_name("vpype")
    out = subprocess.run(
        [str(vpype), "read", str(svg), "stat"], capture_output=True, text=True, check=True
    ).stdout
    assert "Path count: " in out
    count = int(re.search(r"Path count: (\d+)", out).group(1))
    assert count == len(pen_lines_mm(plot))
    hpgl = write_plot_hpgl(plot, tmp_path / "plot.hpgl", config)
    text = hpgl.read_text()
    assert text.startswith("IN;") and "PD" in text
    assert write_plot_hpgl(plot, tmp_path / "x.hpgl", PlotterConfig(paper="300x200mm")) is None


def test_paper_smaller_than_its_margins_is_refused() -> None:
    with pytest.raises(UserError, match="smaller than its margins"):
        drawable_area(PlotterConfig(paper="25x40mm", margin=15.0))
    with pytest.raises(UserError, match="use a4, a3, letter"):
        drawable_area(PlotterConfig(paper="b5"))


def test_a_profile_file_sets_the_pen_lift_and_refuses_unknown_keys(tmp_path: Path) -> None:
    good = tmp_path / "servo.toml"
    good.write_text('lift = "servo"\nservo_down = "M3 S90"\ndraw_feed = 2000\n')
    profile = load_profile(good)
    assert profile.lift == "servo" and profile.servo_down == "M3 S90"
    assert profile.draw_feed == 2000.0
    bad = tmp_path / "bad.toml"
    bad.write_text("pen_speed = 3\n")
    with pytest.raises(BadInputFile, match="unknown keys"):
        load_profile(bad)
