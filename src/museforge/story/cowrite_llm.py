"""The generating side of co-writing: a language model writes alternatives, continuations
and rewrites of the parts of a story kept in the store.

Each call reads the story's current texts (premise, logline, title, characters, beats,
scenes) back into a planner ``Plan``, so that every prompt is the planner's own for that
level, with the story bible in it (Mirowski et al. 2023, "Co-Writing Screenplays and
Theatre Scripts with Language Models"). What the model writes is stored at once through
``museforge.story.cowrite``, with the model, seed and settings that make it again:
alternatives are proposed (the person chooses), continuations and rewrites become current
(undo takes them back).

A sample that falls back to stock text, copies another alternative or repeats a sentence
the story already has is drawn again with the next seed, a few times.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable

from museforge.core.store import Store
from museforge.errors import NotFoundInStore, UserError
from museforge.story import cowrite
from museforge.story.cowrite import Provenance, Version
from museforge.story.grammar import load_grammar
from museforge.story.levels import (
    PLAN_TEMPERATURE,
    write_beats,
    write_characters,
    write_logline,
    write_title,
)
from museforge.story.llm import MAX_SEED, LanguageModel
from museforge.story.metrics import repeated_ngram_share
from museforge.story.plan import (
    ROLES,
    STRUCTURES,
    Character,
    Plan,
    Scene,
    check_request,
    level_seed,
)
from museforge.story.prose import (
    MAX_REP4,
    MAX_SCENE_TOKENS,
    PROSE_TEMPERATURE,
    TOKENS_PER_WORD,
    bible,
    continue_scene,
    scene_tokens,
    write_scene,
)
from museforge.story.render import characters_text, scene_text

TRIES = 3  # samples per alternative, continuation or rewrite before the best is kept
COPY_REP4 = 0.2  # a scene alternative sharing this share of its 4-grams with another copies it
MAX_ALTERNATIVES = 8  # a screenful to compare; more is a list nobody reads
MAX_INSTRUCTION_CHARS = 500  # a sentence or two: the model is small, the prompt is not
SCENE_TOKENS = 300  # a scene's draft, as the planner writes it
PLAN_LEVELS = ("logline", "title", "characters", "beats")

_SCENE = re.compile(r"scene/([1-9]\d*)")
_CHARACTER = re.compile(
    r"(?P<name>[^,]+), the (?P<role>[^:]+): wants (?P<want>.*?); flaw: (?P<flaw>.*)"
)
_LEAD_IN = re.compile(r"^(here|sure|certainly|rewritten|the rewritten)\b[^\n]*:\s*$", re.I)


# --- the story bible, read back from the store --------------------------------------------


def current_texts(store: Store, story: int) -> dict[str, str]:
    """Every node of ``story`` that has a current version, with its text, in reading order."""
    texts = {}
    for node in cowrite.nodes(store, story):
        try:
            texts[node] = cowrite.current_text(store, story, node)
        except NotFoundInStore:  # only proposals so far
            continue
    return texts


def _characters(text: str) -> list[Character]:
    """Characters from the lines ``render.characters_text`` writes;
    any other line is a name."""
    cast = []
    for i, line in enumerate(x.strip() for x in text.splitlines() if x.strip()):
        match = _CHARACTER.fullmatch(line.rstrip("."))
        if match:
            cast.append(Character(**{k: v.strip() for k, v in match.groupdict().items()}))
        else:
            role = ROLES[min(i, len(ROLES) - 1)]
            cast.append(Character(line.split(",")[0].strip(), role, "", ""))
    return cast


def _structure(store: Store, story: int, beats: list[str]) -> str:
    """The structure the beats were planned with (kept in their settings), else the one
    with as many beats, else three acts."""
    try:
        versions = cowrite.history(store, story, "beats")
    except NotFoundInStore:
        versions = []
    for version in reversed(versions):
        if version.settings.get("structure") in STRUCTURES:
            return version.settings["structure"]
    by_size = {len(steps): name for name, steps in STRUCTURES.items()}
    return by_size.get(len(beats), "three-acts")


def _scene_parts(text: str) -> tuple[str, str]:
    """(place, prose) of a scene kept as ``place\\n\\nprose``; a first paragraph that is a
    sentence is prose."""
    head, sep, rest = text.strip().partition("\n\n")
    if sep and "\n" not in head and len(head.split()) <= 12 and head[-1:] not in ".!?\"'”’":
        return head, rest.strip()
    return "", text.strip()


def _cast(plan: Plan, text: str) -> list[str]:
    """The protagonist, the characters ``text`` names, and at least one other (three at most)."""
    others = [c.name for c in plan.characters[1:]]
    named = [name for name in others if name in text]
    names = [plan.hero, *(named or others[:1])]
    return names[:3]


def story_plan(store: Store, story: int, scenes: int = 0) -> Plan:
    """The story's current texts as a ``Plan`` with at least ``scenes`` scenes (a scene not
    written yet gets its beat, a place from the places grammar and no prose)."""
    texts = current_texts(store, story)
    beats = [line.strip() for line in texts.get("beats", "").splitlines() if line.strip()]
    plan = Plan(
        premise=" ".join(texts.get("premise", "").split()),
        structure=_structure(store, story, beats),
        logline=" ".join(texts.get("logline", "").split()),
        title=" ".join(texts.get("title", "").split()),
        characters=_characters(texts.get("characters", "")),
        beats=beats,
    )
    plan.logline = plan.logline or plan.premise
    numbers = [int(m.group(1)) for node in texts if (m := _SCENE.fullmatch(node))]
    places = load_grammar("places")
    for k in range(1, max([scenes, *numbers]) + 1):
        place, prose = _scene_parts(texts.get(f"scene/{k}", ""))
        beat = beats[k - 1] if k <= len(beats) else f"{plan.hero} goes on."
        place = place or places.expand("#site.a# #setting#", seed=level_seed(0, "place", k - 1))
        plan.scenes.append(Scene(place, beat, _cast(plan, f"{beat} {prose}"), prose))
    return plan


# --- alternatives -------------------------------------------------------------------------


def _check_seed(seed: int) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise UserError(f"seed must be 0 to {MAX_SEED}, not {seed!r}")
    return seed


def _next_seed(seed: int, k: int) -> int:
    return (seed + k) % (MAX_SEED + 1)


def check_generated_node(node: str) -> str:
    """``node`` if the model can write it (a plan level or scene/N), else a UserError."""
    if node not in PLAN_LEVELS and not _SCENE.fullmatch(node):
        raise UserError(
            f"cannot generate {node!r}: the model writes {', '.join(PLAN_LEVELS)} or scene/N"
        )
    return node


def _writer(node: str, max_tokens: int) -> Callable[[LanguageModel, Plan], str]:
    """The planner's level for ``node``, as a function that writes its text into a plan."""
    check_generated_node(node)
    if node == "logline":
        return write_logline
    if node == "title":
        return write_title
    if node == "characters":

        def characters(model: LanguageModel, plan: Plan) -> str:
            cast = write_characters(model, plan, min(max(len(plan.characters), 1), len(ROLES)))
            return characters_text(cast)

        return characters
    if node == "beats":
        return lambda model, plan: "\n".join(write_beats(model, plan))
    i = int(node.split("/")[1]) - 1

    def scene(model: LanguageModel, plan: Plan) -> str:
        write_scene(model, plan, i, max_tokens=max_tokens, drafts=1, summary=False)
        return scene_text(plan.scenes[i])

    return scene


