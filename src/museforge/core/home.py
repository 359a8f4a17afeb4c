"""Where museforge keeps its things: ``$MUSEFORGE_HOME`` (default ``~/.museforge``)."""

from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    """The museforge home folder, created on first use."""
    root = Path(os.environ.get("MUSEFORGE_HOME") or Path.home() / ".museforge").expanduser()
    root.mkdir(parents=True, exist_ok=True)
    return root


def objects_dir() -> Path:
    """The content-addressed file store."""
    path = home() / "objects"
    path.mkdir(parents=True, exist_ok=True)
    return path


def db_url() -> str:
    """SQLAlchemy URL of the store: ``$MUSEFORGE_DB_URL`` or SQLite in the home folder."""
    return os.environ.get("MUSEFORGE_DB_URL") or f"sqlite:///{home() / 'store.db'}"
