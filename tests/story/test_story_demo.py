"""The story part of the demo: a story and its plan in the gallery and in the store; without
a usable model, a section that says how to add one instead of a broken gallery."""

from __future__ import annotations

from museforge.cli.demo import run_demo
from museforge.core.store import Store
from museforge.story import demo
from museforge.story.cowrite import list_stories, nodes


def test_the_story_section_shows_the_story_and_keeps_it(tmp_path, monkeypatch):
    monkeypatch.setenv("MUSEFORGE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MUSEFORGE_DB_URL", raising=False)
    monkeypatch.setattr(demo, "WORDS", 120)
    index = run_demo(tmp_path / "gallery", seed=2, demos=["museforge.story.demo:demo_section"])
    page = index.read_text()
    assert page.count('class="card" data-kind="text"') == 2 and "Its plan" in page
    story_md = (tmp_path / "gallery" / "story" / "story.md").read_text()
    assert story_md.startswith("# ") and "## 4. Ketsu" in story_md
    with Store() as store:
        (story,) = list_stories(store)
        assert {"premise", "title", "scene/1", "scene/4"} <= set(nodes(store, story.id))


def test_without_a_model_the_section_says_how_to_add_one(tmp_path, monkeypatch):
    monkeypatch.setenv("MUSEFORGE_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(demo, "MODEL", str(tmp_path / "no-such-model.gguf"))
    section = demo.demo_section(tmp_path / "gallery")
    assert "not installed" in section.intro
    (item,) = section.items
    assert item.kind == "text" and "no-such-model.gguf" in item.text
