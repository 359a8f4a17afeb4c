"""The story planner: parsing of model answers, fallbacks, repetition, and real stories
written by the shipped model."""

from __future__ import annotations

import json

import pytest

from museforge.cli import run
from museforge.core.store import Store
from museforge.story.cowrite import current_text, history, list_stories
from museforge.story.llm import Generation, LanguageModel, load_language_model
from museforge.story.metrics import repeated_ngram_share
from museforge.story.planner import (
    STRUCTURES,
    Plan,
    check_premise,
    parse_character,
    parse_place,
    parse_sentence,
    parse_title,
    plan_story,
    premise_name,
    repeated_sentences,
    story_markdown,
    write_story,
)

PREMISE = "A lighthouse keeper finds a mechanical bird"
WORDS = 50  # short: four scenes of one small draft each keep the file fast


class Canned(LanguageModel):
    """A model that gives the same answer to every prompt."""

    name = "canned"

    def __init__(self, answer: str) -> None:
        self.answer = answer

    def _stream(self, messages: list[dict[str, str]], settings: Generation):
        yield self.answer
        return "stop"


def _named(scene) -> bool:
    """Whether the scene's prose names each of its characters (a given or family name)."""
    return all(any(part in scene.prose for part in name.split()) for name in scene.characters)


@pytest.fixture(autouse=True)
def _home(tmp_path, monkeypatch):
    monkeypatch.setenv("MUSEFORGE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MUSEFORGE_DB_URL", raising=False)


@pytest.fixture(scope="module")
def story() -> Plan:
    model = load_language_model("smollm2")
    plan = plan_story(model, PREMISE, "kishotenketsu", seed=0)
    return write_story(model, plan, WORDS)


def test_parse_character_reads_the_fixed_form():
    answer = "Vera Ashford wants to keep the light burning, but is too stubborn to rest."
    assert parse_character(answer) == (
        "Vera Ashford",
        "to keep the light burning",
        "too stubborn to rest",
    )
    # a list mark and a label go; "she is", a missing comma and a possessive are read
    answer = "1. Character: Silas Fenby's wants to fix the bird but she is too curious\nmore"
    assert parse_character(answer) == ("Silas Fenby", "to fix the bird", "too curious")
    assert parse_character("Ines Oduya wants to sail home.") == ("Ines Oduya", "to sail home", None)
    cut = "Ilse wants to stay at the, but is too afraid of his family's."  # both cut off
    assert parse_character(cut) == ("Ilse", None, None)


@pytest.mark.parametrize(
    "answer",
    [
        "A lighthouse keeper finds a mechanical bird.",  # not the form
        "Mara Quillby wants to find her lost brother, but is too proud to ask for help.",  # copied
        "The Riddle wants to know the protagonist of this story, but is too a man.",  # no name,
        "To Make wants to a villain, but is too the best.",  # a noun where a verb should be
    ],
)
def test_parse_character_rejects_garbage_and_the_copied_example(answer):
    assert parse_character(answer) == (None, None, None)


def test_parse_sentence_title_and_place():
    assert parse_sentence("Logline: Vera finds a bird. Then more.") == "Vera finds a bird."
    assert parse_sentence("Vera finds a bird that was cut off by") is None
    assert parse_sentence("Yes.") is None
    assert parse_title('"The Brass Wren"') == "The Brass Wren"
    assert parse_title("In a world lost to the past, a keeper's determination is put to") is None
    assert parse_place("The harbour wall at dusk.") == "the harbour wall at dusk"
    assert parse_place("In a lamp room") == "a lamp room"
    assert parse_place("Scene: A fish market at dawn. This is a perfect place!") is None


def test_garbage_answers_fall_back_and_every_fallback_is_noted():
    plan = plan_story(Canned("|||| ??"), PREMISE, "three-acts", seed=3)
    assert plan.logline and plan.title
    assert len(plan.characters) == 3 and len({c.name for c in plan.characters}) == 3
    assert all(c.want and c.flaw for c in plan.characters)
    assert len(plan.beats) == len(STRUCTURES["three-acts"]) == len(plan.scenes)
    assert all(s.place and s.characters for s in plan.scenes)
    notes = "\n".join(plan.notes)
    assert "logline" in notes and "title" in notes
    for i in range(3):
        assert f"character {i + 1}" in notes
    for i in range(len(plan.scenes)):
        assert f"beat {i + 1}" in notes and f"scene {i + 1}: place" in notes


def test_looping_prose_is_resampled_and_the_least_repetitive_sample_kept():
    looping = "The lamp turned slowly in the dark. The lamp turned slowly in the dark."
    model = Canned(looping)
    plan = plan_story(model, PREMISE, "kishotenketsu", seed=0)
    write_story(model, plan, 50, tries=2)
    assert plan.scenes[0].prose.endswith(looping)  # measured and resampled, never cut
    notes = "\n".join(plan.notes)
    assert "scene 1: prose sampled 2 times" in notes


