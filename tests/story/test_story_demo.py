"""The story part of the demo without a usable model: a section that says how to add one
instead of a broken gallery. With the shipped model, the story and its plan in the gallery
and in the store are checked by the whole demo's test (tests/cli/test_cli_main.py)."""

from __future__ import annotations

from museforge.story import demo


def test_without_a_model_the_section_says_how_to_add_one(tmp_path, monkeypatch):
    monkeypatch.setenv("MUSEFORGE_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(demo, "MODEL", str(tmp_path / "no-such-model.gguf"))
    section = demo.demo_section(tmp_path / "gallery")
    assert "not installed" in section.intro
    (item,) = section.items
    assert item.kind == "text" and "no-such-model.gguf" in item.text
