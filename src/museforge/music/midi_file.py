"""Notes from Standard MIDI Files, read with mido.

Each (track, channel) pair is one part, as in Magenta's melody extractor, which took
melodies from each instrument separately. Channel 10 (index 9) is General MIDI's drum
kit and is skipped. A file without a time signature is in 4/4, as the MIDI standard says.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import mido

from museforge.music.melody import STEPS_PER_QUARTER, MeterSpan, Note
from museforge.music.piece import ParsedPiece, PartNotes, UnusableFile

DRUM_CHANNEL = 9


def read_midi(path: str | Path) -> ParsedPiece:
    """The parts of a MIDI file, quantized to 16th notes."""
    path = Path(path)
    try:
        midi = mido.MidiFile(path)
    except (OSError, EOFError, ValueError, KeyError, IndexError) as exc:
        raise UnusableFile(path, "not a readable MIDI file", str(exc)) from exc
    if midi.ticks_per_beat <= 0:
        raise UnusableFile(path, "not a readable MIDI file", "SMPTE time division is not supported")

    def step(tick: int) -> int:
        return (tick * STEPS_PER_QUARTER * 2 + midi.ticks_per_beat) // (2 * midi.ticks_per_beat)

    notes: dict[tuple[int, int], list[Note]] = defaultdict(list)
    names: dict[int, str] = {}
    meters: dict[int, MeterSpan] = {}
    key = None
    drum_notes = 0
    for index, track in enumerate(midi.tracks):
        tick = 0
        sounding: dict[tuple[int, int], list[int]] = defaultdict(list)
        for msg in track:
            tick += msg.time
            if msg.type == "note_on" and msg.velocity > 0:
                if msg.channel == DRUM_CHANNEL:
                    drum_notes += 1
                else:
                    sounding[(msg.channel, msg.note)].append(tick)
            elif msg.type in ("note_on", "note_off") and sounding[(msg.channel, msg.note)]:
                start = sounding[(msg.channel, msg.note)].pop(0)
                notes[(index, msg.channel)].append((msg.note, step(start), step(tick)))
            elif msg.type == "time_signature":
                meters[step(tick)] = _meter(step(tick), msg.numerator, msg.denominator)
            elif msg.type == "key_signature" and key is None:
                key = _key_name(msg.key)
            elif msg.type == "track_name" and msg.name.strip():
                names[index] = msg.name.strip()
        for (channel, pitch), starts in sounding.items():  # notes never released end with the track
            notes[(index, channel)] += [(pitch, step(start), step(tick)) for start in starts]

    if not any(notes.values()):
        problem = "no melodic notes (only drums)" if drum_notes else "no notes"
        raise UnusableFile(path, problem)
    spans = [meters[s] for s in sorted(meters)]
    if not spans or spans[0].start > 0:
        spans.insert(0, MeterSpan(0, 4 * STEPS_PER_QUARTER, "4/4"))
    parts = [
        PartNotes(f"{names.get(track, f'track {track + 1}')} (channel {channel + 1})", part, spans)
        for (track, channel), part in sorted(notes.items())
        if part
    ]
    title = names.get(0, path.stem)
    return ParsedPiece(title=title, key=key, parts=parts)


def _meter(start: int, numerator: int, denominator: int) -> MeterSpan:
    steps, remainder = divmod(numerator * 4 * STEPS_PER_QUARTER, denominator)
    if remainder or steps == 0:
        return MeterSpan(start, 4 * STEPS_PER_QUARTER, "free")
    return MeterSpan(start, steps, f"{numerator}/{denominator}")


def _key_name(midi_key: str) -> str:
    """mido's "Bbm" as music21's "B- minor", so every reader names keys the same way."""
    minor = midi_key.endswith("m")
    tonic = midi_key[:-1] if minor else midi_key
    tonic = tonic[0] + tonic[1:].replace("b", "-")
    return f"{tonic} {'minor' if minor else 'major'}"
