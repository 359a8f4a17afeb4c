"""Reading the planner's answers: the asked thing out of what a model wrote, or None.

A parser takes an answer as it is or refuses it; it never rewrites words inside it. It may
drop what surrounds the answer (a list mark, a ``Label:``, wrapping quotes, the lines after
the first) and a leading "in"/"at" of a place. Names and words are Unicode.
"""

from __future__ import annotations

import re

from museforge.core.creativity import plain_quotes

_SENTENCE_END = re.compile(r"(?<=[.!?])[\"'”’)]*\s+")
# "The scene takes place in a fish market": the place is what follows
_TAKES_PLACE = re.compile(r"^(?:the|this)\s+(?:scene|story)\s+(?:takes\s+place|is\s+set)\s+", re.I)
DANGLING = {"the", "a", "an", "of", "and", "or", "to", "in", "at", "on", "with", "for"}
_CHARACTER = re.compile(
    r"^wants? (?P<want>to [^,.;]+?)(?:,? but (?:(?:he|she|they) )?(?:is|are) (?P<flaw>too [^.;]+?))?"
    r"[.;]?$"
)


def sentences(text: str) -> list[str]:
    """``text`` split after ., ! and ? (closing quotes stay with their sentence)."""
    return [s.strip() for s in _SENTENCE_END.split(text.strip()) if s.strip()]


def whole_sentences(text: str) -> str:
    """``text`` up to its last finished sentence (max_tokens may cut the last one)."""
    text = text.strip()
    ends = [m.end() for m in re.finditer(r"[.!?][\"'”’)]*(?=\s|$)", text)]
    return text[: ends[-1]] if ends else text


def words(text: str) -> list[str]:
    """``text``'s words, lower-cased, without punctuation: how sentences are compared
    ("can’t" is "can't")."""
    return re.findall(r"[\w'-]+", plain_quotes(text.lower()))


def clean_line(text: str) -> str:
    """The first non-empty line of an answer, without a list mark, a ``Label:`` or quotes."""
    line = next((x for x in text.strip().splitlines() if x.strip()), "")
    line = line.replace("*", "").strip()
    line = re.sub(r"^\s*(?:[-#>]+|\d+[.)])\s*", "", line)
    if re.match(r"^[A-Za-z ]{1,20}:\s", line):
        line = line.split(":", 1)[1]
    return line.strip().strip("\"'“”‘’").strip()


def parse_sentence(text: str, *, min_words: int = 4, max_words: int = 45) -> str | None:
    """The first whole sentence of an answer, or None if there is none worth keeping."""
    line = clean_line(text)
    first = sentences(line)[0] if line else ""
    if first and first[-1] not in ".!?\"'”’":
        return None  # cut off by max_tokens
    if not min_words <= len(first.split()) <= max_words:
        return None
    return first


def parse_title(text: str) -> str | None:
    """A short title (1 to 8 words, not ending on "of" or "the") from an answer, or None."""
    title = clean_line(text).rstrip(".")
    found = title.split()
    if not 1 <= len(found) <= 8 or not any(c.isalpha() for c in title):
        return None
    return None if found[-1].lower() in DANGLING else title


def _is_phrase(text: str, lead: str) -> bool:
    """A phrase of 2 to 20 words that starts with ``lead`` ("to", "too") and does not end
    mid-phrase ("to stay at the", "too afraid of his family's")."""
    found = text.lower().split()
    return (
        2 <= len(found) <= 20
        and found[0] == lead
        and found[1] != lead
        and found[-1] not in DANGLING
        and not found[-1].endswith(("'s", "’s"))
    )


def parse_character(text: str, name: str) -> tuple[str | None, str | None]:
    """(want, flaw) from a "NAME wants to ..., but is too ...." answer about ``name``; None
    for each unusable part."""
    line = clean_line(text)
    if not line.startswith(name):
        return None, None
    rest = line[len(name) :].removeprefix("'s").removeprefix("’s").strip()
    match = _CHARACTER.match(rest)
    if not match:
        return None, None
    want, flaw = match.group("want"), match.group("flaw") or ""
    return (want if _is_phrase(want, "to") else None, flaw if _is_phrase(flaw, "too") else None)


def parse_place(text: str) -> str | None:
    """A short place (2 to 16 words, no sentence of its own) from an answer, or None."""
    place = _TAKES_PLACE.sub("", clean_line(text).rstrip("."))
    found = place.split()
    if not 2 <= len(found) <= 16 or any(c in place for c in "|:;!?,."):
        return None
    if found[-1].lower() in DANGLING:
        return None  # cut off mid-phrase
    if found[0].lower() in ("a", "an", "the", "in", "at", "on", "inside", "beneath", "under"):
        place = place[0].lower() + place[1:]
    if found[0].lower() in ("in", "at", "on", "inside"):
        place = place.split(" ", 1)[1]
    return place


def alike(a: str, b: str, share: float = 0.6) -> bool:
    """Whether two sentences share ``share`` or more of their words (a copy with a word or
    two changed: "stood" for "stands")."""
    x, y = set(words(a)), set(words(b))
    return bool(x | y) and len(x & y) / len(x | y) >= share


def mentions(text: str, name: str, titles: frozenset[str] = frozenset()) -> bool:
    """Whether ``text`` names the character: the full name, or one of its words that is
    not a title (``titles``: "captain", "doctor") or an initial."""
    parts = [w for w in name.replace(".", " ").split() if w.lower() not in titles and len(w) > 1]
    return any(re.search(rf"(?<!\w){re.escape(p)}(?!\w)", text) for p in [name, *parts])
