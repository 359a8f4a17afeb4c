"""Held-out tunes that are the same melody as a training tune, found by their intervals.

Splitting by tune id puts the same melody on both sides when a collection holds it twice:
a chorale tune harmonised twice by Bach, one Irish reel in both O'Neill's and Ryan's
books, a folk song in two keys. A held-out figure measured on such a tune measures
memory, not generalisation. Two melodies are taken as the same tune when the intervals
between their first ``KEY_NOTES`` + 1 notes are the same: transposition does not change
them, and a different tune almost never shares them.
"""

from __future__ import annotations

import numpy as np

from museforge.music.melody import FIRST_NOTE_ON

KEY_NOTES = 16  # intervals compared; shorter melodies are never called duplicates


def interval_key(events: np.ndarray, notes: int = KEY_NOTES) -> bytes | None:
    """The first ``notes`` intervals between successive note-ons, or None when the melody
    has fewer notes than that."""
    pitches = events[events >= FIRST_NOTE_ON].astype(np.int16)
    if len(pitches) <= notes:
        return None
    return np.diff(pitches[: notes + 1]).astype(np.int8).tobytes()


def near_duplicate_tunes(
    events: np.ndarray, offsets: np.ndarray, melody_tune: np.ndarray, melody_is_eval: np.ndarray
) -> np.ndarray:
    """The held-out tunes (sorted indices) with a melody that a training tune also has."""
    keys = [interval_key(events[offsets[i] : offsets[i + 1]]) for i in range(len(melody_tune))]
    seen = {k for k, held in zip(keys, melody_is_eval, strict=True) if k is not None and not held}
    tunes = {
        int(tune)
        for k, tune, held in zip(keys, melody_tune, melody_is_eval, strict=True)
        if held and k is not None and k in seen
    }
    return np.array(sorted(tunes), dtype=np.int64)
