"""Measure painters on held-out pictures: L2 against strokes, and seconds per picture.

Every method paints the same held-out 64 px pictures (``data.held_out_pictures``) with the
same number of strokes from white paper. ``agent`` is the shipped painter (the policy, then
the test-time polish of ``polish.py``), ``policy`` the same agent's strokes unpolished. L2 is the mean squared difference per channel
value (0..1 images); the report holds ``METHOD.l2_N`` for N in 10, 50, 100, 200 (the mean
over pictures), ``METHOD.seconds_per_image`` and the whole curves for the plot.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch
from PIL import Image, ImageDraw, ImageFont

from museforge.core.atomic import atomic_path
from museforge.paint.data import as_float, held_out_pictures
from museforge.paint.ddpg import PaintAgent
from museforge.paint.draw import paint_strokes
from museforge.paint.polish import NO_POLISH, PolishConfig
from museforge.paint.strokes import blank, composite, stroke_alpha, stroke_color

CHECKPOINTS = (10, 50, 100, 200)
AGENT_METHODS = ("agent", "policy")
COLOURS = {
    "agent": "#d62728",
    "policy": "#ff7f0e",
    "greedy": "#1f77b4",
    "optimize": "#2ca02c",
    "painterly": "#9467bd",
}


def l2_curve(strokes: torch.Tensor, target: torch.Tensor, brush) -> list[float]:
    """L2 to ``target`` after 0, 1, ..., N strokes, painting one at a time."""
    _, _, h, w = target.shape
    canvas = blank(1, h, w)
    curve = [float(((canvas - target) ** 2).mean())]
    with torch.no_grad():
        for s in strokes:
            alpha = stroke_alpha(s[None], h, w, brush)
            canvas = composite(canvas, alpha, stroke_color(s[None], brush))
            curve.append(float(((canvas - target) ** 2).mean()))
    return curve


def evaluate(
    methods: list[str],
    agent: PaintAgent | None,
    *,
    images: int = 16,
    strokes: int = 200,
    seed: int = 0,
    polish: PolishConfig | None = None,
) -> dict[str, Any]:
    """One report: per method the mean L2 at each checkpoint and seconds per picture."""
    pictures = as_float(held_out_pictures())
    pick = torch.linspace(0, len(pictures) - 1, min(images, len(pictures))).round().long()
    targets = pictures[pick]  # spread over the photo crops and the faces
    report: dict[str, Any] = {"images": len(targets), "strokes": strokes}
    curves: dict[str, list[float]] = {}
    for name in methods:
        runner = agent if name in AGENT_METHODS else name
        polished = NO_POLISH if name == "policy" else polish
        seconds, all_curves = 0.0, []
        for i in range(len(targets)):
            target = targets[i : i + 1]
            started = time.perf_counter()
            drawing = paint_strokes(target, strokes, runner, seed=seed + i, polish=polished)
            seconds += time.perf_counter() - started
            curve = l2_curve(drawing.strokes, target, drawing.brush)
            curve += [curve[-1]] * (strokes + 1 - len(curve))  # painterly may stop early
            all_curves.append(curve)
        mean = torch.tensor(all_curves).mean(dim=0).tolist()
        curves[name] = mean
        for n in CHECKPOINTS:
            if n <= strokes:
                report[f"{name}.l2_{n}"] = round(mean[n], 6)
        report[f"{name}.seconds_per_image"] = round(seconds / len(targets), 3)
    report["curves"] = {k: [round(v, 6) for v in c] for k, c in curves.items()}
    return report


def write_plot(
    report: dict[str, Any], path: str | Path, size: tuple[int, int] = (720, 440)
) -> Path:
    """A PNG of mean L2 against strokes, one line per method, drawn with Pillow."""
    width, height = size
    left, right, top, bottom = 70, 130, 20, 50
    img = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default()
    curves = report["curves"]
    n = max(len(c) for c in curves.values()) - 1
    peak = max(max(c) for c in curves.values()) or 1.0
    pw, ph = width - left - right, height - top - bottom

    def xy(i: int, v: float) -> tuple[float, float]:
        return left + pw * i / max(1, n), top + ph * (1 - v / peak)

    draw.rectangle([left, top, left + pw, top + ph], outline="black")
    for k in range(5):
        v = peak * k / 4
        y = xy(0, v)[1]
        draw.line([left - 4, y, left, y], fill="black")
        draw.text((5, y - 6), f"{v:.4f}", fill="black", font=font)
    for i in (0, n // 4, n // 2, 3 * n // 4, n):
        x = xy(i, 0)[0]
        draw.line([x, top + ph, x, top + ph + 4], fill="black")
        draw.text((x - 8, top + ph + 8), str(i), fill="black", font=font)
    draw.text((left + pw // 2 - 20, height - 18), "strokes", fill="black", font=font)
    draw.text((5, height - 18), "mean L2", fill="black", font=font)
    for row, (name, curve) in enumerate(curves.items()):
        colour = COLOURS.get(name, "black")
        draw.line([xy(i, v) for i, v in enumerate(curve)], fill=colour, width=2)
        y = top + 10 + 18 * row
        draw.line([left + pw + 10, y, left + pw + 30, y], fill=colour, width=3)
        draw.text((left + pw + 36, y - 6), name, fill="black", font=font)
    path = Path(path)
    with atomic_path(path) as tmp:
        img.save(tmp, format="PNG")
    return path
