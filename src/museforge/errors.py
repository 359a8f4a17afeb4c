"""Errors a person can act on.

A ``UserError`` is bad input or a bad setting, not a bug: the CLI prints its message on
one line as ``error: <message>`` and exits with code 2, without a traceback.
"""

from __future__ import annotations

from pathlib import Path


class UserError(Exception):
    """Something the person can fix: a missing file, a bad value, an empty folder."""

    exit_code = 2

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.split()))

    @property
    def message(self) -> str:
        return str(self)


class BadInputFile(UserError):
    """A file exists but cannot be used; the message names the file and the problem."""

    def __init__(self, path: str | Path, problem: str, hint: str = "") -> None:
        text = f"{path}: {problem}"
        if hint:
            text += f" ({hint})"
        super().__init__(text)
        self.path = str(path)


class MissingFile(UserError):
    """A path that should exist does not."""

    def __init__(self, path: str | Path, what: str = "file") -> None:
        super().__init__(f"{path}: no such {what}")
        self.path = str(path)


class NotFoundInStore(UserError):
    """An id or name that the store does not know."""


def require_file(path: str | Path, what: str = "file") -> Path:
    """Return ``path`` as a Path, or raise MissingFile if it is not an existing file."""
    p = Path(path).expanduser()
    if p.is_dir():
        raise BadInputFile(p, "is a directory, expected a file")
    if not p.is_file():
        raise MissingFile(p, what)
    return p


def require_dir(path: str | Path) -> Path:
    """Return ``path`` as a Path, or raise if it is not an existing directory."""
    p = Path(path).expanduser()
    if not p.exists():
        raise MissingFile(p, "directory")
    if not p.is_dir():
        raise BadInputFile(p, "is a file, expected a directory")
    return p


def make_out_dir(path: str | Path) -> Path:
    """Create the output folder ``path`` (and its parents), or raise a UserError saying why not."""
    p = Path(path).expanduser()
    if p.exists() and not p.is_dir():
        raise BadInputFile(p, "exists and is not a folder", "choose another output folder")
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BadInputFile(
            p, f"cannot create this folder: {exc.strerror or exc}", "choose another output folder"
        ) from exc
    return p
