"""Co-writing in the browser with the shipped story model: start a story from a premise,
regenerate one scene into alternatives shown side by side with their diversity figures,
accept one, undo; the store keeps every version and choice."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from museforge.story import cowrite

MODEL_WAIT_MS = 300_000  # the language model plans on two cores that others share too


@pytest.mark.timeout(900)
def test_start_a_story_regenerate_a_scene_accept_and_undo(page: Page, studio, shot):
    page.goto("/")
    page.get_by_role("link", name="New story").click()
    page.get_by_label("Premise").fill("A lighthouse keeper finds a mechanical bird.")
    page.get_by_label("Structure").select_option("kishotenketsu")
    page.get_by_label("Characters").fill("1")
    page.get_by_label("Write the prose now").uncheck()  # the plan now, the prose scene by scene
    page.get_by_role("button", name="Start the story").click()
    expect(page).to_have_url(re.compile(r"/story/\d+$"), timeout=MODEL_WAIT_MS)
    story_id = int(page.url.rsplit("/", 1)[1])
    expect(page.locator(".plan-tree li")).to_have_count(9)  # premise ... beats, 4 scenes
    expect(page.locator(".plan-tree li.on")).to_have_text(re.compile("^scene/1"))
    original = page.locator("#current-text").inner_text()
    assert original.strip()  # the scene's place
    shot("1-story")

    page.get_by_label("Alternatives").fill("2")
    page.get_by_label("Length (tokens)").fill("40")
    page.get_by_role("button", name="Regenerate").click()
    alternatives = page.locator(".alt")
    expect(alternatives).to_have_count(2, timeout=MODEL_WAIT_MS)
    expect(page.locator("h3 .figures")).to_contain_text("Vendi")
    expect(alternatives.first.locator(".figures")).to_contain_text("self-BLEU")
    shot("2-alternatives")

    picked = alternatives.nth(1)
    text = picked.locator(".prose").inner_text()
    picked.get_by_role("button", name="Accept").click()
    expect(page.locator("#current-text")).to_have_text(text)
    shot("3-accepted")
    page.get_by_role("button", name="Undo").click()
    expect(page.locator("#current-text")).to_have_text(original)
    shot("4-undone")

    versions = cowrite.history(studio.store, story_id, "scene/1")
    assert len(versions) == 3 and versions[0].current  # the first draft is current again
    assert [v.how for v in versions] == ["generated"] * 3
