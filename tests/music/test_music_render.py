"""Rendering melodies to MIDI, MusicXML, WAV and PNG: round trips, durations, determinism,
safe file names and bad input."""

from __future__ import annotations

import wave
from pathlib import Path

import mido
import numpy as np
import pytest
from music21 import converter
from PIL import Image

from museforge.errors import UserError
from museforge.music.melody import events_to_notes, notes_to_events
from museforge.music.midi_file import read_midi
from museforge.music.render import (
    PianoRoll,
    render_all,
    write_midi,
    write_musicxml,
    write_piano_roll,
    write_wav,
)
from museforge.music.soundfont import find_soundfont, fluidsynth_binary

HAS_FLUIDSYNTH = fluidsynth_binary() is not None and find_soundfont() is not None

# Two bars and a bit: a pickup-free phrase with a rest, a repeated pitch, a note tied
# over the bar line, a 16th, and a rest at the end; 40 steps = 2.5 bars.
NOTES = [(67, 0, 2), (67, 2, 4), (69, 4, 8), (72, 10, 14), (71, 14, 22), (74, 22, 23), (60, 24, 36)]
EVENTS = notes_to_events(NOTES, num_steps=40)


def melody_seconds(events: np.ndarray, bpm: float) -> float:
    return len(events) * 60 / bpm / 4


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    with wave.open(str(path)) as w:
        assert w.getsampwidth() == 2
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
        return pcm.reshape(-1, w.getnchannels()) / 32768, w.getframerate()


def test_midi_reads_back_as_the_same_events(tmp_path: Path) -> None:
    path = write_midi(EVENTS, tmp_path / "m.mid", bpm=100, program=73, title="Test tune")
    piece = read_midi(path)
    assert piece.title == "Test tune"
    [part] = piece.parts
    assert part.meters[0].name == "4/4"
    assert sorted(part.notes, key=lambda n: n[1]) == events_to_notes(EVENTS)
    np.testing.assert_array_equal(notes_to_events(part.notes, len(EVENTS)), EVENTS)


def test_a_title_midi_cannot_spell_still_gives_a_file(tmp_path: Path) -> None:
    path = write_midi(EVENTS, tmp_path / "m.mid", title="Mélodie 旋律")
    assert read_midi(path).title == "Mélodie ??"


def test_midi_holds_tempo_program_and_full_length(tmp_path: Path) -> None:
    midi = mido.MidiFile(write_midi(EVENTS, tmp_path / "m.mid", bpm=100, program=73))
    assert midi.type == 1
    messages = [m for track in midi.tracks for m in track]
    assert any(m.type == "set_tempo" and m.tempo == mido.bpm2tempo(100) for m in messages)
    assert any(m.type == "program_change" and m.program == 73 for m in messages)
    assert midi.length == pytest.approx(melody_seconds(EVENTS, 100))


def test_musicxml_loads_in_music21_with_the_same_notes(tmp_path: Path) -> None:
    path = write_musicxml(EVENTS, tmp_path / "m.musicxml", title="Test tune", bpm=90)
    score = converter.parse(path, forceSource=True)
    assert score.metadata.bestTitle == "Test tune"
    notes = [
        (n.pitch.midi, round(n.offset * 4), round((n.offset + n.quarterLength) * 4))
        for n in score.stripTies().flatten().notes
    ]
    assert notes == events_to_notes(EVENTS)
    assert "<tie " in path.read_text()  # the note over the bar line is written tied


@pytest.mark.parametrize(
    "synth",
    [
        pytest.param(
            "fluidsynth",
            marks=pytest.mark.skipif(not HAS_FLUIDSYNTH, reason="no FluidSynth or SoundFont"),
        ),
        "numpy",
    ],
)
def test_wav_lasts_as_long_as_the_melody_and_is_not_silent(tmp_path: Path, synth: str) -> None:
    path = tmp_path / "m.wav"
    assert write_wav(EVENTS, path, bpm=140, synth=synth) == synth
    audio, rate = read_wav(path)
    assert len(audio) / rate == pytest.approx(melody_seconds(EVENTS, 140), rel=0.05)
    assert np.sqrt(np.mean(audio**2)) > 0.02
    assert np.all(audio[-1] == 0)  # faded out, not cut off with a click


