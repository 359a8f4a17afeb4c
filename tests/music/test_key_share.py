"""The share of notes in the key music21 finds, and held-out tunes that repeat training
tunes in another key."""

from __future__ import annotations

import numpy as np
import pytest

from museforge.music.duplicates import interval_key, near_duplicate_tunes
from museforge.music.key_share import key_share, mean_key_share, melody_key
from museforge.music.melody import notes_to_events

C_MAJOR_RUN = [60, 62, 64, 65, 67, 69, 71, 72, 67, 64, 60]


def melody(pitches: list[int], length: int = 4) -> np.ndarray:
    notes = [(p, i * length, (i + 1) * length) for i, p in enumerate(pitches)]
    return notes_to_events(notes, len(pitches) * length + 1)


def test_a_diatonic_tune_is_all_in_key_and_a_chromatic_one_is_not():
    assert melody_key(melody(C_MAJOR_RUN)).name == "C major"
    assert key_share(melody(C_MAJOR_RUN)) == 1.0
    chromatic = key_share(melody(list(range(60, 72)) * 2))
    assert chromatic is not None and chromatic <= 0.75
    assert key_share(np.zeros(32, dtype=np.uint8)) is None  # silence has no key


def test_minor_melodies_may_raise_their_sixth_and_seventh():
    a_minor_rising = [57, 59, 60, 62, 64, 66, 68, 69, 64, 60, 57, 64, 57]
    k = melody_key(melody(a_minor_rising))
    assert (k.tonic.name, k.mode) == ("A", "minor")
    assert key_share(melody(a_minor_rising)) == 1.0


def test_mean_key_share_skips_silent_windows():
    windows = np.stack([melody(C_MAJOR_RUN), np.zeros(45, dtype=np.uint8)])
    assert mean_key_share(windows) == pytest.approx(1.0)
    assert mean_key_share(np.zeros((2, 45), dtype=np.uint8)) is None


def test_the_same_tune_in_another_key_is_a_near_duplicate():
    tune = [60, 62, 64, 60, 64, 65, 67, 67, 69, 67, 65, 64, 62, 60, 59, 60, 62, 64]
    other = [62, 62, 62, 64, 66, 64, 62, 61, 59, 61, 62, 64, 66, 67, 69, 67, 66, 64]
    up_a_fourth = [p + 5 for p in tune]
    assert interval_key(melody(tune)) == interval_key(melody(up_a_fourth))
    assert interval_key(melody(tune)) != interval_key(melody(other))
    assert interval_key(melody(tune[:10])) is None  # too short to call
    pieces = [melody(tune), melody(other), melody(up_a_fourth), melody(other[:8])]
    offsets = np.cumsum([0] + [len(p) for p in pieces])
    events = np.concatenate(pieces)
    melody_tune = np.array([0, 1, 2, 3])
    held_out = np.array([False, False, True, True])
    assert near_duplicate_tunes(events, offsets, melody_tune, held_out).tolist() == [2]
