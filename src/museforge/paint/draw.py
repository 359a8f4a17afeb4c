"""Paint a picture with a chosen method and turn the strokes into files people use.

``paint_strokes`` runs one method (a baseline or a trained agent) on the picture at its
working size; ``render_files`` draws the strokes at the output size (the renderer works at
any resolution) into a PNG, a time-lapse GIF and an SVG. Strokes from ``start`` (a drawing
begun elsewhere) are on the canvas first; ``keep`` masks every new stroke out of the
pixels a person keeps.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from museforge.core.atomic import atomic_path
from museforge.errors import BadInputFile, UserError
from museforge.paint.ddpg import PaintAgent, agent_strokes
from museforge.paint.dqn import PaintDQN, dqn_strokes
from museforge.paint.greedy import greedy_strokes
from museforge.paint.optimize import optimize_strokes
from museforge.paint.painterly import painterly_strokes
from museforge.paint.pictures import fit, to_image
from museforge.paint.polish import PolishConfig, polish_strokes
from museforge.paint.strokes import STROKE_SIZE, BrushConfig, blank, paint
from museforge.paint.svg import write_strokes_svg

BASELINES = {
    "greedy": greedy_strokes,
    "painterly": painterly_strokes,
    "optimize": optimize_strokes,
}


@dataclass
class Drawing:
    strokes: Tensor  # [N, 13]: the start strokes, then the new ones
    start: int  # how many of them came from the start drawing
    brush: BrushConfig


def paint_strokes(
    target: Tensor,
    count: int,
    method: str | PaintAgent | PaintDQN,
    *,
    seed: int = 0,
    brush: BrushConfig | None = None,
    start: Tensor | None = None,
    keep: Tensor | None = None,
    divide: int = 1,
    polish: PolishConfig | None = None,
    on_stroke: Callable[[int], None] | None = None,
) -> Drawing:
    """Strokes for ``target [1, 3, H, W]``: a baseline by name, or an agent (which paints
    the details patch by patch on a ``divide x divide`` split when ``divide`` > 1, and
    whose strokes are then polished through the renderer, see ``polish.py``;
    ``polish.NO_POLISH`` keeps the pure policy's strokes)."""
    torch.manual_seed(seed)
    start = torch.empty(0, STROKE_SIZE) if start is None else start
    if isinstance(method, PaintAgent):
        brush = method.config.brush
    brush = brush or BrushConfig()
    _, _, h, w = target.shape
    canvas = paint(blank(1, h, w), start[None], brush) if len(start) else None
    if isinstance(method, PaintDQN):
        if keep is not None:
            raise UserError("the DQN painter cannot keep regions: leave out --mask")
        new = dqn_strokes(method, target, count, canvas=canvas, on_stroke=on_stroke)
    elif isinstance(method, PaintAgent):
        new = agent_strokes(
            method,
            target,
            count,
            canvas=canvas,
            keep=keep,
            seed=seed,
            divide=divide,
            on_stroke=on_stroke,
        )
        new = polish_strokes(new, target, brush, config=polish, canvas=canvas, keep=keep)
    else:
        new = BASELINES[method](
            target,
            count,
            brush=brush,
            seed=seed,
            canvas=canvas,
            keep=keep,
            on_stroke=on_stroke,
        )
    return Drawing(torch.cat([start, new]), len(start), brush)


def render(drawing: Drawing, height: int, width: int, keep: Tensor | None = None) -> Tensor:
    """The drawing at ``height x width``: start strokes freely, new ones through ``keep``."""
    canvas = blank(1, height, width)
    with torch.no_grad():
        start, new = drawing.strokes[: drawing.start], drawing.strokes[drawing.start :]
        if len(start):
            canvas = paint(canvas, start[None], drawing.brush)
        big_keep = fit(keep, height, width) if keep is not None else None
        return paint(canvas, new[None], drawing.brush, big_keep)


def render_files(
    drawing: Drawing,
    out_dir: Path,
    height: int,
    width: int,
    keep: Tensor | None = None,
    frames: int = 40,
    gif_side: int = 256,
) -> dict[str, Path]:
    """Write ``painting.png``, ``timelapse.gif`` and ``strokes.svg`` into ``out_dir``."""
    final = render(drawing, height, width, keep)
    png = out_dir / "painting.png"
    _save(to_image(final), png, "PNG")
    gif_h, gif_w = _fit_inside(height, width, gif_side)
    gif_keep = fit(keep, gif_h, gif_w) if keep is not None else None
    canvas = blank(1, gif_h, gif_w)
    pictures = [to_image(canvas)]
    strokes = drawing.strokes
    every = max(1, -(-len(strokes) // frames))
    with torch.no_grad():
        for i in range(0, len(strokes), every):
            part = strokes[i : i + every]
            first_new = max(0, drawing.start - i)
            if first_new:
                canvas = paint(canvas, part[:first_new][None], drawing.brush)
            if len(part) > first_new:
                canvas = paint(canvas, part[first_new:][None], drawing.brush, gif_keep)
            pictures.append(to_image(canvas))
    gif = out_dir / "timelapse.gif"
    with atomic_path(gif) as tmp:
        pictures[0].save(
            tmp,
            format="GIF",
            save_all=True,
            append_images=pictures[1:] + [pictures[-1]] * 10,
            duration=100,
            loop=0,
        )
    svg = write_strokes_svg(out_dir / "strokes.svg", strokes, width, height, drawing.brush)
    return {"png": png, "gif": gif, "svg": svg}


def _fit_inside(height: int, width: int, side: int) -> tuple[int, int]:
    scale = min(1.0, side / max(height, width))
    return max(1, round(height * scale)), max(1, round(width * scale))


def _save(image, path: Path, fmt: str) -> None:
    try:
        with atomic_path(path) as tmp:
            image.save(tmp, format=fmt)
    except OSError as err:
        raise BadInputFile(path, f"cannot be written: {err.strerror or err}") from None
