"""Where melodies come from: a folder of MIDI, MusicXML and ABC files, or music21's corpus.

A source is listed as ``Piece``s, one per tune (a multi-tune ABC file gives one piece per
``X:`` tune), so the slow music21 parsing can be spread over processes tune by tune and a
bad tune is skipped alone. ``read_piece`` runs in those processes and never raises for
bad input: it returns the problem, and the caller decides whether to skip or stop.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import music21
from music21 import corpus

from museforge.errors import UserError, require_dir
from museforge.music.melody import ExtractedMelody, extract_melodies
from museforge.music.midi_file import read_midi
from museforge.music.piece import ParsedPiece, UnusableFile
from museforge.music.score_file import read_abc_tune, read_score_file, split_abc

MIDI_SUFFIXES = (".mid", ".midi")
SCORE_SUFFIXES = (".xml", ".musicxml", ".mxl")
ABC_SUFFIXES = (".abc",)
MUSIC_SUFFIXES = MIDI_SUFFIXES + SCORE_SUFFIXES + ABC_SUFFIXES

# The monophonic folk-tune collections in music21's corpus (Essen, O'Neill's 1850, Aird's
# Airs, Ryan's Mammoth Collection, American fife and Northumbrian tunes, two Nottingham
# reels); Essen's "test*.abc" files, variants of a few test tunes, are left out.
CORPUS_FOLK = (
    "essenFolksong",
    "oneills1850",
    "airdsAirs",
    "ryansMammoth",
    "miscFolk",
    "nottingham-dataset",
)
CHORALE_PART = "Soprano"


@dataclass(frozen=True)
class Piece:
    """One tune to read: a whole file, or one tune of a multi-tune ABC file."""

    source: str  # the file, relative to the source folder or to music21's corpus
    index: int  # the tune's position in its file, from 1
    path: str  # the file to read
    label: str  # how messages name it: the path, plus "#index" in a multi-tune file
    abc: str = ""  # the tune's own text, for ABC files
    only_part: str | None = None

    @property
    def tune_id(self) -> str:
        """Stable across machines and runs; the hold-out split hashes it."""
        return f"{self.source}#{self.index}"


@dataclass
class TuneResult:
    """What reading one piece gave: melodies, or the problem that made it unusable."""

    piece: Piece
    title: str = ""
    key: str | None = None
    melodies: list[ExtractedMelody] = field(default_factory=list)
    problem: str = ""
    detail: str = ""


def list_pieces(source: str | Path) -> list[Piece]:
    """The tunes of ``source``: "corpus", a folder (searched recursively) or one file."""
    if str(source) == "corpus":
        return corpus_pieces()
    path = Path(source).expanduser()
    if path.is_file():
        return _file_pieces(path, path.name, str(path))
    folder = require_dir(path)
    files = sorted(
        p
        for p in folder.rglob("*")
        if p.is_file() and p.suffix.lower() in MUSIC_SUFFIXES and not p.name.startswith(".")
    )
    if not files:
        raise UserError(
            f"{folder}: no MIDI, MusicXML or ABC files (looked for {', '.join(MUSIC_SUFFIXES)})"
        )
    pieces = []
    for file in files:
        pieces += _file_pieces(file, file.relative_to(folder).as_posix(), str(file))
    return pieces


def corpus_pieces() -> list[Piece]:
    """music21's folk-tune collections, tune by tune, then the Bach chorales' soprano lines."""
    root = Path(music21.__file__).parent / "corpus"
    pieces = []
    for collection in CORPUS_FOLK:
        for file in sorted((root / collection).glob("*.abc")):
            if collection == "essenFolksong" and file.name.startswith("test"):
                continue
            source = file.relative_to(root).as_posix()
            pieces += _file_pieces(file, source, source)
    for path in _chorale_paths():
        source = path.relative_to(root).as_posix()
        pieces.append(Piece(source, 1, str(path), source, only_part=CHORALE_PART))
    return pieces


def _chorale_paths() -> list[Path]:
    """One file per chorale: Riemenschneider's 371 include a few twice (350 distinct)."""
    preference = (".mxl", ".xml", ".krn")
    paths = []
    for name in sorted(set(corpus.chorales.Iterator(returnType="filename"))):
        found = corpus.getWork(name)
        candidates = found if isinstance(found, list) else [found]
        stem = name.rsplit("/", 1)[-1]
        exact = [p for p in candidates if p.stem == stem] or candidates
        exact.sort(
            key=lambda p: preference.index(p.suffix) if p.suffix in preference else len(preference)
        )
        paths.append(Path(exact[0]))
    return paths


def _file_pieces(file: Path, source: str, label: str) -> list[Piece]:
    if file.suffix.lower() not in ABC_SUFFIXES:
        return [Piece(source, 1, str(file), label)]
    tunes = split_abc(_read_text(file)) or [""]
    if len(tunes) == 1:
        return [Piece(source, 1, str(file), label, abc=tunes[0])]
    return [
        Piece(source, i, str(file), f"{label}#{i}", abc=text) for i, text in enumerate(tunes, 1)
    ]


def _read_text(file: Path) -> str:
    data = file.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:  # older ABC collections are Latin-1
        return data.decode("latin-1")


def read_piece(piece: Piece) -> TuneResult:
    """Read one piece and cut its parts into melodies; bad input comes back as ``problem``."""
    try:
        parsed = _parse(piece)
    except UnusableFile as exc:
        return TuneResult(piece, problem=exc.problem, detail=exc.detail)
    melodies = [
        m for part in parsed.parts for m in extract_melodies(part.notes, part.meters, part.name)
    ]
    return TuneResult(piece, title=parsed.title, key=parsed.key, melodies=melodies)


def _parse(piece: Piece) -> ParsedPiece:
    suffix = Path(piece.path).suffix.lower()
    if suffix in MIDI_SUFFIXES:
        return read_midi(piece.path)
    if suffix in ABC_SUFFIXES:
        if not piece.abc.strip():
            raise UnusableFile(piece.label, "no ABC tunes", "the file is empty")
        fallback = f"{Path(piece.source).stem} #{piece.index}"
        return read_abc_tune(piece.abc, piece.label, fallback)
    return read_score_file(piece.path, piece.only_part)
