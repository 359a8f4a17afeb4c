"""One run per folder: a lock file that a second training run on the same ``--out`` meets.

The lock is ``.museforge-run.lock`` in the run folder: an ``flock`` held for as long as the
run lives (the kernel drops it when the process dies, however it dies) plus a JSON line
saying who holds it (PID, host, start time, command). A second run that cannot take the
``flock`` refuses with one line naming the holder. A run that finds the ``flock`` free but
the line still written was left by a process that died without cleaning up (SIGKILL, power
cut): that stale lock is reported, and taken over only when asked (``--force``).

The lock is re-entrant within a process, so a CLI can take it before it prepares data in
the folder and the training loop can take it again.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from museforge.errors import UserError

LOCK_FILE = ".museforge-run.lock"

_held: dict[Path, tuple[int, int]] = {}  # folder -> (fd, depth)


class RunFolderBusy(UserError):
    """Another live process trains into the same folder."""


class StaleRunLock(UserError):
    """A run that died left its lock behind; ``force`` takes the folder over."""


@contextmanager
def run_lock(folder: str | Path, *, force: bool = False) -> Iterator[Path]:
    """Hold the run folder's lock for the body; yields the lock file's path."""
    folder = Path(folder).expanduser()
    folder.mkdir(parents=True, exist_ok=True)
    key = folder.resolve()
    if key in _held:
        fd, depth = _held[key]
        _held[key] = (fd, depth + 1)
        try:
            yield key / LOCK_FILE
        finally:
            _held[key] = (fd, depth)
        return
    path = key / LOCK_FILE
    fd = _acquire(path, force)
    _held[key] = (fd, 1)
    try:
        yield path
    finally:
        del _held[key]
        _release(fd)


def _acquire(path: Path, force: bool) -> int:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _describe(_read(fd))
        os.close(fd)
        raise RunFolderBusy(
            f"{path.parent}: another training run is using this folder ({holder}); "
            "wait for it to finish or train into another folder"
        ) from None
    previous = _read(fd)
    if previous:
        if not force:
            os.close(fd)  # drops the flock
            raise StaleRunLock(
                f"{path.parent}: a run that did not finish left its lock ({_describe(previous)}); "
                "check that it is gone, then pass --force to take the folder over"
            )
        print(f"taking over the run folder from {_describe(previous)}", file=sys.stderr)
    record = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "command": " ".join(sys.argv),
    }
    os.ftruncate(fd, 0)
    os.pwrite(fd, (json.dumps(record) + "\n").encode(), 0)
    os.fsync(fd)
    return fd


def _release(fd: int) -> None:
    # Emptied, not removed: a process that opened the file a moment ago must still meet
    # this inode's flock rather than a fresh file of its own.
    os.ftruncate(fd, 0)
    os.close(fd)


def _read(fd: int) -> str:
    return os.pread(fd, 4096, 0).decode("utf-8", "replace").strip()


def _describe(line: str) -> str:
    try:
        record = json.loads(line)
        return f"pid {record['pid']} on {record['host']}, started {record['started']}"
    except (json.JSONDecodeError, KeyError, TypeError):
        return "holder unknown"
