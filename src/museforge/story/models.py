"""The story models on this machine: the shipped default and any GGUF file or model folder
kept in ``$MUSEFORGE_HOME/models``, each with its size and, when measured, its speed."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from museforge.core.home import home
from museforge.errors import UserError
from museforge.story.llm import DEFAULT_MODEL, load_language_model, shipped_gguf

MEASURE_TOKENS = 64  # enough for a steady rate, a second or two on a small model
PROMPT = [{"role": "user", "content": "Write the opening of a story about a lighthouse keeper."}]


@dataclass
class LocalModel:
    name: str  # what --model takes: the file's name without .gguf, or the folder's
    path: Path
    mb: float
    tokens_per_s: float | None = None


def models_dir() -> Path:
    """Where models for ``--model NAME`` are kept (a GGUF file or a model folder each)."""
    return home() / "models"


def _mb(path: Path) -> float:
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    return round(sum(p.stat().st_size for p in files) / 2**20, 1)


def local_models() -> list[LocalModel]:
    """The shipped model (if installed), then what ``models_dir`` holds, by name."""
    found = []
    try:
        shipped = shipped_gguf()
        found.append(LocalModel(DEFAULT_MODEL, shipped, _mb(shipped)))
    except UserError:
        pass
    folder = models_dir()
    if folder.is_dir():
        for path in sorted(folder.iterdir()):
            if path.suffix == ".gguf" or (path / "config.json").is_file():
                name = path.stem if path.suffix == ".gguf" else path.name
                found.append(LocalModel(name, path, _mb(path)))
    return found


def measure(model: LocalModel, runtime: str | None = None) -> LocalModel:
    """``model`` with its generation rate: MEASURE_TOKENS tokens at temperature 0.7."""
    loaded = load_language_model(model.name, runtime)
    start = time.perf_counter()
    text = loaded.complete(PROMPT, max_tokens=MEASURE_TOKENS, temperature=0.7, seed=0)
    seconds = time.perf_counter() - start
    count = getattr(loaded, "count_tokens", None)
    tokens = count(text) if count else len(text.split())
    model.tokens_per_s = round(tokens / seconds, 1) if seconds > 0 else None
    return model
