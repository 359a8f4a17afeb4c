"""Prose the Re3/DOC way: the bible carries every character's pronoun and the summaries of
the scenes before; drafts are reranked by repetition, beat relevance and cast consistency."""

from __future__ import annotations

from museforge.story.plan import Character, Plan, Scene
from museforge.story.prose import bible, pronoun_slips, rank


def _plan() -> Plan:
    plan = Plan(
        premise="A cartographer discovers that her maps redraw themselves.",
        structure="kishotenketsu",
    )
    plan.characters = [
        Character(
            "Vera Ashford", "protagonist", "to map the coast", "too proud", "she", "a cartographer"
        ),
        Character("Silas Fenby", "antagonist", "to own the maps", "too greedy", "he"),
    ]
    plan.scenes = [
        Scene(
            "a chart room",
            "Vera finds her map changed.",
            ["Vera Ashford"],
            "Vera woke.",
            "Vera found her map of the bay redrawn overnight.",
        ),
        Scene(
            "the harbour",
            "Vera follows the new coastline to the harbour.",
            ["Vera Ashford", "Silas Fenby"],
        ),
    ]
    return plan


def test_the_bible_gives_pronouns_roles_and_the_story_so_far():
    text = bible(_plan(), 1)
    assert "Vera Ashford (she/her/her), the protagonist, a cartographer" in text
    assert "Silas Fenby (he/him/his), the antagonist" in text
    assert "Scene 1, at a chart room: Vera found her map of the bay redrawn overnight." in text


def test_a_changed_pronoun_is_a_slip_and_a_kept_one_is_not():
    plan = _plan()
    assert pronoun_slips(plan, "Vera Ashford lifted the map. Vera said he was tired.") == 1
    assert pronoun_slips(plan, "Vera Ashford lifted the map; she was tired.") == 0
    assert pronoun_slips(plan, "Vera met Silas Fenby, and he smiled.") == 0  # two people


def test_drafts_are_ranked_against_repetition_and_for_the_cast():
    plan = _plan()
    earlier = "Vera woke in the chart room and saw that the coastline had moved again."
    good = "Vera Ashford walked down to the harbour, where Silas Fenby was waiting by the boats."
    copied = "Vera woke in the chart room and saw that the coastline had moved again."
    alone = "Vera Ashford walked down to the harbour and counted the boats in the rain."
    scores = rank(plan, 1, [copied, alone, good], earlier)
    assert scores[2] > scores[1] > scores[0]
