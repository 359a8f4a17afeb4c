"""A new user's path through the music page, clicking and typing like a person: sample
melodies, play one, choose it, ask for variations, breed two, open the lineage of the
result and reproduce it; discard one and undo. The choices end up in the store."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from museforge.studio.marks import marks_of


def tiles(page: Page):
    return page.locator("#tiles .tile")


def test_sample_play_choose_vary_breed_lineage_reproduce(page: Page, studio, shot):
    page.goto("/")
    page.get_by_role("link", name="New melodies").click()
    expect(page).to_have_url(f"{studio.url}/music")
    page.get_by_label("Seed").fill("7")
    page.get_by_label("How many").fill("4")
    page.get_by_role("button", name="Sample melodies").click()
    expect(tiles(page)).to_have_count(4)
    shot("1-sampled")

    first = tiles(page).first
    first.get_by_role("button", name="Play").click()
    expect(first).to_have_class(re.compile("playing"))
    assert page.evaluate("() => !document.querySelector('#tiles .tile audio').paused")
    first.get_by_role("button", name="Choose").click()
    expect(first.locator(".chosen-pill")).to_be_visible()
    first.get_by_title("rate 4").click()
    first.get_by_title("star (s)").click()
    chosen_id = first.get_attribute("data-id")
    second = tiles(page).nth(1)
    second.focus()
    page.keyboard.press("ArrowRight")  # the keyboard moves through the grid; 1-5 rate
    page.keyboard.press("5")
    third = tiles(page).nth(2)
    expect(third.locator(".star.lit")).to_have_count(5)
    rated_by_key = third.get_attribute("data-id")

    page.locator("#amount").fill("0.5")  # the Amount slider
    first.get_by_role("button", name="More like this").click()
    expect(tiles(page)).to_have_count(8)
    shot("2-variations")

    tiles(page).nth(4).get_by_label("breed").check()
    tiles(page).nth(5).get_by_label("breed").check()
    ticked = tiles(page).nth(4).get_attribute("data-id")
    page.evaluate("refreshTiles()")  # what a job's next result does: the grid is drawn again
    expect(page.locator(f'#tiles [data-id="{ticked}"]').get_by_label("breed")).to_be_checked()
    page.get_by_label("Children").fill("2")
    page.get_by_role("button", name="Breed the two").click()
    expect(tiles(page)).to_have_count(10)
    shot("3-bred")

    discarded = tiles(page).nth(9)
    gone = discarded.get_attribute("data-id")
    discarded.get_by_role("button", name="Discard").click()
    expect(tiles(page)).to_have_count(9)
    page.locator("#toast").get_by_role("button", name="Undo").click()
    expect(page.locator(f'#tiles .tile[data-id="{gone}"]')).to_have_count(1)
    history = page.locator("#history-panel")  # every action of the page, with undo and redo
    history.get_by_role("button", name="Redo").click()
    expect(tiles(page)).to_have_count(9)
    expect(history.locator("li")).to_have_text(
        [f"starred {chosen_id[:8]}", f"discarded {gone[:8]}"]
    )
    shot("3b-history")
    history.get_by_role("button", name="Undo").click()
    expect(page.locator(f'#tiles .tile[data-id="{gone}"]')).to_have_count(1)
    expect(history.locator("li.undone")).to_have_text([f"discarded {gone[:8]}"])

    child = tiles(page).first
    child_id = child.get_attribute("data-id")
    child.locator("a.thumb").click()
    expect(page.locator(".tree .rel", has_text="interpolation-of")).to_have_count(2)
    page.get_by_role("link", name="Lineage").click()
    # the child, its two parents (samples 1 and 2), and the batch sample 1 was chosen from
    expect(page.locator(".tree .node")).to_have_count(4)
    expect(page.locator(".tree .rel", has_text="chosen-from")).to_have_count(1)
    shot("4-lineage")
    page.go_back()
    page.get_by_role("button", name="Reproduce").click()
    expect(page.locator("#reproduce-result")).to_contain_text("the bytes match exactly")
    shot("5-reproduced")

    page.get_by_role("link", name="Music").click()  # A/B: a variation against a bred child
    tiles(page).nth(0).get_by_label("breed").check()
    tiles(page).nth(4).get_by_label("breed").check()
    picked = [tiles(page).nth(i).get_attribute("data-id") for i in (0, 4)]
    page.get_by_role("button", name="Compare the two").click()
    sides = page.locator(".compare .side")
    expect(sides).to_have_count(2)
    expect(page.locator("tr.differs th", has_text="verb")).to_have_count(1)
    page.get_by_role("button", name="Prefer B").click()
    expect(sides.nth(1)).to_have_class(re.compile("preferred"))
    shot("6-compare")

    store = studio.store
    assert [r.score for r in store.ratings(chosen_id)] == [4.0]
    assert [r.score for r in store.ratings(rated_by_key)] == [5.0]
    assert [e.relation for e in store.parents(chosen_id)] == ["chosen-from"]
    assert {e.relation for e in store.parents(child_id)} == {"interpolation-of"}
    assert len(store.list_artifacts(kind="melody", limit=100)) == 10
    assert marks_of(store, picked) == {picked[1]: {"star"}}  # B, preferred


def test_a_reload_during_a_job_shows_its_progress_and_then_its_melodies(page: Page, shot):
    page.goto("/music")
    page.get_by_label("How many").fill("8")
    page.get_by_role("button", name="Sample melodies").click()
    status = page.locator("#job-status .job")
    expect(status).to_contain_text("running")
    page.reload()
    expect(status).to_contain_text("8 melodies, seed 0")
    before = float(status.locator("progress").get_attribute("value"))
    shot("reloaded-while-running")
    expect(tiles(page).first).to_be_visible()  # melodies appear one by one as they are kept
    expect(tiles(page)).to_have_count(8)
    expect(status).to_have_count(0)
    assert before < 1.0
