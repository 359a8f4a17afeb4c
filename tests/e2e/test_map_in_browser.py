"""The map page `museforge map` writes, opened from disk in a real browser: every dot drawn
at its own size, hovering names a tune, clicking plays it, no script errors."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image
from playwright.sync_api import Browser

from museforge.core.feature_map import FeatureItem, map_html


def test_the_map_shows_names_and_plays_in_a_browser(browser: Browser, tmp_path):
    torch.manual_seed(0)
    items = [
        FeatureItem(str(i), f"Tune {i}", ("China", "Ireland")[i % 2], [(60 + i % 5, 0.0, 0.2)])
        for i in range(40)
    ]
    page_file = tmp_path / "map.html"
    page_file.write_text(map_html(torch.randn(40, 8), items, "Tunes"), encoding="utf-8")
    page = browser.new_page(viewport={"width": 900, "height": 1000})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(page_file.as_uri())
    dots = page.locator("circle")
    assert dots.count() == 40
    box = dots.nth(7).bounding_box()
    assert box is not None and 4 <= box["width"] <= 30  # a dot, not a sliver or a blot
    dots.nth(7).hover(force=True)
    assert page.locator("#info").inner_text() == "Tune 7 (Ireland)"
    dots.nth(7).click(force=True)
    page.locator("svg").screenshot(path=tmp_path / "map.png")
    page.close()
    assert not errors, errors
    pixels = np.asarray(Image.open(tmp_path / "map.png").convert("RGB")).reshape(-1, 3)
    coloured = (pixels.max(axis=1) - pixels.min(axis=1) > 60).sum()
    assert coloured >= 40 * 40  # every dot shows its colour, none hidden under a stroke
