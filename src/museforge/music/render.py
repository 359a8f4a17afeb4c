"""A melody as the files people use: MIDI, MusicXML, WAV audio and a piano-roll PNG.

The input is the 90-class event array of ``museforge.music.melody`` on a 16th-note grid in
4/4. Every file is written atomically, and the same events give byte-identical files, so
a rendered artifact is reproducible and its hash in the store is stable: MusicXML's
encoding date is dropped and its part id fixed, WAV audio is rewritten by our own code
(no renderer's header reaches the file), PNG gets no timestamp.
"""

from __future__ import annotations

import logging
import re
import subprocess
import tempfile
import wave
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import mido
import numpy as np
from music21 import instrument, metadata, meter, note, pitch, stream, tempo
from music21.musicxml.m21ToXml import GeneralObjectExporter, ScoreExporter
from PIL import Image, ImageDraw, ImageFont

from museforge.core.atomic import atomic_path
from museforge.errors import BadInputFile, UserError, make_out_dir, require_file
from museforge.music.melody import (
    FIRST_NOTE_ON,
    NUM_CLASSES,
    STEPS_PER_QUARTER,
    Note,
    events_to_notes,
)
from museforge.music.soundfont import find_soundfont, fluidsynth_binary

log = logging.getLogger(__name__)

STEPS_PER_BAR = 4 * STEPS_PER_QUARTER  # every rendered melody is in 4/4
MAX_STEPS = 4096  # 256 bars: longer is a mistake, not a melody (MusicVAE's longest is 16)
MAX_AUDIO_SECONDS = 1200  # so a slow tempo cannot make a WAV of gigabytes
TICKS_PER_BEAT = 480
TICKS_PER_STEP = TICKS_PER_BEAT // STEPS_PER_QUARTER
# Half of CD rate: the top piano note's fundamental is 4.2 kHz and a melody sketch loses
# little above 11 kHz, while the files, kept in the store per artifact, are half the size.
DEFAULT_SAMPLE_RATE = 22050
FLUIDSYNTH_GAIN = 0.5  # the render is float and normalised afterwards, so gain cannot clip
PEAK_LEVEL = 0.8  # about -2 dBFS: both renderers come out equally loud, with headroom
FADE_SECONDS = 0.02  # cutting the audio at the melody's end must not click
# A render quieter than this failed, e.g. a SoundFont without the program asked for.
SILENCE_PEAK = 1e-4

NOTE_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
BLACK_KEYS = (1, 3, 6, 8, 10)  # pitch classes

FORMATS = {"mid": ".mid", "musicxml": ".musicxml", "wav": ".wav", "png": ".png"}
Synth = Literal["auto", "fluidsynth", "numpy"]


def validate_events(events: Sequence[int] | np.ndarray) -> np.ndarray:
    """``events`` as an int64 array, or a UserError naming what is wrong with them.

    Renderers are the edge where generated or hand-made melodies become files; a wrong
    array here would otherwise surface as a confusing music21 or mido error.
    """
    try:
        array = np.asarray(events)
    except (ValueError, TypeError) as exc:
        raise UserError(f"melody events are not an array of integers: {exc}") from exc
    if array.ndim != 1:
        raise UserError(f"melody events must be a 1-D array, got shape {array.shape}")
    if not np.issubdtype(array.dtype, np.integer):
        raise UserError(f"melody events must be integers 0..{NUM_CLASSES - 1}, got {array.dtype}")
    if len(array) > MAX_STEPS:
        raise UserError(f"melody has {len(array)} steps; at most {MAX_STEPS} can be rendered")
    bad = np.flatnonzero((array < 0) | (array >= NUM_CLASSES))
    if len(bad):
        step = int(bad[0])
        raise UserError(
            f"melody event {array[step]} at step {step} is outside 0..{NUM_CLASSES - 1}"
        )
    if not np.any(array >= FIRST_NOTE_ON):
        raise UserError(f"melody has no notes (no event in {FIRST_NOTE_ON}..{NUM_CLASSES - 1})")
    return array.astype(np.int64)


def write_midi(
    events: Sequence[int] | np.ndarray,
    path: str | Path,
    *,
    bpm: float = 120,
    program: int = 0,
    velocity: int = 90,
    title: str | None = None,
) -> Path:
    """A type-1 Standard MIDI File: a tempo track, then the melody on channel 1.

    ``program`` is the General MIDI instrument (0 = acoustic grand piano). The file lasts
    to the melody's last step, trailing rest included, so it loops and lines up with the
    WAV.
    """
    events = validate_events(events)
    _check_playing(bpm, program, velocity)
    midi = _midi_file(events, bpm, program, velocity, title)
    with atomic_path(path) as tmp:
        midi.save(tmp)
    return Path(path)


