"""How much of a melody stays in its key, the key being the one music21's analysis finds.

music21's ``analyze("key")`` runs the Krumhansl-Schmuckler key-finding algorithm
(Krumhansl 1990, with Aarden-Essen weights in music21) on the melody's pitches, weighted by
duration. The share is the fraction of the melody's notes whose pitch class belongs to that
key's scale (natural minor for a minor key, plus its raised sixth and seventh, which minor
melodies use as they rise). Folk tunes score near 1; a sampler that wanders between keys
scores lower. ``attributes.in_key_share`` is a cheaper cousin that takes the best of the
twelve major scales and needs no analysis.
"""

from __future__ import annotations

import numpy as np
from music21 import key as m21key
from music21 import note, stream

from museforge.music.melody import STEPS_PER_QUARTER, events_to_notes


def melody_key(events: np.ndarray) -> m21key.Key | None:
    """The key music21 finds for a melody of events, None for one without notes."""
    notes = events_to_notes(events)
    if not notes:
        return None
    part = stream.Stream()
    for pitch, start, end in notes:
        n = note.Note(pitch)
        n.quarterLength = (end - start) / STEPS_PER_QUARTER
        part.insert(start / STEPS_PER_QUARTER, n)
    return part.analyze("key")


def scale_pitch_classes(k: m21key.Key) -> set[int]:
    """The pitch classes of ``k``'s scale; a minor key adds its raised sixth and seventh."""
    classes = {p.pitchClass for p in k.getScale().getPitches()}
    if k.mode == "minor":
        tonic = k.tonic.pitchClass
        classes |= {(tonic + 9) % 12, (tonic + 11) % 12}
    return classes


def key_share(events: np.ndarray) -> float | None:
    """The share of a melody's notes in the key music21 finds; None without notes."""
    k = melody_key(events)
    if k is None:
        return None
    in_key = scale_pitch_classes(k)
    pitches = [pitch for pitch, _, _ in events_to_notes(events)]
    return sum(p % 12 in in_key for p in pitches) / len(pitches)


def mean_key_share(windows: np.ndarray) -> float | None:
    """The mean ``key_share`` over melodies [N, steps] that have notes."""
    shares = [s for s in (key_share(np.asarray(w)) for w in windows) if s is not None]
    return float(np.mean(shares)) if shares else None
