"""A story plan's data: the structures a story can follow, its characters and scenes, and
the seeds that make each of its parts again.

The plan is Dramatron's hierarchy (Mirowski et al. 2023, "Co-Writing Screenplays and
Theatre Scripts with Language Models"): premise -> logline -> title -> characters ->
beats -> scenes (a place each) -> prose. ``levels`` fills it top-down, ``prose`` writes
the scenes, ``render`` turns it into Markdown.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from museforge.errors import UserError
from museforge.story.llm import MAX_SEED

MAX_PREMISE_CHARS = 2000  # a long paragraph; the bible must still leave room for prose
ROLES = ("protagonist", "antagonist", "ally", "mentor", "rival", "stranger")
PRONOUNS = {  # subject, object, possessive: what the bible tells the model to keep
    "she": ("she", "her", "her"),
    "he": ("he", "him", "his"),
    "they": ("they", "them", "their"),
}

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Beat:
    """One step of a structure: its name, what to ask for, and what to say when the model
    gives nothing usable (``{hero}`` is the protagonist's name)."""

    name: str
    prompt: str
    fallback: str


STRUCTURES: dict[str, tuple[Beat, ...]] = {
    "three-acts": (
        Beat("setup", "introduce {hero} and their everyday world", "{hero} keeps to an old routine."),
        Beat("inciting incident", "something happens that changes everything", "{hero} finds what the premise promised."),
        Beat("confrontation", "{hero} struggles against a growing problem", "{hero} is opposed at every turn."),
        Beat("crisis", "{hero} faces the worst moment", "{hero} loses almost everything."),
        Beat("climax", "{hero} makes a final choice", "{hero} chooses and acts."),
        Beat("resolution", "show how {hero} and their world have changed after that choice", "{hero} lives with what was chosen."),
    ),
    "hero": (
        Beat("ordinary world", "introduce {hero} and their ordinary world", "{hero} lives a small, ordinary life."),
        Beat("call to adventure", "{hero} is called to an adventure", "{hero} is called away from home."),
        Beat("refusal", "{hero} hesitates and refuses at first", "{hero} refuses, afraid."),
        Beat("mentor", "{hero} meets someone who helps", "{hero} meets a guide."),
        Beat("threshold", "{hero} crosses into the unknown", "{hero} crosses into the unknown."),
        Beat("ordeal", "{hero} faces the greatest danger", "{hero} faces the greatest danger."),
        Beat("reward", "{hero} wins something precious", "{hero} holds the prize at last."),
        Beat("return", "{hero} returns home changed", "{hero} comes home, changed."),
    ),
    "kishotenketsu": (
        Beat("ki", "introduce {hero} and their world", "{hero} goes about an ordinary day."),
        Beat("sho", "develop {hero}'s world, with no conflict yet", "{hero}'s days deepen and settle."),
        Beat("ten", "an unexpected twist changes how everything looks", "Something unexpected turns everything around."),
        Beat("ketsu", "bring the parts together in a quiet ending", "{hero} sees the whole at last."),
    ),
}  # fmt: skip


@dataclass
class Character:
    name: str
    role: str
    want: str
    flaw: str
    pronoun: str = "they"  # a key of PRONOUNS
    description: str = ""  # who they are in the premise's words ("a cartographer")

    def fact(self) -> str:
        """The character as one line of the story bible."""
        subject, obj, possessive = PRONOUNS.get(self.pronoun, PRONOUNS["they"])
        who = f", {self.description}" if self.description else ""
        return (
            f"{self.name} ({subject}/{obj}/{possessive}), the {self.role}{who}: wants "
            f"{self.want}; flaw: {self.flaw}."
        )


@dataclass
class Scene:
    place: str
    beat: str
    characters: list[str]
    prose: str = ""
    summary: str = ""  # what happened, in a sentence or two, for the scenes after it


@dataclass
class Plan:
    """A story plan, top to bottom, with the prose as it is written."""

    premise: str
    structure: str
    seed: int = 0
    logline: str = ""
    title: str = ""
    characters: list[Character] = field(default_factory=list)
    beats: list[str] = field(default_factory=list)
    scenes: list[Scene] = field(default_factory=list)
    model: str = ""
    notes: list[str] = field(default_factory=list)  # what fell back, and why

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Plan:
        """A plan from ``to_dict``'s output; a UserError names what is missing or wrong."""
        try:
            return cls(
                premise=str(data["premise"]),
                structure=str(data["structure"]),
                seed=int(data.get("seed", 0)),
                logline=str(data.get("logline", "")),
                title=str(data.get("title", "")),
                characters=[Character(**c) for c in data.get("characters", [])],
                beats=[str(b) for b in data.get("beats", [])],
                scenes=[Scene(**s) for s in data.get("scenes", [])],
                model=str(data.get("model", "")),
                notes=[str(n) for n in data.get("notes", [])],
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise UserError(f"not a story plan: {exc!r}") from None

    @property
    def hero(self) -> str:
        return self.characters[0].name if self.characters else "the hero"

    def text(self) -> str:
        """The prose of every scene, joined."""
        return "\n\n".join(s.prose for s in self.scenes if s.prose)

    def word_count(self) -> int:
        return len(self.text().split())


def level_seed(seed: int, level: str, index: int, attempt: int = 0) -> int:
    """The seed of call ``index`` at ``level`` (try ``attempt``): its own stream per call,
    so adding a character does not change the beats."""
    digest = hashlib.sha256(f"museforge-plan/{seed}/{level}/{index}/{attempt}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % (MAX_SEED + 1)


def check_request(text: str, what: str, limit: int, hint: str) -> str:
    """A person's request (a premise, an instruction) with its white space collapsed, or a
    UserError if it is empty (``hint`` says what to write) or longer than ``limit``."""
    cleaned = " ".join(str(text).split())
    if not cleaned:
        raise UserError(f"the {what} is empty: {hint}")
    if len(cleaned) > limit:
        raise UserError(f"the {what} is {len(cleaned):,} characters; the limit is {limit:,}")
    return cleaned


def check_premise(premise: str) -> str:
    """``premise`` stripped, or a UserError if it is empty or too long."""
    return check_request(
        premise, "premise", MAX_PREMISE_CHARS, "describe the story in a sentence or two"
    )


def check_structure(structure: str) -> tuple[Beat, ...]:
    if structure not in STRUCTURES:
        raise UserError(f"unknown structure {structure!r}: use {', '.join(STRUCTURES)}")
    return STRUCTURES[structure]
