"""The melody data set: parse a source once, cache it, cut training windows from the cache.

This follows MusicVAE's data pipeline (Roberts et al. 2018): monophonic melodies on a
16th-note grid in 90 event classes (see ``melody.py``), training examples of 2 and 16
bars that start on bar lines, and transposition at batch time (``augment.py``).

Meters. MusicVAE trained on 4/4 only, and its hierarchical decoder gives each bar of 16
steps one "conductor" embedding, so a 16-step "bar" that is not a real bar would teach it
false phrase structure. Windows are therefore cut only from melodies whose bars tile the
16-step window bar: 4/4, 2/2 (C, C|) and 4/8 (16 steps), 2/4 (8 steps: two real bars per
window bar). The cache keeps every meter, so a later meter-aware model can use the 3/4
and 6/8 tunes (about 40% of the corpus) without parsing again.

Hold-out. 5% of tunes, chosen by a hash of the tune's id (its file and its position
there), so every melody and window of a tune lands on the same side and the split never
changes between runs or machines. A held-out tune that is the same melody as a training
tune (``duplicates.py``: same intervals, any key) is left out of the held-out windows and
counted, so held-out figures measure what the model has not seen.

Cache. One ``.npz`` holding every melody's events concatenated (uint8), their offsets,
and per-tune metadata as UTF-8 JSON bytes; it loads with ``allow_pickle=False`` and is
written atomically, so a failed build leaves no file behind.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import signal
import time
import zipfile
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import cached_property
from multiprocessing import get_context
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from museforge.core.atomic import atomic_path
from museforge.core.progress import track
from museforge.errors import BadInputFile, UserError, require_file
from museforge.music.duplicates import near_duplicate_tunes
from museforge.music.melody import (
    FIRST_NOTE_ON,
    MAX_PITCH,
    MIN_PITCH,
    STEPS_PER_QUARTER,
    last_event,
)
from museforge.music.piece import UnusableFile

if TYPE_CHECKING:
    from museforge.music.corpus import Piece, TuneResult

log = logging.getLogger(__name__)

CACHE_FORMAT = "museforge-melodies/1"
SPLITS = ("train", "eval")


@dataclass(frozen=True)
class WindowConfig:
    """How training windows are cut; defaults follow MusicVAE (Roberts et al. 2018)."""

    bar_steps: int = 4 * STEPS_PER_QUARTER  # a window bar is one 4/4 bar of 16th notes
    meters_steps_per_bar: tuple[int, ...] = (8, 16)  # 2/4 and 4/4-like meters tile that bar
    max_silence: float = 0.5  # a window may be at most half rests: "not mostly silence"
    eval_fraction: float = 0.05  # share of tunes held out for evaluation


@dataclass(frozen=True)
class Melody:
    """One melody and where it came from."""

    events: np.ndarray  # uint8 event classes 0..89, starting on a bar line
    tune_id: str
    source: str  # the file, relative to the source folder or music21's corpus
    tune: int  # the tune's position in its file, from 1
    title: str
    part: str
    meter: str  # "4/4", "6/8", ... or "free"
    steps_per_bar: int
    key: str | None  # a music21 key name ("G major"), when the source gives one
    split: str  # "train" or "eval"


def is_eval_tune(tune_id: str, fraction: float = WindowConfig.eval_fraction) -> bool:
    """Whether a tune is held out: a hash, so the answer is the same on every run."""
    digest = hashlib.sha256(tune_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") < fraction * 2**64


class MelodyDataset:
    """The melodies of a cache file, and the training windows cut from them."""

    def __init__(
        self,
        events: np.ndarray,
        offsets: np.ndarray,
        melody_tune: np.ndarray,
        melody_steps_per_bar: np.ndarray,
        meta: dict,
        config: WindowConfig | None = None,
    ) -> None:
        self.events = events
        self.offsets = offsets
        self.melody_tune = melody_tune
        self.melody_steps_per_bar = melody_steps_per_bar
        self.meta = meta
        self.config = config or WindowConfig()
        tunes = meta["tunes"]
        tune_is_eval = np.array(
            [is_eval_tune(t["id"], self.config.eval_fraction) for t in tunes], dtype=bool
        )
        self.melody_is_eval = tune_is_eval[melody_tune] if len(tunes) else np.zeros(0, dtype=bool)
        # Free-meter tunes have bar lines only at phrase ends: no bar grid to cut windows on.
        self.melody_windowable = np.isin(melody_steps_per_bar, self.config.meters_steps_per_bar) & (
            np.array([meter != "free" for _, meter in meta["melodies"]], dtype=bool)
        )

    @cached_property
    def melodies(self) -> list[Melody]:
        """Every melody with where it came from; built on first use, events are views."""
        tunes = self.meta["tunes"]
        melodies = []
        for i, (part, meter) in enumerate(self.meta["melodies"]):
            tune = tunes[self.melody_tune[i]]
            melodies.append(
                Melody(
                    events=self.events[self.offsets[i] : self.offsets[i + 1]],
                    tune_id=tune["id"],
                    source=tune["source"],
                    tune=tune["index"],
                    title=tune["title"],
                    part=part,
                    meter=meter,
                    steps_per_bar=int(self.melody_steps_per_bar[i]),
                    key=tune["key"],
                    split=SPLITS[int(self.melody_is_eval[i])],
                )
            )
        return melodies

    @cached_property
    def near_duplicate_tunes(self) -> np.ndarray:
        """Held-out tunes (indices) that repeat a training tune's melody; never evaluated."""
        return near_duplicate_tunes(
            self.events, self.offsets, self.melody_tune, self.melody_is_eval
        )

    @cached_property
    def _melody_is_held_out(self) -> np.ndarray:
        """Held-out melodies whose tune is not a near-duplicate of a training tune."""
        return self.melody_is_eval & ~np.isin(self.melody_tune, self.near_duplicate_tunes)

    @cached_property
    def _state(self) -> np.ndarray:
        # Each melody ends with a note-off, so the state never leaks into the next melody.
        return last_event(self.events)

    @cached_property
    def _onsets_cumsum(self) -> np.ndarray:
        return np.concatenate([[0], np.cumsum(self.events >= FIRST_NOTE_ON)])

    @cached_property
    def _sounding_cumsum(self) -> np.ndarray:
        return np.concatenate([[0], np.cumsum(self._state >= FIRST_NOTE_ON)])

    def window_starts(self, bars: int, split: str = "train") -> np.ndarray:
        """Where the windows of ``bars`` bars begin, as offsets into ``events``.

        Windows start on every bar line of a melody in a 16-step-compatible meter, hold at
        least one note-on and are at most ``max_silence`` rests. Held-out windows leave out
        the tunes that repeat a training tune (``near_duplicate_tunes``). Indexing ``events`` with
        these offsets lets a training loop cut windows lazily instead of all at once.
        """
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, not {split!r}")
        if bars < 1:
            raise ValueError(f"bars must be at least 1, not {bars}")
        steps = bars * self.config.bar_steps
        lengths = np.diff(self.offsets)
        in_split = self._melody_is_held_out if split == "eval" else ~self.melody_is_eval
        chosen = np.flatnonzero(self.melody_windowable & in_split & (lengths >= steps))
        parts = [
            np.arange(
                self.offsets[m], self.offsets[m + 1] - steps + 1, self.melody_steps_per_bar[m]
            )
            for m in chosen
        ]
        starts = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
        onsets = self._onsets_cumsum[starts + steps] - self._onsets_cumsum[starts]
        sounding = self._sounding_cumsum[starts + steps] - self._sounding_cumsum[starts]
        keep = (onsets > 0) & (sounding >= (1 - self.config.max_silence) * steps)
        return starts[keep].astype(np.int64)

    def windows(self, bars: int, split: str = "train") -> np.ndarray:
        """Training examples: int64 event classes, shape [N, bars * 16].

        A window that starts while a note is held begins with that note's note-on, so
        every window can be decoded on its own. ``torch.from_numpy`` makes it a tensor.
        """
        starts = self.window_starts(bars, split)
        steps = bars * self.config.bar_steps
        if len(self.events) < steps:
            return np.zeros((0, steps), dtype=np.int64)
        windows = sliding_window_view(self.events, steps)[starts].astype(np.int64)
        state = self._state[starts]
        held = (windows[:, 0] == 0) & (state >= FIRST_NOTE_ON)
        windows[held, 0] = state[held]
        return windows

    def summary(self) -> dict:
        """Counts a person checks before training: tunes, melodies, windows, skipped files."""
        tunes = self.meta["tunes"]
        splits = {}
        for split in SPLITS:
            in_split = self.melody_is_eval == (split == "eval")
            splits[split] = {
                "tunes": len(set(self.melody_tune[in_split].tolist())),
                "melodies": int(in_split.sum()),
                "windows_2_bars": len(self.window_starts(2, split)),
                "windows_16_bars": len(self.window_starts(16, split)),
            }
        pitches = self.events[self.events >= FIRST_NOTE_ON].astype(int) - FIRST_NOTE_ON + MIN_PITCH
        meters = Counter(meter for _, meter in self.meta["melodies"])
        skipped = self.meta["skipped"]
        return {
            "source": self.meta["source"],
            "files": self.meta["files"],
            "tunes": len(tunes),
            "melodies": len(self.meta["melodies"]),
            "steps": len(self.events),
            "splits": splits,
            "held_out_near_duplicates": len(self.near_duplicate_tunes),
            "pitch_range": [int(pitches.min()), int(pitches.max())] if len(pitches) else None,
            "meters": dict(meters.most_common()),
            "skipped": {
                "tunes": len(skipped),
                "files": len({s["source"] for s in skipped}),
                "problems": dict(Counter(s["problem"] for s in skipped).most_common()),
            },
            "build": self.meta["build"],
        }


