"""Musical attributes of melody windows, computed from their events.

MusicVAE (Roberts et al. 2018, "A Hierarchical Latent Vector Model for Learning
Long-Term Structure in Music", section 5.3) finds "attribute vectors" in the latent space:
the mean code of melodies with much of an attribute minus the mean code of melodies with
little of it. These are the attributes museforge offers; each maps windows [N, steps] of
event classes to one number per window.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from museforge.errors import UserError
from museforge.music.melody import FIRST_NOTE_ON, MIN_PITCH, STEPS_PER_QUARTER, events_to_notes

MAJOR_SCALE = (0, 2, 4, 5, 7, 9, 11)


def note_density(windows: np.ndarray) -> np.ndarray:
    """Note-ons per step: 0 for silence, 1 for a note on every 16th."""
    return (windows >= FIRST_NOTE_ON).mean(axis=1)


def syncopation(windows: np.ndarray) -> np.ndarray:
    """Share of notes struck off the beat and still sounding on the next beat.

    That is the textbook syncopation: an accent on a weak position held over a strong one.
    """
    out = np.zeros(len(windows))
    for i, events in enumerate(windows):
        notes = events_to_notes(events)
        if not notes:
            continue
        held_over = [
            start % STEPS_PER_QUARTER != 0
            and end > (start // STEPS_PER_QUARTER + 1) * STEPS_PER_QUARTER
            for _, start, end in notes
        ]
        out[i] = np.mean(held_over)
    return out


def mean_interval(windows: np.ndarray) -> np.ndarray:
    """Mean size in semitones of the leaps between consecutive notes (0 with under 2 notes)."""
    out = np.zeros(len(windows))
    for i, events in enumerate(windows):
        pitches = events[events >= FIRST_NOTE_ON].astype(int)
        if len(pitches) > 1:
            out[i] = np.abs(np.diff(pitches)).mean()
    return out


def in_key_share(windows: np.ndarray) -> np.ndarray:
    """Share of notes in the major (or relative minor) scale that holds most of them.

    1 for a diatonic melody, lower the more chromatic it is; 0 for silence.
    """
    scales = np.zeros((12, 12), dtype=bool)
    for tonic in range(12):
        scales[tonic, [(tonic + step) % 12 for step in MAJOR_SCALE]] = True
    out = np.zeros(len(windows))
    for i, events in enumerate(windows):
        pitches = events[events >= FIRST_NOTE_ON].astype(int) - FIRST_NOTE_ON + MIN_PITCH
        if len(pitches):
            counts = np.bincount(pitches % 12, minlength=12)
            out[i] = (scales @ counts).max() / len(pitches)
    return out


ATTRIBUTES: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "note_density": note_density,
    "syncopation": syncopation,
    "mean_interval": mean_interval,
    "in_key_share": in_key_share,
}


def attribute(windows: np.ndarray, name: str) -> np.ndarray:
    """The attribute ``name`` of each window; float array [N]."""
    if name not in ATTRIBUTES:
        raise UserError(f"unknown attribute {name!r} (choose from {', '.join(ATTRIBUTES)})")
    windows = np.asarray(windows)
    if windows.ndim != 2:
        raise UserError(f"windows must be a 2-d array [N, steps], got shape {windows.shape}")
    return ATTRIBUTES[name](windows)
