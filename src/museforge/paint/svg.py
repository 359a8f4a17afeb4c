"""Strokes to SVG and back.

Each stroke becomes one ``<path d="M x0 y0 Q x1 y1 x2 y2">`` with a round cap, its
colour, its mean width and mean opacity (SVG has no width that varies along a path), and
the 13 numbers themselves in a ``data-stroke`` attribute, so museforge reads its own
drawings back exactly. Any other SVG (a drawing a person began in Inkscape) is read with
vpype as polylines, each segment a thin ink stroke.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import torch
from torch import Tensor

from museforge.core.atomic import atomic_write_text
from museforge.errors import BadInputFile, require_file
from museforge.paint.strokes import STROKE_SIZE, BrushConfig, control_point

SVG_NS = "http://www.w3.org/2000/svg"


def strokes_svg(strokes: Tensor, width: int, height: int, brush: BrushConfig) -> str:
    """The SVG text of ``strokes [N, 13]`` on a white ``width x height`` sheet."""
    side = min(width, height)
    parts = [
        f'<svg xmlns="{SVG_NS}" width="{width}" height="{height}" viewBox="0 0 {width} {height}">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
    ]
    for s in strokes.tolist():
        t = torch.tensor(s)
        cx, cy = control_point(t).tolist()
        if brush.pen:
            r, opacity, rgb = brush.pen_radius, 1.0, brush.ink
        else:
            r = brush.min_radius + (s[6] + s[7]) / 2 * (brush.max_radius - brush.min_radius)
            opacity, rgb = (s[8] + s[9]) / 2, s[10:13]
        colour = "#" + "".join(f"{round(min(max(c, 0), 1) * 255):02x}" for c in rgb)
        numbers = " ".join(f"{v:.6f}" for v in s)
        parts.append(
            f'<path d="M {s[0] * width:.2f} {s[1] * height:.2f} Q {cx * width:.2f} '
            f'{cy * height:.2f} {s[4] * width:.2f} {s[5] * height:.2f}" fill="none" '
            f'stroke="{colour}" stroke-width="{2 * r * side:.2f}" stroke-opacity="{opacity:.3f}" '
            f'stroke-linecap="round" data-stroke="{numbers}"/>'
        )
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def write_strokes_svg(
    path: str | Path, strokes: Tensor, width: int, height: int, brush: BrushConfig
) -> Path:
    path = Path(path)
    atomic_write_text(path, strokes_svg(strokes, width, height, brush))
    return path


def read_strokes_svg(path: str | Path) -> Tensor:
    """The strokes ``[N, 13]`` of an SVG: exact for museforge's own, else its lines as thin
    straight black strokes (read with vpype, in fractions of its page)."""
    path = require_file(path, "SVG file")
    try:
        root = ET.parse(path).getroot()
    except (ET.ParseError, OSError) as err:
        raise BadInputFile(path, "is not a readable SVG file", str(err)) from None
    ours = [e.get("data-stroke") for e in root.iter() if e.get("data-stroke")]
    if ours:
        try:
            rows = [[float(v) for v in text.split()] for text in ours]
        except ValueError as err:
            raise BadInputFile(path, "has a broken data-stroke attribute", str(err)) from None
        if any(len(r) != STROKE_SIZE for r in rows):
            raise BadInputFile(path, f"has a data-stroke without {STROKE_SIZE} numbers")
        return torch.tensor(rows).clamp(0.0, 1.0)
    return _lines_as_strokes(path)


def _lines_as_strokes(path: Path) -> Tensor:
    import vpype

    try:
        lines, width, height = vpype.read_svg(str(path), quantization=1.0)
    except Exception as err:  # svgelements raises many kinds on a broken file
        raise BadInputFile(path, "is not a readable SVG file", str(err)[:200]) from None
    rows = []
    for line in lines:
        for a, b in zip(line[:-1], line[1:], strict=True):
            rows.append(
                [a.real / width, a.imag / height, 0.5, 0.5, b.real / width, b.imag / height]
                + [0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0]
            )
    if not rows:
        raise BadInputFile(path, "holds no lines to continue from")
    return torch.tensor(rows, dtype=torch.float32).clamp(0.0, 1.0)