def load_dataset(path: str | Path, config: WindowConfig | None = None) -> MelodyDataset:
    """Load a cache written by ``build_dataset`` (no pickle: plain arrays and JSON)."""
    path = require_file(path, "melody cache")
    if not zipfile.is_zipfile(path):
        raise BadInputFile(path, "not a museforge melody cache", "not an .npz archive")
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(data["meta"].tobytes().decode("utf-8"))
            arrays = {
                name: data[name]
                for name in ("events", "offsets", "melody_tune", "melody_steps_per_bar")
            }
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        raise BadInputFile(path, "not a museforge melody cache", str(exc)) from exc
    if meta.get("format") != CACHE_FORMAT:
        raise BadInputFile(
            path,
            f"melody cache format {meta.get('format')!r}, expected {CACHE_FORMAT!r}",
            "rebuild it with `museforge music dataset build`",
        )
    return MelodyDataset(meta=meta, config=config, **arrays)


def build_dataset(
    source: str | Path,
    out: str | Path,
    jobs: int | None = None,
    limit: int | None = None,
    *,
    progress: bool = True,
) -> Path:
    """Parse ``source`` ("corpus", a folder or a file) into a melody cache at ``out``.

    Parsing runs in ``jobs`` processes (default: one per core), started with "spawn", so
    a script that calls this needs the usual ``if __name__ == "__main__":`` guard.
    ``limit`` reads only that many tunes, spread evenly over the source, for quick tries.
    Unusable files are skipped with a warning; if nothing usable is left, the error
    names the problem and no file is written.
    """
    import music21  # imported here: loading a cache needs neither music21 nor its second to import

    from museforge.music.corpus import list_pieces

    out = Path(out).expanduser()
    if out.is_dir():
        raise UserError(f"{out}: is a directory; --out needs a file name such as melodies.npz")
    jobs = _job_count(jobs)
    pieces = list_pieces(source)
    if limit is not None:
        if limit < 1:
            raise UserError(f"--limit must be at least 1, not {limit}")
        pieces = _spread(pieces, limit)
    started = time.perf_counter()
    results = list(_read_with_progress(pieces, jobs, progress))
    seconds = time.perf_counter() - started

    skipped = [r for r in results if r.problem]
    good = [r for r in results if r.melodies]
    if not good:
        raise _nothing_usable(source, skipped)
    for result in skipped:
        detail = f" ({result.detail})" if result.detail else ""
        log.warning("skipped %s: %s%s", result.piece.label, result.problem, detail)

    build = {
        "jobs": min(jobs, len(pieces)),
        "seconds": round(seconds, 1),
        "music21": music21.__version__,
    }
    _write_cache(out, source, good, skipped, len({p.source for p in pieces}), build)
    return out


