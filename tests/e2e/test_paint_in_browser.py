"""Painting in the browser, clicking and typing like a person: choose a picture and the
shipped agent, paint a small picture, watch it finish and scrub its time-lapse, download
the plotter files and check that they parse (vpype reads the SVG back)."""

from __future__ import annotations

import re

import vpype
from playwright.sync_api import Page, expect


def test_paint_watch_the_time_lapse_and_download_plotter_files(page: Page, studio, shot, tmp_path):
    page.goto("/")
    page.get_by_role("link", name="New painting").click()
    form = page.locator("#paint-form")
    form.locator('select[name="picture"]').select_option("rocket")
    form.get_by_label("Method").select_option("agent")
    form.get_by_label("Strokes", exact=True).fill("20")
    form.get_by_label("Working size (px)").fill("32")
    form.get_by_label("Painting size (px)").fill("96")
    form.get_by_label("Seed").fill("4")
    form.get_by_label("Paper").select_option("a4")
    form.get_by_role("button", name="Paint").click()
    painting = page.locator("#tiles .painting")
    expect(painting).to_have_count(1)
    expect(painting.locator("img.still")).to_be_visible()
    shot("1-painted")

    painting.get_by_role("button", name="Watch the time-lapse").click()
    expect(painting).to_have_class(re.compile("watched"))
    frames = painting.get_by_label("time-lapse frame")
    last = int(frames.get_attribute("max"))
    assert last >= 5
    frames.fill("3")  # scrub back to an early frame: only a few strokes on the canvas
    frame = painting.locator("img.frame")
    gif = frame.get_attribute("data-gif")
    expect(frame).to_have_attribute("src", f"/paint/frames/{gif}/3")
    expect(painting.locator("output")).to_have_text("3")
    shot("2-time-lapse-frame-3")

    kept = {}
    for label in ("Plotter SVG", "G-code", "HPGL"):
        with page.expect_download() as download:
            painting.get_by_role("link", name=label).click()
        kept[label] = tmp_path / download.value.suggested_filename
        download.value.save_as(kept[label])
    lines, width, height = vpype.read_svg(str(kept["Plotter SVG"]), quantization=0.1)
    assert len(lines) > 0 and width > height  # A4 landscape
    gcode = kept["G-code"].read_text().splitlines()
    assert sum(line.startswith("G1") for line in gcode) > 10
    assert kept["HPGL"].read_text().startswith("IN;")

    painting.get_by_role("link", name=painting.get_attribute("data-id")[:12]).click()
    expect(page.locator(".tree .rel", has_text="input")).to_have_count(1)
    shot("3-painting-lineage")
    (made,) = [a for a in studio.store.list_artifacts(kind="painting") if a.suffix == ".png"]
    assert made.params["studio"]["strokes"] == 20 and made.seed == 4
