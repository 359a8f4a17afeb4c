"""Redo beside undo on a story part, through the studio's routes over a real store: undo
steps back, redo brings the undone version back, a new choice clears what redo had, and
the page lists every choice as a history; a person's own text is kept as a new version, and
a rewrite needs a selection inside the text."""

from __future__ import annotations

from studio_server import csrf_client, wait_for_job

from museforge.story import cowrite


def test_undo_redo_and_the_choices_list(studio):
    store = studio.store
    story = cowrite.create_story(store, "A lighthouse keeper finds a mechanical bird.")
    for text in ("The lamp went out.", "The bird sang at dawn.", "The sea froze."):
        cowrite.edit(store, story, "scene/1", text)  # versions 1, 2, 3; 3 is current
    scene = {"node": "scene/1"}
    with csrf_client(studio) as client:
        nothing = client.post(f"/story/{story}/redo", data=scene)
        assert nothing.status_code == 400 and "nothing to redo" in nothing.json()["error"]
        assert client.post(f"/story/{story}/undo", data=scene).json()["current"] == 2
        assert client.post(f"/story/{story}/undo", data=scene).json()["current"] == 1
        assert client.post(f"/story/{story}/redo", data=scene).json()["current"] == 2
        page = client.get(f"/story/{story}?node=scene/1").text
        assert "Redo (v3)" in page and "redo → v2" in page
        assert client.post(f"/story/{story}/redo", data=scene).json()["current"] == 3
        assert client.post(f"/story/{story}/undo", data=scene).json()["current"] == 2
        client.post(f"/story/{story}/accept", data={**scene, "version": 1})  # a new choice
        cleared = client.post(f"/story/{story}/redo", data=scene)
        assert cleared.status_code == 400
        mine = client.post(f"/story/{story}/edit", data={**scene, "text": "My own words."})
        assert mine.json()["current"] == 4
        assert "edited → v4" in client.get(f"/story/{story}?node=scene/1").text
        outside = client.post(
            f"/story/{story}/rewrite",
            data={**scene, "start": 3, "end": 99, "instruction": "more tension"},
        )
        assert outside.status_code == 400 and "select some" in outside.json()["error"]
    assert cowrite.current_text(store, story, "scene/1") == "My own words."


def test_rewrite_a_selection_and_continue_with_the_story_model(studio):
    store = studio.store
    story = cowrite.create_story(store, "A lighthouse keeper finds a mechanical bird.")
    text = "The keeper climbed the stairs. The bird was cold and silent in his hands."
    cowrite.edit(store, story, "scene/1", text)
    start = text.index("The bird")
    with csrf_client(studio) as client:
        job = client.post(
            f"/story/{story}/rewrite",
            data={
                "node": "scene/1",
                "start": start,
                "end": len(text),
                "instruction": "more tension",
            },
        ).json()["job"]
        assert wait_for_job(client, job, 600)["state"] == "done"
        rewritten = cowrite.current_text(store, story, "scene/1")
        assert rewritten.startswith(text[:start]) and rewritten != text  # the rest kept as is
        job = client.post(f"/story/{story}/continue", data={"words": 20}).json()["job"]
        assert wait_for_job(client, job, 600)["state"] == "done"
        assert cowrite.current_text(store, story, "scene/1").startswith(rewritten)
    hows = [v.how for v in cowrite.history(store, story, "scene/1")]
    assert hows == ["edited", "rewritten", "continued"]