def write_musicxml(
    events: Sequence[int] | np.ndarray,
    path: str | Path,
    *,
    title: str | None = None,
    bpm: float = 120,
    program: int = 0,
) -> Path:
    """A MusicXML score for notation programs (MuseScore, Finale, Sibelius, music21).

    Notes crossing a bar line are tied; black keys are spelled as music21 spells MIDI
    numbers (C#, E-, F#, G#, B-), since the events carry no key.
    """
    events = validate_events(events)
    _check_playing(bpm, program)
    with atomic_path(path) as tmp:
        tmp.write_bytes(_musicxml_bytes(events, title, bpm, program))
    return Path(path)


def write_wav(
    events: Sequence[int] | np.ndarray,
    path: str | Path,
    *,
    bpm: float = 120,
    sample_rate: int = DEFAULT_SAMPLE_RATE,
    soundfont: str | Path | None = None,
    program: int = 0,
    velocity: int = 90,
    synth: Synth = "auto",
) -> Literal["fluidsynth", "numpy"]:
    """16-bit PCM audio exactly as long as the melody; returns the renderer used.

    ``synth="auto"`` plays the melody with FluidSynth and a General MIDI SoundFont
    (``soundfont``, else ``find_soundfont()``), and falls back to a plain numpy
    synthesiser where either is missing or the render fails, so audio works on any
    machine. ``"fluidsynth"`` insists on FluidSynth; ``"numpy"`` never uses it.
    FluidSynth's release tail is cut (with a short fade) at the melody's end, and the
    audio is normalised to one peak level, so ``velocity`` changes FluidSynth's timbre,
    not the loudness, and the numpy synthesiser ignores it.
    """
    events = validate_events(events)
    _check_playing(bpm, program, velocity)
    if synth not in ("auto", "fluidsynth", "numpy"):
        raise UserError(f"synth must be 'auto', 'fluidsynth' or 'numpy', got {synth!r}")
    if not 8000 <= sample_rate <= 192000:
        raise UserError(f"sample rate must be 8000..192000 Hz, got {sample_rate}")
    seconds = len(events) * _step_seconds(bpm)
    if seconds > MAX_AUDIO_SECONDS:
        raise UserError(
            f"the melody lasts {seconds / 60:.0f} min at {bpm:g} bpm; "
            f"audio is rendered up to {MAX_AUDIO_SECONDS // 60} min"
        )
    if soundfont is not None:
        font = _check_soundfont(require_file(soundfont, "SoundFont"))
    else:
        font = find_soundfont()

    audio, renderer = None, "numpy"
    if synth != "numpy":
        binary = fluidsynth_binary()
        if binary is None or font is None:
            missing = "the fluidsynth program" if binary is None else "a General MIDI SoundFont"
            if synth == "fluidsynth":
                raise UserError(f"cannot render with FluidSynth: {missing} is not installed")
            log.info("rendering audio with the numpy synthesiser: %s is not installed", missing)
        else:
            try:
                midi = _midi_file(events, bpm, program, velocity, None)
                audio, renderer = _render_fluidsynth(binary, font, midi, sample_rate), "fluidsynth"
            except UserError as exc:
                if synth == "fluidsynth":
                    raise
                log.warning("%s; rendering with the numpy synthesiser instead", exc)
    if audio is None:
        audio = AdditiveSynth().render(events_to_notes(events), _step_seconds(bpm), sample_rate)
    _save_wav(path, _fit(audio, round(seconds * sample_rate), sample_rate), sample_rate)
    return renderer


def write_piano_roll(
    events: Sequence[int] | np.ndarray, path: str | Path, *, title: str | None = None
) -> Path:
    """A PNG piano roll, ``PianoRoll.width`` pixels wide, to see a melody at a glance.

    Pitch runs up the y axis over the range the melody uses (black-key rows shaded, each
    C labelled); time runs along x with bar lines every 16 steps and beat lines every 4.
    """
    events = validate_events(events)
    image = PianoRoll(events, title).draw()
    with atomic_path(path) as tmp:
        image.save(tmp, format="PNG")
    return Path(path)


