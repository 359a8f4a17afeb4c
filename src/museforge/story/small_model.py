"""The "small model" profile: optional checks for the slips a tiny model makes when asked
for one part of a plan, kept apart from the planner so that they can be switched off (a
stronger model needs none) and measured on and off.

A check may only refuse an answer, which is then asked again with the next seed; it
never changes a word of it, and it refuses only what cannot be a story's text:

- an assistant's chatter instead of the answer ("Here is a logline:", "Sure, here you go",
  "Certainly!", "As an AI"); "Sure enough, the bird sang." is a sentence, not chatter;
- the prompt's labels echoed as if they were people ("the protagonist must ...");
- the example the prompt gave, copied back.

A logline about a story ("A novelist whose story comes true"), dialogue ("Let me help
you," said Silas) and any name pass.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_CHATTER = re.compile(
    r"^[\"'“]?(?:here (?:is|are)\b|here's\b|sure(?:[,!.]| thing\b)|certainly[,!.]|"
    r"of course[,!.]|absolutely[,!.]|i hope\b|i am ready\b|i'm ready\b|as an ai\b|"
    r"(?:the )?(?:logline|title|answer)\s*(?:is|:))",
    re.I,
)
_LABELS = re.compile(r"\bthe (?:protagonist|antagonist|main character)\b", re.I)


@dataclass(frozen=True)
class SmallModel:
    """Which checks run; ``OFF`` runs none."""

    chatter: bool = True
    labels: bool = True
    example: bool = True

    def refuses(self, answer: str, example: str = "") -> str | None:
        """Why ``answer`` is refused ("chatter", "labels", "example"), or None."""
        text = answer.strip()
        if self.chatter and _CHATTER.match(text):
            return "chatter"
        if self.labels and _LABELS.search(text):
            return "labels"
        if self.example and example and example.strip() in text:
            return "example"
        return None


ON = SmallModel()
OFF = SmallModel(chatter=False, labels=False, example=False)
