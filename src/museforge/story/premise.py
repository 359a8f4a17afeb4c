"""What a premise says about its story, in its own words: the protagonist's name, pronoun
and description, and the content words a story about it should use.

A plan that drops these loses the premise: "A cartographer discovers that her maps redraw
themselves at night" must give a cartographer, "she", and maps. Names are read with
Unicode letters and inner capitals and hyphens ("Zoë", "Jean-Luc Picard", "McAllister").
"""

from __future__ import annotations

import re

from museforge.core.creativity import tokens

# a word that may be part of a name: letters, with inner apostrophes or hyphens (Unicode)
_NAME_WORD = r"[^\W\d_]+(?:['’-][^\W\d_]+)*"
_NAMED = re.compile(rf"\bnamed\s+({_NAME_WORD}(?:\s+{_NAME_WORD}){{0,2}})")
# "..., Esme, an absent-minded night-shift nurse, inherits": a name at a clause's start
_BEFORE_APPOSITION = re.compile(
    rf"(?:^|,\s+)({_NAME_WORD}(?:\s+{_NAME_WORD}){{0,2}}),\s+(?:an?|the)\s"
)
_OPENINGS = {"a", "an", "the", "when", "after", "before", "in", "on", "one", "then", "but", "if"}
_PRONOUNS = {
    "she": "she",
    "her": "she",
    "hers": "she",
    "herself": "she",
    "he": "he",
    "him": "he",
    "his": "he",
    "himself": "he",
    "they": "they",
    "them": "they",
    "their": "they",
}
# "A homesick museum archivist named Noor must": the description ends at these
_DESCRIPTION = re.compile(
    rf"^(?:an?|the)\s+((?:{_NAME_WORD}[\s-]+){{0,4}}?{_NAME_WORD})"
    r"(?=,|\s+(?:named|called|who|whose|must|is|has|had|was|finds|discovers|wins|repairs|"
    r"learns|inherits|wakes|sees|hears|keeps|receives|loses|meets|\w+[^\Ws]s\s))",
    re.I,
)
# "Lucan, a soft-spoken weather forecaster, wins ...", "as a half-blind night-shift nurse"
_APPOSITION = re.compile(
    rf"(?:,|\bas)\s+(an?\s+(?:{_NAME_WORD}[\s-]+){{0,4}}?{_NAME_WORD})(?=[,;.]|\s+for\b)"
)
_STOPWORDS_TEXT = """
a an the and or but if then of to in on at by
for with from into onto over under as is are was were be been
being has have had do does did must will would can could should may
might that this these those it its their them they he she him his
her who whom whose which what when where why how all any each every
one only own so than too very not no before after because while until
even out up down off again once named called themselves himself herself
"""
STOPWORDS = frozenset(_STOPWORDS_TEXT.split())


def _capitalised(words: list[str]) -> list[str]:
    """The leading words of ``words`` that start with a capital letter."""
    kept = []
    for word in words:
        if not word[:1].isupper():
            break
        kept.append(word)
    return kept


def premise_name(premise: str) -> str | None:
    """The protagonist's name if the premise gives one: after "named", before an apposition
    ("Esme, an absent-minded nurse,"), or a capitalised word it uses twice that is not a
    common sentence opening ("Ilse ... then Ilse must ...")."""
    named = _NAMED.search(premise)
    if named:
        found = _capitalised(named.group(1).split())
        if found:
            return " ".join(found)
    for before in _BEFORE_APPOSITION.finditer(premise):
        found = before.group(1).split()
        if _capitalised(found) == found and found[0].lower() not in _OPENINGS:
            return " ".join(found)
    words = [w for w in re.findall(_NAME_WORD, premise) if w[0].isupper()]
    repeated = [w for w in words if words.count(w) > 1 and w.lower() not in _OPENINGS]
    return repeated[0] if repeated else None


def premise_pronoun(premise: str) -> str | None:
    """The pronoun the premise uses for its people (she, he or they), the most frequent one,
    or None if it uses none."""
    counts = {"she": 0, "he": 0, "they": 0}
    for word in tokens(premise):
        if word in _PRONOUNS:
            counts[_PRONOUNS[word]] += 1
    best = max(counts, key=lambda k: counts[k])
    return best if counts[best] else None


def premise_description(premise: str) -> str:
    """Who the protagonist is in the premise's words ("a lighthouse keeper"), or ""."""
    text = re.sub(r"^when [^,]+,\s*", "", premise.strip(), flags=re.I)  # a When-clause first
    found = _DESCRIPTION.match(text)
    if found:
        article = found.group(0).split()[0].lower()
        return f"{article} {found.group(1)}" if article != "the" else found.group(0)
    apposition = _APPOSITION.search(premise)
    return apposition.group(1) if apposition else ""


def premise_words(premise: str) -> list[str]:
    """The premise's content words (lower-case, no stop words or names), in order, once each:
    what ``premise_coverage`` looks for in the story."""
    name = tokens(premise_name(premise) or "")
    seen: list[str] = []
    for word in tokens(premise):
        if word[0].isalpha() and word not in STOPWORDS and word not in name and word not in seen:
            seen.append(word)
    return seen


def premise_coverage(premise: str, text: str) -> float:
    """The share of the premise's content words that ``text`` uses (1.0 for a premise with
    none)."""
    wanted = premise_words(premise)
    used = set(tokens(text))
    return sum(w in used for w in wanted) / len(wanted) if wanted else 1.0
