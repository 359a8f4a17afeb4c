"""Keep what the melody model made: files a person uses, and a record in the store.

Each melody is written as MIDI, MusicXML, WAV and a piano-roll PNG (``render.py``). The MIDI
file becomes a ``melody`` Artifact with the model, the seed, the settings and its parents
(the melodies it was varied, continued or interpolated from); the other files are kept as
renderings of it. ``<stem>.results.json`` in the output folder lists everything.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from museforge.core.atomic import atomic_write_text
from museforge.core.store import Store
from museforge.errors import make_out_dir
from museforge.music.render import FORMATS, render_all

RENDER_KINDS = {"musicxml": "score", "wav": "audio", "png": "image"}


@dataclass
class MelodyResult:
    """One melody made: its events, its files and its artifact id in the store."""

    events: np.ndarray
    files: dict[str, Path]
    artifact_id: str
    params: dict[str, Any] = field(default_factory=dict)


def keep_input(store: Store, path: str | Path) -> str:
    """Record a melody file a person gave, so results can name it as their parent."""
    return store.add_file(path, kind="melody", note="given as input").id


def keep_melodies(
    melodies: np.ndarray | Sequence[np.ndarray],
    out_dir: str | Path,
    *,
    stem: str,
    store: Store,
    model_id: str,
    seed: int | None,
    params: dict[str, Any],
    parents: Iterable[tuple[str, str]] = (),
    formats: Sequence[str] = tuple(FORMATS),
    bpm: float = 120,
) -> list[MelodyResult]:
    """Render each melody into ``out_dir`` and record it; returns them in order."""
    out = make_out_dir(out_dir)
    parents = list(parents)
    formats = list(dict.fromkeys(["mid", *formats]))  # the MIDI file is the artifact
    results = []
    for i, events in enumerate(melodies, start=1):
        name = f"{stem}-{i:02d}" if len(melodies) > 1 else stem
        files = render_all(events, out, name, formats, title=name, bpm=bpm)
        own = {**params, "index": i, "bpm": bpm}
        melody = store.add_file(
            files["mid"], kind="melody", params=own, seed=seed, model_id=model_id, parents=parents
        )
        for fmt, path in files.items():
            if fmt != "mid":
                store.add_file(
                    path,
                    kind=RENDER_KINDS[fmt],
                    params={"format": fmt},
                    seed=seed,
                    model_id=model_id,
                    parents=[(melody.id, "rendered-from")],
                )
        results.append(MelodyResult(np.asarray(events), files, melody.id, own))
    _write_manifest(out, stem, results, model_id, seed)
    return results


def _write_manifest(
    out: Path, stem: str, results: list[MelodyResult], model_id: str, seed: int | None
) -> None:
    record = {
        "model": model_id,
        "seed": seed,
        "melodies": [
            {
                "artifact": r.artifact_id,
                "files": {fmt: p.name for fmt, p in r.files.items()},
                "params": r.params,
            }
            for r in results
        ],
    }
    atomic_write_text(out / f"{stem}.results.json", json.dumps(record, indent=2) + "\n")
