"""The 13-number Bézier stroke and an analytic, differentiable renderer for it.

A stroke, as in Learning to Paint (Huang et al., ICCV 2019), is a quadratic Bézier curve
with a radius and an opacity at each end and one colour, 13 numbers in 0..1:

    x0, y0, x1, y1, x2, y2, r0, r2, a0, a2, R, G, B

(x0, y0) and (x2, y2) are the ends, in fractions of the canvas width and height; the
control point lies between them, ``P1 = P0 + (x1, y1) * (P2 - P0)`` as in the paper's
renderer. Radius and opacity vary linearly along the curve.

The paper trains a neural renderer to make strokes differentiable; here the stroke is
drawn analytically instead: the curve is cut into ``samples`` straight pieces and each
pixel's coverage is a sigmoid of its distance to the nearest piece, minus the radius
there (a soft edge one pixel wide). Every step is a torch operation, so the canvas is
differentiable in all 13 numbers, and the same stroke renders at any resolution.

Pen mode draws what a plotter can: one ink colour, a fixed width, full opacity.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

STROKE_SIZE = 13
BOX_SIDES = (8, 12, 16, 20, 24, 32, 40, 48, 64, 96, 128, 192, 256)  # pixels; else the canvas


@dataclass(frozen=True)
class BrushConfig:
    min_radius: float = 0.01  # radius at 0, as a fraction of the canvas' shorter side
    max_radius: float = 0.20  # radius at 1
    samples: int = 12  # straight pieces a curve is cut into
    softness: float = 0.75  # width of the soft edge, in output pixels
    pen: bool = False  # plotter pen: ink colour, fixed radius pen_radius, full opacity
    pen_radius: float = 0.008  # fraction of the shorter side
    ink: tuple[float, float, float] = (0.0, 0.0, 0.0)


def control_point(strokes: Tensor) -> Tensor:
    """The absolute control point ``[..., 2]`` of strokes ``[..., 13]``."""
    p0, p2 = strokes[..., 0:2], strokes[..., 4:6]
    return p0 + strokes[..., 2:4] * (p2 - p0)


def curve_points(strokes: Tensor, samples: int) -> Tensor:
    """Points along each curve ``[..., samples + 1, 2]`` in canvas fractions (x, y)."""
    t = torch.linspace(0.0, 1.0, samples + 1, dtype=strokes.dtype, device=strokes.device)
    t = t[:, None]
    p0 = strokes[..., None, 0:2]
    p1 = control_point(strokes)[..., None, :]
    p2 = strokes[..., None, 4:6]
    return (1 - t) ** 2 * p0 + 2 * (1 - t) * t * p1 + t**2 * p2


def stroke_alpha(
    strokes: Tensor,
    height: int,
    width: int,
    brush: BrushConfig,
    window: tuple[int, int, int, int] | None = None,
) -> Tensor:
    """Coverage times opacity of each stroke, ``[..., height, width]`` in 0..1.

    ``window = (top, left, rows, cols)`` renders only that part of the canvas.
    """
    top, left, rows, cols = window or (0, 0, height, width)
    lead = strokes.shape[:-1]
    s = strokes.reshape(-1, STROKE_SIZE)
    ys = torch.arange(top, top + rows, dtype=s.dtype, device=s.device)
    xs = torch.arange(left, left + cols, dtype=s.dtype, device=s.device)
    alpha = _alpha(s, xs.view(1, 1, 1, cols), ys.view(1, 1, rows, 1), height, width, brush)
    return alpha.reshape(*lead, rows, cols)


def stroke_alpha_boxes(
    strokes: Tensor, height: int, width: int, brush: BrushConfig, corners: Tensor, side: int
) -> Tensor:
    """``stroke_alpha`` of strokes ``[N, 13]``, each only in its own ``side x side`` box of
    the canvas whose top left pixel is ``corners [N, 2]`` (row, column): ``[N, side, side]``."""
    steps = torch.arange(side, dtype=strokes.dtype, device=strokes.device)
    ys = corners[:, 0, None].to(strokes.dtype) + steps
    xs = corners[:, 1, None].to(strokes.dtype) + steps
    n = len(strokes)
    return _alpha(strokes, xs.view(n, 1, 1, side), ys.view(n, 1, side, 1), height, width, brush)


def _alpha(
    s: Tensor, qx: Tensor, qy: Tensor, height: int, width: int, brush: BrushConfig
) -> Tensor:
    """Coverage times opacity ``[N, rows, cols]`` of strokes ``[N, 13]`` at the pixel centres
    ``qx [1 or N, 1, 1, cols]``, ``qy [1 or N, 1, rows, 1]``."""
    side = min(height, width)
    scale = torch.tensor([width, height], dtype=s.dtype, device=s.device)
    pts = curve_points(s, brush.samples) * scale - 0.5  # pixel coordinates of pixel centres
    n = brush.samples
    t = torch.linspace(0.0, 1.0, n + 1, dtype=s.dtype, device=s.device)
    if brush.pen:
        radius = s.new_full((s.shape[0], n + 1), brush.pen_radius * side)
        opacity = torch.ones(s.shape[0], n + 1, dtype=s.dtype, device=s.device)
    else:
        r = brush.min_radius + s[:, 6:8] * (brush.max_radius - brush.min_radius)
        radius = (r[:, :1] + (r[:, 1:2] - r[:, :1]) * t) * side
        opacity = s[:, 8:9] + (s[:, 9:10] - s[:, 8:9]) * t
    a, b = pts[:, :-1], pts[:, 1:]  # [N, n, 2]
    ax, ay = a[..., 0, None, None], a[..., 1, None, None]
    dx, dy = (b - a)[..., 0, None, None], (b - a)[..., 1, None, None]
    length2 = (dx * dx + dy * dy).clamp_min(1e-8)
    u = (((qx - ax) * dx + (qy - ay) * dy) / length2).clamp(0.0, 1.0)  # [N, n, H, W]
    dist = torch.sqrt((qx - ax - u * dx) ** 2 + (qy - ay - u * dy) ** 2 + 1e-8)
    ra, rb = radius[:, :-1, None, None], radius[:, 1:, None, None]
    oa, ob = opacity[:, :-1, None, None], opacity[:, 1:, None, None]
    cover = torch.sigmoid((ra + u * (rb - ra) - dist) / brush.softness * 4.0)
    return (cover * (oa + u * (ob - oa))).amax(dim=1)


@torch.no_grad()
def _extents(strokes: Tensor, height: int, width: int, brush: BrushConfig) -> Tensor:
    """Each stroke's reach ``[N, 4]``: the pixel box (x0, y0, x1, y1) its alpha is not
    vanishingly small in (the padding of ``strokes.stroke_window``)."""
    side = min(height, width)
    pts = curve_points(strokes, brush.samples)
    pts = pts * torch.tensor([width, height], dtype=pts.dtype)
    if brush.pen:
        radius = torch.full((len(strokes),), brush.pen_radius * side)
    else:
        span = brush.max_radius - brush.min_radius
        radius = (brush.min_radius + strokes[:, 6:8].amax(dim=1) * span) * side
    pad = (radius + 3 * brush.softness + 1)[:, None]
    return torch.cat([pts.amin(dim=1) - pad, pts.amax(dim=1) + pad], dim=1)


def stroke_alpha_boxed(strokes: Tensor, height: int, width: int, brush: BrushConfig) -> Tensor:
    """``stroke_alpha`` of strokes ``[N, 13]`` (``[N, height, width]``), each stroke
    rasterised only in the smallest square of ``BOX_SIDES`` that holds its reach (zero
    outside it, where the full canvas' alpha is below 1e-6); differentiable. Most strokes
    cover a small part of the canvas, so this is several times faster."""
    h, w = height, width
    box = _extents(strokes, h, w, brush)
    need = (box[:, 2:] - box[:, :2]).amax(dim=1) + 1
    alpha = strokes.new_zeros(len(strokes), h, w)
    done = torch.zeros(len(strokes), dtype=torch.bool)
    for side in (s for s in BOX_SIDES if s < min(h, w)):
        pick = (~done & (need <= side)).nonzero().flatten()
        if not len(pick):
            continue
        done[pick] = True
        top = box[pick, 1].floor().long().clamp(0, h - side)
        left = box[pick, 0].floor().long().clamp(0, w - side)
        part = stroke_alpha_boxes(strokes[pick], h, w, brush, torch.stack([top, left], 1), side)
        steps = torch.arange(side)
        rows = (top[:, None] + steps)[:, :, None]
        cols = (left[:, None] + steps)[:, None, :]
        alpha = alpha.index_put((pick[:, None, None], rows, cols), part)
    rest = (~done).nonzero().flatten()
    if len(rest):
        alpha = alpha.index_put((rest,), stroke_alpha(strokes[rest], h, w, brush))
    return alpha


def stroke_window(stroke: Tensor, height: int, width: int, brush: BrushConfig) -> tuple:
    """The ``(top, left, rows, cols)`` box of the canvas one stroke ``[13]`` can touch."""
    side = min(height, width)
    radius = brush.pen_radius if brush.pen else brush.max_radius
    if not brush.pen:
        radius = brush.min_radius + float(stroke[6:8].max()) * (brush.max_radius - brush.min_radius)
    pad = radius * side + 3 * brush.softness + 1
    pts = curve_points(stroke, brush.samples)
    x, y = pts[:, 0] * width, pts[:, 1] * height
    left = max(0, int(float(x.min()) - pad))
    top = max(0, int(float(y.min()) - pad))
    right = min(width, int(float(x.max()) + pad) + 1)
    bottom = min(height, int(float(y.max()) + pad) + 1)
    return top, left, max(0, bottom - top), max(0, right - left)


def stroke_color(strokes: Tensor, brush: BrushConfig) -> Tensor:
    """The RGB colour ``[..., 3]`` each stroke paints with."""
    if brush.pen:
        ink = torch.tensor(brush.ink, dtype=strokes.dtype, device=strokes.device)
        return ink.expand(*strokes.shape[:-1], 3)
    return strokes[..., 10:13]


def composite(canvas: Tensor, alpha: Tensor, color: Tensor) -> Tensor:
    """Lay one stroke per canvas over ``canvas [B, 3, H, W]``: alpha ``[B, H, W]``, colour ``[B, 3]``."""
    a = alpha[:, None]
    return canvas * (1 - a) + a * color[:, :, None, None]


def paint(
    canvas: Tensor,
    strokes: Tensor,
    brush: BrushConfig,
    keep: Tensor | None = None,
    chunk: int = 8,
) -> Tensor:
    """Paint strokes ``[B, K, 13]`` in order onto canvases ``[B, 3, H, W]``.

    ``keep`` (``[1 or B, 1, H, W]``, 1 where the canvas must stay as it is) masks every
    stroke out of those pixels. Strokes are rasterised ``chunk`` at a time to bound memory
    on large canvases.
    """
    _, _, height, width = canvas.shape
    if height * width > 128 * 128 and not (torch.is_grad_enabled() and strokes.requires_grad):
        return _paint_windows(canvas, strokes, brush, keep)
    for start in range(0, strokes.shape[1], chunk):
        part = strokes[:, start : start + chunk]
        alpha = stroke_alpha(part, height, width, brush)
        color = stroke_color(part, brush)
        if keep is not None:
            alpha = alpha * (1 - keep)
        for k in range(part.shape[1]):
            canvas = composite(canvas, alpha[:, k], color[:, k])
    return canvas


@torch.no_grad()
def _paint_windows(
    canvas: Tensor, strokes: Tensor, brush: BrushConfig, keep: Tensor | None
) -> Tensor:
    """``paint`` for large canvases without gradients: each stroke only in its own box."""
    canvas = canvas.clone()
    _, _, height, width = canvas.shape
    for b in range(strokes.shape[0]):
        for stroke in strokes[b]:
            top, left, rows, cols = stroke_window(stroke, height, width, brush)
            if rows == 0 or cols == 0:
                continue
            box = (top, left, rows, cols)
            alpha = stroke_alpha(stroke, height, width, brush, box)
            if keep is not None:
                alpha = alpha * (
                    1 - keep[min(b, keep.shape[0] - 1), 0, top : top + rows, left : left + cols]
                )
            region = canvas[b, :, top : top + rows, left : left + cols]
            color = stroke_color(stroke, brush)[:, None, None]
            canvas[b, :, top : top + rows, left : left + cols] = (
                region * (1 - alpha) + alpha * color
            )
    return canvas


def blank(batch: int, height: int, width: int, dtype: torch.dtype = torch.float32) -> Tensor:
    """White paper: canvases ``[batch, 3, height, width]`` of ones."""
    return torch.ones(batch, 3, height, width, dtype=dtype)