def _copies(text: str, other: str) -> bool:
    """Whether scene ``text`` repeats much of ``other`` (rep-4 against it of COPY_REP4 or more)."""
    return repeated_ngram_share(text, 4, other) >= COPY_REP4


def regenerate(
    store: Store,
    model: LanguageModel,
    story: int,
    node: str,
    n: int = 3,
    seed: int = 0,
    *,
    max_tokens: int = SCENE_TOKENS,
    tries: int = TRIES,
) -> list[Version]:
    """``n`` alternative texts for ``node``, each from the planner's prompt for its level with
    the story's current texts, each with its own seed (``seed``, ``seed + 1``, ...), proposed
    in the store (none becomes current). ``max_tokens`` bounds a scene's prose.

    A sample that fell back to stock text, repeats another alternative or, for a scene,
    shares much of its wording with one (rep-4), is set aside and the next seed is tried, up to ``tries``
    samples per alternative; set-aside samples fill whatever is still missing.
    """
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_ALTERNATIVES:
        raise UserError(f"n must be 1 to {MAX_ALTERNATIVES} alternatives, not {n!r}")
    _check_seed(seed)
    cowrite.nodes(store, story)  # an unknown story fails before the model runs
    write = _writer(node, max_tokens)
    match = _SCENE.fullmatch(node)
    scene = int(match.group(1)) if match else 0
    base = story_plan(store, story, scene)
    base.model = model.name
    chosen: list[tuple[str, int]] = []
    spare: list[tuple[str, int]] = []
    for k in range(n * max(tries, 1)):
        if len(chosen) == n:
            break
        plan = copy.deepcopy(base)
        plan.seed = _next_seed(seed, k)
        text = write(model, plan)
        taken = [t for t, _ in chosen]
        copied = text in taken or (match is not None and any(_copies(text, t) for t in taken))
        faults = [note for note in plan.notes if "stock text" in note]
        if faults or copied or not text.strip():
            spare.append((text, plan.seed))
        else:
            chosen.append((text, plan.seed))
    chosen += [s for s in spare if s[0].strip()][: n - len(chosen)]
    if not chosen:
        raise UserError(f"the model wrote nothing usable for {node}; try another seed")
    temperature = PROSE_TEMPERATURE if match else PLAN_TEMPERATURE
    settings = {"prompt": node.split("/")[0], "temperature": temperature}
    if match:
        settings["max_tokens"] = max_tokens
    sources = [Provenance(model.name, s, settings) for _, s in chosen]
    return cowrite.propose(store, story, node, [t for t, _ in chosen], sources)