def render_all(
    events: Sequence[int] | np.ndarray,
    out_dir: str | Path,
    stem: str,
    formats: Iterable[str] = ("mid", "musicxml", "wav", "png"),
    *,
    title: str | None = None,
    bpm: float = 120,
    program: int = 0,
    velocity: int = 90,
    sample_rate: int = DEFAULT_SAMPLE_RATE,
    soundfont: str | Path | None = None,
    synth: Synth = "auto",
) -> dict[str, Path]:
    """Write the melody as ``out_dir/<stem>.<ext>`` for each format (one name or several);
    returns format -> path.

    ``stem`` is reduced to a plain file name, so a stem like ``../x`` cannot write outside
    ``out_dir``. If one format fails, the files this call already wrote are removed: no
    half-finished set is left behind.
    """
    events = validate_events(events)
    formats = check_formats(formats)
    out_dir = make_out_dir(out_dir)
    name = safe_stem(stem)
    writers = {
        "mid": lambda p: write_midi(
            events, p, bpm=bpm, program=program, velocity=velocity, title=title
        ),
        "musicxml": lambda p: write_musicxml(events, p, title=title, bpm=bpm, program=program),
        "wav": lambda p: write_wav(
            events,
            p,
            bpm=bpm,
            sample_rate=sample_rate,
            soundfont=soundfont,
            program=program,
            velocity=velocity,
            synth=synth,
        ),
        "png": lambda p: write_piano_roll(events, p, title=title),
    }
    written: dict[str, Path] = {}
    try:
        for fmt in formats:
            target = out_dir / f"{name}{FORMATS[fmt]}"
            writers[fmt](target)
            written[fmt] = target
    except BaseException:
        for done in written.values():
            done.unlink(missing_ok=True)
        raise
    return written


def check_formats(formats: str | Iterable[str]) -> list[str]:
    """``formats`` (one name or several) as a list without repeats, or a UserError naming
    the unknown ones; callers check before any work so a typo costs nothing."""
    formats = list(dict.fromkeys([formats] if isinstance(formats, str) else formats))
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise UserError(
            f"unknown output format {', '.join(map(repr, unknown)) or '(none given)'}; "
            f"choose from {', '.join(FORMATS)}"
        )
    return formats


def safe_stem(stem: str) -> str:
    """``stem`` as a file name without folders: other characters than letters, digits,
    ``-``, ``_`` and ``.`` become ``_``, and leading dots go, so no stem escapes its folder
    or hides its files."""
    name = re.sub(r"[^\w.-]+", "_", stem).strip("._")[:120]
    if not name:
        raise UserError(f"output name {stem!r} has no letters or digits to name files with")
    return name


# MIDI and MusicXML


def _midi_file(
    events: np.ndarray, bpm: float, program: int, velocity: int, title: str | None
) -> mido.MidiFile:
    conductor = mido.MidiTrack()
    if title:
        # MIDI text is Latin-1 (mido's and most readers' charset); others become "?"
        name = title.encode("latin-1", "replace").decode("latin-1")
        conductor.append(mido.MetaMessage("track_name", name=name))
    conductor.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm)))
    conductor.append(mido.MetaMessage("time_signature", numerator=4, denominator=4))
    conductor.append(mido.MetaMessage("end_of_track"))

    # (tick, order, message): at equal ticks a note-off goes first, so a repeated pitch
    # is released before it is struck again
    timed = [(0, 0, mido.Message("program_change", program=program))]
    for pitch_number, start, end in events_to_notes(events):
        timed.append(
            (
                start * TICKS_PER_STEP,
                2,
                mido.Message("note_on", note=pitch_number, velocity=velocity),
            )
        )
        timed.append((end * TICKS_PER_STEP, 1, mido.Message("note_off", note=pitch_number)))
    timed.sort(key=lambda item: item[:2])
    melody = mido.MidiTrack([mido.MetaMessage("track_name", name="melody")])
    now = 0
    for tick, _, message in timed:
        melody.append(message.copy(time=tick - now))
        now = tick
    melody.append(mido.MetaMessage("end_of_track", time=len(events) * TICKS_PER_STEP - now))
    return mido.MidiFile(type=1, ticks_per_beat=TICKS_PER_BEAT, tracks=[conductor, melody])


