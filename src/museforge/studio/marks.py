"""A person's marks on artifacts: star and discard, each a log that is only appended to.

Discarding hides an artifact from the studio's grids; undoing appends the opposite mark,
so nothing is ever deleted and the whole history of a choice stays readable. The table
lives in the store's own metadata, created on first use like the story tables.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable
from datetime import UTC, datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, func, select
from sqlalchemy.orm import Mapped, mapped_column

from museforge.core.store import Base, Store, UTCDateTime
from museforge.errors import UserError

MARKS = ("star", "discard")
_ready: weakref.WeakSet[Store] = weakref.WeakSet()


class Mark(Base):
    """From ``created`` on, ``artifact_id`` is (``on``) or is not starred / discarded."""

    __tablename__ = "studio_mark"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    artifact_id: Mapped[str] = mapped_column(ForeignKey("artifact.id"), index=True)
    mark: Mapped[str] = mapped_column(String(16))
    on: Mapped[bool] = mapped_column(Boolean)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=lambda: datetime.now(UTC))


def set_mark(store: Store, artifact_id: str, mark: str, on: bool) -> None:
    """Append one mark: ``on`` sets it, ``False`` takes it back."""
    if mark not in MARKS:
        raise UserError(f"a mark is one of {', '.join(MARKS)}, not {mark!r}")
    artifact = store.get(artifact_id)
    _tables(store)
    store._write(lambda s: s.add(Mark(artifact_id=artifact.id, mark=mark, on=on)))


def marks_of(store: Store, ids: Iterable[str]) -> dict[str, set[str]]:
    """The marks now set on each of ``ids`` (absent ids have none)."""
    ids = list(ids)
    if not ids:
        return {}
    _tables(store)
    latest = (
        select(func.max(Mark.id))
        .where(Mark.artifact_id.in_(ids))
        .group_by(Mark.artifact_id, Mark.mark)
    )
    query = select(Mark.artifact_id, Mark.mark).where(Mark.id.in_(latest), Mark.on.is_(True))
    found: dict[str, set[str]] = {}
    with store._read() as session:
        for artifact_id, mark in session.execute(query):
            found.setdefault(artifact_id, set()).add(mark)
    return found


def _tables(store: Store) -> None:
    if store not in _ready:
        store._create_schema()
        _ready.add(store)
