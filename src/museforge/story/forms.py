"""The forms of the planner's answers, as GBNF grammars (llama.cpp's) that hold sampling to
them on runtimes that can (llama.cpp, its server, ``story serve``).

A form is only the outline of an answer ("NAME wants to ..., but is too ...."); the words
inside are the model's, in any script: a word is any run of characters that are not
white space or sentence punctuation, so "Zoë", "Jean-Luc" and "Ōsaka" pass. There are no
word or length limits: a model held at a limit glues its next words into one
("ofblackglass"), and counted repetitions make llama.cpp's grammar sampling slow;
max_tokens bounds an answer, and the parsers (``answers``) refuse one that is too long.
Runtimes that cannot constrain sampling ignore the grammar; every answer is parsed anyway.
"""

from __future__ import annotations

# "word" may end with a comma; "plain" is a word that starts in lower case; "cap" in upper
# case (any script's capitals: [A-Z] and the Latin-1 and Latin Extended capitals).
_WORDS = r"""
word ::= wordchar+ ","?
bare ::= wordchar+
plain ::= lower wordchar*
cap ::= upper wordchar*
lower ::= [a-z\u00DF-\u00FF\u0100-\u024F]
upper ::= [A-Z\u00C0-\u00DE\u0100-\u024F]
wordchar ::= [^ \t\n\r.,;:!?"\u201C\u201D()\[\]{}*#|<>]
"""

TITLE = r'root ::= cap (" " cap)*' + _WORDS
PLACE = r'root ::= ("a" | "an" | "the") (" " bare)+' + _WORDS
SUMMARY = r'root ::= cap ","? (" " word)+ "." (" " cap ","? (" " word)+ ".")?' + _WORDS


def gbnf_literal(text: str) -> str:
    """``text`` as a GBNF string literal."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def character(name: str) -> str:
    """'NAME wants to ..., but is too ....'."""
    return (
        f'root ::= {gbnf_literal(name)} " wants to " plain (" " plain)+ ", but is too " '
        f'plain (" " plain)* "."' + _WORDS
    )


def sentence_starting(name: str) -> str:
    """One sentence that starts with ``name`` (a logline, a beat)."""
    return f'root ::= {gbnf_literal(name)} ","? " " word (" " word)+ "."' + _WORDS