def _musicxml_bytes(events: np.ndarray, title: str | None, bpm: float, program: int) -> bytes:
    part = stream.Part()
    player = instrument.instrumentFromMidiProgram(program)
    # music21 otherwise makes up random ids, and every export would differ
    player.partId, player.instrumentId = "P1", "P1-I1"
    part.append([player, meter.TimeSignature("4/4"), tempo.MetronomeMark(number=bpm)])
    now = 0
    for pitch_number, start, end in events_to_notes(events):
        if start > now:
            part.append(note.Rest(quarterLength=(start - now) / STEPS_PER_QUARTER))
        part.append(
            note.Note(
                pitch.Pitch(midi=pitch_number), quarterLength=(end - start) / STEPS_PER_QUARTER
            )
        )
        now = end
    if len(events) > now:
        part.append(note.Rest(quarterLength=(len(events) - now) / STEPS_PER_QUARTER))
    score = stream.Score([part])
    score.metadata = metadata.Metadata(title=title or "Melody")

    exporter = ScoreExporter(GeneralObjectExporter().fromGeneralObject(score))
    exporter.parse()
    identification = exporter.xmlRoot.find("identification")
    for creator in identification.findall("creator"):
        identification.remove(creator)  # music21 names itself the composer when none is given
    encoding = identification.find("encoding")
    encoding.remove(encoding.find("encoding-date"))  # today's date: the one varying byte
    return exporter.asBytes()


# Audio


def _step_seconds(bpm: float) -> float:
    return 60.0 / bpm / STEPS_PER_QUARTER


