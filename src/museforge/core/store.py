"""The store: every artifact museforge makes, where it came from, how people rated it.

Artifacts are files kept by content: an artifact's id is the sha256 of its bytes, so the
same file always has the same id and adding it twice keeps it once. Lineage edges record
what each artifact was made from, so any result can be traced back and reproduced.

SQLite is the default. It runs in WAL mode so readers never wait for a writer, and every
write transaction starts with ``BEGIN IMMEDIATE``: a writer takes the lock up front
instead of upgrading a read lock half-way, which is what makes two processes writing at
once deadlock-free. PostgreSQL is used when the URL says so (``postgresql+psycopg://``).
"""

from __future__ import annotations

import hashlib
import json
import math
import mimetypes
import random
import re
import shutil
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any, NamedTuple, TypeVar

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Dialect,
    Engine,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    create_engine,
    event,
    func,
    insert,
    literal_column,
    select,
    text,
)
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import (
    ArgumentError,
    DatabaseError,
    IntegrityError,
    NoSuchModuleError,
    OperationalError,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from museforge.core import home
from museforge.core.atomic import atomic_path, atomic_write_bytes, atomic_write_text
from museforge.errors import BadInputFile, NotFoundInStore, UserError, require_file

SCHEMA_VERSION = 1

RELATIONS = frozenset(
    {
        "input",  # the child was made from the parent (a seed melody, a content image)
        "generated-by",  # the parent is the model that made the child
        "variation-of",
        "interpolation-of",
        "edited-from",
        "chosen-from",  # a person picked the child out of the parent's batch
        "continuation-of",
        "trained-from",  # the child is a model trained on the parent
        "rendered-from",  # the child is the parent in another format (WAV, PNG of a MIDI file)
    }
)
# "interrupted": it was running when the process that ran it stopped; it can be resumed
JOB_STATES = ("queued", "running", "done", "failed", "cancelled", "interrupted")
RATERS = ("human", "machine")

MIN_PREFIX = 4
# Bounds the ancestors walk; it is also what stops the walk going round a cycle, which
# dedupe can create (an edit that gives back the bytes of an earlier version).
MAX_LINEAGE_DEPTH = 500
BUSY_TIMEOUT_S = 30
WRITE_ATTEMPTS = 8

_HEX = re.compile(r"[0-9a-f]+")
_KIND = re.compile(r"[a-z][a-z0-9-]{0,31}")
_SUFFIX = re.compile(r"\.[a-z0-9][a-z0-9_+-]{0,15}")
_SCHEMA_LOCK = 0x6D75_7365  # any constant shared by every museforge process
_MEDIA_TYPES = {  # ours first: mimetypes depends on the machine's /etc/mime.types
    ".mid": "audio/midi",
    ".midi": "audio/midi",
    ".abc": "text/vnd.abc",
    ".musicxml": "application/vnd.recordare.musicxml+xml",
    ".wav": "audio/wav",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".svg": "image/svg+xml",
    ".md": "text/markdown",
    ".txt": "text/plain",
    ".fountain": "text/plain",
    ".json": "application/json",
    ".safetensors": "application/octet-stream",
}

T = TypeVar("T")


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
    seed: Mapped[int | None] = mapped_column(BigInteger)
    model_id: Mapped[str | None] = mapped_column(String(200))
    project_id: Mapped[int | None] = mapped_column(ForeignKey("project.id"), index=True)
    note: Mapped[str | None] = mapped_column(Text)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=_utcnow, index=True)

    @property
    def suffix(self) -> str:
        return PurePosixPath(self.path).suffix


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


class Edge(NamedTuple):
    artifact: Artifact
    relation: str


class Ancestor(NamedTuple):
    artifact: Artifact
    depth: int  # 1 for a parent, 2 for a grandparent: the shortest way up


@dataclass
class LineageNode:
    """One artifact in a printed lineage; ``parents`` nest upwards."""

    artifact: Artifact
    relation: str | None  # how this artifact fed the node below it; None at the root
    parents: list[LineageNode] = field(default_factory=list)
    repeated: bool = False  # shown earlier in the tree (a diamond or a cycle): not expanded


