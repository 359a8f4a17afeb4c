"""The index the studio's grids read by, added to the store when the studio opens it.

A gallery page asks for one kind of artifact, newest first, a page further down: with
only the store's index on ``kind`` every page sorts all artifacts of that kind. An index
on ``(kind, created DESC, id)`` hands them over already in order, so a page costs the
same however big the store grows. ``IF NOT EXISTS`` makes adding it again a no-op, and
SQLite and PostgreSQL both read it.
"""

from __future__ import annotations

from sqlalchemy import text

from museforge.core.store import Store

INDEXES = (
    "CREATE INDEX IF NOT EXISTS ix_studio_artifact_kind_created "
    "ON artifact (kind, created DESC, id)",
)


def add_indexes(store: Store) -> None:
    """Add the studio's indexes to ``store`` unless they are there."""
    for statement in INDEXES:
        store._write(lambda session, sql=statement: session.execute(text(sql)))
