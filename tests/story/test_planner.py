"""The planner's levels and a real story: the table of levels, fallbacks noted, the
premise's own words carried into the plan, and a short story written by the shipped model,
the same for the same seed."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from fake_models import Scripted, canned

from museforge.cli import run
from museforge.core.store import Store
from museforge.story.answers import parse_character, parse_place, parse_sentence, parse_title
from museforge.story.cowrite import current_text, history, list_stories
from museforge.story.levels import LEVELS, plan_story
from museforge.story.llm import load_language_model
from museforge.story.metrics import repeated_ngram_share
from museforge.story.plan import STRUCTURES, Plan, check_premise
from museforge.story.premise import premise_description, premise_pronoun
from museforge.story.prose import names, write_story
from museforge.story.render import story_markdown

PREMISE = "A lighthouse keeper finds a mechanical bird"
WORDS = 50  # short: four scenes of one small draft each (more only while one repeats) keep it fast
PARTS = ("plan", "levels", "forms", "answers", "prose", "small_model", "premise", "render")


@pytest.fixture(autouse=True)
def _home(tmp_path, monkeypatch):
    monkeypatch.setenv("MUSEFORGE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MUSEFORGE_DB_URL", raising=False)


@pytest.fixture(scope="module")
def story() -> Plan:
    model = load_language_model("smollm2")
    plan = plan_story(model, PREMISE, "kishotenketsu", seed=0)
    return write_story(model, plan, WORDS, drafts=1, max_drafts=3)


def test_each_part_of_the_planner_is_a_module_under_400_lines():
    import museforge.story as package

    folder = Path(package.__file__).parent
    for part in PARTS:
        lines = (folder / f"{part}.py").read_text().count("\n")
        assert lines < 400, (part, lines)
    assert [level.name for level in LEVELS] == ["logline", "title", "character", "beat", "place"]


def test_parse_character_reads_the_fixed_form():
    answer = "Vera Ashford wants to keep the light burning, but is too stubborn to rest."
    assert parse_character(answer, "Vera Ashford") == (
        "to keep the light burning",
        "too stubborn to rest",
    )
    answer = "1. Silas Fenby's wants to fix the bird but she is too curious\nmore"
    assert parse_character(answer, "Silas Fenby") == ("to fix the bird", "too curious")
    assert parse_character("Ines Oduya wants to sail home.", "Ines Oduya") == (
        "to sail home",
        None,
    )
    cut = "Ilse wants to stay at the, but is too afraid of his family's."  # both cut off
    assert parse_character(cut, "Ilse") == (None, None)
    assert parse_character("Vera wants to go, but is too shy.", "Silas") == (None, None)


def test_parse_sentence_title_and_place():
    assert parse_sentence("Logline: Vera finds a bird. Then more.") == "Vera finds a bird."
    assert parse_sentence("Vera finds a bird that was cut off by") is None
    assert parse_sentence("Yes.") is None
    assert parse_title('"The Brass Wren"') == "The Brass Wren"
    assert parse_title("In a world lost to the past, a keeper's determination is put to") is None
    assert parse_place("The harbour wall at dusk.") == "the harbour wall at dusk"
    assert parse_place("In a lamp room") == "a lamp room"
    assert parse_place("The scene takes place in a fish market at dawn.") == "a fish market at dawn"
    assert parse_place("Scene: A fish market at dawn. This is a perfect place!") is None


def test_garbage_answers_fall_back_and_every_fallback_is_noted():
    plan = plan_story(canned("|||| ??"), PREMISE, "three-acts", seed=3)
    assert plan.logline and plan.title
    assert len(plan.characters) == 3 and len({c.name for c in plan.characters}) == 3
    assert all(c.want and c.flaw for c in plan.characters)
    assert len(plan.beats) == len(STRUCTURES["three-acts"]) == len(plan.scenes)
    assert all(s.place and s.characters for s in plan.scenes)
    notes = "\n".join(plan.notes)
    assert "logline 1: stock text" in notes and "title 1: stock text" in notes
    for i in range(3):
        assert f"character {i + 1}: stock text" in notes
    for i in range(len(plan.scenes)):
        assert f"beat {i + 1}: stock" in notes and f"place {i + 1}: stock" in notes


EVENTS = ("found a letter", "crossed the bay", "lost the boat", "broke the lamp", "sang", "slept")


def _answers(place: str):
    """Beats that differ, the same ``place`` for every scene, garbage for the rest."""

    def answer(prompt: str) -> str:
        if "Write it as one sentence" in prompt:
            return f"Ilse {EVENTS[len(re.findall(r'^[0-9]+[.] ', prompt, re.M))]}."
        if "Where does this scene take place" in prompt:
            return place
        return "|||| ??"

    return answer


def test_the_prompts_carry_each_characters_pronoun_and_the_beats_so_far():
    model = Scripted(_answers("a lamp room"))
    plan = plan_story(model, "A chess prodigy named Ilse keeps to his quiet life", seed=2)
    assert plan.characters[0].pronoun == "he"
    wants = list(dict.fromkeys(p for p in model.prompts if "wants and" in p))  # 3 tries each
    assert "Ilse (he/him/his) is the protagonist" in wants[0]
    second = plan.characters[1]
    assert f"{second.name} ({second.pronoun}/" in wants[1]
    beats = [p for p in model.prompts if "Write it as one sentence" in p]
    assert "1. " in beats[-1] and f"5. {plan.beats[4]}" in beats[-1]
    assert "Beat 6 of 6, the resolution" in beats[-1]


def test_a_place_may_come_back_but_not_in_the_next_scene():
    plan = plan_story(Scripted(_answers("a lamp room")), PREMISE, "kishotenketsu", seed=0)
    places = [s.place for s in plan.scenes]
    assert places[0] == places[2] == "a lamp room" != places[1]
    assert "place 2: stock text" in "\n".join(plan.notes)
    assert "place 3: stock" not in "\n".join(plan.notes)


def test_only_the_small_model_profile_is_shown_an_example_place():
    shown = Scripted(_answers("a lamp room"))
    plan_story(shown, PREMISE, "kishotenketsu", seed=0)  # the profile is on by default
    bare = Scripted(_answers("a lamp room"))
    plan_story(bare, PREMISE, "kishotenketsu", seed=0, profile=None)
    asks = [[p for p in m.prompts if "take place" in p] for m in (shown, bare)]
    assert asks[0] and all("like: " in p for p in asks[0])
    assert asks[1] and not any("like: " in p for p in asks[1])


def test_the_premise_gives_the_protagonist_a_pronoun_and_a_description():
    premise = "A cartographer discovers that her maps redraw themselves at night"
    assert premise_pronoun(premise) == "she"
    assert premise_description(premise) == "a cartographer"
    chess = "An overworked chess prodigy named Ines is handed a chess set"
    assert premise_description(chess) == "an overworked chess prodigy"
    plan = plan_story(canned("|||| ??"), premise, "kishotenketsu", seed=1)
    hero = plan.characters[0]
    assert (hero.pronoun, hero.description) == ("she", "a cartographer")
    assert "(she/her/her), the protagonist, a cartographer" in hero.fact()


def test_looping_prose_is_measured_not_cut():
    looping = "The lamp turned slowly in the dark. The lamp turned slowly in the dark."
    model = canned(looping)
    plan = plan_story(model, PREMISE, "kishotenketsu", seed=0)
    write_story(model, plan, 30, drafts=2)
    assert plan.scenes[0].prose == looping  # kept whole: the sampler, not a filter, fixes loops


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
    for c in story.characters:  # every character of the plan is named in the prose
        assert names(story.text(), c.name), c.name
    # a ~150-word story of one draft a scene: its names alone repeat a few 4-grams; the
    # benchmark holds 800-word stories to 0.05
    assert repeated_ngram_share(story.text()) <= 0.1
    assert story.word_count() >= WORDS
    assert all(scene.summary for scene in story.scenes)
    markdown = story_markdown(story)
    assert markdown.startswith(f"# {story.title}")
    assert "## 1. Ki: " in markdown and "## 4. Ketsu: " in markdown


def test_story_new_writes_the_same_story_for_the_same_seed(story, tmp_path, capsys):
    out = tmp_path / "story"
    args = ["story", "new", PREMISE, "--structure", "kishotenketsu", "--out", str(out)]
    assert (
        run([*args, "--seed", "0", "--words", str(WORDS), "--drafts", "1", "--max-drafts", "3"])
        == 0
    )
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
