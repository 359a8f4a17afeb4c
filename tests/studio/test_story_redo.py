"""Redo beside undo on a story part, through the studio's routes over a real store: undo
steps back, redo brings the undone version back, a new choice clears what redo had, and
the page lists every choice as a history."""

from __future__ import annotations

from studio_server import csrf_client

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
    assert cowrite.current_text(store, story, "scene/1") == "The lamp went out."