class Store:
    """Artifacts, lineage, ratings and jobs in one database plus a content-addressed folder."""

    def __init__(self, url: str | None = None, *, objects_dir: str | Path | None = None) -> None:
        self.url = url or home.db_url()
        self.objects_dir = Path(objects_dir).expanduser() if objects_dir else home.objects_dir()
        self.objects_dir.mkdir(parents=True, exist_ok=True)
        self._engine = _make_engine(self.url)
        self._read = sessionmaker(self._engine, expire_on_commit=False)
        writer = self._engine.execution_options(museforge_write=True)
        self._write_session = sessionmaker(writer, expire_on_commit=False)
        self._create_schema()

    def close(self) -> None:
        """Close pooled connections, so a PostgreSQL database can be dropped and files freed."""
        self._engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- artifacts ---------------------------------------------------------------------

    def add_file(
        self,
        path: str | Path,
        *,
        kind: str,
        media_type: str | None = None,
        params: dict[str, Any] | None = None,
        seed: int | None = None,
        model_id: str | None = None,
        parents: Iterable[tuple[str, str]] = (),
        project: str | None = None,
        note: str | None = None,
    ) -> Artifact:
        """Keep a copy of ``path`` and record it; the same bytes again give the same artifact.

        On a second add only the new lineage edges are kept: the first record's kind,
        params and seed stay, since they describe how the bytes were first made.
        """
        source = require_file(path)
        # an odd ending ("clip.mid;1") is dropped rather than refused: the bytes matter
        suffix = source.suffix.lower() if _SUFFIX.fullmatch(source.suffix.lower()) else ""
        digest = _sha256_file(source)

        def copy(target: Path) -> None:
            with atomic_path(target) as tmp:
                if _copy_hashing(source, tmp) != digest:
                    raise BadInputFile(source, "changed while it was being added; try again")

        fields = _fields(kind, media_type, suffix, params, seed, model_id, note)
        return self._add(digest, suffix, source.stat().st_size, copy, fields, parents, project)

    def add_bytes(
        self,
        data: bytes,
        suffix: str,
        *,
        kind: str,
        media_type: str | None = None,
        params: dict[str, Any] | None = None,
        seed: int | None = None,
        model_id: str | None = None,
        parents: Iterable[tuple[str, str]] = (),
        project: str | None = None,
        note: str | None = None,
    ) -> Artifact:
        """Like ``add_file`` for bytes made in memory; ``suffix`` is e.g. ``".mid"``."""
        suffix = _clean_suffix(suffix)
        digest = hashlib.sha256(data).hexdigest()
        fields = _fields(kind, media_type, suffix, params, seed, model_id, note)

        def write(target: Path) -> None:
            atomic_write_bytes(target, data)

        return self._add(digest, suffix, len(data), write, fields, parents, project)

    def get(self, id_or_prefix: str) -> Artifact:
        """The artifact whose id is or starts with ``id_or_prefix`` (at least 4 hex digits)."""
        prefix = id_or_prefix.strip().lower()
        if not (_HEX.fullmatch(prefix) and MIN_PREFIX <= len(prefix) <= 64):
            raise NotFoundInStore(
                f"{id_or_prefix!r} is not an artifact id: give at least {MIN_PREFIX} of its "
                "hex digits"
            )
        query = select(Artifact).where(Artifact.id.startswith(prefix)).order_by(Artifact.id)
        with self._read() as session:
            if len(prefix) == 64:  # a whole id: the primary key, not a LIKE over every row
                whole = session.get(Artifact, prefix)
                found = [whole] if whole else []
            else:
                found = session.scalars(query.limit(3)).all()
        if not found:
            raise NotFoundInStore(f"no artifact with id {prefix} in the store")
        if len(found) > 1:
            some = ", ".join(a.id[:12] for a in found)
            raise NotFoundInStore(
                f"artifact id {prefix} is ambiguous: it matches {some}, ...; give more digits"
            )
        return found[0]

    def list_artifacts(
        self,
        kind: str | None = None,
        project: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[Artifact]:
        """The newest artifacts first, optionally of one kind or one project; ``offset``
        skips that many, for a page further down."""
        _check_limit(limit)
        if offset < 0:
            raise UserError(f"offset must be 0 or more, got {offset}")
        query = select(Artifact).order_by(Artifact.created.desc(), Artifact.id)
        query = query.limit(limit).offset(offset)
        if kind is not None:
            query = query.where(Artifact.kind == _check_kind(kind))
        with self._read() as session:
            if project is not None:
                query = query.where(Artifact.project_id == _project_id(session, project))
            return list(session.scalars(query))

    def path_of(self, artifact: Artifact) -> Path:
        """The absolute path of the artifact's file, refusing any path outside the objects."""
        root = self.objects_dir.resolve()
        target = (root / artifact.path).resolve()
        if not target.is_relative_to(root):
            raise UserError(f"artifact {artifact.id[:12]} points outside the objects folder")
        return target

    def project_name(self, artifact: Artifact) -> str | None:
        """The name of the artifact's project; records keep only its id."""
        if artifact.project_id is None:
            return None
        with self._read() as session:
            return session.get_one(Project, artifact.project_id).name

    # -- lineage -----------------------------------------------------------------------

    def parents(self, id_or_prefix: str) -> list[Edge]:
        """The artifacts this one was made from, each with how."""
        child = self.get(id_or_prefix)
        return self._edges(Lineage.parent_id, Lineage.child_id == child.id)

    def children(self, id_or_prefix: str) -> list[Edge]:
        """The artifacts made from this one, each with how."""
        parent = self.get(id_or_prefix)
        return self._edges(Lineage.child_id, Lineage.parent_id == parent.id)

    def ancestors(self, id_or_prefix: str) -> list[Ancestor]:
        """Every ancestor once, at its shortest distance, nearest first.

        A recursive CTE, so the whole walk is one query on SQLite and PostgreSQL alike.
        ``UNION`` (not ``UNION ALL``) keeps one row per (id, depth), so a graph with many
        diamonds grows with ids times depth rather than with the number of paths.
        """
        root = self.get(id_or_prefix)
        depth = literal_column("1", Integer).label("depth")
        walk = (
            select(Lineage.parent_id.label("id"), depth)
            .where(Lineage.child_id == root.id)
            .cte("walk", recursive=True)
        )
        step = (
            select(Lineage.parent_id, walk.c.depth + 1)
            .join(walk, Lineage.child_id == walk.c.id)
            .where(walk.c.depth < MAX_LINEAGE_DEPTH)
        )
        walk = walk.union(step)
        nearest = (
            select(walk.c.id, func.min(walk.c.depth).label("depth")).group_by(walk.c.id).subquery()
        )
        query = (
            select(Artifact, nearest.c.depth)
            .join(nearest, Artifact.id == nearest.c.id)
            .where(Artifact.id != root.id)
            .order_by(nearest.c.depth, Artifact.created, Artifact.id)
        )
        with self._read() as session:
            return [Ancestor(artifact, d) for artifact, d in session.execute(query)]

    def lineage_tree(self, id_or_prefix: str) -> LineageNode:
        """The artifact with its parents nested above it, each ancestor expanded once."""
        root = self.get(id_or_prefix)
        known = {root.id: root} | {a.artifact.id: a.artifact for a in self.ancestors(root.id)}
        parents_of = self._parent_ids(known)
        tree = LineageNode(root, None)
        expanded: set[str] = set()
        stack = [tree]  # depth-first by hand: a lineage can be deeper than Python's stack
        while stack:
            node = stack.pop()
            if node.artifact.id in expanded:
                node.repeated = True
                continue
            expanded.add(node.artifact.id)
            node.parents = [
                LineageNode(known[parent], relation)
                for parent, relation in parents_of[node.artifact.id]
                if parent in known
            ]
            stack.extend(reversed(node.parents))  # so the first parent is expanded first
        return tree

    # -- ratings -----------------------------------------------------------------------

    def rate(
        self, id_or_prefix: str, score: float, note: str | None = None, by: str = "human"
    ) -> Rating:
        """Record a judgement; people and metrics both rate, and ``by`` keeps them apart."""
        artifact = self.get(id_or_prefix)
        if not math.isfinite(score):
            raise UserError(f"a score must be a finite number, got {score}")
        if by not in RATERS:
            raise UserError(f"a rating is by one of {', '.join(RATERS)}, not {by!r}")
        return self._write(
            lambda session: _added(
                session, Rating(artifact_id=artifact.id, score=float(score), note=note, by=by)
            )
        )

    def ratings(self, id_or_prefix: str) -> list[Rating]:
        """All ratings of the artifact, oldest first."""
        artifact = self.get(id_or_prefix)
        query = select(Rating).where(Rating.artifact_id == artifact.id)
        with self._read() as session:
            return list(session.scalars(query.order_by(Rating.created, Rating.id)))

    # -- jobs --------------------------------------------------------------------------

    def create_job(self, kind: str, params: dict[str, Any] | None = None) -> Job:
        """A queued job; the worker that runs it reports through ``update_job``."""
        fields = {"kind": kind, "params": _json_value(params or {})}

        def create(session: Session) -> Job:
            job = Job(id=str(uuid.uuid4()), state="queued", progress=0.0, message="", **fields)
            return _added(session, job)

        return self._write(create)

    def update_job(
        self,
        job_id: str,
        *,
        state: str | None = None,
        progress: float | None = None,
        message: str | None = None,
        result: Any = None,
    ) -> Job:
        """Change only what is given; the ``updated`` time always moves."""
        if state is not None and state not in JOB_STATES:
            raise UserError(f"a job state is one of {', '.join(JOB_STATES)}, not {state!r}")
        if progress is not None and not 0.0 <= progress <= 1.0:
            raise UserError(f"job progress runs from 0 to 1, got {progress}")
        changes: dict[str, Any] = {"updated": _utcnow()}
        for name, value in (("state", state), ("progress", progress), ("message", message)):
            if value is not None:
                changes[name] = value
        if result is not None:
            changes["result"] = _json_value(result)

        def update(session: Session) -> Job:
            job = session.get(Job, job_id)
            if job is None:
                raise NotFoundInStore(f"no job {job_id} in the store")
            for name, value in changes.items():
                setattr(job, name, value)
            return job

        return self._write(update)

    def get_job(self, job_id: str) -> Job:
        """The job with this id (jobs are looked up whole, not by prefix)."""
        with self._read() as session:
            job = session.get(Job, job_id)
        if job is None:
            raise NotFoundInStore(f"no job {job_id} in the store")
        return job

    def list_jobs(self, state: str | None = None, limit: int = 50) -> list[Job]:
        """The newest jobs first, optionally only those in one state."""
        _check_limit(limit)
        query = select(Job).order_by(Job.created.desc(), Job.id).limit(limit)
        if state is not None:
            query = query.where(Job.state == state)
        with self._read() as session:
            return list(session.scalars(query))

    # -- export ------------------------------------------------------------------------

    def export(self, id_or_prefix: str, out_dir: str | Path) -> Path:
        """Copy the artifact and all its ancestors into ``out_dir`` with ``provenance.json``.

        Files are named by id and a checked suffix, never by anything else stored, so a
        tampered record cannot write outside ``out_dir``. Every source is checked before
        the first copy, so a missing file leaves no half export behind.
        """
        root = self.get(id_or_prefix)
        artifacts = [root] + [a.artifact for a in self.ancestors(root.id)]
        sources = {a.id: self.path_of(a) for a in artifacts}
        for artifact_id, source in sources.items():
            if not source.is_file():
                raise UserError(f"artifact {artifact_id[:12]}: its file {source} is missing")
        out = Path(out_dir).expanduser()
        if out.exists() and not out.is_dir():
            raise BadInputFile(out, "is a file, expected a directory")
        out.mkdir(parents=True, exist_ok=True)

        records = self._provenance(artifacts)
        for record in records:
            with atomic_path(out / record["file"]) as tmp:
                shutil.copyfile(sources[record["id"]], tmp)
        document = {
            "schema_version": SCHEMA_VERSION,
            "artifact": root.id,
            "exported": _utcnow().isoformat(),
            "artifacts": records,
        }
        atomic_write_text(out / "provenance.json", json.dumps(document, indent=2) + "\n")
        return out

    # -- internals ---------------------------------------------------------------------

    def _create_schema(self) -> None:
        safe_url = make_url(self.url).render_as_string(hide_password=True)
        try:
            with self._engine.execution_options(museforge_write=True).begin() as conn:
                if conn.dialect.name == "postgresql":  # CREATE TABLE is not race-safe there
                    conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK})
                Base.metadata.create_all(conn)
                stored = conn.scalar(select(Meta.value).where(Meta.key == "schema_version"))
                if stored is None:
                    conn.execute(
                        insert(Meta).values(key="schema_version", value=str(SCHEMA_VERSION))
                    )
        except DatabaseError as exc:  # no server, no such database, not a database file
            problem = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
            raise UserError(f"cannot open the store at {safe_url}: {problem}") from None
        if stored is not None and int(stored) > SCHEMA_VERSION:
            raise UserError(
                f"the store at {safe_url} has schema version {stored}, newer than this "
                f"museforge understands ({SCHEMA_VERSION}); upgrade museforge"
            )

    def _write(self, work: Callable[[Session], T]) -> T:
        """Run ``work`` in one write transaction, again if another writer got in the way.

        A retry is safe because every write here first looks for what it would create.
        """
        attempt = 0
        while True:
            attempt += 1
            try:
                with self._write_session() as session, session.begin():
                    return work(session)
            except (IntegrityError, OperationalError) as exc:
                if attempt >= WRITE_ATTEMPTS or not _is_contention(exc):
                    raise
                time.sleep(0.02 * attempt * (1 + random.random()))

    def _add(
        self,
        digest: str,
        suffix: str,
        size: int,
        write: Callable[[Path], None],
        fields: dict[str, Any],
        parents: Iterable[tuple[str, str]],
        project: str | None,
    ) -> Artifact:
        # parents are checked before the file is written: bad input leaves nothing behind
        edges = [(self.get(parent).id, _check_relation(relation)) for parent, relation in parents]
        with self._read() as session:
            existing = session.get(Artifact, digest)
        relative = existing.path if existing else f"{digest[:2]}/{digest[2:]}{suffix}"
        target = self.objects_dir / relative
        if not target.is_file():
            write(target)

        def record(session: Session) -> Artifact:
            artifact = session.get(Artifact, digest)
            if artifact is None:
                project_id = None if project is None else _project_id(session, project, True)
                artifact = Artifact(
                    id=digest, path=relative, size=size, project_id=project_id, **fields
                )
                session.add(artifact)
                session.flush()
            for parent_id, relation in edges:
                if parent_id != digest:  # identical bytes carry no lineage of their own
                    _add_edge(session, parent_id, digest, relation)
            return artifact

        return self._write(record)

    def _edges(self, other_end: Any, where: Any) -> list[Edge]:
        query = (
            select(Artifact, Lineage.relation)
            .join(Lineage, Artifact.id == other_end)
            .where(where)
            .order_by(Artifact.created, Artifact.id, Lineage.relation)
        )
        with self._read() as session:
            return [Edge(artifact, relation) for artifact, relation in session.execute(query)]

    def _parent_ids(self, child_ids: Iterable[str]) -> dict[str, list[tuple[str, str]]]:
        query = select(Lineage.child_id, Lineage.parent_id, Lineage.relation).where(
            Lineage.child_id.in_(list(child_ids))
        )
        parents_of: dict[str, list[tuple[str, str]]] = defaultdict(list)
        with self._read() as session:
            for child, parent, relation in session.execute(query.order_by(Lineage.id)):
                parents_of[child].append((parent, relation))
        return parents_of

    def _provenance(self, artifacts: Sequence[Artifact]) -> list[dict[str, Any]]:
        ids = [a.id for a in artifacts]
        parents_of = self._parent_ids(ids)
        ratings_of: dict[str, list[dict[str, Any]]] = defaultdict(list)
        with self._read() as session:
            query = select(Rating).where(Rating.artifact_id.in_(ids))
            for r in session.scalars(query.order_by(Rating.created, Rating.id)):
                ratings_of[r.artifact_id].append(
                    {"score": r.score, "by": r.by, "note": r.note, "created": r.created.isoformat()}
                )
            projects = {
                pid: name for pid, name in session.execute(select(Project.id, Project.name))
            }
        return [
            {
                "id": a.id,
                "file": a.id + _clean_suffix(a.suffix),
                "kind": a.kind,
                "media_type": a.media_type,
                "size": a.size,
                "params": a.params,
                "seed": a.seed,
                "model_id": a.model_id,
                "project": projects.get(a.project_id),
                "note": a.note,
                "created": a.created.isoformat(),
                "parents": [{"id": p, "relation": r} for p, r in parents_of[a.id]],
                "ratings": ratings_of[a.id],
            }
            for a in artifacts
        ]


