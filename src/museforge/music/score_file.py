"""Notes from scores read with music21: ABC tunes, MusicXML files, the Bach chorales.

The step grid starts on the bar line before a pickup (music21's ``paddingLeft`` of the
first measure), so bar lines fall on multiples of the bar length and windows cut later
start on real downbeats. Tied notes become one note; chord symbols, grace notes and
unpitched (drum) notes are skipped; a chord counts as its top note.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

from music21 import chord, converter, harmony, key, meter, note, stream

from museforge.music.melody import STEPS_PER_QUARTER, MeterSpan, Note, quarters_to_step
from museforge.music.piece import ParsedPiece, PartNotes, UnusableFile

_TUNE_START = re.compile(r"(?m)^(?=X:)")
_FIELD = re.compile(r"^[A-Za-z]:")


def split_abc(text: str) -> list[str]:
    """The tunes of an ABC file, each carrying the fields of the file header.

    Parsing tune by tune, instead of the whole file as a music21 Opus, lets one broken
    tune be skipped and spreads a 300-tune file over all worker processes.
    """
    head, *tunes = _TUNE_START.split(text)
    if not tunes:
        return [head] if head.strip() else []
    fields = "".join(line + "\n" for line in head.splitlines() if _FIELD.match(line))
    if not fields:
        return tunes
    return [tune.replace("\n", "\n" + fields, 1) for tune in tunes]


def read_abc_tune(text: str, path: str | Path, fallback_title: str) -> ParsedPiece:
    """One ABC tune (the text from its ``X:`` line to the next) as parts of notes."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # notation music21 drops is of no use to a melody
            score = converter.parseData(text, format="abc")
    except Exception as exc:  # music21's ABC parser fails with many exception types
        raise UnusableFile(path, "ABC syntax error", _describe(exc)) from exc
    return piece_from_score(score, path, fallback_title)


def read_score_file(path: str | Path, only_part: str | None = None) -> ParsedPiece:
    """A MusicXML (or other music21-readable) file; ``only_part`` keeps the part so named."""
    path = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            score = converter.parse(path, forceSource=True)  # forceSource: no music21 pickle cache
    except Exception as exc:  # music21 raises many exception types on malformed files
        raise UnusableFile(path, "not a readable score", _describe(exc)) from exc
    if isinstance(score, stream.Opus):
        raise UnusableFile(path, "holds several scores", "save one score per file")
    return piece_from_score(score, path, path.stem, only_part)


def piece_from_score(
    score: stream.Score, path: str | Path, fallback_title: str, only_part: str | None = None
) -> ParsedPiece:
    """Each part of a parsed score as notes; a part of only drums or rests is left out."""
    parts = list(score.parts) or [score]
    if only_part:
        chosen = [p for p in parts if only_part.lower() in str(p.partName or p.id).lower()]
        parts = chosen[:1] or parts[:1]
    piece = ParsedPiece(
        title=(score.metadata.title if score.metadata else None) or fallback_title, key=None
    )
    unpitched = 0
    for index, part in enumerate(parts):
        notes, skipped = _notes(part)
        unpitched += skipped
        if notes:
            name = part.partName or f"part {index + 1}"
            piece.parts.append(PartNotes(name, notes, _meters(part)))
            piece.key = piece.key or _key(part)
    if not piece.parts:
        raise UnusableFile(path, "no melodic notes (only drums)" if unpitched else "no notes")
    return piece


def _pickup(part: stream.Stream) -> float:
    first = part.getElementsByClass(stream.Measure).first()
    return float(first.paddingLeft) if first is not None else 0.0


def _notes(part: stream.Stream) -> tuple[list[Note], int]:
    """The part's pitched notes on the grid, and how many unpitched ones were skipped."""
    shift = _pickup(part)
    notes: list[Note] = []
    last_of_pitch: dict[int, int] = {}
    unpitched = 0
    for element in part.flatten().notes:
        if isinstance(element, harmony.Harmony) or element.duration.isGrace:
            continue
        if isinstance(element, note.Note):
            pitch = element.pitch.midi
        elif isinstance(element, chord.Chord) and element.pitches:
            pitch = max(p.midi for p in element.pitches)
        else:
            unpitched += 1
            continue
        start = quarters_to_step(element.offset + shift)
        end = quarters_to_step(element.offset + element.quarterLength + shift)
        tied = element.tie is not None and element.tie.type in ("stop", "continue")
        previous = last_of_pitch.get(pitch)
        if tied and previous is not None and notes[previous][2] == start:
            notes[previous] = (pitch, notes[previous][1], end)
        else:
            last_of_pitch[pitch] = len(notes)
            notes.append((pitch, start, end))
    return notes, unpitched


def _meters(part: stream.Stream) -> list[MeterSpan]:
    """Where the bar grid holds: a new span at each meter change and at each full bar
    that does not start on a bar line of the span before (an odd bar such as a short
    last bar before a repeat), so every span's bar lines are real ones."""
    shift = _pickup(part)
    free = MeterSpan(0, 4 * STEPS_PER_QUARTER, "free")
    measures = list(part.getElementsByClass(stream.Measure))
    if not measures:
        first = part.recurse().getElementsByClass(meter.TimeSignature).first()
        return [_span(0, first) if first is not None else free]
    spans: list[MeterSpan] = []
    signature = None
    for measure in measures:
        signature = measure.timeSignature or signature
        if signature is None:
            continue
        start = quarters_to_step(measure.offset + shift - measure.paddingLeft)
        span = _span(start, signature)
        full = (
            measure.duration.quarterLength + measure.paddingLeft
            >= signature.barDuration.quarterLength
        )
        if spans and _continues(spans[-1], span, full):
            continue
        if spans and spans[-1].start == start:
            spans.pop()
        spans.append(span)
    if not spans or spans[0].start > 0:
        spans.insert(0, free)
    return spans


def _continues(current: MeterSpan, span: MeterSpan, full: bool) -> bool:
    """Whether a measure carries on ``current``: the same meter, and a full bar on its grid."""
    same = (current.steps_per_bar, current.name) == (span.steps_per_bar, span.name)
    return same and (not full or (span.start - current.start) % span.steps_per_bar == 0)


def _span(start: int, signature: meter.TimeSignature) -> MeterSpan:
    steps = quarters_to_step(signature.barDuration.quarterLength)
    if steps <= 0:
        return MeterSpan(start, 4 * STEPS_PER_QUARTER, "free")
    return MeterSpan(start, steps, signature.ratioString)


def _key(part: stream.Stream) -> str | None:
    found = part.recurse().getElementsByClass(key.KeySignature).first()
    if found is None:
        return None
    found = found if isinstance(found, key.Key) else found.asKey()
    return f"{found.tonic.name} {found.mode}"


def _describe(exc: Exception) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:160]}" if text else type(exc).__name__
