"""Co-writing in the browser with the shipped story model: start a story from a premise,
regenerate one scene into alternatives shown side by side with their diversity figures,
accept one, undo; the store keeps every version and choice."""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import Page, expect

from museforge.story import cowrite

MODEL_WAIT_MS = 300_000  # the language model plans on two cores that others share too


def _finished(store, kind: str, timeout: float = MODEL_WAIT_MS / 1000):
    """The job of ``kind`` once it has ended (its message says why, if it failed)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        jobs = [j for j in store.list_jobs() if j.kind == kind]
        if jobs and jobs[0].state in ("done", "failed", "cancelled"):
            return jobs[0]
        time.sleep(0.2)
    raise AssertionError(f"no {kind} job ended in {timeout} s")


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
    page.get_by_role("button", name="Redo").click()
    expect(page.locator("#current-text")).to_have_text(text)
    expect(page.locator("#choices li").first).to_have_text(re.compile("^redo"))
    expect(page.get_by_role("button", name="Redo")).to_be_disabled()
    shot("5-redone")

    text_box = page.locator("#current-text")  # select its first paragraph, as a person does
    text_box.click(click_count=3, position={"x": 8, "y": 8})
    selected = re.compile(r"^\d+-\d+$")  # the page has taken the selection in
    expect(page.locator("#rewrite-form")).to_have_attribute("data-selection", selected)
    page.get_by_label("Rewrite the selection").fill("more tension")
    page.get_by_role("button", name="Rewrite").click()
    expect(page.locator("#toast")).to_contain_text("rewriting: more tension")
    rewrite = _finished(studio.store, "story-rewrite")
    assert rewrite.state == "done", rewrite.message
    expect(page.locator("#choices li").first).to_have_text(re.compile("^rewritten"))
    shot("6-rewritten")

    versions = cowrite.history(studio.store, story_id, "scene/1")
    assert len(versions) == 4 and versions[3].current  # the rewrite of the one redone
    assert [v.how for v in versions] == ["generated"] * 3 + ["rewritten"]
    assert versions[3].details["instruction"] == "more tension"
