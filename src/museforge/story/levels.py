"""The planner's levels, as a table, and the one function that asks a model for a level.

Each ``Level`` says how to ask for one part of a plan: the prompt, the form of the answer
(a GBNF grammar, ``forms``), how to read the answer (``answers``), what to use when the
model gives nothing usable, and how many tokens an answer may take. ``ask`` runs a level:
up to ``PLAN_TRIES`` seeds, each a little hotter, each answer read and checked by the
small-model profile (``small_model``) if one is given; a level that gets nothing usable
falls back to stock text and says so in ``Plan.notes``, so a plan is always complete and
tells which parts the model did not write.

The premise's own words are facts, not asked: the protagonist's name (else one from the
``names`` grammar), pronoun and description ("a cartographer") go into every prompt, and
the logline and every beat start with the protagonist's name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from museforge.errors import UserError
from museforge.story import forms
from museforge.story.answers import (
    alike,
    mentions,
    parse_character,
    parse_place,
    parse_sentence,
    parse_title,
)
from museforge.story.grammar import load_grammar
from museforge.story.llm import LanguageModel, read_all
from museforge.story.plan import (
    PRONOUNS,
    ROLES,
    Character,
    Plan,
    Progress,
    Scene,
    check_premise,
    check_structure,
    level_seed,
)
from museforge.story.premise import premise_description, premise_name, premise_pronoun
from museforge.story.sampling import PLAN_PENALTIES
from museforge.story.small_model import ON, SmallModel

PLAN_TEMPERATURE = 0.7  # planning answers: varied, but in the asked form
PLAN_TRIES = 3  # seeds per answer before it falls back
RETRY_HEAT = 0.25  # each retry samples this much hotter: a peaked answer repeats otherwise
SYSTEM = "You plan short stories. Answer with exactly what is asked, in the form asked."
FALLBACK_WANTS = {
    "protagonist": "to understand what has come into their life",
    "antagonist": "to take what the protagonist has found",
    "ally": "to keep the protagonist safe",
    "mentor": "to pass on what they know before it is too late",
    "rival": "to be proven right",
    "stranger": "to find the way home",
}
FALLBACK_FLAWS = ("stubborn", "too trusting", "afraid of change", "quick to anger", "secretive")


@dataclass(frozen=True)
class Level:
    """How to ask for one part of a plan (``i`` is the part's index at its level)."""

    name: str
    max_tokens: int
    prompt: Callable[[Plan, int, str], str]  # with the example to show, or ""
    grammar: Callable[[Plan, int], str | None]
    parse: Callable[[str, Plan, int], Any]  # the value, or None for an unusable answer
    fallback: Callable[[Plan, int, str], Any]  # the value from stock text (and the last answer)
    # an example of an answer, shown to a model that needs one (the small-model profile)
    example: Callable[[Plan, int], str] = lambda plan, i: ""


def ask(
    model: LanguageModel, plan: Plan, level: Level, i: int = 0, profile: SmallModel | None = ON
) -> Any:
    """Level ``level``'s value for part ``i``: the first usable answer over PLAN_TRIES seeds,
    else its fallback (noted in ``plan.notes``)."""
    messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": ""}]
    example = level.example(plan, i) if profile is not None and profile.example else ""
    messages[1]["content"] = level.prompt(plan, i, example)
    answer = ""
    for attempt in range(PLAN_TRIES):
        stream = model.stream(
            messages,
            max_tokens=level.max_tokens,
            temperature=PLAN_TEMPERATURE + RETRY_HEAT * attempt,
            seed=level_seed(plan.seed, level.name, i, attempt),
            stop="\n",
            grammar=level.grammar(plan, i),
            penalties=PLAN_PENALTIES,
        )
        answer, reason = read_all(stream)
        if reason == "length":
            continue  # a title cut off at "A Un" is no title
        if profile is not None and profile.refuses(answer, example):
            continue
        value = level.parse(answer, plan, i)
        if value is not None:
            return value
    plan.notes.append(f"{level.name} {i + 1}: stock text (the model gave {answer.strip()[:60]!r})")
    return level.fallback(plan, i, answer)


def _cast(plan: Plan) -> str:
    return "\n".join(f"- {c.fact()}" for c in plan.characters)


def _hero_line(plan: Plan) -> str:
    hero = plan.characters[0]
    who = f", {hero.description}," if hero.description else ""
    return f"The protagonist is {hero.name}{who} ({PRONOUNS[hero.pronoun][0]})."


# --- the table ---------------------------------------------------------------------------


def _logline_parse(answer: str, plan: Plan, i: int) -> str | None:
    sentence = parse_sentence(answer, min_words=6)
    return sentence if sentence and mentions(sentence, plan.hero) else None


LOGLINE = Level(
    "logline",
    96,
    lambda plan, i, example: (
        f"Premise: {plan.premise}\n{_hero_line(plan)}\nWrite a one-sentence logline for this "
        f"story that starts with '{plan.hero}'."
    ),
    lambda plan, i: forms.sentence_starting(plan.hero),
    _logline_parse,
    lambda plan, i, answer: plan.premise if plan.premise[-1] in ".!?" else f"{plan.premise}.",
)

TITLE = Level(
    "title",
    16,
    lambda plan, i, example: (
        f"Story: {plan.logline}\nWrite a short title for this story. Only the title."
    ),
    lambda plan, i: forms.TITLE,
    lambda answer, plan, i: parse_title(answer),
    lambda plan, i, answer: " ".join(plan.premise.rstrip(".").split()[:6]).title(),
)


def _character_prompt(plan: Plan, i: int, example: str) -> str:
    c = plan.characters[i]
    subject, obj, possessive = PRONOUNS.get(c.pronoun, PRONOUNS["they"])
    return (
        f"Story: {plan.logline}\n{c.name} ({subject}/{obj}/{possessive}) is the {c.role} of "
        f"this story. Say what {c.name} wants and {c.name}'s flaw, in one line in the form\n"
        f"{c.name} wants to ..., but is too ...."
    )


def _character_parse(answer: str, plan: Plan, i: int) -> tuple[str, str] | None:
    want, flaw = parse_character(answer, plan.characters[i].name)
    return (want, flaw) if want and flaw else None


def _character_fallback(plan: Plan, i: int, answer: str) -> tuple[str, str]:
    c = plan.characters[i]
    want, flaw = parse_character(answer, c.name)  # the last answer's usable parts
    stock_flaw = FALLBACK_FLAWS[level_seed(plan.seed, "flaw", i) % len(FALLBACK_FLAWS)]
    return want or FALLBACK_WANTS[c.role], flaw or stock_flaw


CHARACTER = Level(
    "character",
    60,
    _character_prompt,
    lambda plan, i: forms.character(plan.characters[i].name),
    _character_parse,
    _character_fallback,
)


def _beat_prompt(plan: Plan, i: int, example: str) -> str:
    structure = check_structure(plan.structure)
    beat = structure[i]
    so_far = "\n".join(f"{k + 1}. {b}" for k, b in enumerate(plan.beats)) or "(nothing yet)"
    return (
        f"Premise: {plan.premise}\nLogline: {plan.logline}\nCharacters:\n{_cast(plan)}\n"
        f"The story so far, one beat a line:\n{so_far}\n"
        f"Beat {i + 1} of {len(structure)}, the {beat.name}: "
        f"{beat.prompt.format(hero=plan.hero)}. Write it as one sentence in the past tense "
        f"that starts with '{plan.hero}' and tells something new, not a beat above again."
    )


def _beat_parse(answer: str, plan: Plan, i: int) -> str | None:
    sentence = parse_sentence(answer)
    if sentence is None or any(alike(sentence, earlier) for earlier in plan.beats):
        return None  # a small model copies the beat before from its prompt
    return sentence


BEAT = Level(
    "beat",
    64,
    _beat_prompt,
    lambda plan, i: forms.sentence_starting(plan.hero),
    _beat_parse,
    lambda plan, i, answer: check_structure(plan.structure)[i].fallback.format(hero=plan.hero),
)


def _stock_place(plan: Plan, i: int, salt: str) -> str:
    """A place from the shipped ``places`` grammar, drawn by the plan's seed and ``salt``."""
    return load_grammar("places").expand("#site.a# #setting#", seed=level_seed(plan.seed, salt, i))


def _place_prompt(plan: Plan, i: int, example: str) -> str:
    ask = f"Story: {plan.logline}\nScene: {plan.beats[i]}\nWhere does this scene take place? "
    if example:  # a tiny model answers with the instructions themselves without one
        return f"{ask}Answer with a short place only, like: {example}"
    # a stronger model copies an example (for a story about clocks, "a candlelit clock
    # tower across an archipelago of tiny islands"), so it is shown none
    return f"{ask}Answer with a short place only: a few words that start with a, an or the."


def _place_parse(answer: str, plan: Plan, i: int) -> str | None:
    place = parse_place(answer)
    if place is not None and plan.scenes and place.lower() == plan.scenes[-1].place.lower():
        return None  # two scenes running on in one place are one scene
    return place


PLACE = Level(
    "place",
    20,
    _place_prompt,
    lambda plan, i: forms.PLACE,
    _place_parse,
    lambda plan, i, answer: _stock_place(plan, i, "place"),
    lambda plan, i: _stock_place(plan, i, "ex"),
)

LEVELS = (LOGLINE, TITLE, CHARACTER, BEAT, PLACE)


# --- the whole plan ----------------------------------------------------------------------


def cast_names(plan: Plan, n: int) -> list[Character]:
    """``n`` characters in the roles of ``ROLES`` (protagonist first), with names, pronouns
    and (for the protagonist) a description: the premise's where it gives them, else a name
    from the ``names`` grammar and a seeded pronoun. Wants and flaws are still empty."""
    if not 1 <= n <= len(ROLES):
        raise UserError(f"a plan has 1 to {len(ROLES)} characters, not {n}")
    names = load_grammar("names")
    cast: list[Character] = []
    for i, role in enumerate(ROLES[:n]):
        name = premise_name(plan.premise) if i == 0 else None
        for attempt in range(100):
            if name and name not in {c.name for c in cast}:
                break
            seed = level_seed(plan.seed, "name", i, attempt)
            name = names.expand("#given# #family#", seed=seed)
        pronoun = premise_pronoun(plan.premise) if i == 0 else None
        pronoun = pronoun or ("she", "he")[level_seed(plan.seed, "pronoun", i) % 2]
        description = premise_description(plan.premise) if i == 0 else ""
        cast.append(Character(str(name), role, "", "", pronoun, description))
    return cast


def write_logline(model: LanguageModel, plan: Plan, profile: SmallModel | None = ON) -> str:
    """The plan's logline, from the model (or the premise)."""
    plan.logline = ask(model, plan, LOGLINE, 0, profile)
    return plan.logline


def write_title(model: LanguageModel, plan: Plan, profile: SmallModel | None = ON) -> str:
    """The plan's title, from the model (or the premise's first words)."""
    plan.title = ask(model, plan, TITLE, 0, profile)
    return plan.title


def write_characters(
    model: LanguageModel, plan: Plan, n: int = 3, profile: SmallModel | None = ON
) -> list[Character]:
    """``n`` characters (see ``cast_names``), each one's want and flaw from the model."""
    plan.characters = cast_names(plan, n)
    for i, character in enumerate(plan.characters):
        character.want, character.flaw = ask(model, plan, CHARACTER, i, profile)
    return plan.characters


def write_beats(model: LanguageModel, plan: Plan, profile: SmallModel | None = ON) -> list[str]:
    """One sentence per beat of the plan's structure, each with the beats before it."""
    plan.beats = []
    for i in range(len(check_structure(plan.structure))):
        plan.beats.append(ask(model, plan, BEAT, i, profile))
    return plan.beats


def scene_cast(plan: Plan, i: int, beat: str) -> list[str]:
    """The protagonist, whoever the beat names, and at least one other character."""
    names = [plan.hero] + [c.name for c in plan.characters[1:] if mentions(beat, c.name)]
    others = [c.name for c in plan.characters[1:]]
    if len(names) == 1 and others:
        names.append(others[i % len(others)])
    return names[:3]


def write_scenes(model: LanguageModel, plan: Plan, profile: SmallModel | None = ON) -> list[Scene]:
    """A scene per beat: a place asked of the model (not the scene before's), and the
    characters it needs."""
    plan.scenes = []
    for i, beat in enumerate(plan.beats):
        place = ask(model, plan, PLACE, i, profile)
        plan.scenes.append(Scene(place, beat, scene_cast(plan, i, beat)))
    return plan.scenes


def plan_story(
    model: LanguageModel,
    premise: str,
    structure: str = "three-acts",
    seed: int = 0,
    n_characters: int = 3,
    on_progress: Progress | None = None,
    profile: SmallModel | None = ON,
) -> Plan:
    """A complete plan (no prose yet): the cast's names, logline, title, the characters'
    wants and flaws, beats and scenes."""
    plan = Plan(check_premise(premise), structure, seed, model=model.name)
    check_structure(structure)
    say = on_progress or (lambda _message: None)
    plan.characters = cast_names(plan, n_characters)
    steps: list[tuple[str, Callable[[], object]]] = [
        ("logline", lambda: write_logline(model, plan, profile)),
        ("title", lambda: write_title(model, plan, profile)),
        ("characters", lambda: write_characters(model, plan, n_characters, profile)),
        ("beats", lambda: write_beats(model, plan, profile)),
        ("scenes", lambda: write_scenes(model, plan, profile)),
    ]
    for name, step in steps:
        say(f"planning: {name}")
        step()
    return plan
