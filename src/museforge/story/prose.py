"""A plan's prose, scene by scene, kept coherent the way Re3 and DOC keep long stories:

- every scene's prompt carries the story bible: the premise, the logline, each
  character's name, pronoun, role, want and flaw, the places so far, and a rolling summary
  of the scenes before (Yang et al. 2022, "Re3: Generating Longer Stories With Recursive
  Reprompting and Revision"; Yang et al. 2023, "DOC: Improving Long Story Coherence With
  Detailed Outline Control");
- each scene is drafted several times (``DRAFTS``) and the drafts are reranked (Re3's
  rewrite step): least repetition of the story so far (rep-4), most relevance to the
  scene's beat (sentence-embedding similarity, all-MiniLM-L6-v2 where installed), and cast
  consistency (every character of the scene named, no one's pronoun changed); with
  ``max_drafts`` more drafts are drawn, up to that many, while every draft so far repeats
  more than ``TARGET_REP4`` of the story so far;
- repetition is held down where it starts, in the sampler (``sampling``), and never
  repaired by deleting sentences.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace

from museforge.story import forms
from museforge.story.answers import mentions, parse_sentence, sentences, whole_sentences
from museforge.story.llm import MAX_NEW_TOKENS, LanguageModel, read_all
from museforge.story.metrics import repeated_ngram_share
from museforge.story.plan import PRONOUNS, Plan, Progress, level_seed
from museforge.story.sampling import MAX_HISTORY_CHARS, PROSE_PENALTIES

PROSE_TEMPERATURE = 0.8  # prose: a little looser than the plan
DRAFTS = 2  # drafts per scene, reranked (more with max_drafts, see _best_draft)
MAX_REP4 = 0.05  # rep-4 a draft may have against the story so far before it counts as a fault
TARGET_REP4 = 0.04  # below MAX_REP4: a draft's joins with the story repeat a little more
MAX_DRAFTS = 5  # drafts `story new` may draw for a scene while each repeats the story so far
TOKENS_PER_WORD = 1.5  # English prose with SmolLM2's tokenizer, with room to finish
MAX_SCENE_TOKENS = 1024  # one call's prose; a longer story continues a scene instead
CONTINUE_PASSES = 2  # passes over the scenes to reach the word target, then stop
INTRODUCE_TOKENS = 120  # a paragraph for a character a scene's draft left out
SUMMARY_TOKENS = 80  # one or two sentences
TITLES = frozenset({"captain", "doctor", "professor", "old", "mayor", "judge", "reverend"})

OnPiece = Callable[[str], None]


@dataclass(frozen=True)
class Weights:
    """How the reranking weighs a draft's measures (each from 0 to about 1)."""

    named: float = 1.0  # the share of the scene's characters it names
    relevance: float = 0.5  # cosine similarity of the draft to its beat
    repetition: float = 1.0  # per MAX_REP4 of rep-4 against the story so far
    slips: float = 1.0  # the share of sentences where a named character's pronoun is wrong


def names(text: str, name: str) -> bool:
    return mentions(text, name, TITLES)


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def bible(plan: Plan, i: int) -> str:
    """What scene ``i``'s prose must keep to: premise, logline, the characters' facts, the
    scenes so far (place and what happened) and where this scene is."""
    people = "\n".join(f"- {c.fact()}" for c in plan.characters)
    settled = "\n".join(
        f"- Scene {j + 1}, at {s.place}: {s.summary or s.beat}"
        for j, s in enumerate(plan.scenes[:i])
    )
    return (
        f"Story bible for '{plan.title}'.\nPremise: {plan.premise}\nLogline: {plan.logline}\n"
        f"Characters:\n{people}\nThe story so far:\n{settled or '- nothing yet'}"
    )


def opening(plan: Plan, i: int) -> str:
    """The words scene ``i``'s prose starts with: one of its characters (in turn, scene by
    scene), every other scene at its place ("At the harbour wall, Mara Quillby")."""
    scene = plan.scenes[i]
    if not scene.characters:
        return ""
    name = scene.characters[i % len(scene.characters)]
    return f"At {scene.place}, {name}" if i % 2 else name


def messages(plan: Plan, i: int, max_tokens: int, continue_from: str = "") -> list[dict[str, str]]:
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
            ask += f"\nThe last scene ended: {before}"
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
    earlier: str = "",
) -> Iterator[str]:
    """Scene ``i``'s prose, streamed piece by piece; ``continue_from`` asks for more of a
    scene that already has that text; the sampler keeps away from repeating ``earlier`` (the
    story so far)."""
    chat = messages(plan, i, max_tokens, continue_from)
    seed = level_seed(plan.seed, "continue" if continue_from else "prose", i, attempt)
    start = "" if continue_from else opening(plan, i)
    if start and model.continues_answer:  # the model goes on from the opening words
        chat.append({"role": "assistant", "content": start})
        yield start
    yield from model.stream(
        chat,
        max_tokens=max_tokens,
        temperature=PROSE_TEMPERATURE,
        seed=seed,
        penalties=replace(PROSE_PENALTIES, history=earlier[-MAX_HISTORY_CHARS:]),
    )


