"""The Bézier stroke renderer: where paint lands, gradients, any resolution, pen mode."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from museforge.paint.strokes import BrushConfig, blank, paint, stroke_alpha


def _line(x0=0.2, y0=0.5, x2=0.8, y2=0.5, radius=0.3, opacity=1.0, rgb=(1.0, 0.0, 0.0)):
    return torch.tensor([x0, y0, 0.5, 0.5, x2, y2, radius, radius, opacity, opacity, *rgb])


def test_a_straight_stroke_covers_its_line_and_nothing_far_away() -> None:
    brush = BrushConfig()
    alpha = stroke_alpha(_line()[None], 64, 64, brush)[0]
    # radius 0.3 -> 0.01 + 0.3 * 0.19 = 0.067 of 64 px = 4.3 px around row 31.5
    assert alpha[32, 13:51].min() > 0.99
    assert alpha[32, 5].item() < 0.01 and alpha[32, 60].item() < 0.01
    assert alpha[:24].max() < 1e-3 and alpha[40:].max() < 1e-3
    canvas = paint(blank(1, 64, 64), _line()[None, None], brush)
    assert torch.allclose(canvas[0, :, 32, 32], torch.tensor([1.0, 0.0, 0.0]), atol=1e-3)
    assert torch.allclose(canvas[0, :, 5, 5], torch.ones(3))


def test_opacity_mixes_with_the_paper() -> None:
    canvas = paint(blank(1, 32, 32), _line(opacity=0.5, rgb=(0, 0, 0))[None, None], BrushConfig())
    assert abs(canvas[0, 0, 16, 16].item() - 0.5) < 1e-3


def test_every_number_of_a_stroke_gets_a_gradient() -> None:
    target = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    stroke = torch.tensor([[[0.2, 0.3, 0.4, 0.7, 0.8, 0.6, 0.5, 0.4, 0.8, 0.6, 0.3, 0.6, 0.2]]])
    stroke.requires_grad_(True)
    loss = ((paint(blank(1, 32, 32), stroke, BrushConfig()) - target) ** 2).mean()
    loss.backward()
    assert (stroke.grad.abs() > 0).all(), stroke.grad


def test_the_same_stroke_renders_at_any_resolution() -> None:
    gen = torch.Generator().manual_seed(3)
    strokes = torch.rand(1, 6, 13, generator=gen)
    brush = BrushConfig()
    small = paint(blank(1, 64, 64), strokes, brush)
    large = paint(blank(1, 256, 256), strokes, brush)  # the windowed path, no gradients
    assert large.shape == (1, 3, 256, 256)
    shrunk = F.avg_pool2d(large, 4)
    assert (shrunk - small).abs().mean() < 0.01


def test_windowed_painting_matches_the_full_canvas() -> None:
    strokes = torch.rand(1, 10, 13, generator=torch.Generator().manual_seed(4))
    brush = BrushConfig()
    windowed = paint(blank(1, 160, 160), strokes, brush)
    with torch.enable_grad():  # a stroke that needs gradients takes the full-canvas path
        full = paint(blank(1, 160, 160), strokes.clone().requires_grad_(True), brush)
    assert (windowed - full.detach()).abs().max() < 1e-5


def test_pen_mode_draws_ink_of_one_width_whatever_the_stroke_asks() -> None:
    pen = BrushConfig(pen=True, pen_radius=0.05)
    thin = _line(radius=0.0, opacity=0.1, rgb=(1, 1, 0))
    wide = _line(radius=1.0, opacity=1.0, rgb=(0, 1, 1))
    a = paint(blank(1, 64, 64), thin[None, None], pen)
    b = paint(blank(1, 64, 64), wide[None, None], pen)
    assert torch.equal(a, b)
    assert a[0, :, 32, 32].max() < 1e-3  # black ink, fully opaque
    # ends at pixel 12.3 and 50.7, round caps of 3.2 px: pixels 10 to 53 are inked
    assert a[0, 0, 32].lt(0.5).nonzero().flatten().tolist() == list(range(10, 54))