def test_repeated_sentences_finds_copies_and_loops():
    earlier = "Vera climbed the stairs to the lamp. It was late."
    text = "Vera climbed the stairs to the lamp. The bird sang once. The bird sang once."
    assert repeated_sentences(text, earlier) == [
        "Vera climbed the stairs to the lamp.",
        "The bird sang once.",
    ]
    assert repeated_sentences("It was late. It was late.") == []  # short: twice is allowed
    assert repeated_sentences("He smiled. It was late.", "He smiled. He smiled.") == [
        "He smiled."
    ]  # a third time is a tic


def test_plan_json_round_trip(story):
    data = json.loads(json.dumps(story.to_dict()))
    assert Plan.from_dict(data) == story


def test_premise_is_checked():
    assert check_premise("  a  bird \n") == "a bird"
    with pytest.raises(Exception, match="empty"):
        check_premise("   ")
    with pytest.raises(Exception, match="2,000"):
        check_premise("x" * 2001)


def test_real_story_names_its_characters_and_repeats_little(story):
    assert len(story.scenes) == 4
    assert all(scene.prose for scene in story.scenes)
    assert all(_named(scene) for scene in story.scenes)
    # named in the model's own prose, not by a sentence the planner added
    grounded = [n for n in story.notes if "added a sentence naming" in n]
    assert len(story.scenes) - len(grounded) >= 0.9 * len(story.scenes), grounded
    assert repeated_ngram_share(story.text()) <= 0.05
    assert story.word_count() >= WORDS
    markdown = story_markdown(story)
    assert markdown.startswith(f"# {story.title}")
    assert "## 1. Ki: " in markdown and "## 4. Ketsu: " in markdown


def test_story_new_writes_the_same_story_for_the_same_seed(story, tmp_path, capsys):
    out = tmp_path / "story"
    args = ["story", "new", PREMISE, "--structure", "kishotenketsu", "--out", str(out)]
    assert run([*args, "--seed", "0", "--words", str(WORDS)]) == 0
    assert f"{story.word_count()} words in 4 scenes" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == ["plan.json", "plan.md", "story.md"]
    written = Plan.from_dict(json.loads((out / "plan.json").read_text()))
    assert written == story  # a fresh model, the same seed: the same plan and prose
    assert (out / "story.md").read_text() == story_markdown(story)
    assert "## Scenes" in (out / "plan.md").read_text()
    with Store() as store:  # kept part by part, each its first accepted version
        (kept,) = list_stories(store)
        assert current_text(store, kept.id, "premise") == PREMISE
        assert current_text(store, kept.id, "scene/1").endswith(story.scenes[0].prose.strip())
        assert [v.how for v in history(store, kept.id, "scene/4")] == ["generated"]


@pytest.mark.parametrize(
    ("premise", "words"), [("", "empty"), ("   ", "empty"), ("x" * 2001, "2,000")]
)
def test_story_new_bad_premise_is_one_line_and_writes_nothing(premise, words, tmp_path, capsys):
    out = tmp_path / "story"
    assert run(["story", "new", premise, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and words in err[0]
    assert not out.exists()


@pytest.mark.parametrize(
    ("answer", "place"),
    [
        ("The scene takes place in a fish market at dawn.", "a fish market at dawn"),
        ("This story is set at the old pier", "the old pier"),
        ("Ellea, the one who was always the sole reason for the", None),
        ("the protagonist's favourite place", None),
    ],
)
def test_parse_place_reads_past_takes_place_and_refuses_fragments(answer, place):
    assert parse_place(answer) == place


@pytest.mark.parametrize(
    ("premise", "name"),
    [
        ("A homesick museum archivist named Noor must learn the truth.", "Noor"),
        ("Ilse has kept to his quiet life; then Ilse must keep his family together.", "Ilse"),
        ("When the council calls, a cartographer named Yusuf Amari must go.", "Yusuf Amari"),
        ("A lighthouse keeper finds a mechanical bird", None),
        ("The tide comes in. The keeper waits.", None),
    ],
)
def test_the_protagonist_takes_the_name_the_premise_gives(premise, name):
    assert premise_name(premise) == name


def test_two_scenes_at_one_place_are_grounded_in_different_words():
    from museforge.story.planner import Scene, _ground

    plan = Plan(premise="A keeper finds a bird.", structure="kishotenketsu")
    plan.scenes = [
        Scene("a fish market at dawn", "ki", ["Hamid Thornby"], "The gulls cried over the nets."),
        Scene("a fish market at dawn", "sho", ["Hamid Thornby"], "The nets were empty again."),
    ]
    _ground(plan, 0)
    _ground(plan, 1)
    assert plan.scenes[0].prose.startswith("Hamid Thornby was at a fish market at dawn.")
    assert plan.scenes[1].prose.startswith("Hamid Thornby was back at a fish market at dawn.")
    assert repeated_sentences(plan.text()) == []