def guess_media_type(suffix: str) -> str:
    """The media type for a file suffix, ``application/octet-stream`` when unknown."""
    suffix = suffix.lower()
    return (
        _MEDIA_TYPES.get(suffix)
        or mimetypes.guess_type(f"file{suffix}")[0]
        or "application/octet-stream"
    )


def _make_engine(url: str) -> Engine:
    try:
        parsed = make_url(url)
        if parsed.drivername == "postgresql":  # psycopg 3 is the driver museforge ships with
            parsed = parsed.set(drivername="postgresql+psycopg")
        if parsed.get_backend_name() == "sqlite":
            return _sqlite_engine(parsed)
        return create_engine(parsed, pool_pre_ping=True)
    except (ArgumentError, NoSuchModuleError, ImportError) as exc:
        raise UserError(f"cannot use store URL {url!r}: {exc}") from None


def _sqlite_engine(url: URL) -> Engine:
    if url.database and url.database != ":memory:":
        Path(url.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url)

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # the "begin" hook below emits BEGIN itself
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_S * 1000}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")  # WAL: a power cut can lose, not corrupt
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        write = conn.get_execution_options().get("museforge_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


def _is_contention(exc: IntegrityError | OperationalError) -> bool:
    """Whether another writer caused ``exc``, so that trying again will succeed."""
    if isinstance(exc, IntegrityError):  # a row we looked for was inserted meanwhile
        return True
    if getattr(exc.orig, "sqlstate", None) in ("40001", "40P01"):  # serialization, deadlock
        return True
    message = str(exc.orig).lower()
    return "locked" in message or "busy" in message


def _fields(
    kind: str,
    media_type: str | None,
    suffix: str,
    params: dict[str, Any] | None,
    seed: int | None,
    model_id: str | None,
    note: str | None,
) -> dict[str, Any]:
    if seed is not None and not -(2**63) <= seed < 2**63:
        raise UserError(f"a seed must fit in 64 bits, got {seed}")
    return {
        "kind": _check_kind(kind),
        "media_type": media_type or guess_media_type(suffix),
        "params": _json_value(params or {}),
        "seed": seed,
        "model_id": model_id,
        "note": note,
    }


def _check_kind(kind: str) -> str:
    if not _KIND.fullmatch(kind):
        raise UserError(
            f"bad artifact kind {kind!r}: use a lower-case word like melody, image, story or model"
        )
    return kind


def _check_limit(limit: int) -> None:
    if limit < 1:
        raise UserError(f"limit must be at least 1, got {limit}")


def _check_relation(relation: str) -> str:
    if relation not in RELATIONS:
        raise UserError(
            f"unknown lineage relation {relation!r}: use one of {', '.join(sorted(RELATIONS))}"
        )
    return relation


def _clean_suffix(suffix: str) -> str:
    """``suffix`` made safe to end a file name with, or a UserError: no ``/``, no ``..``."""
    if not suffix:
        return ""
    cleaned = suffix.lower() if suffix.startswith(".") else f".{suffix.lower()}"
    if not _SUFFIX.fullmatch(cleaned):
        raise UserError(
            f"bad file suffix {suffix!r}: use a dot and up to 16 letters or digits, like .mid"
        )
    return cleaned


def _json_value(value: Any) -> Any:
    """``value`` as it will come back from the database (tuples become lists, and so on)."""
    return json.loads(json.dumps(value))


def _project_id(session: Session, name: str, create: bool = False) -> int:
    project_id = session.scalar(select(Project.id).where(Project.name == name))
    if project_id is not None:
        return project_id
    if not create:
        raise NotFoundInStore(f"no project named {name!r} in the store")
    project = Project(name=name)
    session.add(project)
    session.flush()
    return project.id


def _add_edge(session: Session, parent_id: str, child_id: str, relation: str) -> None:
    exists = session.scalar(
        select(Lineage.id).where(
            Lineage.parent_id == parent_id,
            Lineage.child_id == child_id,
            Lineage.relation == relation,
        )
    )
    if exists is None:
        session.add(Lineage(parent_id=parent_id, child_id=child_id, relation=relation))


def _added(session: Session, row: T) -> T:
    session.add(row)
    session.flush()
    return row


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _copy_hashing(source: Path, target: Path) -> str:
    """Copy ``source`` to ``target`` and return the sha256 of the bytes actually copied."""
    digest = hashlib.sha256()
    with open(source, "rb") as src, open(target, "wb") as dst:
        for chunk in iter(lambda: src.read(1 << 20), b""):
            digest.update(chunk)
            dst.write(chunk)
    return digest.hexdigest()
