"""Checking the store's files against its rows, and collecting the files nothing uses.

``verify`` reads only: it hashes every object against its id (an artifact's id is the
sha256 of its bytes), and lists rows whose file is missing, files no row refers to
(orphans: a process killed between writing a file and committing its row leaves one) and
temporary files left by an interrupted atomic write.

``collect_garbage`` removes orphans and temporary files older than ``min_age_s`` and never
a file a row refers to. It holds the store's write lock while it decides and deletes, and
a writer checks its file again inside its own write transaction, so a file that becomes
referenced while gc runs is kept or written again; the age limit spares files whose rows
are still on their way.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Row, select, text
from sqlalchemy.orm import Session

from museforge.core.store import Store, _sha256_file
from museforge.core.store_schema import Artifact
from museforge.errors import UserError

GC_MIN_AGE_S = 15 * 60  # longer than any add takes between writing a file and its row
_BATCH = 500


@dataclass
class VerifyReport:
    """What ``verify`` found; ids are artifact ids, files are relative to the objects folder."""

    checked: int = 0
    corrupt: list[str] = field(default_factory=list)  # the bytes no longer hash to the id
    missing: list[str] = field(default_factory=list)  # the row's file is gone
    orphans: list[str] = field(default_factory=list)  # a file no row refers to
    temp_files: list[str] = field(default_factory=list)  # left by an interrupted write

    @property
    def clean(self) -> bool:
        return not (self.corrupt or self.missing or self.orphans or self.temp_files)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"clean": self.clean}


@dataclass
class GcReport:
    """What ``collect_garbage`` removed (or would remove, on a dry run) and what it spared."""

    orphans: list[str] = field(default_factory=list)
    temp_files: list[str] = field(default_factory=list)
    too_young: int = 0  # unreferenced files newer than the age limit, kept for now
    bytes_freed: int = 0
    dry_run: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def verify(store: Store) -> VerifyReport:
    """Hash every object against its id and compare the rows with the files on disk."""
    report = VerifyReport()
    referenced: set[str] = set()
    for batch in _artifact_batches(store):
        for artifact_id, relative in batch:
            report.checked += 1
            referenced.add(relative)
            path = _object_path(store, relative)
            if path is None or not path.is_file():
                report.missing.append(artifact_id)
            elif _sha256_file(path) != artifact_id:
                report.corrupt.append(artifact_id)
    for relative, _ in _files(store.objects_dir):
        if _is_temp(relative):
            report.temp_files.append(relative)
        elif relative not in referenced:
            report.orphans.append(relative)
    return report


def collect_garbage(
    store: Store, *, min_age_s: float = GC_MIN_AGE_S, dry_run: bool = False
) -> GcReport:
    """Remove orphans and temporary files older than ``min_age_s``; never a referenced file."""
    if min_age_s < 0:
        raise UserError(f"the minimum age must not be negative, got {min_age_s}")

    def sweep(session: Session) -> GcReport:
        if session.get_bind().dialect.name == "postgresql":  # waits out and holds off inserts
            session.execute(text("LOCK TABLE artifact IN SHARE MODE"))
        referenced = set(session.scalars(select(Artifact.path)))
        report, now = GcReport(dry_run=dry_run), time.time()
        for relative, stat in _files(store.objects_dir):
            if relative in referenced:
                continue
            if now - stat.st_mtime < min_age_s:
                report.too_young += 1
                continue
            (report.temp_files if _is_temp(relative) else report.orphans).append(relative)
            report.bytes_freed += stat.st_size
            if not dry_run:
                (store.objects_dir / relative).unlink(missing_ok=True)
        return report

    return store._write(sweep)


def _artifact_batches(store: Store) -> Iterator[list[Row[tuple[str, str]]]]:
    """(id, path) of every artifact in id order, a batch at a time: the store may be large."""
    after = ""
    while True:
        query = select(Artifact.id, Artifact.path).where(Artifact.id > after)
        with store._read() as session:
            batch = list(session.execute(query.order_by(Artifact.id).limit(_BATCH)))
        if not batch:
            return
        yield batch
        after = batch[-1][0]


def _object_path(store: Store, relative: str) -> Path | None:
    """The file of a stored path, or None for a path that leaves the objects folder."""
    root = store.objects_dir.resolve()
    path = (root / relative).resolve()
    return path if path.is_relative_to(root) else None


def _files(root: Path) -> list[tuple[str, os.stat_result]]:
    """Every file under ``root`` as (path relative to it with ``/``, its stat)."""
    found = []
    for folder, _, names in os.walk(root):
        for name in names:
            path = Path(folder) / name
            try:
                stat = path.stat()
            except FileNotFoundError:  # removed by a writer's rename meanwhile
                continue
            found.append((path.relative_to(root).as_posix(), stat))
    return sorted(found)


def _is_temp(relative: str) -> bool:
    """A name ``atomic_path`` gives its temporary file: ``.<name>.<random>.tmp``."""
    name = relative.rsplit("/", 1)[-1]
    return name.startswith(".") and name.endswith(".tmp")