def draw(pieces: Iterable[str], on_piece: OnPiece | None) -> str:
    """Streamed prose, each piece passed on as it comes, kept up to its last whole sentence."""
    kept = []
    for piece in pieces:
        kept.append(piece)
        if on_piece:
            on_piece(piece)
    return whole_sentences("".join(kept))


# --- measuring a draft ---------------------------------------------------------------------

_PRONOUN_CLASS = {w: key for key, forms_ in PRONOUNS.items() for w in forms_ if key != "they"}
_PRONOUN_CLASS |= {"himself": "he", "herself": "she", "hers": "she"}


def pronoun_slips(plan: Plan, text: str, who: str | None = None) -> int:
    """Sentences that name exactly one character (``who`` only, if given) and use a he/she
    pronoun that is not theirs, while no character of that pronoun is in the scene's text."""
    slips = 0
    for sentence in sentences(text):
        named = [c for c in plan.characters if names(sentence, c.name)]
        if len(named) != 1 or named[0].pronoun == "they" or who not in (None, named[0].name):
            continue
        said = {
            _PRONOUN_CLASS[w]
            for w in re.findall(r"[a-z]+", sentence.lower())
            if w in _PRONOUN_CLASS
        }
        present = {c.pronoun for c in plan.characters if names(text, c.name)}
        slips += any(p != named[0].pronoun and p not in present for p in said)
    return slips


def _relevance(texts: list[str], beat: str) -> list[float]:
    """Cosine similarity of each text to the beat: sentence embeddings where the encoder is
    installed, else 0 for all (the other measures still rank)."""
    from museforge.core.embeddings import embed_texts, model_installed

    if not model_installed() or not texts:
        return [0.0] * len(texts)
    vectors = embed_texts([beat, *texts])
    return [float(v @ vectors[0]) for v in vectors[1:]]


def rank(
    plan: Plan, i: int, drafts: list[str], earlier: str, weights: Weights = Weights()
) -> list[float]:
    """A score for each draft of scene ``i`` (higher is better)."""
    cast = plan.scenes[i].characters
    relevance = _relevance(drafts, plan.scenes[i].beat)
    scores = []
    for text, related in zip(drafts, relevance, strict=True):
        named = sum(names(text, n) for n in cast) / len(cast) if cast else 1.0
        rep = repeated_ngram_share(text, 4, earlier)
        slips = pronoun_slips(plan, text) / max(len(sentences(text)), 1)
        scores.append(
            weights.named * named
            + weights.relevance * related
            - weights.repetition * rep / MAX_REP4
            - weights.slips * slips
            - (0 if text.strip() else math.inf)
        )
    return scores


# --- scenes and the story ------------------------------------------------------------------


def _best_draft(
    model: LanguageModel,
    plan: Plan,
    i: int,
    earlier: str,
    max_tokens: int,
    drafts: int,
    continue_from: str = "",
    on_piece: OnPiece | None = None,
    max_drafts: int | None = None,
) -> str:
    """The best of ``drafts`` drafts, or of more (up to ``max_drafts``) while each drawn so
    far repeats more than TARGET_REP4 of ``earlier``."""
    texts: list[str] = []
    least = math.inf  # the least rep-4 against the story so far of the drafts drawn
    while len(texts) < max(drafts, 1) or (least > TARGET_REP4 and len(texts) < (max_drafts or 0)):
        prose = write_prose(
            model,
            plan,
            i,
            attempt=len(texts),
            max_tokens=max_tokens,
            continue_from=continue_from,
            earlier=earlier,
        )
        texts.append(draw(prose, on_piece))
        least = min(least, repeated_ngram_share(texts[-1], 4, earlier))
    scores = rank(plan, i, texts, earlier)
    return texts[max(range(len(texts)), key=scores.__getitem__)]


