r"""Tracery grammars: symbols that expand into random text, with memory and modifiers.

Tracery (Compton, Kybartas & Mateas 2015, "Tracery: An Author-Focused Generative Text
Tool") reads a JSON object that maps each symbol to its rules: a list of strings, or one
string. Inside a rule:

- ``#symbol#`` expands one of the symbol's rules, chosen at random;
- ``#symbol.mod1.mod2#`` applies modifiers to that expansion, in order (``MODIFIERS``);
- ``[key:rule]`` pushes a value for ``key``; the rule is expanded once, when pushed, so
  every later ``#key#`` gives the same text (a character named once keeps the name).
  ``[key:a,b]`` pushes two values to choose between; ``[key:POP]`` drops the last push;
- ``[#setter#]`` expands ``setter`` for its actions only and drops its text;
- ``#[key:rule]symbol#`` pushes for the expansion of ``symbol`` alone and pops after it;
- a backslash makes the next character plain text (``\#`` is a ``#``).

Where this engine differs from Tracery's JavaScript: an unknown symbol or modifier, a
bracket without its partner and a runaway recursion are errors (a ``GrammarError`` that
names the symbol and the rule) rather than ``((symbol))`` in the text; every expansion
starts with empty memory; a pushed value is used as finished text, not parsed again;
``.s`` also adds "es" after "z"; ``.ed`` after a vowel and "y" adds "ed" (played, not
"playd"); ``.capitalizeAll`` keeps an apostrophe inside its word (Don't, not Don'T).
Choices come from ``random.Random(seed)``, so a seed always gives the same text.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from museforge.errors import BadInputFile, MissingFile, UserError, require_file

GRAMMARS_DIR = Path(__file__).parent / "grammars"
MAX_FILE_BYTES = 1_000_000  # a hand-written grammar is a few kB; this stops reading a dump
MAX_DEPTH = 50  # nested symbols: stops `"a": ["#a#"]` long before Python's own limit
MAX_EXPANSIONS = 100_000  # symbols per text: stops `"a": ["#a##a#"]` doubling for ever
MAX_CHARS = 100_000  # characters of one text: a long chapter


class GrammarError(UserError):
    """A grammar that cannot be used: bad JSON, a bad rule, an unknown symbol, a runaway loop."""


# --- modifiers -------------------------------------------------------------------------


def _is_vowel(c: str) -> bool:
    return c != "" and c in "aeiouAEIOU"


def article(text: str) -> str:
    """``a`` or ``an`` by the first letter, as Tracery decides: "an" before a vowel, except
    "u?i" (a unicorn, a uniform). Sound is not considered: "a hour", "an one-eyed cat"."""
    if text[:1].lower() == "u" and text[2:3].lower() == "i":
        return "a " + text
    return ("an " if _is_vowel(text[:1]) else "a ") + text


def plural(text: str) -> str:
    """Tracery's plural: "es" after s, h (sh, ch), x and z; "ies" for "y" after a consonant."""
    low = text.lower()
    if low.endswith(("s", "h", "x", "z")):
        return text + "es"
    if low.endswith("y") and not _is_vowel(low[-2:-1]):
        return text[:-1] + "ies"
    return text + "s"


def past(text: str) -> str:
    """Tracery's past tense: "d" after "e", "ied" for "y" after a consonant, else "ed"."""
    low = text.lower()
    if low.endswith("e"):
        return text + "d"
    if low.endswith("y") and not _is_vowel(low[-2:-1]):
        return text[:-1] + "ied"
    return text + "ed"


def first_plural(text: str) -> str:
    """The plural of the first word only: "cat of the house" -> "cats of the house"."""
    first, space, rest = text.partition(" ")
    return plural(first) + space + rest


def capitalize(text: str) -> str:
    """The first character in upper case, the rest as it is."""
    return text[:1].upper() + text[1:]


def capitalize_all(text: str) -> str:
    """Every word's first character in upper case; hyphens and spaces separate words."""
    return re.sub(r"\w+(?:'\w+)*", lambda m: capitalize(m[0]), text)


def replace(text: str, old: str, new: str) -> str:
    """``#x.replace(old,new)#``: every ``old`` in the expansion becomes ``new``."""
    return text.replace(old, new)


