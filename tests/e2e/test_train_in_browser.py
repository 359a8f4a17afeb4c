"""Training from the page, like a person: upload a picture of your own, train a small style
network on it as a job, watch the loss curve being drawn as it trains, and get the
network kept in the store, trained from the picture, with a photo in its style."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from playwright.sync_api import Page, expect


def _dots(path: Path) -> Path:
    y, x = np.mgrid[0:64, 0:64]
    spots = (((x % 16) - 8) ** 2 + ((y % 16) - 8) ** 2 < 20) * 180
    pixels = np.stack([255 - spots, 200 - spots // 2, 60 + 0 * x], axis=-1).astype(np.uint8)
    Image.fromarray(pixels).save(path)
    return path


def test_train_a_style_and_watch_the_curve(page: Page, studio, shot, tmp_path):
    style = _dots(tmp_path / "my-dots.png")
    page.goto("/")
    page.get_by_role("link", name="Train").click()
    form = page.locator("#train-form")
    form.get_by_label("Your style picture").set_input_files(style)
    form.get_by_label("Training steps").fill("12")
    form.get_by_label("Crops per step").fill("1")
    form.get_by_label("Crop size (px)").fill("128")  # steps long enough to watch them live
    form.get_by_label("Style size (px)").fill("64")
    form.get_by_label("Network width").fill("8")
    form.get_by_role("button", name="Train").click()
    curve = page.locator("#curve")
    expect(curve).to_have_attribute("data-live", "yes")  # drawn while the job runs
    expect(curve).to_have_attribute("data-points", "12")  # one point per step, drawn live
    shot("1-curve")
    preview = page.locator("#runs img.preview")
    expect(preview).to_be_visible()
    expect(page.locator("#runs .run").first).to_contain_text("12 steps, final loss")
    expect(curve).to_have_attribute("data-last-step", "12")  # the curve is kept after reload
    shot("2-trained")

    (model,) = studio.store.list_artifacts(kind="model")
    (parent,) = studio.store.parents(model.id)
    assert parent.relation == "trained-from"
    assert studio.store.path_of(parent.artifact).read_bytes() == style.read_bytes()
    (made,) = studio.store.children(model.id)
    assert made.relation == "generated-by" and made.artifact.kind == "image"