def test_wav_falls_back_to_numpy_without_a_soundfont(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MUSEFORGE_SOUNDFONT", str(tmp_path / "none.sf2"))
    assert write_wav(EVENTS, tmp_path / "m.wav") == "numpy"
    with pytest.raises(UserError, match="SoundFont is not installed"):
        write_wav(EVENTS, tmp_path / "m.wav", synth="fluidsynth")


def test_an_unusable_soundfont_is_reported_or_replaced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = tmp_path / "broken.sf2"
    broken.write_bytes(b"not a soundfont")
    for synth in ("auto", "fluidsynth"):  # one the person named is their mistake to hear of
        with pytest.raises(UserError, match="broken.sf2: not a SoundFont"):
            write_wav(EVENTS, tmp_path / "m.wav", soundfont=broken, synth=synth)
    assert not (tmp_path / "m.wav").exists()
    monkeypatch.setenv("MUSEFORGE_SOUNDFONT", str(broken))  # one found on the machine is not
    assert write_wav(EVENTS, tmp_path / "m.wav") == "numpy"


def test_piano_roll_is_a_png_of_the_expected_size(tmp_path: Path) -> None:
    path = write_piano_roll(EVENTS, tmp_path / "m.png", title="Test tune")
    roll = PianoRoll(EVENTS, "Test tune")
    with Image.open(path) as image:
        assert image.format == "PNG"
        assert image.size == (roll.width, roll.height)
        assert 800 <= image.width <= 1200
        assert 200 <= image.height <= 700
        colours = {colour for _, colour in image.convert("RGB").getcolors(1 << 16)}
    assert (0x3A, 0x78, 0xC9) in colours  # note boxes were drawn
    assert (roll.low, roll.high) == (58, 76)  # the used range, 60..74, with two rows spare
    long_title = write_piano_roll(EVENTS, tmp_path / "long.png", title="A very long title " * 9)
    with Image.open(long_title) as image:
        assert image.size == (roll.width, roll.height)


def test_same_events_give_byte_identical_files(tmp_path: Path) -> None:
    first = render_all(EVENTS, tmp_path / "a", "tune", title="Tune")
    second = render_all(list(EVENTS), tmp_path / "b", "tune", title="Tune")
    assert set(first) == {"mid", "musicxml", "wav", "png"}
    for fmt, path in first.items():
        assert path.read_bytes() == second[fmt].read_bytes(), fmt


def test_stem_cannot_escape_the_output_folder(tmp_path: Path) -> None:
    out = tmp_path / "out"
    paths = render_all(EVENTS, out, "../x", formats=("mid", "png"))
    assert paths == {"mid": out / "x.mid", "png": out / "x.png"}
    assert render_all(EVENTS, out, "..\\y", formats="png") == {"png": out / "y.png"}
    assert render_all(EVENTS, out, "/etc/passwd", formats=("mid",))["mid"] == out / "etc_passwd.mid"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    with pytest.raises(UserError, match="output name"):
        render_all(EVENTS, out, "../..", formats=("mid",))


def test_a_failing_format_leaves_no_files(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="SoundFont"):
        render_all(
            EVENTS, tmp_path, "t", soundfont=tmp_path / "missing.sf2", formats=("mid", "wav")
        )
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(UserError, match="unknown output format 'mp3'"):
        render_all(EVENTS, tmp_path, "t", formats=("mid", "mp3"))


@pytest.mark.parametrize(
    ("events", "problem"),
    [
        (np.zeros((2, 8), dtype=np.int64), "1-D"),
        (np.array([2.0, 0, 1]), "integers"),
        (np.array([2, 0, 95]), "95 at step 2"),
        (np.array([2, -1]), "-1 at step 1"),
        (np.array([0, 0, 1, 0]), "no notes"),
        (np.array([], dtype=np.int64), "no notes"),
        ([[2, 0], [3]], "not an array"),
    ],
)
def test_bad_events_are_a_user_error(tmp_path: Path, events: object, problem: str) -> None:
    for write in (write_midi, write_musicxml, write_wav, write_piano_roll):
        with pytest.raises(UserError, match=problem):
            write(events, tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


def test_bad_settings_are_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="bpm"):
        write_midi(EVENTS, tmp_path / "m.mid", bpm=0)
    with pytest.raises(UserError, match="program"):
        write_musicxml(EVENTS, tmp_path / "m.musicxml", program=128)
    with pytest.raises(UserError, match="synth"):
        write_wav(EVENTS, tmp_path / "m.wav", synth="piano")  # type: ignore[arg-type]