# name -> (function, number of parameters written in parentheses after the name)
MODIFIERS: dict[str, tuple[Callable[..., str], int]] = {
    "a": (article, 0),
    "s": (plural, 0),
    "ed": (past, 0),
    "firstS": (first_plural, 0),
    "capitalize": (capitalize, 0),
    "capitalizeAll": (capitalize_all, 0),
    "replace": (replace, 2),
}


# --- parsing ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Section:
    """A piece of a rule: plain ``text``, a ``tag`` (between ``#``) or an ``action``
    (between brackets). ``raw`` is the inside, escapes kept."""

    kind: str
    raw: str


@dataclass(frozen=True)
class Tag:
    """A parsed tag: the actions before the symbol, the symbol, its modifiers."""

    actions: tuple[str, ...]
    symbol: str
    modifiers: tuple[tuple[str, tuple[str, ...]], ...]


@lru_cache(maxsize=4096)
def parse(rule: str) -> tuple[Section, ...]:
    """Split ``rule`` into text, tags and actions the way Tracery does: ``#`` opens or
    closes a tag only outside brackets, so a tag may hold actions and an action tags."""
    sections: list[Section] = []
    kind, buf, depth, i = "text", "", 0, 0

    def close(next_kind: str) -> None:
        nonlocal kind, buf
        if kind != "text" and not buf:
            raise GrammarError("an empty " + ("#...#" if kind == "tag" else "[...]"))
        if buf:
            sections.append(Section(kind, buf))
        kind, buf = next_kind, ""

    while i < len(rule):
        c = rule[i]
        if c == "\\":
            buf += rule[i : i + 2]
            i += 2
            continue
        i += 1
        if c == "[":
            depth += 1
            if depth == 1 and kind == "text":
                close("action")
                continue
        elif c == "]":
            depth -= 1
            if depth < 0:
                raise GrammarError("a ']' without its '['")
            if depth == 0 and kind == "action":
                close("text")
                continue
        elif c == "#" and depth == 0:
            close("text" if kind == "tag" else "tag")
            continue
        buf += c
    if depth > 0:
        raise GrammarError("a '[' without its ']'")
    if kind == "tag":
        raise GrammarError("a '#' without its closing '#'")
    close("text")
    return tuple(sections)


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text, flags=re.DOTALL)


@lru_cache(maxsize=4096)
def parse_tag(raw: str) -> Tag:
    """``[key:rule]symbol.mod.mod(param,param)`` -> its actions, symbol and modifiers."""
    sections = parse(raw)
    names = [s.raw for s in sections if s.kind == "text"]
    if len(names) != 1:
        raise GrammarError(f"#{raw}# needs exactly one symbol")
    symbol, *mods = re.split(r"\.(?![^(]*\))", _unescape(names[0]))  # dots outside (...)
    if not symbol:
        raise GrammarError(f"#{raw}# has no symbol")
    return Tag(
        actions=tuple(s.raw for s in sections if s.kind == "action"),
        symbol=symbol,
        modifiers=tuple(_parse_modifier(m) for m in mods),
    )


def _parse_modifier(text: str) -> tuple[str, tuple[str, ...]]:
    match = re.fullmatch(r"(\w+)(?:\((.*)\))?", text, flags=re.DOTALL)
    if not match or match[1] not in MODIFIERS:
        raise GrammarError(f"unknown modifier .{text} (known: {', '.join(MODIFIERS)})")
    name, params = match[1], tuple(match[2].split(",")) if match[2] is not None else ()
    wanted = MODIFIERS[name][1]
    if len(params) != wanted:
        raise GrammarError(f".{name} takes {wanted} parameters, got {len(params)} in .{text}")
    return name, params


def _split_values(value: str) -> list[str]:
    """``a,b`` in ``[key:a,b]`` -> the rules ``a`` and ``b``; commas inside tags, nested
    actions or after a backslash do not split."""
    parts = [""]
    for s in parse(value):
        if s.kind == "text":
            pieces = re.split(r"(?<!\\),", s.raw)
            parts[-1] += pieces[0]
            parts += pieces[1:]
        else:
            parts[-1] += f"#{s.raw}#" if s.kind == "tag" else f"[{s.raw}]"
    return parts


def _references(rule: str) -> Iterator[tuple[str, str]]:
    """("symbol", name) for each symbol ``rule`` expands and ("target", key) for each key
    it pushes, nested ones included; raises GrammarError on a syntax error."""
    for s in parse(rule):
        if s.kind == "tag":
            tag = parse_tag(s.raw)
            for action in tag.actions:
                yield from _action_references(action)
            yield "symbol", tag.symbol
        elif s.kind == "action":
            yield from _action_references(s.raw)