def _introduce(
    model: LanguageModel, plan: Plan, i: int, name: str, on_piece: OnPiece | None = None
) -> None:
    """Go on with scene ``i``'s prose in a paragraph that starts with ``name``, a character
    it has left out: the model writes the rest of the paragraph."""
    scene = plan.scenes[i]
    chat = messages(plan, i, INTRODUCE_TOKENS)
    chat.append({"role": "assistant", "content": f"{scene.prose}\n\n{name}".strip()})
    seed = level_seed(plan.seed, "introduce", i, scene.characters.index(name))
    earlier = "\n\n".join(s.prose for s in plan.scenes[:i] if s.prose)
    stream = model.stream(
        chat,
        max_tokens=INTRODUCE_TOKENS,
        temperature=PROSE_TEMPERATURE,
        seed=seed,
        penalties=replace(PROSE_PENALTIES, history=earlier[-MAX_HISTORY_CHARS:]),
    )
    text = draw(itertools.chain([f"\n\n{name}"], stream), on_piece)
    if names(text, name) and len(text.split()) > len(name.split()):
        scene.prose = f"{scene.prose}\n\n{text}".strip()
        plan.notes.append(f"scene {i + 1}: a paragraph opened with {name}'s name")


def summarise(model: LanguageModel, plan: Plan, i: int) -> str:
    """What happened in scene ``i``, in a sentence or two, for the prompts after it; its
    beat if the model gives no usable summary."""
    scene = plan.scenes[i]
    chat = [
        {"role": "system", "content": "You summarise stories in one or two plain sentences."},
        {"role": "user", "content": f"{scene.prose}\n\nSummarise what happened above."},
    ]
    answer, reason = read_all(
        model.stream(
            chat,
            max_tokens=SUMMARY_TOKENS,
            temperature=0.3,
            seed=level_seed(plan.seed, "summary", i),
            stop="\n",
            grammar=forms.SUMMARY,
        )
    )
    summary = parse_sentence(answer, min_words=5, max_words=60) if reason == "stop" else None
    return " ".join(sentences(answer)[:2]) if summary else scene.beat


def write_scene(
    model: LanguageModel,
    plan: Plan,
    i: int,
    *,
    max_tokens: int = 300,
    drafts: int = DRAFTS,
    on_piece: OnPiece | None = None,
    summary: bool = True,
    max_drafts: int | None = None,
) -> str:
    """Scene ``i``'s prose: the best of ``drafts`` drafts (or more, see ``_best_draft``),
    then a paragraph for each of its characters it left out, then (with ``summary``) its
    summary for the scenes after it."""
    earlier = "\n\n".join(s.prose for s in plan.scenes[:i] if s.prose)
    scene = plan.scenes[i]
    scene.prose = _best_draft(
        model, plan, i, earlier, max_tokens, drafts, on_piece=on_piece, max_drafts=max_drafts
    )
    if model.continues_answer:
        for name in [n for n in scene.characters if not names(scene.prose, n)]:
            _introduce(model, plan, i, name, on_piece)
    if summary:
        scene.summary = summarise(model, plan, i)
    return scene.prose


def continue_scene(
    model: LanguageModel,
    plan: Plan,
    i: int,
    *,
    max_tokens: int = 300,
    drafts: int = DRAFTS,
    on_piece: OnPiece | None = None,
    max_drafts: int | None = None,
) -> str:
    """More prose for scene ``i``, appended to it: the best of ``drafts`` drafts (or more,
    see ``_best_draft``)."""
    scene = plan.scenes[i]
    more = _best_draft(
        model, plan, i, plan.text(), max_tokens, drafts, scene.prose, on_piece, max_drafts
    )
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
    drafts: int = DRAFTS,
    on_progress: Progress | None = None,
    on_piece: OnPiece | None = None,
    max_drafts: int | None = None,
) -> Plan:
    """Prose for every scene, then continuations, the shortest scenes first, until the
    story has ``words`` words (at most ``CONTINUE_PASSES`` passes); each piece the best of
    ``drafts`` drafts, or of up to ``max_drafts`` while they repeat the story so far."""
    from museforge.errors import UserError

    if words < 1:
        raise UserError(f"words must be at least 1, not {words}")
    say = on_progress or (lambda _message: None)
    n = len(plan.scenes)
    max_tokens = scene_tokens(words, n)
    for i in range(n):
        say(f"scene {i + 1}/{n}")
        write_scene(
            model,
            plan,
            i,
            max_tokens=max_tokens,
            drafts=drafts,
            on_piece=on_piece,
            max_drafts=max_drafts,
        )
    for _ in range(CONTINUE_PASSES):
        # the shortest scenes first: a model that ends a scene early (often the climax)
        # gets it back, instead of the opening scenes growing
        order = sorted(range(n), key=lambda k: len(plan.scenes[k].prose.split()))
        for turn, i in enumerate(order):
            short = words - plan.word_count()
            if short <= 0:
                return plan
            say(f"scene {i + 1}/{n}: continuing ({plan.word_count()}/{words} words)")
            tokens = scene_tokens(short, n - turn)
            continue_scene(
                model,
                plan,
                i,
                max_tokens=tokens,
                drafts=drafts,
                on_piece=on_piece,
                max_drafts=max_drafts,
            )
    return plan