def _render_fluidsynth(
    binary: str, soundfont: Path, midi: mido.MidiFile, sample_rate: int
) -> np.ndarray:
    """FluidSynth's render as float frames (frames x 2); UserError if it fails.

    Raw float output skips FluidSynth's 16-bit dithering (random noise) and keeps the
    full resolution until our own normalising and conversion.
    """
    _check_soundfont(soundfont)  # FluidSynth would quietly play its default SoundFont instead
    seconds = midi.length
    with tempfile.TemporaryDirectory(prefix="museforge-render-") as tmp:
        midi_path, raw_path = Path(tmp) / "melody.mid", Path(tmp) / "melody.raw"
        midi.save(midi_path)
        command = [
            binary, "-ni", "-q",
            "-F", str(raw_path), "-T", "raw", "-O", "float", "-E", "little",
            "-r", str(sample_rate), "-g", str(FLUIDSYNTH_GAIN),
            str(soundfont), str(midi_path),
        ]  # fmt: skip
        try:
            done = subprocess.run(
                command, capture_output=True, text=True, timeout=60 + 2 * seconds, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise UserError(f"FluidSynth took over {exc.timeout:.0f} s to render") from exc
        if done.returncode != 0 or not raw_path.is_file():
            lines = (done.stderr or done.stdout).strip().splitlines()
            raise UserError(
                f"FluidSynth failed (exit code {done.returncode})"
                + (f": {lines[-1]}" if lines else "")
            )
        audio = np.fromfile(raw_path, dtype="<f4").astype(np.float64)
    audio = audio[: len(audio) // 2 * 2].reshape(-1, 2)
    if len(audio) == 0 or np.abs(audio).max() < SILENCE_PEAK:
        raise UserError(f"{soundfont}: FluidSynth rendered silence with this SoundFont")
    return audio


def _check_soundfont(path: Path) -> Path:
    """``path``, or BadInputFile unless it starts like an SF2/SF3 file (RIFF form sfbk)."""
    try:
        with open(path, "rb") as f:
            head = f.read(12)
    except OSError as exc:
        raise BadInputFile(path, f"cannot read: {exc.strerror or exc}") from exc
    if head[:4] != b"RIFF" or head[8:12] != b"sfbk":
        raise BadInputFile(path, "not a SoundFont (SF2/SF3) file")
    return path


@dataclass(frozen=True)
class AdditiveSynth:
    """A small additive synthesiser for machines without FluidSynth or a SoundFont: each
    note is a few sine partials under an ADSR envelope. Soft and organ-like; enough to
    hear a melody, not to impress."""

    partials: tuple[float, ...] = (1.0, 0.5, 0.25, 0.12, 0.06)  # harmonics 1, 2, ...: a soft reed
    attack: float = 0.01  # seconds; shorter clicks, longer blurs fast 16ths
    decay: float = 0.15  # seconds from the attack's peak down to the sustain level
    sustain: float = 0.6  # level held while the key is down
    release: float = 0.12  # seconds to silence after the note ends

    def render(self, notes: list[Note], step_seconds: float, sample_rate: int) -> np.ndarray:
        """The notes as mono float frames (frames x 1), release tails included."""
        end = max(e for _, _, e in notes) * step_seconds + self.release
        audio = np.zeros(int(np.ceil(end * sample_rate)) + 1)
        for pitch_number, start, stop in notes:
            first = round(start * step_seconds * sample_rate)
            tone = self.note(pitch_number, (stop - start) * step_seconds, sample_rate)
            audio[first : first + len(tone)] += tone
        return audio[:, None]

    def note(self, pitch_number: int, held: float, sample_rate: int) -> np.ndarray:
        """One note held for ``held`` seconds, then released."""
        t = np.arange(int((held + self.release) * sample_rate)) / sample_rate
        shape = ([0, self.attack, self.attack + self.decay], [0, 1, self.sustain])
        released_from = np.interp(held, *shape)
        envelope = np.where(
            t < held,
            np.interp(t, *shape),
            released_from * np.clip(1 - (t - held) / self.release, 0, 1),
        )
        f0 = 440.0 * 2 ** ((pitch_number - 69) / 12)
        tone = sum(
            a * np.sin(2 * np.pi * k * f0 * t)
            for k, a in enumerate(self.partials, start=1)
            if k * f0 < sample_rate / 2  # a partial above Nyquist would alias
        )
        return tone * envelope


def _fit(audio: np.ndarray, frames: int, sample_rate: int) -> np.ndarray:
    """``audio`` cut or padded with silence to ``frames``, faded out, peak-normalised."""
    fitted = np.zeros((frames, audio.shape[1]))
    fitted[: min(frames, len(audio))] = audio[:frames]
    fade = min(frames, int(FADE_SECONDS * sample_rate))
    fitted[frames - fade :] *= np.linspace(1, 0, fade)[:, None]
    peak = np.abs(fitted).max()
    return fitted * (PEAK_LEVEL / peak) if peak > 0 else fitted


def _save_wav(path: str | Path, audio: np.ndarray, sample_rate: int) -> None:
    pcm = np.round(np.clip(audio, -1, 1) * 32767).astype("<i2")
    with atomic_path(path) as tmp, wave.open(str(tmp), "wb") as out:
        out.setnchannels(audio.shape[1])
        out.setsampwidth(2)
        out.setframerate(sample_rate)
        out.writeframes(pcm.tobytes())


# Piano roll


class PianoRoll:
    """The layout and drawing of one piano-roll image.

    The width is fixed, so rolls of different melodies line up in a gallery; the time
    axis stretches to fill it. Rows get taller when the melody spans fewer pitches.
    """

    width = 1000
    left, right, top, bottom = 44, 14, 40, 26  # margins: pitch labels, edge, title, bar numbers
    margin_pitches = 2  # spare rows above and below, so edge notes do not touch the frame
    min_rows = 13  # at least an octave, so there is always a C to read the pitches from
    background, black_key_row, c_line = "#ffffff", "#eef1f5", "#c9d0da"
    beat_line, bar_line, frame = "#e1e5eb", "#8d97a5", "#5c6673"
    note_fill, note_edge, text, faint_text = "#3a78c9", "#1f4f8f", "#2b323b", "#a3abb6"

    def __init__(self, events: np.ndarray, title: str | None) -> None:
        self.events, self.title = events, title
        self.notes = events_to_notes(events)
        pitches = [p for p, _, _ in self.notes]
        low, high = min(pitches) - self.margin_pitches, max(pitches) + self.margin_pitches
        missing = self.min_rows - (high - low + 1)
        if missing > 0:
            low, high = low - missing // 2, high + missing - missing // 2
        self.low, self.high = low, high
        rows = high - low + 1
        self.row_height = int(np.clip(360 // rows, 6, 20))
        self.plot_width = self.width - self.left - self.right
        self.height = self.top + rows * self.row_height + self.bottom
        self.step_width = self.plot_width / len(events)
        self.font = ImageFont.load_default(size=12)
        self.title_font = ImageFont.load_default(size=15)

    def x(self, step: float) -> float:
        return self.left + step * self.step_width

    def y(self, pitch_number: int) -> int:
        """Top edge of the row of ``pitch_number``; higher pitches are higher up."""
        return self.top + (self.high - pitch_number) * self.row_height

    def draw(self) -> Image.Image:
        image = Image.new("RGB", (self.width, self.height), self.background)
        canvas = ImageDraw.Draw(image)
        self._draw_rows(canvas)
        self._draw_grid(canvas)
        self._draw_notes(canvas)
        self._draw_header(canvas)
        bottom = self.y(self.low) + self.row_height
        canvas.rectangle(
            (self.left, self.top, self.left + self.plot_width, bottom), outline=self.frame
        )
        return image

    def _draw_rows(self, canvas: ImageDraw.ImageDraw) -> None:
        """Shade black-key rows and name the rows: each C with its octave, and the other
        pitches too, faintly, where rows are tall enough to read them."""
        right = self.left + self.plot_width
        for p in range(self.low, self.high + 1):
            top, bottom = self.y(p), self.y(p) + self.row_height - 1
            if p % 12 in BLACK_KEYS:
                canvas.rectangle((self.left, top, right, bottom), fill=self.black_key_row)
            if p % 12 == 0:
                canvas.line((self.left, bottom, right, bottom), fill=self.c_line)
            if p % 12 == 0 or self.row_height >= 14:
                canvas.text(
                    (self.left - 6, (top + bottom + 1) / 2),
                    _pitch_name(p) if p % 12 == 0 else NOTE_NAMES[p % 12],
                    fill=self.text if p % 12 == 0 else self.faint_text,
                    font=self.font,
                    anchor="rm",
                )

    def _draw_grid(self, canvas: ImageDraw.ImageDraw) -> None:
        """Beat lines, bar lines and bar numbers; on a long melody, where they would crowd,
        beats are left out and only every 2nd, 4th, 8th... bar line is strong and numbered."""
        top, bottom = self.top, self.y(self.low) + self.row_height
        bar_px = STEPS_PER_BAR * self.step_width
        if bar_px / 4 >= 6:
            for step in range(0, len(self.events), STEPS_PER_QUARTER):
                x = round(self.x(step))
                canvas.line((x, top, x, bottom), fill=self.beat_line)
        label_every = next(n for n in (1, 2, 4, 8, 16, 32, 64, 128, 256) if n * bar_px >= 28)
        for bar in range(-(-len(self.events) // STEPS_PER_BAR)):
            x = round(self.x(bar * STEPS_PER_BAR))
            if bar % label_every == 0:
                canvas.line((x, top, x, bottom), fill=self.bar_line)
                canvas.text((x + 3, bottom + 5), str(bar + 1), fill=self.text, font=self.font)
            elif bar_px >= 4:
                canvas.line((x, top, x, bottom), fill=self.beat_line)

    def _draw_notes(self, canvas: ImageDraw.ImageDraw) -> None:
        """A rounded box per note; a note a few pixels wide is a plain dark bar, since
        rounding and an outline would leave nothing of it."""
        for p, start, end in self.notes:
            top = self.y(p) + 1
            left = self.x(start) + 1
            right = max(self.x(end) - 1, left + 1)
            box = (left, top, right, top + self.row_height - 3)
            if right - left < 3:
                canvas.rectangle(box, fill=self.note_edge)
            else:
                radius = min(3, self.row_height // 4, int(right - left) // 3)
                canvas.rounded_rectangle(
                    box, radius=radius, fill=self.note_fill, outline=self.note_edge
                )

    def _draw_header(self, canvas: ImageDraw.ImageDraw) -> None:
        bars = len(self.events) / STEPS_PER_BAR
        pitches = [p for p, _, _ in self.notes]
        info = (
            f"{_count(bars, 'bar')} · {_count(len(self.notes), 'note')} · "
            f"{_pitch_name(min(pitches))} to {_pitch_name(max(pitches))}"
        )
        middle = self.top / 2
        canvas.text(
            (self.left + self.plot_width, middle), info, fill=self.text, font=self.font, anchor="rm"
        )
        if self.title:
            room = self.plot_width - canvas.textlength(info, font=self.font) - 24
            title = self.title
            while len(title) > 1 and canvas.textlength(title, font=self.title_font) > room:
                title = title[:-2] + "…"
            canvas.text(
                (self.left, middle), title, fill=self.text, font=self.title_font, anchor="lm"
            )


def _count(number: float, noun: str) -> str:
    return f"{number:g} {noun}{'' if number == 1 else 's'}"


def _pitch_name(midi_number: int) -> str:
    return f"{NOTE_NAMES[midi_number % 12]}{midi_number // 12 - 1}"


def _check_playing(bpm: float, program: int = 0, velocity: int = 90) -> None:
    if not 20 <= bpm <= 400:
        raise UserError(f"tempo must be 20..400 bpm, got {bpm}")
    if not 0 <= program <= 127:
        raise UserError(f"General MIDI program must be 0..127, got {program}")
    if not 1 <= velocity <= 127:
        raise UserError(f"velocity must be 1..127, got {velocity}")
