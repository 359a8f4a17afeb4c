"""Prose the Re3/DOC way: the bible carries every character's pronoun and the summaries of
the scenes before; drafts are reranked by repetition, beat relevance and cast consistency."""

from __future__ import annotations

import re

from fake_models import Scripted

from museforge.story.plan import Character, Plan, Scene
from museforge.story.prose import bible, pronoun_slips, rank, write_story


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


def _scenes(prompt: str, calls: list[str]) -> str:
    """Scene 2 ends after one short sentence, the others run long; a summary otherwise.
    Every piece of prose has words of its own (``calls`` counts them)."""
    found = re.match(r"(Write|Continue) scene (\d+)", prompt)
    if found is None:
        return "Vera walked to the harbour and back."
    calls.append(prompt)
    scene = int(found.group(2))
    n = 6 if scene == 2 and found.group(1) == "Write" else 60
    start = len(calls) * 100  # a block of 100 words for each call, 60 at most used
    return " ".join(f"w{start + k}" for k in range(n - 1)) + " end."


def test_a_story_short_of_its_words_goes_on_with_its_shortest_scene_first():
    plan = _plan()
    plan.scenes += [
        Scene("a cliff path", "Vera climbs.", ["Vera Ashford"]),
        Scene("the lighthouse", "Vera rests.", ["Vera Ashford"]),
    ]
    calls: list[str] = []
    model = Scripted(lambda prompt: _scenes(prompt, calls))
    write_story(model, plan, words=230, drafts=1)
    continued = [
        int(m.group(1)) for m in map(re.compile(r"Continue scene (\d+)").match, calls) if m
    ]
    assert continued[0] == 2  # 6 words against 60 in every other scene
    assert plan.word_count() >= 230
