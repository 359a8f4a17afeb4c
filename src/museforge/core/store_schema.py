"""The store's tables, and the steps that bring an older database up to them.

The schema version lives in the ``meta`` table. ``MIGRATIONS[n - 1]`` takes a database
from version ``n`` to ``n + 1``; the store runs each step in its own write transaction
together with the new version number, so a process killed during an upgrade leaves the
database at one version or the next, never between. A new database is made at the current
version in one go (``create_all``), which is why every step's result is also declared on
the tables below.

Reading the version needs no write lock: a store that is already current opens with one
plain read transaction, so ``store list`` never waits behind a writer.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import Any, NamedTuple

from sqlalchemy import (
    JSON,
    BigInteger,
    Connection,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    inspect,
    select,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def _utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that is always timezone-aware UTC in Python, whatever the backend keeps."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = value.astimezone(UTC)
        # SQLite has no timezone type; a naive UTC string sorts correctly
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    """The one metadata every table lives in, so ``create_all`` makes the whole schema."""


class Meta(Base):
    """Key/value facts about the database itself; today only ``schema_version``."""

    __tablename__ = "meta"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(256))


class Project(Base):
    __tablename__ = "project"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=_utcnow)


class Artifact(Base):
    """A file museforge made or was given, with everything needed to make it again."""

    __tablename__ = "artifact"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 of the bytes
    kind: Mapped[str] = mapped_column(String(32), index=True)
    media_type: Mapped[str] = mapped_column(String(100))
    path: Mapped[str] = mapped_column(String(100))  # relative to the objects folder
    size: Mapped[int] = mapped_column(BigInteger)
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    seed: Mapped[int | None] = mapped_column(BigInteger, index=True)  # version 2
    model_id: Mapped[str | None] = mapped_column(String(200), index=True)  # version 2
    project_id: Mapped[int | None] = mapped_column(ForeignKey("project.id"), index=True)
    note: Mapped[str | None] = mapped_column(Text)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=_utcnow, index=True)

    @property
    def suffix(self) -> str:
        return PurePosixPath(self.path).suffix


# Version 3: one kind, newest first, a page further down (the studio's grids) comes off this
# index already in order, so a page costs the same however big the store grows.
Index("ix_artifact_kind_created", Artifact.kind, Artifact.created.desc(), Artifact.id)


class Lineage(Base):
    """One edge: ``child`` was made from ``parent`` in the way ``relation`` names."""

    __tablename__ = "lineage"
    __table_args__ = (UniqueConstraint("parent_id", "child_id", "relation", name="uq_lineage"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    parent_id: Mapped[str] = mapped_column(ForeignKey("artifact.id"))
    child_id: Mapped[str] = mapped_column(ForeignKey("artifact.id"), index=True)
    relation: Mapped[str] = mapped_column(String(32))


class Rating(Base):
    __tablename__ = "rating"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    artifact_id: Mapped[str] = mapped_column(ForeignKey("artifact.id"), index=True)
    score: Mapped[float] = mapped_column(Float)
    note: Mapped[str | None] = mapped_column(Text)
    by: Mapped[str] = mapped_column(String(16))
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=_utcnow)


class Job(Base):
    """Long work (training, a batch of generations) that the CLI and the studio can follow."""

    __tablename__ = "job"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16), index=True)
    progress: Mapped[float] = mapped_column(Float)
    message: Mapped[str] = mapped_column(Text)
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    result: Mapped[Any | None] = mapped_column(JSON)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=_utcnow)
    updated: Mapped[datetime] = mapped_column(UTCDateTime, default=_utcnow)


def _index_search_columns(conn: Connection) -> None:
    """Version 2: ``store list --seed/--model`` look artifacts up by seed and model."""
    wanted = {"ix_artifact_seed", "ix_artifact_model_id"}
    for index in Artifact.__table__.indexes:
        if index.name in wanted:
            index.create(conn, checkfirst=True)


def _index_kind_created(conn: Connection) -> None:
    """Version 3: the gallery's index (kind, created newest first, id), which studios of
    version 2 added under their own name when they opened a store."""
    conn.exec_driver_sql("DROP INDEX IF EXISTS ix_studio_artifact_kind_created")
    for index in Artifact.__table__.indexes:
        if index.name == "ix_artifact_kind_created":
            index.create(conn, checkfirst=True)


MIGRATIONS: tuple[Callable[[Connection], None], ...] = (
    _index_search_columns,
    _index_kind_created,
)
SCHEMA_VERSION = 1 + len(MIGRATIONS)


class SchemaState(NamedTuple):
    """What an open database holds: its version (None: not a store yet) and missing tables."""

    version: int | None
    missing: tuple[str, ...]
    has_artifacts: bool  # the artifact table exists, versioned or not


def read_state(conn: Connection) -> SchemaState:
    """The schema's state, read without writing anything."""
    tables = set(inspect(conn).get_table_names())
    version = None
    if Meta.__tablename__ in tables:
        stored = conn.scalar(select(Meta.value).where(Meta.key == "schema_version"))
        version = None if stored is None else _parse_version(stored)
    missing = tuple(name for name in Base.metadata.tables if name not in tables)
    return SchemaState(version, missing, Artifact.__tablename__ in tables)


def upgrade_one_step(conn: Connection, state: SchemaState) -> bool:
    """Move the database one step towards the current schema; False once nothing is left.

    Run inside a write transaction that holds the schema lock, with ``state`` read in it.
    Tables that other modules add to ``Base`` (the story tables) are created once the
    versioned schema is current.
    """
    if state.version is None:
        Base.metadata.create_all(conn)
        conn.execute(
            Meta.__table__.insert().values(key="schema_version", value=str(SCHEMA_VERSION))
        )
        return False
    if state.version < SCHEMA_VERSION:
        MIGRATIONS[state.version - 1](conn)
        conn.execute(
            Meta.__table__.update()
            .where(Meta.key == "schema_version")
            .values(value=str(state.version + 1))
        )
        return True
    if state.missing:
        Base.metadata.create_all(conn)
    return False


def _parse_version(stored: str) -> int:
    try:
        version = int(stored)
    except ValueError:
        version = 0
    if version < 1:
        raise ValueError(f"schema version {stored!r} is not a version number")
    return version