# --- continuing ---------------------------------------------------------------------------


def continue_story(
    store: Store,
    model: LanguageModel,
    story: int,
    words: int = 150,
    seed: int = 0,
    *,
    new_scene: bool = False,
    tries: int = TRIES,
) -> Version:
    """About ``words`` more words of prose: appended to the last scene as its new current
    version, or, with ``new_scene`` or when the story has no scene yet, written as the next
    scene. The drafts that repeat least of the story are kept (the planner's reranking)."""
    if isinstance(words, bool) or not isinstance(words, int) or words < 1:
        raise UserError(f"words must be at least 1, not {words!r}")
    _check_seed(seed)
    cowrite.nodes(store, story)
    plan = story_plan(store, story)
    plan.seed, plan.model = seed, model.name
    max_tokens = scene_tokens(words, 1)
    settings = {"temperature": PROSE_TEMPERATURE, "max_tokens": max_tokens, "words": words}
    if new_scene or not plan.scenes:
        plan = story_plan(store, story, len(plan.scenes) + 1)
        plan.seed, plan.model = seed, model.name
        i = len(plan.scenes) - 1
        write_scene(model, plan, i, max_tokens=max_tokens, drafts=tries, summary=False)
        source = Provenance(model.name, seed, {"prompt": "scene", **settings})
        return cowrite.continue_text(
            store, story, f"scene/{i + 1}", scene_text(plan.scenes[i]), source
        )
    i = len(plan.scenes) - 1
    node = f"scene/{i + 1}"
    before = plan.scenes[i].prose.strip()
    more = continue_scene(model, plan, i, max_tokens=max_tokens, drafts=tries)[len(before) :]
    if not more.strip():
        raise UserError(f"the model wrote nothing new for {node}; try another seed")
    base = cowrite.current_text(store, story, node)
    source = Provenance(model.name, seed, {"prompt": "continue", **settings})
    return cowrite.continue_text(store, story, node, _paragraph_after(base) + more.strip(), source)


