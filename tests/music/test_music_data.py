"""The melody pipeline: encoding, readers, cache, windows, hold-out, transposition, bad input."""

from __future__ import annotations

import logging
import time

import mido
import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from music21 import key, meter, note, stream

from museforge.errors import UserError
from museforge.music.augment import random_transpose, transpose
from museforge.music.corpus import list_pieces, read_piece
from museforge.music.data import build_dataset, is_eval_tune, load_dataset
from museforge.music.melody import (
    FIRST_NOTE_ON,
    NOTE_OFF,
    NUM_CLASSES,
    events_to_notes,
    notes_to_events,
    pitch_to_class,
    split_at_rests,
)

TICKS = 480  # per quarter note

TWO_TUNES_ABC = """\
X:1
T:First Tune
M:4/4
L:1/8
K:G
D2|G2B2 d2B2|c2A2 F2A2|G4 z4|]

X:2
T:Second Tune
M:6/8
L:1/8
K:D
A|d2f a2f|g2e c2A|d3 d2|]
"""


def write_midi(path, tracks, *, time_signature=(4, 4)):
    """A type-1 MIDI file; ``tracks`` is a list of (channel, [(pitch, start, end) in 16ths])."""
    midi = mido.MidiFile(ticks_per_beat=TICKS)
    conductor = mido.MidiTrack()
    conductor.append(mido.MetaMessage("track_name", name="Test Song"))
    numerator, denominator = time_signature
    conductor.append(
        mido.MetaMessage("time_signature", numerator=numerator, denominator=denominator)
    )
    conductor.append(mido.MetaMessage("key_signature", key="Bb"))
    midi.tracks.append(conductor)
    for channel, notes in tracks:
        timed = []
        for pitch, start, end in notes:
            timed.append(
                (end * TICKS // 4, 0, mido.Message("note_off", channel=channel, note=pitch))
            )
            timed.append(
                (
                    start * TICKS // 4,
                    1,
                    mido.Message("note_on", channel=channel, note=pitch, velocity=80),
                )
            )
        track = mido.MidiTrack()
        now = 0
        for tick, _, message in sorted(timed, key=lambda t: (t[0], t[1])):
            track.append(message.copy(time=tick - now))
            now = tick
        midi.tracks.append(track)
    midi.save(path)
    return path


def melodies_of(path):
    return [m for piece in list_pieces(path) for m in read_piece(piece).melodies]


def bad_inputs(tmp_path):
    """One folder per bad-input case from the issue, each with the text its error must show."""
    cases = {}
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    (corrupt / "song.mid").write_bytes(b"MThd\x00\x00\x00\x06\x00\x01garbage")
    cases["corrupt"] = (corrupt, "song.mid: not a readable MIDI file")
    drums = tmp_path / "drums"
    drums.mkdir()
    write_midi(drums / "song.mid", [(9, [(36, 0, 2), (38, 4, 6)])])
    cases["drums"] = (drums, "song.mid: no melodic notes (only drums)")
    abc = tmp_path / "abc"
    abc.mkdir()
    (abc / "tune.abc").write_text("X:1\nT:Broken\nM:4/4\nL:1/8\nK:C\n[CEG CDE|\n")
    cases["abc"] = (abc, "tune.abc: ABC syntax error")
    empty = tmp_path / "empty"
    empty.mkdir()
    cases["empty"] = (empty, "no MIDI, MusicXML or ABC files")
    return cases


# --- encoding -----------------------------------------------------------------------------


@st.composite
def event_sequences(draw):
    """Event lists as a reader makes them: a note-off only ends a sounding note."""
    raw = draw(st.lists(st.integers(0, NUM_CLASSES - 1), min_size=1, max_size=64))
    events, sounding = [], False
    for event in raw:
        if event == NOTE_OFF and not sounding:
            event = 0
        sounding = event >= FIRST_NOTE_ON or (sounding and event == 0)
        events.append(event)
    return np.array(events, dtype=np.uint8)


@given(event_sequences())
def test_events_to_notes_and_back_is_identity(events):
    assert np.array_equal(notes_to_events(events_to_notes(events), len(events)), events)


def test_highest_note_wins_and_a_held_lower_note_is_struck_again():
    # a C major chord for a bar, with a high G over its first half
    events = notes_to_events([(60, 0, 16), (64, 0, 16), (67, 0, 16), (79, 0, 8)])
    assert events[0] == pitch_to_class(79)
    assert events[8] == pitch_to_class(67)  # G4 comes back when G5 stops
    assert events[16] == NOTE_OFF
    assert np.count_nonzero(events) == 3


def test_notes_outside_the_piano_are_moved_by_octaves():
    events = notes_to_events([(12, 0, 4), (120, 4, 8)])
    assert [p for p, _, _ in events_to_notes(events)] == [24, 108]


def test_a_rest_of_a_bar_splits_a_melody_at_bar_lines():
    notes = [(60, 2, 6), (62, 6, 10), (64, 26, 30), (65, 40, 44)]  # 16 silent steps before 64
    pieces = split_at_rests(notes_to_events(notes), steps_per_bar=16)
    assert len(pieces) == 2
    assert all(len(p) % 16 == 0 for p in pieces)
    assert [p for p, _, _ in events_to_notes(pieces[0])] == [60, 62]
    assert [p for p, _, _ in events_to_notes(pieces[1])] == [64, 65]
    assert events_to_notes(pieces[1])[0][1] == 26 - 16  # starts on the bar line before it


# --- readers ------------------------------------------------------------------------------


def test_midi_written_from_events_reads_back_the_same_events(tmp_path):
    events = np.zeros(64, dtype=np.uint8)
    for step, pitch in [
        (0, 60),
        (4, 62),
        (8, 64),
        (14, 64),
        (20, 67),
        (32, 72),
        (40, 71),
        (48, 60),
    ]:
        events[step] = pitch_to_class(pitch)
    events[[12, 18, 56]] = NOTE_OFF
    path = write_midi(tmp_path / "melody.mid", [(0, events_to_notes(events))])
    (melody,) = melodies_of(path)
    assert np.array_equal(melody.events, events)
    assert (melody.meter, melody.steps_per_bar) == ("4/4", 16)


def test_midi_chords_reduce_to_their_top_line_and_drums_are_ignored(tmp_path):
    chords = [(60, 0, 16), (64, 0, 16), (67, 0, 16), (62, 16, 32), (65, 16, 32), (69, 16, 32)]
    drums = [(36, s, s + 1) for s in range(0, 32, 4)]
    path = write_midi(tmp_path / "band.mid", [(0, chords), (9, drums)], time_signature=(3, 4))
    (piece,) = list_pieces(path)
    result = read_piece(piece)
    assert result.key == "B- major"
    (melody,) = result.melodies
    assert [p for p, _, _ in events_to_notes(melody.events)] == [67, 69]
    assert (melody.meter, melody.steps_per_bar) == ("3/4", 12)


def test_abc_file_with_two_tunes_gives_two_tunes_on_the_bar_grid(tmp_path):
    path = tmp_path / "tunes.abc"
    path.write_text(TWO_TUNES_ABC)
    pieces = list_pieces(path)
    assert [p.tune_id for p in pieces] == ["tunes.abc#1", "tunes.abc#2"]
    first, second = (read_piece(p) for p in pieces)
    assert (first.title, first.key) == ("First Tune", "G major")
    (melody,) = first.melodies
    assert melody.meter == "4/4"
    assert melody.events[12] == pitch_to_class(62)  # the pickup D fills the bar's last beat
    assert np.count_nonzero(melody.events[:12]) == 0
    assert melody.events[16] == pitch_to_class(67)  # G on the downbeat
    assert (second.title, second.melodies[0].meter, second.melodies[0].steps_per_bar) == (
        "Second Tune",
        "6/8",
        12,
    )


def test_musicxml_written_by_music21_is_read(tmp_path):
    part = stream.Part()
    part.partName = "Flute"
    part.append(meter.TimeSignature("2/4"))
    part.append(key.Key("e"))
    for name in ["E4", "G4", "B4", "E5"]:
        part.append(note.Note(name, quarterLength=1))
    score = stream.Score([part])
    path = tmp_path / "flute.musicxml"
    score.write("musicxml", fp=path)
    result = read_piece(list_pieces(path)[0])
    (melody,) = result.melodies
    assert result.key == "E minor"
    assert melody.part == "Flute"
    assert (melody.meter, melody.steps_per_bar) == ("2/4", 8)
    assert [p for p, _, _ in events_to_notes(melody.events)] == [64, 67, 71, 76]


# --- cache, windows, split ----------------------------------------------------------------


@pytest.fixture(scope="module")
def corpus_cache(tmp_path_factory):
    """A real slice of music21's corpus, parsed by two processes."""
    out = tmp_path_factory.mktemp("corpus") / "nested" / "melodies.npz"
    build_dataset("corpus", out, jobs=2, limit=40, progress=False)
    return out


def test_corpus_slice_builds_and_loads_quickly(corpus_cache):
    started = time.perf_counter()
    dataset = load_dataset(corpus_cache)
    assert time.perf_counter() - started < 2.0
    summary = dataset.summary()
    assert summary["source"] == "corpus"
    assert summary["tunes"] >= 35
    assert summary["melodies"] == len(dataset.melodies) >= summary["tunes"]
    assert summary["splits"]["train"]["windows_2_bars"] > 100
    assert summary["build"]["jobs"] == 2
    assert any(m.source.startswith("bach/") and m.part == "Soprano" for m in dataset.melodies)
    low, high = summary["pitch_range"]
    assert 21 <= low <= high <= 108


def clipped_notes(events, start, steps):
    """The notes of ``events`` heard in steps start..start+steps, relative to ``start``."""
    return [
        (pitch, max(s, start) - start, min(e, start + steps) - start)
        for pitch, s, e in events_to_notes(events)
        if s < start + steps and e > start
    ]


@pytest.mark.parametrize("bars", [2, 16])
def test_windows_are_bars_of_valid_classes_that_decode_on_their_own(corpus_cache, bars):
    dataset = load_dataset(corpus_cache)
    windows = dataset.windows(bars)
    assert windows.dtype == np.int64 and windows.shape[1] == bars * 16 and len(windows) > 0
    assert windows.min() >= 0 and windows.max() < NUM_CLASSES
    assert (windows >= FIRST_NOTE_ON).any(axis=1).all()
    starts = dataset.window_starts(bars)
    melody_of = np.searchsorted(dataset.offsets, starts, side="right") - 1
    assert np.isin(dataset.melody_steps_per_bar[melody_of], (8, 16)).all()
    into_melody = starts - dataset.offsets[melody_of]
    assert (into_melody % dataset.melody_steps_per_bar[melody_of] == 0).all()
    for window, m, start in zip(windows[:300], melody_of, into_melody, strict=False):
        melody = dataset.melodies[m].events
        assert events_to_notes(window) == clipped_notes(melody, start, bars * 16)


def test_hold_out_is_by_tune_and_stable(corpus_cache):
    dataset = load_dataset(corpus_cache)
    split_of_tune = {}
    for melody in dataset.melodies:
        assert split_of_tune.setdefault(melody.tune_id, melody.split) == melody.split
        assert melody.split == ("eval" if is_eval_tune(melody.tune_id) else "train")
    assert load_dataset(corpus_cache).summary()["splits"] == dataset.summary()["splits"]
    share = np.mean([is_eval_tune(f"tune-{i}") for i in range(20000)])
    assert 0.04 < share < 0.06


def test_cache_round_trip_keeps_melodies_and_metadata(tmp_path):
    folder = tmp_path / "songs"
    folder.mkdir()
    (folder / "tunes.abc").write_text(TWO_TUNES_ABC)
    write_midi(folder / "song.mid", [(0, [(60, 0, 4), (64, 4, 8), (67, 8, 16)])])
    direct = melodies_of(folder)
    out = build_dataset(folder, tmp_path / "cache.npz", jobs=1, progress=False)
    dataset = load_dataset(out)
    assert [m.source for m in dataset.melodies] == ["song.mid", "tunes.abc", "tunes.abc"]
    assert [m.tune for m in dataset.melodies] == [1, 1, 2]
    assert [m.title for m in dataset.melodies] == ["Test Song", "First Tune", "Second Tune"]
    assert [m.key for m in dataset.melodies] == ["B- major", "G major", "D major"]
    assert [m.steps_per_bar for m in dataset.melodies] == [16, 16, 12]
    for cached, parsed in zip(dataset.melodies, direct, strict=True):
        assert np.array_equal(cached.events, parsed.events)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache.npz", "songs"]


def test_windows_come_only_from_meters_with_a_16_step_bar_grid(tmp_path):
    body = "T:Song\nL:1/4\nK:C\nCDEF|GABc|cBAG|FEDC|]\n"  # 4 bars, then the last note-off's bar
    counts = {}
    for name, meter_field in [("common", "M:4/4"), ("free", "M:none"), ("waltz", "M:3/4")]:
        folder = tmp_path / name
        folder.mkdir()
        (folder / "song.abc").write_text(f"X:1\n{meter_field}\n{body}")
        out = build_dataset(folder, tmp_path / f"{name}.npz", jobs=1, progress=False)
        dataset = load_dataset(out)
        counts[dataset.melodies[0].meter] = sum(
            len(dataset.windows(2, s)) for s in ("train", "eval")
        )
    assert counts == {"4/4": 4, "free": 0, "3/4": 0}


# --- transposition ------------------------------------------------------------------------


def test_transpose_moves_only_note_ons_and_skips_shifts_out_of_range():
    low = torch.tensor([[pitch_to_class(21), 0, NOTE_OFF, pitch_to_class(60)]])
    mid = torch.tensor([[pitch_to_class(60), 0, NOTE_OFF, pitch_to_class(64)]])
    moved = transpose(torch.cat([low, mid]), -3)
    assert torch.equal(moved[0], low[0])  # A0 cannot go down
    assert torch.equal(
        moved[1], torch.tensor([pitch_to_class(57), 0, NOTE_OFF, pitch_to_class(61)])
    )


def test_random_transpose_is_seeded_and_stays_in_range(corpus_cache):
    windows = torch.from_numpy(load_dataset(corpus_cache).windows(2))
    edge = torch.tensor([[pitch_to_class(108)] + [0] * 31, [pitch_to_class(21)] + [0] * 31])
    windows = torch.cat([windows, edge])
    first = random_transpose(windows, 6, torch.Generator().manual_seed(7))
    again = random_transpose(windows, 6, torch.Generator().manual_seed(7))
    assert torch.equal(first, again)
    assert not torch.equal(first, windows)
    assert first.min() >= 0 and first.max() < NUM_CLASSES
    assert torch.equal(first < FIRST_NOTE_ON, windows < FIRST_NOTE_ON)
    shift = (first - windows)[windows >= FIRST_NOTE_ON]
    assert shift.abs().max() <= 6


# --- bad input ----------------------------------------------------------------------------


@pytest.mark.parametrize("case", ["corrupt", "drums", "abc", "empty"])
def test_bad_input_is_one_clear_user_error_and_writes_nothing(tmp_path, case):
    folder, expected = bad_inputs(tmp_path)[case]
    out = tmp_path / "out" / "melodies.npz"
    with pytest.raises(UserError) as raised:
        build_dataset(folder, out, jobs=1, progress=False)
    assert expected in raised.value.message
    assert "\n" not in raised.value.message
    assert not out.parent.exists() or list(out.parent.iterdir()) == []


def test_a_bad_file_in_a_good_folder_is_skipped_with_a_warning(tmp_path, caplog):
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "tunes.abc").write_text(TWO_TUNES_ABC)
    (folder / "broken.mid").write_bytes(b"not midi at all")
    write_midi(folder / "drums.mid", [(9, [(36, 0, 2)])])
    with caplog.at_level(logging.WARNING):
        out = build_dataset(
            folder, tmp_path / "new" / "folder" / "melodies.npz", jobs=1, progress=False
        )
    warned = caplog.text
    assert "broken.mid: not a readable MIDI file" in warned
    assert "drums.mid: no melodic notes (only drums)" in warned
    skipped = load_dataset(out).summary()["skipped"]
    assert skipped["files"] == 2
    assert skipped["problems"] == {
        "not a readable MIDI file": 1,
        "no melodic notes (only drums)": 1,
    }


def test_out_that_is_a_directory_is_a_user_error(tmp_path):
    (tmp_path / "tunes.abc").write_text(TWO_TUNES_ABC)
    with pytest.raises(UserError, match="is a directory"):
        build_dataset(tmp_path / "tunes.abc", tmp_path, jobs=1, progress=False)


def test_loading_something_else_is_a_user_error(tmp_path):
    not_a_cache = tmp_path / "melodies.npz"
    not_a_cache.write_bytes(b"hello")
    with pytest.raises(UserError, match="not a museforge melody cache"):
        load_dataset(not_a_cache)
    with pytest.raises(UserError, match="no such melody cache"):
        load_dataset(tmp_path / "missing.npz")
