"""Strokes for a pen plotter: laid out in millimetres on a sheet, then merged, simplified and
sorted with vpype, and written as SVG and HPGL (vpype's writers) and G-code (``gcode.py``).

A stroke becomes one pen line along its curve when it is no wider than the pen; a wider
stroke becomes parallel passes across its width (hatching), as many as its darkness
(1 - luminance, times its opacity) asks for, back and forth. White strokes are left to
the paper. The drawing keeps its proportions, centred in the sheet less its margins.

Lengths inside vpype are CSS pixels (96 per inch); ``MM`` converts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import vpype
from torch import Tensor

from museforge.core.atomic import atomic_path
from museforge.errors import UserError
from museforge.paint.strokes import BrushConfig, curve_points

MM = 96.0 / 25.4  # vpype units (CSS px) per millimetre
PAPERS = {"a4": (210.0, 297.0), "a3": (297.0, 420.0), "letter": (215.9, 279.4)}
HPGL_PAPERS = {"a4": "a4", "a3": "a3", "letter": "a"}  # vpype's hp7475a paper names
_CUSTOM = re.compile(r"(\d+(?:\.\d+)?)x(\d+(?:\.\d+)?)mm")


@dataclass(frozen=True)
class PlotterConfig:
    paper: str = "a4"  # a4 | a3 | letter | WxHmm
    landscape: bool = False
    margin: float = 15.0  # mm on every side
    pen_width: float = 0.5  # mm
    merge_tolerance: float = 0.2  # mm: lines whose ends are closer become one
    simplify_tolerance: float = 0.05  # mm
    samples: int = 16  # points along each stroke's curve


def paper_size(config: PlotterConfig) -> tuple[float, float]:
    """Sheet (width, height) in mm, turned for landscape."""
    name = config.paper.lower()
    if name in PAPERS:
        w, h = PAPERS[name]
    else:
        m = _CUSTOM.fullmatch(name)
        if not m:
            raise UserError(f"paper {config.paper!r}: use a4, a3, letter or a size like 300x200mm")
        w, h = float(m.group(1)), float(m.group(2))
    return (max(w, h), min(w, h)) if config.landscape else (w, h)


def drawable_area(config: PlotterConfig) -> tuple[float, float, float, float]:
    """(left, top, right, bottom) in mm of what the pen may reach, or a UserError."""
    w, h = paper_size(config)
    if config.margin < 0 or config.pen_width <= 0:
        raise UserError("margins must be 0 mm or more and the pen width more than 0 mm")
    if 2 * config.margin >= min(w, h):
        raise UserError(
            f"paper {config.paper} ({w:g} x {h:g} mm) is smaller than its margins "
            f"({config.margin:g} mm on each side): nothing would fit"
        )
    return config.margin, config.margin, w - config.margin, h - config.margin


def stroke_lines(
    strokes: Tensor, height: int, width: int, brush: BrushConfig, config: PlotterConfig
) -> list[np.ndarray]:
    """Pen lines in mm (complex x + iy, y downwards) for strokes on a ``height x width`` canvas."""
    left, top, right, bottom = drawable_area(config)
    scale = min((right - left) / width, (bottom - top) / height)  # mm per canvas pixel
    x_off = left + ((right - left) - width * scale) / 2
    y_off = top + ((bottom - top) - height * scale) / 2
    side_mm = min(width, height) * scale
    lines = []
    pts = curve_points(strokes, config.samples)  # [N, S+1, 2] canvas fractions
    t = torch.linspace(0, 1, config.samples + 1)
    for s, p in zip(strokes, pts, strict=True):
        if brush.pen:
            radius = torch.full_like(t, brush.pen_radius * side_mm)
            darkness = 1.0
        else:
            r = brush.min_radius + s[6:8] * (brush.max_radius - brush.min_radius)
            radius = (r[0] + (r[1] - r[0]) * t) * side_mm
            lum = float(0.299 * s[10] + 0.587 * s[11] + 0.114 * s[12])
            darkness = (1 - lum) * float(s[8:10].mean())
        xy = p.numpy().astype(np.float64) * np.array([width, height]) * scale
        xy += np.array([x_off, y_off])
        passes = round(darkness * float(2 * radius.max()) / config.pen_width)
        if passes < 1:
            if brush.pen or darkness * float(2 * radius.max()) >= config.pen_width / 2:
                passes = 1
            else:
                continue
        tangent = np.gradient(xy, axis=0)
        norm = np.linalg.norm(tangent, axis=1, keepdims=True)
        normal = np.stack([-tangent[:, 1], tangent[:, 0]], axis=1) / np.maximum(norm, 1e-9)
        reach = np.maximum(radius.numpy() - config.pen_width / 2, 0.0)[:, None]
        for j in range(passes):
            offset = (j / (passes - 1) - 0.5) * 2 * reach if passes > 1 else 0 * reach
            line = xy + normal * offset
            if j % 2:
                line = line[::-1]
            line[:, 0] = line[:, 0].clip(left, right)
            line[:, 1] = line[:, 1].clip(top, bottom)
            lines.append(line[:, 0] + 1j * line[:, 1])
    return lines


def sort_lines(lines: vpype.LineCollection) -> vpype.LineCollection:
    """Greedy nearest-next ordering with flips (vpype's ``linesort``), kept only if shorter."""
    if len(lines) < 2:
        return lines
    index = vpype.LineIndex(lines[1:], reverse=True)
    ordered = lines.clone([lines[0]])
    while len(index) > 0:
        i, reverse = index.find_nearest(ordered[-1][-1])
        line = index.pop(i)
        if line is not None:
            ordered.append(np.flip(line) if reverse else line)
    return ordered if ordered.pen_up_length()[0] <= lines.pen_up_length()[0] else lines


@dataclass
class Plot:
    document: vpype.Document  # in vpype units
    page: tuple[float, float]  # mm
    area: tuple[float, float, float, float]  # mm
    pen_up_unsorted: float  # mm of pen-up travel in stroke order
    pen_up_sorted: float  # mm after sorting
    pen_down: float  # mm drawn


def plan(
    strokes: Tensor, height: int, width: int, brush: BrushConfig, config: PlotterConfig
) -> Plot:
    """Lay out, merge, simplify and sort the strokes for the sheet."""
    lines = vpype.LineCollection(
        [line * MM for line in stroke_lines(strokes, height, width, brush, config)]
    )
    lines.merge(config.merge_tolerance * MM, flip=True)
    if len(lines):
        lines = lines.clone(
            lines.as_mls().simplify(config.simplify_tolerance * MM, preserve_topology=False)
        )
    unsorted = lines.pen_up_length()[0] / MM if len(lines) else 0.0
    lines = sort_lines(lines)
    sorted_up = lines.pen_up_length()[0] / MM if len(lines) else 0.0
    page = paper_size(config)
    doc = vpype.Document(page_size=(page[0] * MM, page[1] * MM))
    doc.add(lines, 1, with_metadata=False)
    return Plot(doc, page, drawable_area(config), unsorted, sorted_up, lines.length() / MM)


def write_plot_svg(plot: Plot, path: Path) -> Path:
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        vpype.write_svg(f, plot.document, page_size=plot.document.page_size, set_date=False)
    return path


def write_plot_hpgl(plot: Plot, path: Path, config: PlotterConfig) -> Path | None:
    """HPGL for an HP 7475A through vpype, or None for a sheet it has no settings for."""
    paper = HPGL_PAPERS.get(config.paper.lower())
    if paper is None:
        return None
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        vpype.write_hpgl(
            f, plot.document, paper, config.landscape, False, "hp7475a", None, quiet=True
        )
    return path


def pen_lines_mm(plot: Plot) -> list[np.ndarray]:
    """The sorted pen lines in mm, in plotting order."""
    return [line / MM for layer in plot.document.layers.values() for line in layer]