def _paragraph_after(text: str) -> str:
    """What starts a new paragraph after ``text``: a blank line, less the newlines it has."""
    if not text.strip():
        return ""
    return "\n\n"[: max(0, 2 - (len(text) - len(text.rstrip("\n"))))]


# --- rewriting ----------------------------------------------------------------------------


def check_instruction(instruction: str) -> str:
    """``instruction`` stripped, or a UserError if it is empty or too long."""
    return check_request(
        instruction, "instruction", MAX_INSTRUCTION_CHARS, 'say how to rewrite, e.g. "more tension"'
    )


def _clean_rewrite(answer: str) -> str:
    """The answer without a lead-in line ("Here is the rewritten passage:") or wrapping quotes."""
    lines = answer.strip().splitlines()
    if lines and _LEAD_IN.match(lines[0].strip()):
        lines = lines[1:]
    text = "\n".join(lines).strip()
    if len(text) > 1 and text[0] in '"“' and text[-1] in '"”' and text.count('"') <= 2:
        text = text[1:-1].strip()
    return text


def rewrite(
    store: Store,
    model: LanguageModel,
    story: int,
    node: str,
    start: int,
    end: int,
    instruction: str,
    seed: int = 0,
    *,
    max_tokens: int | None = None,
    tries: int = TRIES,
) -> Version:
    """Characters ``start:end`` of ``node``'s current text rewritten by the model following
    ``instruction`` ("more tension"), as a new current version; the rest of the text is kept
    byte for byte, and so is the whitespace around the selection."""
    instruction = check_instruction(instruction)
    _check_seed(seed)
    text = cowrite.current_text(store, story, node)
    if not 0 <= start < end <= len(text):
        raise UserError(
            f"selection {start}:{end} must be a non-empty range inside {node}, which has "
            f"{len(text)} characters"
        )
    selection = text[start:end]
    if not selection.strip():
        raise UserError(f"selection {start}:{end} of {node} is only whitespace")
    lead = selection[: len(selection) - len(selection.lstrip())]
    trail = selection[len(selection.rstrip()) :]
    n_words = len(selection.split())
    tokens = max_tokens or max(32, min(MAX_SCENE_TOKENS, int(n_words * TOKENS_PER_WORD * 1.5) + 16))
    plan = story_plan(store, story)
    match = _SCENE.fullmatch(node)
    context = bible(plan, int(match.group(1)) - 1 if match else 0)
    ask = (
        f"Rewrite the passage below. Instruction: {instruction}\nKeep the same people, place "
        f"and events, in about {n_words} words. Answer with the rewritten passage only.\n\n"
        f"Passage:\n{selection.strip()}"
    )
    messages = [
        {"role": "system", "content": f"You are a careful fiction editor.\n{context}"},
        {"role": "user", "content": ask},
    ]
    outside = text[:start] + text[end:]
    best, best_repeats, best_seed = "", None, seed
    for k in range(max(tries, 1)):
        s = _next_seed(seed, k)
        answer = _clean_rewrite(
            model.complete(messages, max_tokens=tokens, temperature=PROSE_TEMPERATURE, seed=s)
        )
        if not answer or answer == selection.strip():
            continue
        repeats = repeated_ngram_share(answer, 4, outside)
        if best_repeats is None or repeats < best_repeats:
            best, best_repeats, best_seed = answer, repeats, s
        if repeats <= MAX_REP4:
            break
    if not best:
        raise UserError(f"the model gave no rewrite of {node} {start}:{end}; try another seed")
    settings = {"prompt": "rewrite", "temperature": PROSE_TEMPERATURE, "max_tokens": tokens}
    source = Provenance(model.name, best_seed, settings)
    return cowrite.rewrite_selection(
        store, story, node, start, end, instruction, lead + best + trail, source
    )