def _action_references(raw: str) -> Iterator[tuple[str, str]]:
    target, colon, value = raw.partition(":")
    if not colon:
        yield from _references(raw)
        return
    if not target:
        raise GrammarError(f"[{raw}] needs a name before ':'")
    yield "target", target
    if value != "POP":
        for rule in _split_values(value):
            yield from _references(rule)


# --- the grammar -----------------------------------------------------------------------

_JSON_TYPES = {
    dict: "an object",
    list: "an array",
    str: "a string",
    int: "a number",
    float: "a number",
    bool: "true or false",
    type(None): "null",
}


def _checked_rules(raw: object, source: str) -> dict[str, tuple[str, ...]]:
    if not isinstance(raw, Mapping):
        kind = _JSON_TYPES.get(type(raw), type(raw).__name__)
        raise GrammarError(f"{source}: a grammar is a JSON object of symbol -> rules, not {kind}")
    rules = {}
    for key, value in raw.items():
        options = [value] if isinstance(value, str) else value
        if (
            not isinstance(key, str)
            or not isinstance(options, list | tuple)
            or not options
            or not all(isinstance(r, str) for r in options)
        ):
            raise GrammarError(
                f"{source}: symbol {key!r} must map to a string or a non-empty list of strings"
            )
        rules[key] = tuple(options)
    if not rules:
        raise GrammarError(f"{source}: the grammar has no symbols")
    return rules


