"""The generating side of co-writing, with the shipped model on a real SQLite store:
alternatives, continuations, rewrites, and the CLI commands over them."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from museforge.cli import run
from museforge.core.store import Store
from museforge.errors import UserError
from museforge.story import cowrite
from museforge.story.cowrite import keep_plan
from museforge.story.cowrite_llm import continue_story, regenerate, rewrite, story_plan
from museforge.story.llm import LanguageModel, load_language_model
from museforge.story.plan import Character, Plan, Scene

TOKENS = 40  # enough for a few sentences; the file stays fast

PLAN = Plan(
    premise="A lighthouse keeper finds a mechanical bird.",
    structure="kishotenketsu",
    logline="A lonely keeper repairs a clockwork bird that remembers the sea.",
    title="The Brass Gull",
    characters=[
        Character("Vera Ashford", "protagonist", "to keep the light burning", "stubborn"),
        Character("Silas Fenby", "ally", "to fix the bird", "too curious"),
    ],
    beats=[
        "Vera found a brass bird on the rocks.",
        "Silas helped her wind it.",
        "The bird sang of a ship lost at sea.",
        "Vera lit the lamp for the lost ship.",
    ],
    scenes=[
        Scene(
            "a stormy lighthouse",
            "Vera found a brass bird on the rocks.",
            ["Vera Ashford", "Silas Fenby"],
            "Vera Ashford climbed down to the rocks at dawn. A brass bird lay in the weed, "
            "its wings folded. Silas Fenby came running with a lantern.",
        )
    ],
    model="by hand",
)


@pytest.fixture(autouse=True)
def _home(tmp_path, monkeypatch):
    monkeypatch.setenv("MUSEFORGE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MUSEFORGE_DB_URL", raising=False)


@pytest.fixture
def model() -> LanguageModel:
    # a fresh runtime per test: llama.cpp reuses the previous prompt's cache, whose numbers
    # differ in the last bits from a fresh evaluation, so only equal histories repeat
    return load_language_model("smollm2")


@pytest.fixture
def store(tmp_path: Path):
    with Store(f"sqlite:///{tmp_path / 'store.db'}", objects_dir=tmp_path / "objects") as s:
        yield s


@pytest.fixture
def story(store: Store) -> int:
    return keep_plan(store, PLAN)


def test_story_plan_reads_the_kept_plan_back(store: Store, story: int) -> None:
    plan = story_plan(store, story)
    assert (plan.premise, plan.logline, plan.title) == (PLAN.premise, PLAN.logline, PLAN.title)
    assert plan.characters == PLAN.characters
    assert (plan.beats, plan.structure) == (PLAN.beats, "kishotenketsu")
    assert [(s.place, s.prose) for s in plan.scenes] == [(s.place, s.prose) for s in PLAN.scenes]


def test_regenerate_proposes_distinct_alternatives_that_can_be_accepted(
    store: Store, story: int, model: LanguageModel
) -> None:
    before = cowrite.current_text(store, story, "scene/1")
    versions = regenerate(store, model, story, "scene/1", 3, seed=5, max_tokens=TOKENS)
    assert [v.number for v in versions] == [2, 3, 4]
    assert not any(v.current for v in versions)
    assert len({v.seed for v in versions}) == 3
    assert len({v.text for v in versions}) == 3
    assert all(v.model_id == model.name and v.how == "generated" for v in versions)
    assert all(v.settings["max_tokens"] == TOKENS for v in versions)
    assert all(v.text.startswith("a stormy lighthouse\n\n") for v in versions)
    assert cowrite.current_text(store, story, "scene/1") == before

    chosen = cowrite.accept(store, story, "scene/1", versions[1].number)
    assert chosen.current
    assert cowrite.current_text(store, story, "scene/1") == versions[1].text

    # the same seed gives the same alternatives: the story bible before scene 1 is unchanged
    fresh = load_language_model("smollm2")
    again = regenerate(store, fresh, story, "scene/1", 3, seed=5, max_tokens=TOKENS)
    assert [v.number for v in again] == [5, 6, 7]
    assert [(v.text, v.seed) for v in again] == [(v.text, v.seed) for v in versions]


def test_regenerate_a_plan_level_uses_the_current_texts(
    store: Store, story: int, model: LanguageModel
) -> None:
    versions = regenerate(store, model, story, "title", 2, seed=0)
    assert len(versions) == 2 and all(v.settings["prompt"] == "title" for v in versions)
    assert all(v.text.strip() and v.text != PLAN.title for v in versions)


def test_regenerate_rejects_bad_requests_before_the_model_runs(
    store: Store, story: int, model: LanguageModel
) -> None:
    with pytest.raises(UserError, match="cannot generate 'premise'"):
        regenerate(store, model, story, "premise")
    with pytest.raises(UserError, match="1 to 8"):
        regenerate(store, model, story, "title", 9)
    with pytest.raises(UserError, match="no story 99"):
        regenerate(store, model, 99, "title")


def test_continue_appends_to_the_last_scene_or_starts_the_next(
    store: Store, story: int, model: LanguageModel
) -> None:
    before = cowrite.current_text(store, story, "scene/1")
    version = continue_story(store, model, story, words=20, seed=1)
    assert (version.node, version.how, version.current) == ("scene/1", "continued", True)
    assert version.text.startswith(before) and len(version.text) > len(before)
    assert version.details == {"added_chars": len(version.text) - len(before)}

    scene = continue_story(store, model, story, words=20, seed=1, new_scene=True)
    assert scene.node == "scene/2" and scene.current
    assert cowrite.nodes(store, story)[-1] == "scene/2"


def test_rewrite_keeps_the_text_outside_the_selection(
    store: Store, story: int, model: LanguageModel
) -> None:
    text = cowrite.current_text(store, story, "scene/1")
    start = text.index("A brass bird")
    end = text.index("Silas Fenby came")
    version = rewrite(store, model, story, "scene/1", start, end, "more tension", seed=0)
    assert version.current and version.how == "rewritten"
    assert version.text.startswith(text[:start])
    assert version.text.endswith(text[end:])
    assert version.text != text
    assert version.details == {"instruction": "more tension", "start": start, "end": end}
    with pytest.raises(UserError, match="non-empty range"):
        rewrite(store, model, story, "scene/1", 5, 5, "more tension")


def _keep_in_home() -> int:
    with Store() as store:
        return keep_plan(store, PLAN)


def test_cli_regenerate_prints_the_measures_and_accept_chooses(capsys) -> None:
    story = _keep_in_home()
    args = ["story", "regenerate", str(story), "logline", "--n", "3", "--seed", "2"]
    assert run(args) == 0
    out = capsys.readouterr().out
    for version in (2, 3, 4):
        assert f"--- version {version} (seed " in out
    assert out.count("distinct-2") == 4 and out.count("self-BLEU") == 4
    assert "Vendi" in out
    assert f"museforge story accept {story} logline VERSION" in out

    assert run(["story", "accept", str(story), "logline", "3"]) == 0
    assert "version 3 is current" in capsys.readouterr().out
    with Store() as store:
        assert cowrite.history(store, story, "logline")[2].current


def test_cli_cowrite_runs_each_action_through_the_store(monkeypatch, capsys) -> None:
    story = _keep_in_home()
    script = "s scene/1\ne scene/1\nA new first scene.\nSecond line.\n.\nu scene/1\nz\nq\n"
    monkeypatch.setattr("sys.stdin", io.StringIO(script))
    assert run(["story", "cowrite", str(story)]) == 0
    out = capsys.readouterr().out
    assert "Silas Fenby came running" in out  # s shows the current text
    assert "scene/1: version 2 is current" in out  # e edited
    assert "scene/1: version 1 is current" in out  # u undid the edit
    assert "r NODE" in out  # an unknown action shows the help
    with Store() as store:
        versions = cowrite.history(store, story, "scene/1")
    assert [(v.number, v.how, v.current) for v in versions] == [
        (1, "generated", True),
        (2, "edited", False),
    ]
    assert versions[1].text == "A new first scene.\nSecond line."


def test_cli_cowrite_regenerates_and_accepts(monkeypatch, capsys) -> None:
    story = _keep_in_home()
    monkeypatch.setattr("sys.stdin", io.StringIO("r title\na title 3\nq\n"))
    assert run(["story", "cowrite", str(story)]) == 0
    out = capsys.readouterr().out
    assert "--- version 2 (seed 0)" in out and "Vendi" in out
    with Store() as store:
        assert [v.current for v in cowrite.history(store, story, "title")] == [
            False,
            False,
            True,
            False,
        ]


def test_cli_cowrite_continues_the_last_scene(monkeypatch, capsys) -> None:
    story = _keep_in_home()
    with Store() as store:
        last = cowrite.nodes(store, story)[-1]
        before = cowrite.current_text(store, story, last)
    monkeypatch.setattr("sys.stdin", io.StringIO("c\nq\n"))
    assert run(["story", "cowrite", str(story)]) == 0
    out = capsys.readouterr().out
    with Store() as store:
        versions = cowrite.history(store, story, last)
        after = cowrite.current_text(store, story, last)
    assert f"{last}: version {versions[-1].number} is current" in out
    assert versions[-1].current and versions[-1].how == "continued"
    assert after.startswith(before) and len(after.split()) > len(before.split())
    assert after[len(before) :].strip() in out  # the new text is shown
