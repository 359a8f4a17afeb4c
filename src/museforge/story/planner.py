"""A hierarchical story planner: premise -> logline -> title -> characters -> beats ->
scenes -> prose, each level asked of a language model with the levels above it in the
prompt.

After Mirowski et al. 2023, "Co-Writing Screenplays and Theatre Scripts with Language
Models" (Dramatron): the model writes a story top-down, level by level, and every prose
prompt carries a story bible (premise, logline, characters, facts settled so far), so a
small model keeps its people and places straight.

The shipped model is tiny, so each prompt asks for one short thing in a fixed form. Where
the runtime can constrain sampling (llama.cpp, its server, ``story serve``), a GBNF grammar
holds the answer to that form: a character is "NAME wants to ..., but is too ...", and a
beat starts with the protagonist's name. Where it can continue a begun answer, a scene's
prose starts with one of its characters' names, and of a scene's samples the one that
names all of them is kept. Every answer is still parsed and checked (other runtimes ignore
grammars); an unusable one is asked again with the next seed, a little hotter, and after
``PLAN_TRIES`` falls back to the shipped Tracery grammars (places) or to the structure's
own words. Names come from the ``names`` grammar (seeded, so the person can ask for
others), unless the premise names the protagonist; the model writes what each character
wants and their flaw. Every fallback is written to
``Plan.notes``: a plan is always complete, and it says which parts the model did not write.
Each call has its own seed, derived from (seed, level, index), so the same seed gives the
same plan and story.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from museforge.core.store import Store
from museforge.errors import UserError
from museforge.story.grammar import load_grammar
from museforge.story.llm import MAX_NEW_TOKENS, MAX_SEED, LanguageModel, read_all
from museforge.story.metrics import repeated_ngram_share
from museforge.story.sampling import PROSE_PENALTIES

MAX_PREMISE_CHARS = 2000  # a long paragraph; the bible must still leave room for prose
PLAN_TEMPERATURE = 0.7  # planning answers: varied, but in the asked form
PROSE_TEMPERATURE = 0.8  # prose: a little looser than the plan
TRIES = 3  # samples per scene; the one that repeats least and names its cast is kept
PLAN_TRIES = 3  # seeds per plan answer before it falls back
RETRY_HEAT = 0.25  # each retry samples this much hotter: a peaked answer repeats otherwise
MAX_REP4 = 0.05  # a draft may repeat this share of its word 4-grams from the story so far
MIN_REPEAT_WORDS = 4  # "Yes." or "I know." may recur in dialogue; longer sentences may not
SHORT_REPEATS = 2  # ... twice in a story; a third "He smiled." is a tic
TOKENS_PER_WORD = 1.5  # English prose with SmolLM2's tokenizer, with room to finish
MAX_SCENE_TOKENS = 1024  # one call's prose; a longer story continues a scene instead
CONTINUE_PASSES = 2  # passes over the scenes to reach the word target, then stop
INTRODUCE_TOKENS = 120  # a paragraph for a character a scene's draft left out

ROLES = ("protagonist", "antagonist", "ally", "mentor", "rival", "stranger")
EXAMPLE_CHARACTER = "Mara Quillby wants to find her lost brother, but is too proud to ask for help."
FALLBACK_WANTS = {
    "protagonist": "to understand what has come into their life",
    "antagonist": "to take what the protagonist has found",
    "ally": "to keep the protagonist safe",
    "mentor": "to pass on what they know before it is too late",
    "rival": "to be proven right",
    "stranger": "to find the way home",
}
FALLBACK_FLAWS = ("stubborn", "too trusting", "afraid of change", "quick to anger", "secretive")
TITLES = {"captain", "doctor", "professor", "old", "mayor", "judge", "reverend", "mr", "mrs", "ms"}
# words a small model puts where a name should be ("The Riddle", "Your Answer")
NOT_NAMES = {
    "the",
    "a",
    "an",
    "that",
    "this",
    "your",
    "my",
    "his",
    "her",
    "their",
    "our",
    "its",
    "what",
    "when",
    "who",
    "why",
    "how",
    "to",
    "in",
    "of",
    "and",
    "he",
    "she",
    "they",
    "it",
    "name",
    "surname",
    "protagonist",
    "antagonist",
    "ally",
    "mentor",
    "rival",
    "stranger",
    "keeper",
}
ARTICLES = {"a", "an", "the", "your", "my", "his", "her", "their", "its", "our"}


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
        Beat("resolution", "show how the world has changed", "{hero} lives with what was chosen."),
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

Progress = Callable[[str], None]


@dataclass
class Character:
    name: str
    role: str
    want: str
    flaw: str


@dataclass
class Scene:
    place: str
    beat: str
    characters: list[str]
    prose: str = ""


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
    notes: list[str] = field(default_factory=list)  # what fell back or was repaired, and why

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


# --- seeds, prompts and parsing --------------------------------------------------------


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


# --- grammars: the form of an answer, for runtimes that constrain sampling -----------------

_GBNF_WORDS = r"""
word ::= [A-Za-z'-]+ ","?
plain ::= [a-z']+
bare ::= [A-Za-z'-]+
cap ::= [A-Z] [a-z']*
"""
# No word or length limits: a model held at a limit glues its next words into one
# ("ofblackglass"), and counted repetitions make llama.cpp's grammar sampling slow.
# max_tokens bounds an answer; the parsers refuse one that is too long.
LOGLINE_GRAMMAR = r'root ::= cap ","? (" " word)+ "."' + _GBNF_WORDS
TITLE_GRAMMAR = r'root ::= cap (" " cap)*' + _GBNF_WORDS
PLACE_GRAMMAR = r'root ::= ("a" | "an" | "the") (" " bare)+' + _GBNF_WORDS


def gbnf_literal(text: str) -> str:
    """``text`` as a GBNF string literal."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def character_grammar(name: str) -> str:
    """'NAME wants to ..., but is too ....'."""
    return (
        f'root ::= {gbnf_literal(name)} " wants to " plain (" " plain)+ ", but is too " '
        f'plain (" " plain)* "."' + _GBNF_WORDS
    )


def beat_grammar(hero: str) -> str:
    """One sentence that starts with the protagonist's name."""
    return f'root ::= {gbnf_literal(hero)} " " plain (" " word)+ "."' + _GBNF_WORDS


_SENTENCE_END = re.compile(r"(?<=[.!?])[\"'”’)]*\s+")
# "The scene takes place in a fish market": the place is what follows
_TAKES_PLACE = re.compile(r"^(?:the|this)\s+(?:scene|story)\s+(?:takes\s+place|is\s+set)\s+", re.I)
_OPENINGS = {"a", "an", "the", "when", "after", "before", "in", "on", "one", "then", "but"}
_DANGLING = {"the", "a", "an", "of", "and", "or", "to", "in", "at", "on", "with", "for"}


def sentences(text: str) -> list[str]:
    """``text`` split after ., ! and ? (closing quotes stay with their sentence)."""
    return [s.strip() for s in _SENTENCE_END.split(text.strip()) if s.strip()]


def _clean_line(text: str) -> str:
    """The first non-empty line of an answer, without a list mark, a ``Label:`` or quotes."""
    line = next((x for x in text.strip().splitlines() if x.strip()), "")
    line = line.replace("*", "").strip()
    line = re.sub(r"^\s*(?:[-#>]+|\d+[.)])\s*", "", line)
    if re.match(r"^[A-Za-z ]{1,20}:\s", line):
        line = line.split(":", 1)[1]
    return line.strip().strip("\"'“”‘’").strip()


def parse_sentence(text: str, *, min_words: int = 4, max_words: int = 45) -> str | None:
    """The first whole sentence of an answer, or None if there is none worth keeping."""
    line = _clean_line(text)
    first = sentences(line)[0] if line else ""
    if first and first[-1] not in ".!?\"'”’":
        return None  # cut off by max_tokens
    if not min_words <= len(first.split()) <= max_words:
        return None
    return first


def _is_meta(text: str) -> bool:
    """Whether an answer talks about the story instead of telling it."""
    return bool(
        re.search(r"\b(story|scene|sentence|protagonist|antagonist|characters?)\b", text, re.I)
    )


def parse_title(text: str) -> str | None:
    """A short title (1 to 8 words) from an answer, or None."""
    title = _clean_line(text).rstrip(".")
    words = title.split()
    if not 1 <= len(words) <= 8 or not any(c.isalpha() for c in title):
        return None
    return title


def _is_name(text: str) -> bool:
    words = text.split()
    return (
        1 <= len(words) <= 4
        and all(re.fullmatch(r"[A-Z][A-Za-z'.-]*", w) for w in words)
        and words[0].lower() not in NOT_NAMES
        and words[-1].lower() not in NOT_NAMES
    )


def _is_phrase(text: str, lead: str) -> bool:
    """A phrase of 2 to 20 words that starts with ``lead`` ("to", "too") and then not with
    an article ("to a villain" is a noun where a verb should be), and not about the story."""
    words = text.lower().split()
    return (
        2 <= len(words) <= 20
        and words[0] == lead
        and words[1] not in ARTICLES | {lead}
        and words[-1] not in _DANGLING
        and not words[-1].endswith("'s")  # "too afraid of his family's": cut off
        and not _is_meta(text)
    )


_WANTS = re.compile(
    r"^(?P<name>[A-Z][\w'.-]*(?: [A-Z][\w'.-]*){0,3}?) wants? (?P<want>to [^,.;]+?)"
    r"(?:,? but (?:(?:he|she|they) )?(?:is|are) (?P<flaw>too [^.;]+?))?[.;]?$"
)


def parse_character(text: str) -> tuple[str | None, str | None, str | None]:
    """(name, want, flaw) from a "Name wants to ..., but is too ..." answer; None for each
    unusable part. The example in the prompt counts as unusable: the model copied it."""
    match = _WANTS.match(_clean_line(text))
    if not match:
        return None, None, None
    name, want, flaw = match.group("name"), match.group("want"), match.group("flaw") or ""
    name = name.removesuffix("'s")  # "Silas Fenby's wants to": a small model's slip
    example = _WANTS.match(EXAMPLE_CHARACTER)
    assert example is not None
    return (
        name if _is_name(name) and name != example.group("name") else None,
        want if _is_phrase(want, "to") and want != example.group("want") else None,
        flaw if _is_phrase(flaw, "too") and flaw != example.group("flaw") else None,
    )


def parse_place(text: str) -> str | None:
    """A short place (2 to 16 words, no sentence of its own) from an answer, or None."""
    place = _TAKES_PLACE.sub("", _clean_line(text).rstrip("."))
    words = place.split()
    if not 2 <= len(words) <= 16 or any(c in place for c in "|:;!?,."):
        return None
    if _is_meta(place) or words[-1].lower() in _DANGLING:
        return None  # about the story, or cut off mid-phrase
    if words[0].lower() in ("a", "an", "the", "in", "at", "on", "inside", "beneath", "under"):
        place = place[0].lower() + place[1:]
    if words[0].lower() in ("in", "at", "on", "inside"):
        place = place.split(" ", 1)[1]
    return place


def _ask(
    model: LanguageModel, prompt: str, seed: int, max_tokens: int, attempt: int = 0, **kw: Any
) -> tuple[str, bool]:
    """(the model's answer, whether max_tokens cut it short)."""
    system = "You plan short stories. Answer with exactly what is asked, in the form asked."
    messages = [{"role": "system", "content": system}, {"role": "user", "content": prompt}]
    heat = PLAN_TEMPERATURE + RETRY_HEAT * attempt
    stream = model.stream(messages, max_tokens=max_tokens, temperature=heat, seed=seed, **kw)
    answer, reason = read_all(stream)
    return answer, reason == "length"


def _ask_until(
    model: LanguageModel,
    plan: Plan,
    level: str,
    index: int,
    prompt: str,
    max_tokens: int,
    accept: Callable[[str], Any],
    **kw: Any,
) -> tuple[Any, str]:
    """(the first answer ``accept`` takes, as it returns it, and that answer) over up to
    PLAN_TRIES seeds; (None, the last answer) if it takes none."""
    answer = ""
    for attempt in range(PLAN_TRIES):
        seed = level_seed(plan.seed, level, index, attempt)
        answer, cut = _ask(model, prompt, seed, max_tokens, attempt, **kw)
        value = None if cut else accept(answer)  # a title cut off at "A Un" is no title
        if value is not None:
            return value, answer
    return None, answer


def _cast(plan: Plan) -> str:
    return "; ".join(f"{c.name} ({c.role})" for c in plan.characters)


# --- the levels --------------------------------------------------------------------------


def write_logline(model: LanguageModel, plan: Plan) -> str:
    prompt = f"Write a one-sentence logline for a story about this: {plan.premise}"

    def accept(answer: str) -> str | None:
        sentence = parse_sentence(answer, min_words=6)
        return None if sentence is None or _is_meta(sentence) else sentence

    logline, answer = _ask_until(
        model, plan, "logline", 0, prompt, 96, accept, stop="\n", grammar=LOGLINE_GRAMMAR
    )
    if logline is None:
        logline = plan.premise if plan.premise[-1] in ".!?" else f"{plan.premise}."
        plan.notes.append(f"logline: the premise itself (the model gave {answer[:60]!r})")
    plan.logline = logline
    return logline


def write_title(model: LanguageModel, plan: Plan) -> str:
    prompt = f"Story: {plan.logline}\nWrite a short title for this story. Only the title."

    def accept(answer: str) -> str | None:
        title = parse_title(answer)
        return None if title is None or title.split()[-1].lower() in _DANGLING else title

    title, answer = _ask_until(
        model, plan, "title", 0, prompt, 16, accept, stop="\n", grammar=TITLE_GRAMMAR
    )
    if title is None:
        title = " ".join(plan.premise.rstrip(".").split()[:6]).title()
        plan.notes.append(f"title: from the premise (the model gave {answer[:60]!r})")
    plan.title = title
    return title


def premise_name(premise: str) -> str | None:
    """The protagonist's name if the premise gives one: after "named", or a capitalised word
    it uses twice that is not a common sentence opening ("Ilse ... then Ilse must ...")."""
    named = re.search(r"\bnamed ([A-Z][a-z'-]+(?: [A-Z][a-z'-]+)?)", premise)
    if named:
        return named.group(1)
    words = re.findall(r"\b[A-Z][a-z'-]+\b", premise)
    repeated = [w for w in words if words.count(w) > 1 and w.lower() not in _OPENINGS]
    return repeated[0] if repeated else None


def _grammar_name(plan: Plan, index: int, taken: set[str]) -> str:
    names = load_grammar("names")
    for attempt in range(100):
        name = names.expand("#given# #family#", seed=level_seed(plan.seed, "name", index, attempt))
        if name not in taken:
            return name
    return f"Stranger {index + 1}"


def write_characters(model: LanguageModel, plan: Plan, n: int = 3) -> list[Character]:
    """``n`` characters, one call each, in the roles of ``ROLES`` (protagonist first): a
    name from the ``names`` grammar (or the premise's), what they want and their flaw from
    the model."""
    if not 1 <= n <= len(ROLES):
        raise UserError(f"a plan has 1 to {len(ROLES)} characters, not {n}")
    plan.characters = []
    for i, role in enumerate(ROLES[:n]):
        given = premise_name(plan.premise) if i == 0 else None  # the person's name stands
        name = given or _grammar_name(plan, i, {c.name for c in plan.characters})
        prompt = (
            f"Story: {plan.logline}\n{name} is the {role} of this story. Say what {name} "
            f"wants and {name}'s flaw, in one line in the form\n"
            f"{name} wants to ..., but is too ...."
        )
        if not model.follows_grammar:  # a model held to the form needs no example to copy
            prompt += f"\nFor example:\n{EXAMPLE_CHARACTER}"

        def accept(answer: str) -> tuple[str, str] | None:
            _, want, flaw = parse_character(answer)
            return (want, flaw) if want and flaw else None

        found, answer = _ask_until(
            model, plan, "character", i, prompt, 60, accept, stop="\n",
            grammar=character_grammar(name),
        )  # fmt: skip
        if found is None:
            _, want, flaw = parse_character(answer)  # the last answer's usable parts
            fell_back = [f"a stock {what}" for what, x in (("want", want), ("flaw", flaw)) if not x]
            plan.notes.append(
                f"character {i + 1} ({role}): {', '.join(fell_back)} "
                f"(the model gave {answer.strip()[:60]!r})"
            )
            want = want or FALLBACK_WANTS[role]
            flaw = flaw or FALLBACK_FLAWS[level_seed(plan.seed, "flaw", i) % len(FALLBACK_FLAWS)]
            found = (want, flaw)
        plan.characters.append(Character(name, role, *found))
    return plan.characters


def _alike(a: str, b: str, share: float = 0.6) -> bool:
    """Whether two sentences share ``share`` or more of their words (a copy with a word or
    two changed: "stood" for "stands")."""
    x, y = set(_words(a)), set(_words(b))
    return bool(x | y) and len(x & y) / len(x | y) >= share


def write_beats(model: LanguageModel, plan: Plan) -> list[str]:
    """One sentence per beat of the plan's structure, each with the beats before it."""
    plan.beats = []
    for i, beat in enumerate(check_structure(plan.structure)):
        so_far = " ".join(plan.beats) or "(nothing yet)"
        prompt = (
            f"{plan.logline}\nCharacters: {_cast(plan)}\nSo far: {so_far}\n"
            f"What happens next ({beat.prompt.format(hero=plan.hero)})? Write one sentence "
            f"in the past tense that starts with '{plan.hero}'."
        )

        def accept(answer: str) -> str | None:
            sentence = parse_sentence(answer)
            if sentence is None or _is_meta(sentence):
                return None
            if any(_alike(sentence, earlier) for earlier in plan.beats):
                return None  # a small model copies the beat before from its prompt
            return sentence

        sentence, answer = _ask_until(
            model, plan, "beat", i, prompt, 64, accept, stop="\n", grammar=beat_grammar(plan.hero)
        )
        if sentence is None:
            sentence = beat.fallback.format(hero=plan.hero)
            plan.notes.append(
                f"beat {i + 1} ({beat.name}): stock beat (the model gave {answer[:60]!r})"
            )
        plan.beats.append(sentence)
    return plan.beats


def _scene_cast(plan: Plan, i: int, beat: str) -> list[str]:
    """The protagonist, whoever the beat names, and at least one other character."""
    names = [plan.hero] + [c.name for c in plan.characters[1:] if _mentions(beat, c.name)]
    others = [c.name for c in plan.characters[1:]]
    if len(names) == 1 and others:
        names.append(others[i % len(others)])
    return names[:3]


def write_scenes(model: LanguageModel, plan: Plan) -> list[Scene]:
    """A scene per beat: a place asked of the model (one no other scene has), and the
    characters it needs."""
    plan.scenes = []
    places = load_grammar("places")
    for i, beat in enumerate(plan.beats):
        example = places.expand("#site.a# #setting#", seed=level_seed(plan.seed, "example", i))
        prompt = (
            f"Story: {plan.logline}\nScene: {beat}\nWhere does this scene take place? "
            f"Answer with a short place only, like: {example}"
        )
        used = {s.place for s in plan.scenes} | {example}

        def accept(answer: str, used: set[str] = used, example: str = example) -> str | None:
            place = parse_place(answer)
            return None if place in used or (place or "").startswith(example) else place

        place, answer = _ask_until(
            model, plan, "place", i, prompt, 20, accept, stop="\n", grammar=PLACE_GRAMMAR
        )
        if place is None:
            place = places.expand("#site.a# #setting#", seed=level_seed(plan.seed, "place", i))
            plan.notes.append(
                f"scene {i + 1}: place from the places grammar (the model gave {answer[:60]!r})"
            )
        plan.scenes.append(Scene(place, beat, _scene_cast(plan, i, beat)))
    return plan.scenes


def plan_story(
    model: LanguageModel,
    premise: str,
    structure: str = "three-acts",
    seed: int = 0,
    n_characters: int = 3,
    on_progress: Progress | None = None,
) -> Plan:
    """A complete plan (no prose yet): logline, title, characters, beats and scenes."""
    plan = Plan(check_premise(premise), structure, seed, model=model.name)
    check_structure(structure)
    say = on_progress or (lambda _message: None)
    steps: list[tuple[str, Callable[[], object]]] = [
        ("logline", lambda: write_logline(model, plan)),
        ("title", lambda: write_title(model, plan)),
        ("characters", lambda: write_characters(model, plan, n_characters)),
        ("beats", lambda: write_beats(model, plan)),
        ("scenes", lambda: write_scenes(model, plan)),
    ]
    for name, step in steps:
        say(f"planning: {name}")
        step()
    return plan


# --- prose -------------------------------------------------------------------------------


def _name_parts(name: str) -> list[str]:
    """The words of ``name`` that name the character alone: not a title such as "Captain"
    or an initial."""
    return [w for w in name.replace(".", " ").split() if w.lower() not in TITLES and len(w) > 1]


def _mentions(text: str, name: str) -> bool:
    """Whether ``text`` names the character: the full name, or one of its words."""
    return any(re.search(rf"\b{re.escape(p)}\b", text) for p in [name, *_name_parts(name)])


def bible(plan: Plan, i: int) -> str:
    """What the prose of scene ``i`` must keep to: premise, logline, characters, and the
    facts settled by the scenes before it."""
    people = "\n".join(
        f"- {c.name}, the {c.role}: wants {c.want}; flaw: {c.flaw}." for c in plan.characters
    )
    settled = "\n".join(
        f"- Scene {j + 1}, at {s.place}: {s.beat}" for j, s in enumerate(plan.scenes[:i])
    )
    return (
        f"Story bible for '{plan.title}'.\nPremise: {plan.premise}\nLogline: {plan.logline}\n"
        f"Characters:\n{people}\nSettled so far:\n{settled or '- nothing yet'}"
    )


def _and(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def prose_opening(plan: Plan, i: int) -> str:
    """The words scene ``i``'s prose starts with: one of its characters (in turn, scene by
    scene), every other scene at its place ("At the harbour wall, Mara Quillby")."""
    scene = plan.scenes[i]
    if not scene.characters:
        return ""
    name = scene.characters[i % len(scene.characters)]
    return f"At {scene.place}, {name}" if i % 2 else name


def _prose_messages(
    plan: Plan, i: int, max_tokens: int, continue_from: str = ""
) -> list[dict[str, str]]:
    """The chat that asks for scene ``i``'s prose (or, with ``continue_from``, for more of
    a scene that already has that text)."""
    scene = plan.scenes[i]
    words = int(max_tokens / TOKENS_PER_WORD)
    cast = f"Characters in this scene: {_and(scene.characters)}; name each of them."
    if continue_from:
        tail = " ".join(sentences(continue_from)[-2:])
        ask = (
            f"Continue scene {i + 1} at {scene.place}: {scene.beat}\n{cast}\n"
            f"The scene so far ends: {tail}\nWrite the next {words} words. Say something new."
        )
    else:
        before = " ".join(sentences(plan.scenes[i - 1].prose)[-2:]) if i else ""
        ask = (
            f"Write scene {i + 1} of {len(plan.scenes)}: {scene.beat}\nPlace: {scene.place}.\n"
            f"{cast}\nWrite about {words} words of prose in the past tense."
        )
        if before:
            ask += f"\nThe story so far ends: {before}"
    return [
        {"role": "system", "content": f"You are a novelist.\n{bible(plan, i)}"},
        {"role": "user", "content": ask},
    ]


def write_prose(
    model: LanguageModel,
    plan: Plan,
    i: int,
    *,
    attempt: int = 0,
    max_tokens: int = 300,
    continue_from: str = "",
) -> Iterator[str]:
    """Scene ``i``'s prose, streamed piece by piece; ``continue_from`` asks for more of a
    scene that already has that text."""
    messages = _prose_messages(plan, i, max_tokens, continue_from)
    seed = level_seed(plan.seed, "continue" if continue_from else "prose", i, attempt)
    opening = "" if continue_from else prose_opening(plan, i)
    if opening and model.continues_answer:  # the model goes on from the opening words
        messages.append({"role": "assistant", "content": opening})
        yield opening
    yield from model.stream(
        messages,
        max_tokens=max_tokens,
        temperature=PROSE_TEMPERATURE,
        seed=seed,
        penalties=PROSE_PENALTIES,
    )


def _words(text: str) -> list[str]:
    """``text``'s words, lower-cased, without punctuation: how sentences are compared."""
    return re.findall(r"[\w']+", text.lower())


def _key(sentence: str) -> str | None:
    words = _words(sentence)
    return " ".join(words) if len(words) >= MIN_REPEAT_WORDS else None


def _repeats(sentence: str, told: Counter[str]) -> bool:
    """Whether ``sentence`` repeats what ``told`` counts (a sentence of MIN_REPEAT_WORDS
    words or more once, a shorter one SHORT_REPEATS times); if not, it is counted."""
    words = _words(sentence)
    if not words:
        return False
    key = " ".join(words)
    if told[key] >= (1 if len(words) >= MIN_REPEAT_WORDS else SHORT_REPEATS):
        return True
    told[key] += 1
    return False


def _told(text: str) -> Counter[str]:
    told: Counter[str] = Counter()
    for sentence in sentences(text):
        _repeats(sentence, told)
    return told


def repeated_sentences(text: str, earlier: str = "") -> list[str]:
    """The sentences of ``text`` that appeared verbatim in ``earlier`` or earlier in
    ``text`` itself: a copy, or a loop ("He smiled." may come twice, not a third time)."""
    told = _told(earlier)
    return [sentence for sentence in sentences(text) if _repeats(sentence, told)]


def _whole_sentences(text: str) -> str:
    """``text`` up to its last finished sentence (max_tokens may cut the last one)."""
    text = text.strip()
    ends = [m.end() for m in re.finditer(r"[.!?][\"'”’)]*(?=\s|$)", text)]
    return text[: ends[-1]] if ends else text


def _draw(pieces: Iterable[str], on_piece: Callable[[str], None] | None) -> str:
    """Streamed prose, each piece passed on as it comes, kept up to its last whole sentence."""
    kept = []
    for piece in pieces:
        kept.append(piece)
        if on_piece:
            on_piece(piece)
    return _whole_sentences("".join(kept))


def _sample(
    model: LanguageModel,
    plan: Plan,
    i: int,
    earlier: str,
    max_tokens: int,
    continue_from: str = "",
    tries: int = TRIES,
    on_piece: Callable[[str], None] | None = None,
) -> str:
    """Up to ``tries`` samples of new prose for scene ``i``: the first that names every
    character of the scene (a first draft; a continuation need not) and repeats little of
    the story so far (rep-4 at most ``MAX_REP4``), else the one with the fewest such faults."""
    cast = [] if continue_from else plan.scenes[i].characters
    best, best_faults = "", math.inf
    for attempt in range(max(tries, 1)):
        text = _draw(
            write_prose(
                model, plan, i, attempt=attempt, max_tokens=max_tokens, continue_from=continue_from
            ),
            on_piece,
        )
        rep = repeated_ngram_share(text, 4, earlier)
        missing = sum(not _mentions(text, name) for name in cast)
        faults = missing + rep / MAX_REP4  # a missing name weighs as much as rep-4 at the limit
        if faults < best_faults:
            best, best_faults = text, faults
        if missing == 0 and rep <= MAX_REP4:
            break
    if attempt:
        what = "continuation" if continue_from else "prose"
        plan.notes.append(
            f"scene {i + 1}: {what} sampled {attempt + 1} times for repetition "
            "or characters it did not name"
        )
    return best


def _introduce(
    model: LanguageModel,
    plan: Plan,
    i: int,
    name: str,
    earlier: str,
    on_piece: Callable[[str], None] | None = None,
) -> None:
    """Go on with scene ``i``'s prose in a paragraph that starts with ``name``, a character
    it has left out: the model writes the rest of the paragraph."""
    scene = plan.scenes[i]
    messages = _prose_messages(plan, i, INTRODUCE_TOKENS)
    messages.append({"role": "assistant", "content": f"{scene.prose}\n\n{name}".strip()})
    seed = level_seed(plan.seed, "introduce", i, scene.characters.index(name))
    stream = model.stream(
        messages,
        max_tokens=INTRODUCE_TOKENS,
        temperature=PROSE_TEMPERATURE,
        seed=seed,
        penalties=PROSE_PENALTIES,
    )
    text = _draw(itertools.chain([f"\n\n{name}"], stream), on_piece)
    if _mentions(text, name):
        scene.prose = f"{scene.prose}\n\n{text}".strip()
        plan.notes.append(f"scene {i + 1}: a paragraph opened with {name}'s name")


def _ground(plan: Plan, i: int) -> None:
    """Prepend a sentence naming the scene's characters that its prose left out."""
    scene = plan.scenes[i]
    missing = [name for name in scene.characters if not _mentions(scene.prose, name)]
    if missing:
        verb = "was" if len(missing) == 1 else "were"
        told = {_key(x) for x in sentences(plan.text())}
        forms = (f"at {scene.place}", f"back at {scene.place}", f"at {scene.place} once more")
        lines = [f"{_and(missing)} {verb} {where}." for where in forms]
        line = next((x for x in lines if _key(x) not in told), lines[-1])  # the first untold
        scene.prose = f"{line[0].upper()}{line[1:]}\n\n{scene.prose}".strip()
        plan.notes.append(f"scene {i + 1}: added a sentence naming {_and(missing)}")


def write_scene(
    model: LanguageModel,
    plan: Plan,
    i: int,
    *,
    max_tokens: int = 300,
    tries: int = TRIES,
    on_piece: Callable[[str], None] | None = None,
) -> str:
    """Scene ``i``'s prose, with no sentence repeated from the story so far or within it,
    naming every character the plan gives the scene."""
    earlier = "\n\n".join(s.prose for s in plan.scenes[:i] if s.prose)
    text = _sample(model, plan, i, earlier, max_tokens, tries=tries, on_piece=on_piece)
    plan.scenes[i].prose = text
    if model.continues_answer:
        for name in [n for n in plan.scenes[i].characters if not _mentions(text, n)]:
            _introduce(model, plan, i, name, earlier, on_piece)
    _ground(plan, i)
    return plan.scenes[i].prose


def continue_scene(
    model: LanguageModel,
    plan: Plan,
    i: int,
    *,
    max_tokens: int = 300,
    tries: int = TRIES,
    on_piece: Callable[[str], None] | None = None,
) -> str:
    """More prose for scene ``i``, appended to it, with no sentence the story already has."""
    scene = plan.scenes[i]
    earlier = plan.text()
    more = _sample(model, plan, i, earlier, max_tokens, scene.prose, tries, on_piece)
    if more:
        scene.prose = f"{scene.prose}\n\n{more}".strip()
    return scene.prose


def scene_tokens(words: int, n_scenes: int) -> int:
    """max_tokens for each scene's first draft, so that the scenes together reach ``words``."""
    per_scene = math.ceil(words / max(n_scenes, 1) * TOKENS_PER_WORD)
    return max(64, min(per_scene, MAX_SCENE_TOKENS, MAX_NEW_TOKENS))


def write_story(
    model: LanguageModel,
    plan: Plan,
    words: int = 800,
    *,
    tries: int = TRIES,
    on_progress: Progress | None = None,
    on_piece: Callable[[str], None] | None = None,
) -> Plan:
    """Prose for every scene, then continuations, scene by scene, until the story has
    ``words`` words (at most ``CONTINUE_PASSES`` passes)."""
    if words < 1:
        raise UserError(f"words must be at least 1, not {words}")
    say = on_progress or (lambda _message: None)
    n = len(plan.scenes)
    max_tokens = scene_tokens(words, n)
    for i in range(n):
        say(f"scene {i + 1}/{n}")
        write_scene(model, plan, i, max_tokens=max_tokens, tries=tries, on_piece=on_piece)
    for _ in range(CONTINUE_PASSES):
        for i in range(n):
            short = words - plan.word_count()
            if short <= 0:
                return plan
            say(f"scene {i + 1}/{n}: continuing ({plan.word_count()}/{words} words)")
            tokens = scene_tokens(short, n - i)
            continue_scene(model, plan, i, max_tokens=tokens, tries=tries, on_piece=on_piece)
    return plan


# --- Markdown ----------------------------------------------------------------------------


def _heading(plan: Plan, i: int) -> str:
    beats = STRUCTURES.get(plan.structure, ())
    name = beats[i].name if i < len(beats) else f"scene {i + 1}"
    place = plan.scenes[i].place
    return f"## {i + 1}. {name.capitalize()}: {place[0].upper()}{place[1:]}"


def _front(plan: Plan) -> list[str]:
    lines = [f"# {plan.title or 'Untitled'}", "", f"*{plan.logline}*", "", "## Characters", ""]
    lines += [
        f"- **{c.name}**, the {c.role}: wants {c.want}; flaw: {c.flaw}." for c in plan.characters
    ]
    return lines


def plan_markdown(plan: Plan) -> str:
    """The plan as Markdown: premise, characters, beats, scenes and notes."""
    lines = _front(plan) + ["", f"Premise: {plan.premise}", ""]
    lines += [f"Structure: {plan.structure}; seed {plan.seed}; model {plan.model or '?'}", ""]
    lines += ["## Scenes", ""]
    for i, scene in enumerate(plan.scenes):
        lines += [f"{i + 1}. **{scene.place}** ({', '.join(scene.characters)}): {scene.beat}"]
    if plan.notes:
        lines += ["", "## Notes", ""] + [f"- {note}" for note in plan.notes]
    return "\n".join(lines) + "\n"


def story_markdown(plan: Plan) -> str:
    """The story as Markdown: title, logline, characters, then each scene under its heading."""
    lines = _front(plan)
    for i, scene in enumerate(plan.scenes):
        lines += ["", _heading(plan, i), "", scene.prose]
    return "\n".join(lines) + "\n"


def characters_text(characters: list[Character]) -> str:
    """The "characters" part as the store keeps it: a ``Name, the role: wants ...; flaw:
    ...`` line each."""
    return "\n".join(f"{c.name}, the {c.role}: wants {c.want}; flaw: {c.flaw}" for c in characters)


def scene_text(scene: Scene) -> str:
    """A "scene/K" part as the store keeps it: the place, a blank line, the prose."""
    return f"{scene.place}\n\n{scene.prose.strip()}"


def keep_plan(store: Store, plan: Plan) -> int:
    """Record ``plan`` in the store as a co-written story, each part as its first accepted
    version (generated, with the model and seed), so it can be edited, regenerated and
    undone part by part; returns the story's id."""
    from museforge.story.cowrite import Provenance, accept, create_story, propose

    story = create_story(store, plan.premise)
    source = Provenance(model_id=plan.model, seed=plan.seed, settings={"structure": plan.structure})
    parts = {
        "logline": plan.logline,
        "title": plan.title,
        "characters": characters_text(plan.characters),
        "beats": "\n".join(plan.beats),
    }
    parts |= {f"scene/{i}": scene_text(scene) for i, scene in enumerate(plan.scenes, start=1)}
    for node, text in parts.items():
        if text.strip():
            (version,) = propose(store, story, node, [text], source)
            accept(store, story, node, version.number)
    return story
