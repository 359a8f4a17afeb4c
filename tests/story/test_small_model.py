"""Valid text passes every part of the planner untouched: Unicode and compound names,
dialogue, sentences that start like chatter, and a logline about a story; the small-model
profile refuses only chatter, echoed labels and a copied example, and can be switched off."""

from __future__ import annotations

import pytest
from fake_models import canned

from museforge.story.answers import alike, parse_character, parse_sentence, parse_title
from museforge.story.levels import plan_story
from museforge.story.premise import premise_name
from museforge.story.prose import write_story
from museforge.story.small_model import OFF, ON

DIALOGUE = '"Let me help you," said Silas. Sure enough, the bird sang.'
VALID = [
    DIALOGUE,
    "Sure enough, the bird sang.",
    "Zoë McAllister finds that the story she wrote as a child is coming true.",
    "Jean-Luc Picard wants to see the scene of the crime again.",
    "McAllister hears the sea call her back.",
]


@pytest.mark.parametrize("text", VALID)
def test_the_small_model_profile_refuses_no_valid_text(text):
    assert ON.refuses(text) is None


@pytest.mark.parametrize(
    ("answer", "why"),
    [
        ("Here is a logline: a keeper finds a bird.", "chatter"),
        ("Sure, here you go.", "chatter"),
        ("Certainly! The keeper finds a bird.", "chatter"),
        ("The protagonist must find the bird.", "labels"),
    ],
)
def test_the_small_model_profile_refuses_chatter_and_labels_and_off_refuses_nothing(answer, why):
    assert ON.refuses(answer) == why
    assert OFF.refuses(answer) is None


@pytest.mark.parametrize(
    ("premise", "name"),
    [
        ("A retired captain named Zoë McAllister hears the sea call her back.", "Zoë McAllister"),
        ("A starship officer named Jean-Luc Picard loses his ship.", "Jean-Luc Picard"),
        ("A fisherman named McAllister keeps the old boat.", "McAllister"),
        ("Zoë has kept to her quiet life; then Zoë must leave.", "Zoë"),
        ("A lighthouse keeper finds a mechanical bird", None),
        ("After the birds leave, Esme, an absent-minded nurse, inherits a bird.", "Esme"),
        ("Jean-Luc Picard, a starship captain, loses his ship.", "Jean-Luc Picard"),
        ("In Paris, a man finds a door that was not there.", None),
    ],
)
def test_the_premise_gives_unicode_and_compound_names_whole(premise, name):
    assert premise_name(premise) == name


@pytest.mark.parametrize("name", ["Zoë", "Jean-Luc Picard", "McAllister"])
def test_characters_with_any_name_are_read_whole(name):
    answer = f"{name} wants to sail past the reef, but is too proud to ask."
    assert parse_character(answer, name) == ("to sail past the reef", "too proud to ask")
    assert parse_sentence(f"{name} reads the story aloud.") == f"{name} reads the story aloud."
    assert parse_title(f"The Ballad of {name}") == f"The Ballad of {name}"


def test_a_logline_about_a_story_and_a_unicode_name_are_kept_as_written():
    logline = VALID[2]
    plan = plan_story(canned(logline), "A retired captain named Zoë McAllister writes stories.")
    assert plan.hero == "Zoë McAllister"
    assert plan.logline == logline
    assert not [n for n in plan.notes if n.startswith("logline")]


def test_dialogue_and_sure_enough_reach_the_story_word_for_word():
    model = canned(DIALOGUE)
    plan = plan_story(model, "A keeper named Silas finds a bird.", "kishotenketsu")
    write_story(model, plan, 40, drafts=1)
    assert DIALOGUE in plan.scenes[0].prose


def test_a_copy_with_typographic_apostrophes_is_still_alike():
    line = "She can't and won't stop."  # two of five words hold an apostrophe
    assert alike(line, line.replace("'", "\u2019"))
    assert not alike(line, "The lighthouse keeper climbs the stairs at dawn.")
