"""Read the melody a person hands to ``music interpolate``, ``continue`` or ``vary``.

One file (MIDI, MusicXML or ABC; the first tune of a multi-tune ABC file) gives its first
melody, cut or padded to whole bars, in the same 90-class events the models use.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from museforge.errors import BadInputFile, require_file
from museforge.music.corpus import MUSIC_SUFFIXES, list_pieces, read_piece
from museforge.music.melody import NO_EVENT, NOTE_OFF, STEPS_PER_QUARTER

STEPS_PER_BAR = 4 * STEPS_PER_QUARTER  # the 4/4 bar the models learn


def read_melody(path: str | Path, steps: int | None = None) -> np.ndarray:
    """The first melody in ``path`` as int64 events; exactly ``steps`` long when given
    (cut, or padded with a note-off then silence), else its whole bars."""
    file = require_file(path)
    if file.suffix.lower() not in MUSIC_SUFFIXES:
        raise BadInputFile(file, "not a melody file", f"use one of {', '.join(MUSIC_SUFFIXES)}")
    result = read_piece(list_pieces(file)[0])
    if result.problem:
        raise BadInputFile(file, result.problem)
    in_bars = [m for m in result.melodies if m.steps_per_bar == STEPS_PER_BAR]
    if not in_bars:
        raise BadInputFile(
            file, "no melody in 4/4 or 2/4", "the models learn 16-step bars of 16th notes"
        )
    events = np.asarray(in_bars[0].events, dtype=np.int64)
    if steps is None:
        return events
    if len(events) >= steps:
        events = events[:steps].copy()
        if events[0] == NO_EVENT:
            events[0] = NOTE_OFF
        return events
    pad = np.full(steps - len(events), NO_EVENT, dtype=np.int64)
    pad[0] = NOTE_OFF
    return np.concatenate([events, pad])
