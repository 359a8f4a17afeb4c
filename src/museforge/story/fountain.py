"""Prose dialogue as Fountain dialogue (https://fountain.io/syntax): a character cue in
capitals, then the lines, instead of action lines with quotation marks in them.

Dramatron (Mirowski et al. 2023) writes a scene's dialogue as a script's dialogue; our
scenes are prose, so the export reads the common prose forms of a spoken line:

- ``"Let me help you," said Silas.`` / ``"Let me help you," Silas said.``
- ``Silas said, "Let me help you."``

Anything after the attribution stays as action. A line in any other form is left as it
is: nothing is guessed.
"""

from __future__ import annotations

import re

_VERBS = r"(?:said|asked|replied|whispered|shouted|called|cried|answered|muttered)"
_NAME = r"(?P<name>[^\W\d_][\w'’-]*(?: [^\W\d_][\w'’-]*){0,2})"
_QUOTE = r"[\"“](?P<speech>[^\"“”]+?)[\"”]"
_FORMS = (
    re.compile(rf"^{_QUOTE},?\s+{_VERBS}\s+{_NAME}(?P<rest>[.,!?].*)?$"),
    re.compile(rf"^{_QUOTE},?\s+{_NAME}\s+{_VERBS}(?P<rest>[.,!?].*)?$"),
    re.compile(rf"^{_NAME}\s+{_VERBS},?\s+{_QUOTE}(?P<rest>.*)$"),
)


def dialogue(line: str) -> list[str] | None:
    """Fountain lines (cue, speech, then any action after it) for a prose line of
    dialogue, or None if ``line`` is not one."""
    text = line.strip()
    for form in _FORMS:
        match = form.match(text)
        if match and match.group("name")[0].isupper():
            speech = match.group("speech").strip()
            if speech.endswith(","):
                speech = speech[:-1] + "."
            rest = (match.group("rest") or "").lstrip(".,!? ").strip()
            return [match.group("name").upper(), speech] + (["", rest] if rest else [])
    return None
