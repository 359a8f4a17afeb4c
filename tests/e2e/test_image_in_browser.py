"""Images in the browser: a person uploads their own style picture, sets the strength, and
gets the painted photo in the grid, kept with both pictures as parents; its PNG carries the
recipe back into the form; faces from the shipped GAN with a truncation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from playwright.sync_api import Page, expect


def _stripes(path: Path) -> Path:
    """A bold striped picture, the kind of style a person might upload."""
    y, x = np.mgrid[0:96, 0:96]
    red = ((x + y) // 8 % 2) * 200 + 40
    pixels = np.stack([red, 60 + 0 * x, 255 - red], axis=-1).astype(np.uint8)
    Image.fromarray(pixels).save(path)
    return path


def _drop(page: Page, path: Path) -> None:
    """Drop a file on the page, as a person dragging it from their file manager does."""
    data = list(path.read_bytes())
    transfer = page.evaluate_handle(
        """([bytes, name]) => {
            const transfer = new DataTransfer();
            transfer.items.add(new File([new Uint8Array(bytes)], name, { type: "image/png" }));
            return transfer;
        }""",
        [data, path.name],
    )
    page.dispatch_event("main", "dragover", {"dataTransfer": transfer})
    page.dispatch_event("main", "drop", {"dataTransfer": transfer})


def test_stylise_with_an_uploaded_style(page: Page, studio, shot, tmp_path):
    style = _stripes(tmp_path / "my-stripes.png")
    page.goto("/")
    page.get_by_role("link", name="New images").click()
    page.get_by_label("Style picture").set_input_files(style)
    page.locator('#style-form input[name="strength"]').fill("0.9")  # the Strength slider
    page.locator('#style-form input[name="size"]').fill("64")
    page.locator('#style-form input[name="steps"]').fill("8")
    page.get_by_role("button", name="Stylise").click()
    result = page.locator("#tiles .tile")
    expect(result).to_have_count(1)
    expect(result.first.locator("img")).to_be_visible()
    shot("1-stylised")

    result.first.locator("a.thumb").click()
    expect(page.locator(".tree .rel", has_text="input")).to_have_count(2)
    shot("2-stylised-lineage")

    with page.expect_download() as download:
        page.get_by_role("link", name="Download").click()
    kept = tmp_path / download.value.suggested_filename
    download.value.save_as(kept)
    assert Image.open(kept).text["museforge"].startswith("{")  # the recipe rides along

    page.get_by_role("link", name="Images").click()
    page.locator('#style-form input[name="seed"]').fill("99")
    page.locator('#style-form input[name="strength"]').fill("0.1")
    _drop(page, kept)
    expect(page.locator('#style-form input[name="seed"]')).to_have_value("0")
    expect(page.locator('#style-form input[name="strength"]')).to_have_value("0.9")
    expect(page.locator("#toast")).to_contain_text("recipe recalled: image stylize")
    shot("3-recipe-dropped")

    (made,) = [a for a in studio.store.list_artifacts(kind="image") if a.params.get("studio")]
    assert made.params["studio"]["strength"] == 0.9
    notes = sorted(e.artifact.note for e in studio.store.parents(made.id))
    assert notes[1] == "uploaded as style (my-stripes.png)"
    assert Image.open(studio.store.path_of(made)).size == (64, 43)  # chelsea is 451 x 300


def test_gan_faces_with_truncation(page: Page, studio, shot):
    page.goto("/image")
    gan = page.locator("#gan-form")
    gan.get_by_label("How many").fill("6")
    gan.locator('input[name="truncation"]').fill("0.5")  # the Truncation slider
    gan.get_by_role("button", name="Sample faces").click()
    expect(page.locator("#tiles .tile")).to_have_count(6)
    expect(page.locator("#tiles .tile").first).to_contain_text("gan #1")
    shot("faces")
    faces = [a for a in studio.store.list_artifacts(kind="image") if a.params.get("studio")]
    assert {a.params["studio"]["truncation"] for a in faces} == {0.5}