def _job_count(jobs: int | None) -> int:
    if jobs is None:
        return (
            len(os.sched_getaffinity(0))
            if hasattr(os, "sched_getaffinity")
            else os.cpu_count() or 1
        )
    if jobs < 1:
        raise UserError(f"--jobs must be at least 1, not {jobs}")
    return jobs


def _spread(pieces: list[Piece], limit: int) -> list[Piece]:
    if limit >= len(pieces):
        return pieces
    picks = np.unique(np.linspace(0, len(pieces) - 1, limit).round().astype(int))
    return [pieces[i] for i in picks]


def _read_with_progress(pieces: list[Piece], jobs: int, progress: bool) -> Iterator[TuneResult]:
    yield from track(_read_all(pieces, jobs), len(pieces), "reading tunes", progress)


def _read_all(pieces: list[Piece], jobs: int) -> Iterator[TuneResult]:
    """``read_piece`` over all pieces, in order, in ``jobs`` processes."""
    from museforge.music.corpus import read_piece

    if jobs == 1 or len(pieces) <= 1:
        yield from map(read_piece, pieces)
        return
    workers = min(jobs, len(pieces))
    # spawn, not fork: the parent may hold threads (the progress bar, torch) that fork copies badly.
    pool = ProcessPoolExecutor(
        workers, mp_context=get_context("spawn"), initializer=_ignore_interrupts
    )
    try:
        yield from pool.map(
            read_piece, pieces, chunksize=max(1, min(32, len(pieces) // (workers * 8)))
        )
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _ignore_interrupts() -> None:
    """Workers leave Ctrl-C to the parent, which cancels the pool and writes nothing."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _nothing_usable(source: str | Path, skipped: list[TuneResult]) -> UserError:
    if len(skipped) == 1:
        return UnusableFile(skipped[0].piece.label, skipped[0].problem, skipped[0].detail)
    if skipped:
        first = f"{skipped[0].piece.label}: {skipped[0].problem}"
        return UserError(f"{source}: no melodies in {len(skipped)} tunes; the first, {first}")
    return UserError(f"{source}: no melodies found")


def _write_cache(
    out: Path,
    source: str | Path,
    good: list[TuneResult],
    skipped: list[TuneResult],
    files: int,
    build: dict,
) -> None:
    melodies = [(t, m) for t, result in enumerate(good) for m in result.melodies]
    lengths = [len(m.events) for _, m in melodies]
    meta = {
        "format": CACHE_FORMAT,
        "source": str(source),
        "files": files,
        "grid": {
            "steps_per_quarter": STEPS_PER_QUARTER,
            "min_pitch": MIN_PITCH,
            "max_pitch": MAX_PITCH,
        },
        "build": build,
        "tunes": [
            {
                "id": r.piece.tune_id,
                "source": r.piece.source,
                "index": r.piece.index,
                "title": r.title,
                "key": r.key,
            }
            for r in good
        ],
        "melodies": [[m.part, m.meter] for _, m in melodies],
        "skipped": [
            {
                "source": r.piece.source,
                "tune": r.piece.index,
                "problem": r.problem,
                "detail": r.detail,
            }
            for r in skipped
        ],
    }
    arrays = {
        "events": np.concatenate([m.events for _, m in melodies]).astype(np.uint8),
        "offsets": np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
        "melody_tune": np.array([t for t, _ in melodies], dtype=np.int32),
        "melody_steps_per_bar": np.array([m.steps_per_bar for _, m in melodies], dtype=np.int32),
        "meta": np.frombuffer(json.dumps(meta, ensure_ascii=False).encode("utf-8"), dtype=np.uint8),
    }
    with atomic_path(out) as tmp, open(tmp, "wb") as f:
        np.savez(f, **arrays)