def stream_seed(seed: int, index: int) -> int:
    """The seed of text number ``index`` made from ``seed``: every text has its own stream,
    so the first k of n texts are the k texts asked for alone."""
    digest = hashlib.sha256(f"museforge-story/{seed}/{index}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


class Grammar:
    """A Tracery grammar: ``Grammar({"origin": "#greeting.capitalize#!", ...}).expand()``.

    Every rule is checked when the grammar is made: balanced ``#`` and brackets, known
    modifiers, and symbols that the grammar defines or some action pushes.
    """

    def __init__(self, rules: Mapping[str, str | Sequence[str]], source: str = "grammar") -> None:
        self.source = source
        self.rules = _checked_rules(rules, source)
        used: dict[str, tuple[str, str]] = {}  # symbol -> (symbol, rule) that first uses it
        pushed: set[str] = set()
        for key, options in self.rules.items():
            for rule in options:
                for kind, name in self._references(rule, f"symbol {key!r}, rule {rule!r}"):
                    if kind == "target":
                        pushed.add(name)
                    else:
                        used.setdefault(name, (key, rule))
        for name, (key, rule) in used.items():
            if name not in self.rules and name not in pushed:
                raise GrammarError(
                    f"{source}: unknown symbol {name!r} in rule {rule!r} of symbol {key!r}"
                )

    @classmethod
    def from_json(cls, text: str, source: str = "grammar") -> Grammar:
        """A grammar from JSON text; ``source`` names it in error messages."""
        if len(text) > MAX_FILE_BYTES:
            raise GrammarError(f"{source}: a grammar may hold at most {MAX_FILE_BYTES} characters")
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as exc:
            raise GrammarError(
                f"{source}: not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})"
            ) from None
        return cls(raw, source)

    @classmethod
    def from_file(cls, path: str | Path) -> Grammar:
        """A grammar from a Tracery JSON file of at most ``MAX_FILE_BYTES``."""
        path = require_file(path, "grammar file")
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise BadInputFile(path, f"is {size:,} bytes; a grammar file may hold at most 1 MB")
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise BadInputFile(
                path, "is not UTF-8 text", "save the grammar as UTF-8 JSON"
            ) from None
        return cls.from_json(text, str(path))

    def expand(self, text: str = "#origin#", *, seed: int = 0, max_chars: int = MAX_CHARS) -> str:
        """Expand ``text``, a rule such as ``#origin#``: the same seed gives the same text."""
        self._references(text, f"rule {text!r}")  # a syntax error, named before any choice
        return _Expansion(self, random.Random(seed), max_chars).rule(text, depth=0)

    def expand_many(self, n: int, text: str = "#origin#", *, seed: int = 0) -> list[str]:
        """``n`` texts; text i uses ``stream_seed(seed, i)``, so fewer gives a prefix."""
        return [self.expand(text, seed=stream_seed(seed, i)) for i in range(n)]

    def _references(self, rule: str, where: str) -> list[tuple[str, str]]:
        try:
            return list(_references(rule))
        except GrammarError as exc:
            raise GrammarError(f"{self.source}: {where}: {exc}") from None


class _Expansion:
    """One expansion: its random choices, its memory (the pushed values) and its budgets."""

    def __init__(self, grammar: Grammar, rng: random.Random, max_chars: int) -> None:
        self.grammar, self.rng, self.max_chars = grammar, rng, max_chars
        self.memory: dict[str, list[tuple[str, ...]]] = {}
        self.expansions = 0

    def error(self, problem: str) -> GrammarError:
        return GrammarError(f"{self.grammar.source}: {problem}")

    def rule(self, rule: str, depth: int) -> str:
        pieces = []
        for section in parse(rule):
            if section.kind == "text":
                pieces.append(_unescape(section.raw))
            elif section.kind == "tag":
                pieces.append(self.tag(section.raw, rule, depth))
            else:
                self.action(section.raw, depth)
        text = "".join(pieces)
        if len(text) > self.max_chars:
            raise self.error(f"the text grew past {self.max_chars:,} characters in rule {rule!r}")
        return text

    def tag(self, raw: str, rule: str, depth: int) -> str:
        tag = parse_tag(raw)
        pushed = [key for action in tag.actions if (key := self.action(action, depth))]
        text = self.symbol(tag.symbol, rule, depth + 1)
        for name, params in tag.modifiers:
            text = MODIFIERS[name][0](text, *params)
        for key in reversed(pushed):  # a push inside a tag lasts for that tag only
            if self.memory[key]:  # unless the symbol popped it already
                self.memory[key].pop()
        return text

    def symbol(self, name: str, rule: str, depth: int) -> str:
        self.expansions += 1
        if depth > MAX_DEPTH:
            raise self.error(
                f"symbols nested deeper than {MAX_DEPTH} at {name!r} in rule {rule!r} "
                "(does every rule of a symbol lead back to it?)"
            )
        if self.expansions > MAX_EXPANSIONS:
            raise self.error(f"more than {MAX_EXPANSIONS:,} symbols expanded; stopped at {name!r}")
        if self.memory.get(name):
            return self.pick(self.memory[name][-1])
        if name not in self.grammar.rules:
            raise self.error(f"unknown symbol {name!r} in rule {rule!r}")
        return self.rule(self.pick(self.grammar.rules[name]), depth)

    def pick(self, options: tuple[str, ...]) -> str:
        # one option takes no random number, so a fixed symbol leaves the other choices alone
        return options[0] if len(options) == 1 else self.rng.choice(options)

    def action(self, raw: str, depth: int) -> str | None:
        """Run ``[raw]``; return the key it pushed, if it pushed one."""
        target, colon, value = raw.partition(":")
        if not colon:  # [#setter#]: expanded for its own actions, its text dropped
            self.rule(raw, depth + 1)
            return None
        if value == "POP":
            if not self.memory.get(target):
                raise self.error(f"[{raw}] pops {target!r}, but nothing was pushed for it")
            self.memory[target].pop()
            return None
        values = tuple(self.rule(rule, depth + 1) for rule in _split_values(value))
        self.memory.setdefault(target, []).append(values)
        return target


# --- loading ---------------------------------------------------------------------------


def shipped_grammars() -> list[str]:
    """Names of the grammars that ship with museforge (``story/grammars/*.json``)."""
    return sorted(p.stem for p in GRAMMARS_DIR.glob("*.json"))


def load_grammar(name_or_path: str | Path) -> Grammar:
    """An existing file wins; otherwise the name of a shipped grammar (``premise``)."""
    path = Path(name_or_path).expanduser()
    if path.exists():
        return Grammar.from_file(path)
    name = str(name_or_path)
    shipped = shipped_grammars()
    if name in shipped:
        return Grammar.from_file(GRAMMARS_DIR / f"{name}.json")
    if path.name != name or path.suffix == ".json" or name.startswith((".", "~")):
        raise MissingFile(path, "grammar file")
    raise GrammarError(
        f"{name}: no such grammar file or shipped grammar (shipped: {', '.join(shipped)})"
    )
