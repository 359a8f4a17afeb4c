"""Hertzmann's layered painterly rendering, with curved strokes of several sizes.

After A. Hertzmann, "Painterly Rendering with Curved Brush Strokes of Multiple Sizes",
SIGGRAPH 1998. Brushes go from large to small; for each, the target blurred in
proportion to the brush is the reference, the canvas is cut into a grid of cells one
brush radius wide, and in every cell whose mean colour difference to the reference
exceeds ``threshold`` a stroke starts at the cell's worst pixel. A stroke follows the
normal of the reference's luminance gradient (along the edges), one radius per step,
with direction filtering ``curvature_filter``, and stops when painting would no longer
help. The paper's B-spline with up to ``max_length`` control points becomes our one
quadratic Bézier through the start, the middle point and the end of the traced path.
A layer's strokes are painted in random order, then the next, finer layer starts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from museforge.paint.strokes import STROKE_SIZE, BrushConfig, blank, paint


@dataclass(frozen=True)
class PainterlyConfig:
    radii: tuple[float, ...] = (0.12, 0.06, 0.03, 0.015)  # brush radii, fractions of the side
    threshold: float = 0.05  # mean colour difference a cell must exceed
    blur_factor: float = 0.5  # reference blur sigma, in brush radii
    grid_factor: float = 1.0  # grid cell side, in brush radii
    max_length: int = 6  # steps of a traced stroke
    min_length: int = 2
    curvature_filter: float = 0.6


def _blur(image: Tensor, sigma: float) -> Tensor:
    if sigma < 0.3:
        return image
    radius = max(1, int(3 * sigma))
    x = torch.arange(-radius, radius + 1, dtype=image.dtype)
    k = torch.exp(-(x**2) / (2 * sigma**2))
    k = k / k.sum()
    c = image.shape[1]
    padded = F.pad(image, (radius, radius, radius, radius), mode="replicate")
    out = F.conv2d(padded, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(out, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def _gradients(ref: Tensor) -> tuple[Tensor, Tensor]:
    lum = (0.299 * ref[:, 0] + 0.587 * ref[:, 1] + 0.114 * ref[:, 2])[0]
    gx = torch.zeros_like(lum)
    gy = torch.zeros_like(lum)
    gx[:, 1:-1] = (lum[:, 2:] - lum[:, :-2]) / 2
    gy[1:-1] = (lum[2:] - lum[:-2]) / 2
    return gx, gy


def _trace(
    x: float, y: float, radius_px: float, ref: Tensor, canvas: Tensor, grads, config
) -> list[tuple[float, float]]:
    """The path a stroke takes from pixel (x, y): Hertzmann's makeSplineStroke."""
    _, _, h, w = ref.shape
    gx, gy = grads
    colour = ref[0, :, int(y), int(x)]
    points = [(x, y)]
    last = (0.0, 0.0)
    for i in range(1, config.max_length + 1):
        ix, iy = int(min(max(x, 0), w - 1)), int(min(max(y, 0), h - 1))
        here_ref = ref[0, :, iy, ix]
        if i > config.min_length and float((here_ref - canvas[0, :, iy, ix]).abs().sum()) < float(
            (here_ref - colour).abs().sum()
        ):
            break
        gxv, gyv = float(gx[iy, ix]), float(gy[iy, ix])
        if (gxv * gxv + gyv * gyv) ** 0.5 < 1e-4:
            break
        dx, dy = -gyv, gxv
        if last[0] * dx + last[1] * dy < 0:
            dx, dy = -dx, -dy
        f = config.curvature_filter
        dx, dy = f * dx + (1 - f) * last[0], f * dy + (1 - f) * last[1]
        norm = (dx * dx + dy * dy) ** 0.5 or 1.0
        dx, dy = dx / norm, dy / norm
        x, y = x + radius_px * dx, y + radius_px * dy
        if not (0 <= x < w and 0 <= y < h):
            break
        points.append((x, y))
        last = (dx, dy)
    return points


def _bezier(points: list[tuple[float, float]], w: int, h: int) -> tuple[float, ...]:
    """Start, relative control point and end of the quadratic through the path's start,
    middle and end point (in canvas fractions, clamped to what a stroke can express)."""
    p0, pm, p2 = points[0], points[len(points) // 2], points[-1]
    if len(points) == 1:
        p2 = (p0[0] + 0.5, p0[1] + 0.5)
    ctrl = [2 * pm[i] - (p0[i] + p2[i]) / 2 for i in range(2)]
    rel = []
    for i in range(2):
        span = p2[i] - p0[i]
        rel.append(min(1.0, max(0.0, (ctrl[i] - p0[i]) / span)) if abs(span) > 1e-3 else 0.5)
    x0, y0 = (p0[0] + 0.5) / w, (p0[1] + 0.5) / h
    x2, y2 = (p2[0] + 0.5) / w, (p2[1] + 0.5) / h
    return tuple(min(1.0, max(0.0, v)) for v in (x0, y0, rel[0], rel[1], x2, y2))


def painterly_strokes(
    target: Tensor,
    count: int,
    *,
    brush: BrushConfig | None = None,
    config: PainterlyConfig | None = None,
    seed: int = 0,
    canvas: Tensor | None = None,
    keep: Tensor | None = None,
    on_stroke: Callable[[int], None] | None = None,
) -> Tensor:
    """Up to ``count`` strokes ``[n, 13]`` for ``target [1, 3, H, W]``, coarse layers
    first; when the layers end early, the finest brush runs again at half the threshold."""
    brush, config = brush or BrushConfig(), config or PainterlyConfig()
    gen = torch.Generator().manual_seed(seed)
    _, _, h, w = target.shape
    side = min(h, w)
    canvas = blank(1, h, w) if canvas is None else canvas.clone()
    layers = [(r, config.threshold) for r in config.radii]
    layers += [(config.radii[-1], config.threshold / 2**k) for k in range(1, 4)]
    chosen: list[Tensor] = []
    for radius, threshold in layers:
        if len(chosen) >= count:
            break
        radius_px = radius * side
        ref = _blur(target, config.blur_factor * radius_px)
        grads = _gradients(ref)
        diff = (canvas - ref).abs().sum(dim=1)[0] / 3
        if keep is not None:
            diff = diff * (1 - keep[0, 0])
        step = max(1, round(config.grid_factor * radius_px))
        layer = []
        for top in range(0, h, step):
            for left in range(0, w, step):
                cell = diff[top : top + step, left : left + step]
                if float(cell.mean()) <= threshold:
                    continue
                flat = int(cell.argmax())
                y, x = top + flat // cell.shape[1], left + flat % cell.shape[1]
                path = _trace(float(x), float(y), radius_px, ref, canvas, grads, config)
                r = (radius - brush.min_radius) / (brush.max_radius - brush.min_radius)
                r = min(1.0, max(0.0, r))
                colour = ref[0, :, y, x].tolist()
                layer.append(torch.tensor([*_bezier(path, w, h), r, r, 1.0, 1.0, *colour]))
        if not layer:
            continue
        order = torch.randperm(len(layer), generator=gen).tolist()
        strokes = torch.stack([layer[i] for i in order])[: count - len(chosen)]
        with torch.no_grad():
            canvas = paint(canvas, strokes[None], brush, keep)
        chosen.extend(strokes)
        if on_stroke is not None:
            on_stroke(len(chosen))
    return torch.stack(chosen) if chosen else torch.empty(0, STROKE_SIZE)
