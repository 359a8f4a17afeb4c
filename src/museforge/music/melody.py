"""MusicVAE's melody encoding: one event per 16th note, 90 classes.

MusicVAE (Roberts et al. 2018, "A Hierarchical Latent Vector Model for Learning
Long-Term Structure in Music") models monophonic melodies as one categorical event per
16th-note step: 0 = no event (the previous note keeps sounding, or the rest goes on),
1 = note-off, 2..89 = note-on of MIDI pitch 21..108 (the piano's range). This module
turns notes into events and back, reduces overlapping notes to their top line, and cuts a
part into melodies at rests of a bar or more, as Magenta's melody extractor does.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

NO_EVENT = 0
NOTE_OFF = 1
FIRST_NOTE_ON = 2
MIN_PITCH = 21
MAX_PITCH = 108
NUM_CLASSES = FIRST_NOTE_ON + MAX_PITCH - MIN_PITCH + 1  # 90
STEPS_PER_QUARTER = 4

Note = tuple[int, int, int]
"""A note on the 16th-note grid: (MIDI pitch, start step, end step), end exclusive."""


@dataclass(frozen=True)
class MeterSpan:
    """A stretch of a piece in one meter; ``start`` is a bar line on the step grid."""

    start: int
    steps_per_bar: int
    name: str  # "4/4", "6/8", or "free" when the source gives no meter


@dataclass
class ExtractedMelody:
    """One melody cut from a part: its events and the meter it is in."""

    events: np.ndarray  # uint8 classes 0..89; starts on a bar line, whole bars long
    meter: str
    steps_per_bar: int
    part: str


def pitch_to_class(pitch: int) -> int:
    return FIRST_NOTE_ON + pitch - MIN_PITCH


def class_to_pitch(event: int) -> int:
    return int(event) - FIRST_NOTE_ON + MIN_PITCH


def fold_pitch(pitch: int) -> int:
    """Shift ``pitch`` by octaves into 21..108, keeping its pitch class."""
    while pitch < MIN_PITCH:
        pitch += 12
    while pitch > MAX_PITCH:
        pitch -= 12
    return pitch


def quarters_to_step(quarters: float) -> int:
    """The nearest 16th-note step (halves round up, unlike Python's banker's ``round``)."""
    return int(np.floor(float(quarters) * STEPS_PER_QUARTER + 0.5))


def _top_line(notes: Iterable[Note], num_steps: int) -> tuple[np.ndarray, np.ndarray]:
    """The highest sounding pitch at each step (-1 in silence) and where it is struck.

    The top line is the skyline of the notes: a lower note held under a higher one is
    heard again (re-struck) when the higher note ends.
    """
    top = np.full(num_steps, -1, dtype=np.int16)
    struck = np.full(num_steps, -1, dtype=np.int16)
    for pitch, start, end in notes:
        if start >= num_steps:
            continue
        np.maximum(top[start:end], pitch, out=top[start:end])
        struck[start] = max(struck[start], pitch)
    previous = np.concatenate([[-1], top[:-1]])
    onsets = (top >= 0) & ((top != previous) | (struck == top))
    return top, onsets


def notes_to_events(notes: Sequence[Note], num_steps: int | None = None) -> np.ndarray:
    """Events (uint8, classes 0..89) for ``notes``; where notes overlap the highest wins.

    Pitches outside 21..108 are moved by octaves into range. ``num_steps`` defaults to
    one past the last note's end, so the final note-off fits; notes are cut at
    ``num_steps``.
    """
    folded = [(fold_pitch(p), s, max(e, s + 1)) for p, s, e in notes]
    if num_steps is None:
        num_steps = max((e for _, _, e in folded), default=0) + 1
    top, onsets = _top_line(folded, num_steps)
    previous = np.concatenate([[-1], top[:-1]])
    events = np.zeros(num_steps, dtype=np.uint8)
    events[onsets] = top[onsets] - MIN_PITCH + FIRST_NOTE_ON
    events[(top < 0) & (previous >= 0)] = NOTE_OFF
    return events


def events_to_notes(events: Sequence[int] | np.ndarray) -> list[Note]:
    """The notes of an event sequence; a note ends at the next note-on or note-off."""
    events = np.asarray(events)
    notes: list[Note] = []
    pitch, start = -1, 0
    for step in np.flatnonzero(events):
        if pitch >= 0:
            notes.append((pitch, start, int(step)))
            pitch = -1
        if events[step] >= FIRST_NOTE_ON:
            pitch, start = class_to_pitch(events[step]), int(step)
    if pitch >= 0:
        notes.append((pitch, start, len(events)))
    return notes


def split_at_rests(events: np.ndarray, steps_per_bar: int) -> list[np.ndarray]:
    """Cut events at rests of a bar or more; each piece starts and ends on a bar line.

    A long rest is a phrase or section boundary, not part of a melody (MusicVAE's
    ``gap_bars=1``). Each piece runs from the bar line before its first note to the
    bar line after its last note-off.
    """
    sounding = last_event(events) >= FIRST_NOTE_ON
    edges = np.flatnonzero(np.diff(np.concatenate([[False], sounding, [False]]).astype(np.int8)))
    starts, ends = edges[0::2], edges[1::2]  # sounding runs; ends are note-off steps
    if len(starts) == 0:
        return []
    breaks = np.flatnonzero(starts[1:] - ends[:-1] >= steps_per_bar)
    firsts = np.concatenate([[0], breaks + 1])
    lasts = np.concatenate([breaks, [len(starts) - 1]])
    pieces = []
    for first, last in zip(firsts, lasts, strict=True):
        begin = starts[first] // steps_per_bar * steps_per_bar
        end = -(-(ends[last] + 1) // steps_per_bar) * steps_per_bar
        piece = np.zeros(end - begin, dtype=np.uint8)
        chunk = events[begin : min(end, len(events))]
        piece[: len(chunk)] = chunk
        piece[ends[last] - begin] = NOTE_OFF  # every melody ends silent, even if cut mid-note
        pieces.append(piece)
    return pieces


def last_event(events: np.ndarray) -> np.ndarray:
    """At each step, the latest event that is not "no event" (NOTE_OFF before any); along
    the last axis, so each row of a batch [N, steps] has its own history."""
    index = np.where(events != NO_EVENT, np.arange(events.shape[-1]), -1)
    np.maximum.accumulate(index, axis=-1, out=index)
    latest = np.take_along_axis(events, np.maximum(index, 0), axis=-1)
    return np.where(index >= 0, latest, NOTE_OFF)


def extract_melodies(
    notes: Sequence[Note], meters: Sequence[MeterSpan], part: str
) -> list[ExtractedMelody]:
    """The melodies of one part: its top line, cut at meter changes and at long rests."""
    melodies = []
    bounds = [m.start for m in meters[1:]] + [None]
    for meter, stop in zip(meters, bounds, strict=True):
        inside = [
            (p, s - meter.start, (e if stop is None else min(e, stop)) - meter.start)
            for p, s, e in notes
            if s >= meter.start and (stop is None or s < stop)
        ]
        if not inside:
            continue
        for events in split_at_rests(notes_to_events(inside), meter.steps_per_bar):
            melodies.append(ExtractedMelody(events, meter.name, meter.steps_per_bar, part))
    return melodies
