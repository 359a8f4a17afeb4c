"""What a reader makes of one tune: its parts as notes on the 16th-note grid.

The MIDI reader (mido) and the score reader (music21) both produce a ``ParsedPiece``, so
the rest of the pipeline does not care which format a melody came from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from museforge.errors import BadInputFile
from museforge.music.melody import MeterSpan, Note


@dataclass
class PartNotes:
    """One part, track or voice: its notes and the meters it passes through."""

    name: str
    notes: list[Note]
    meters: list[MeterSpan]


@dataclass
class ParsedPiece:
    title: str
    key: str | None  # a music21 key name such as "G major" or "B- minor", when the file gives one
    parts: list[PartNotes] = field(default_factory=list)


class UnusableFile(BadInputFile):
    """A file (or one tune in it) that gives no melody; ``problem`` is short enough to count."""

    def __init__(self, path: str | Path, problem: str, detail: str = "") -> None:
        super().__init__(path, problem, detail)
        self.problem = problem
        self.detail = detail
