"""The store: every artifact museforge makes, where it came from, how people rated it.

Artifacts are files kept by content: an artifact's id is the sha256 of its bytes, so the
same file always has the same id and adding it twice keeps it once. Lineage edges record
what each artifact was made from, so any result can be traced back and reproduced.

SQLite is the default. It runs in WAL mode so readers never wait for a writer, and every
write transaction starts with ``BEGIN IMMEDIATE``: a writer takes the lock up front
instead of upgrading a read lock half-way, which is what makes two processes writing at
once deadlock-free. PostgreSQL is used when the URL says so (``postgresql+psycopg://``).

Opening a store only reads: the schema version is checked in a plain read transaction and
the write lock is taken only when the database must be created or upgraded
(``store_schema``). A file is written before its row, so a process killed in between
leaves an unreferenced file, never a row without its file; ``store_check`` finds and
collects such files.
"""

from __future__ import annotations

import hashlib
import json
import math
import mimetypes
import os
import random
import re
import shutil
import sqlite3
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple, TypeVar
from urllib.parse import quote

from sqlalchemy import (
    Engine,
    Integer,
    NullPool,
    create_engine,
    event,
    func,
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
from sqlalchemy.orm import Session, sessionmaker

from museforge.core import home
from museforge.core.atomic import atomic_path, atomic_write_bytes, atomic_write_text
from museforge.core.hashing import sha256_file
from museforge.core.store_schema import (
    SCHEMA_VERSION,
    Artifact,
    Job,
    Lineage,
    Project,
    Rating,
    SchemaState,
    read_state,
    upgrade_one_step,
)
from museforge.core.store_schema import Base as Base  # the story tables live in it too
from museforge.core.store_schema import Meta as Meta
from museforge.core.store_schema import UTCDateTime as UTCDateTime
from museforge.errors import BadInputFile, NotFoundInStore, UserError, require_file

# The one vocabulary of lineage relations, read "child <relation> parent". Every medium
# uses these words in the same sense:
RELATIONS = frozenset(
    {
        # the parent went into the child as material: a content or style image, a seed
        # melody, the images a grid or a mix is made of
        "input",
        "generated-by",  # the parent is the model that made the child
        # the child is the parent changed a little at random: GAN and music ``vary``
        "variation-of",
        "interpolation-of",  # the child lies on a path between its parents (GAN, music)
        "edited-from",  # a person (or co-writing) changed the parent into the child
        "chosen-from",  # a person picked the child out of the parent's batch
        "continuation-of",  # the child carries the parent on (music continue, story)
        # the child is a model trained on the parent: its training data (a dataset or
        # its fingerprint) and the model it was initialised from (``--init``)
        "trained-from",
        "rendered-from",  # the child is the parent in another format (WAV, PNG of a MIDI file)
    }
)
# The layout of provenance.json; it changes when that file's fields do, not with the tables.
PROVENANCE_VERSION = 1
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
_LOCK_TIMEOUT = "55P03"  # PostgreSQL's lock_not_available: lock_timeout ran out
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


class StoreBusy(UserError):
    """Another process kept the store's write lock longer than we were willing to wait."""


class NoStoreYet(UserError):
    """Opened for reading only, and nothing has made a store there yet."""


class Edge(NamedTuple):
    artifact: Artifact
    relation: str


class Ancestor(NamedTuple):
    artifact: Artifact
    depth: int  # 1 for a parent, 2 for a grandparent: the shortest way up


@dataclass
class LineageNode:
    """One artifact in a printed lineage; ``parents`` nest upwards."""

    artifact: Artifact | Any  # or a lighter record with an ``id`` (the studio reads cards)
    relation: str | None  # how this artifact fed the node below it; None at the root
    parents: list[LineageNode] = field(default_factory=list)
    repeated: bool = False  # shown earlier in the tree (a diamond or a cycle): not expanded


def grow_lineage(
    root: str, known: Mapping[str, Any], parents_of: Mapping[str, list[tuple[str, str]]]
) -> LineageNode:
    """The tree above ``root``: each artifact of ``known`` (id -> what a node shows) with
    the parents ``parents_of`` lists (id -> [(parent id, relation)], in recorded order),
    each ancestor expanded once and a repeat marked."""
    tree = LineageNode(known[root], None)
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
            for parent, relation in parents_of.get(node.artifact.id, [])
            if parent in known
        ]
        stack.extend(reversed(node.parents))  # so the first parent is expanded first
    return tree


class Store:
    """Artifacts, lineage, ratings and jobs in one database plus a content-addressed folder."""

    def __init__(
        self,
        url: str | None = None,
        *,
        objects_dir: str | Path | None = None,
        create: bool = True,
        busy_timeout_s: float = BUSY_TIMEOUT_S,
    ) -> None:
        """Open the store at ``url`` (default: the home folder's), creating it if ``create``.

        With ``create=False`` a store that does not exist yet raises ``NoStoreYet`` and
        nothing is made on disk; a SQLite file this process may not write is opened read-only.
        ``busy_timeout_s`` bounds how long a write waits for another writer's lock.
        """
        self.url = url or home.db_url()
        self.busy_timeout_s = busy_timeout_s
        self._safe_url = make_url(self.url).render_as_string(hide_password=True)
        default_objects = home.objects_dir if create else lambda: home.home() / "objects"
        self.objects_dir = Path(objects_dir).expanduser() if objects_dir else default_objects()
        self._engine = _make_engine(self.url, busy_timeout_s, create)
        if create:
            self.objects_dir.mkdir(parents=True, exist_ok=True)
        self._read = sessionmaker(self._engine, expire_on_commit=False)
        writer = self._engine.execution_options(museforge_write=True)
        self._write_session = sessionmaker(writer, expire_on_commit=False)
        self._open_schema(create)

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
        digest = sha256_file(source)

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
        prefix = artifact_id_prefix(id_or_prefix)
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
        *,
        model: str | None = None,
        seed: int | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        note: str | None = None,
        offset: int = 0,
    ) -> list[Artifact]:
        """The newest artifacts first, narrowed by every filter given.

        ``model`` is a model id (``name@hash``) or just its name, ``since``/``until`` bound
        the creation time (``until`` excluded), ``note`` is text the note contains, in any case;
        ``offset`` skips that many, for a page further down.
        """
        _check_limit(limit)
        if offset < 0:
            raise UserError(f"offset must be 0 or more, got {offset}")
        query = select(Artifact).order_by(Artifact.created.desc(), Artifact.id)
        query = query.limit(limit).offset(offset)
        if kind is not None:
            query = query.where(Artifact.kind == _check_kind(kind))
        if model is not None:
            query = query.where(
                (Artifact.model_id == model)
                | Artifact.model_id.startswith(f"{model}@", autoescape=True)
            )
        if seed is not None:
            query = query.where(Artifact.seed == seed)
        if since is not None:
            query = query.where(Artifact.created >= since)
        if until is not None:
            query = query.where(Artifact.created < until)
        if note is not None:
            query = query.where(Artifact.note.icontains(note, autoescape=True))
        with self._read() as session:
            if project is not None:
                query = query.where(Artifact.project_id == _project_id(session, project))
            return list(session.scalars(query))

    def records(self, artifacts: Sequence[Artifact]) -> list[dict[str, Any]]:
        """Each artifact as plain JSON-ready data: fields, project, parents and ratings."""
        return self._provenance(artifacts)

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
        return grow_lineage(root.id, known, self._parent_ids(known))

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
        changes: dict[str, Any] = {"updated": datetime.now(UTC)}
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
            "schema_version": PROVENANCE_VERSION,
            "artifact": root.id,
            "exported": datetime.now(UTC).isoformat(),
            "artifacts": records,
        }
        atomic_write_text(out / "provenance.json", json.dumps(document, indent=2) + "\n")
        return out

    # -- internals ---------------------------------------------------------------------

    def _open_schema(self, create: bool) -> None:
        """Check the schema in a read transaction; create or upgrade it only when needed."""
        try:
            with self._engine.connect() as conn, conn.begin():
                state = read_state(conn)
        except DatabaseError as exc:  # no server, no such database, not a database file
            raise self._cannot_open(exc) from None
        except ValueError as exc:
            raise UserError(f"cannot open the store at {self._safe_url}: {exc}") from None
        self._refuse_newer(state)
        if state.version is None and not create:
            raise NoStoreYet(f"there is no store at {self._safe_url} yet")
        if state.version == SCHEMA_VERSION and (not state.missing or not create):
            return
        self._upgrade()

    def _create_schema(self) -> None:
        """Create tables added to ``Base`` after this store was opened (the story module's
        tables, which co-writing asks for on a store it is handed); a read if none are."""
        self._open_schema(create=True)

    def _upgrade(self) -> None:
        """Bring the database to the current schema, one step per write transaction.

        Every step reads the version again under the lock, so two processes opening an old
        store at once upgrade it once.
        """
        while True:
            try:
                with self._engine.execution_options(museforge_write=True).begin() as conn:
                    if conn.dialect.name == "postgresql":  # CREATE TABLE is not race-safe there
                        conn.execute(
                            text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK}
                        )
                    state = read_state(conn)
                    self._refuse_newer(state)
                    if state.version is None and state.has_artifacts:
                        raise UserError(
                            f"the store at {self._safe_url} has artifacts but no schema "
                            "version: it was not made by museforge"
                        )
                    more = upgrade_one_step(conn, state)
            except OperationalError as exc:
                if _is_contention(exc):
                    raise self._busy(1, 0.0) from None
                raise self._cannot_open(exc) from None
            except DatabaseError as exc:
                raise self._cannot_open(exc) from None
            if not more:
                return

    def _refuse_newer(self, state: SchemaState) -> None:
        if state.version is not None and state.version > SCHEMA_VERSION:
            raise UserError(
                f"the store at {self._safe_url} has schema version {state.version}, newer than "
                f"this museforge understands ({SCHEMA_VERSION}); upgrade museforge"
            )

    def _cannot_open(self, exc: DatabaseError) -> UserError:
        return UserError(f"cannot open the store at {self._safe_url}: {_first_line(exc)}")

    def _busy(self, attempts: int, waited_s: float) -> StoreBusy:
        return StoreBusy(
            f"the store at {self._safe_url} is busy: another process kept its write lock "
            f"through {attempts} tries over {max(waited_s, self.busy_timeout_s):.1f} s; "
            "try again when it is done"
        )

    def _write(self, work: Callable[[Session], T]) -> T:
        """Run ``work`` in one write transaction, again if another writer got in the way.

        A retry is safe because every write here first looks for what it would create.
        A lock held longer than ``busy_timeout_s`` ends in one ``StoreBusy`` line.
        """
        attempt, start = 0, time.monotonic()
        while True:
            attempt += 1
            try:
                with self._write_session() as session, session.begin():
                    return work(session)
            except (IntegrityError, OperationalError) as exc:
                waited = time.monotonic() - start
                contention = _is_contention(exc)
                if contention and attempt < WRITE_ATTEMPTS and waited < self.busy_timeout_s:
                    time.sleep(0.02 * attempt * (1 + random.random()))
                    continue
                if contention:
                    raise self._busy(attempt, waited) from None
                raise UserError(
                    f"cannot write to the store at {self._safe_url}: {_first_line(exc)}"
                ) from None

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
        if not _touch(target):  # a fresh mtime keeps gc's hands off a file about to be used
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
            # gc deletes only under the write lock, which this transaction now holds: a
            # file it took since the write above is written again before the row commits
            if not (self.objects_dir / artifact.path).is_file():
                write(self.objects_dir / artifact.path)
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


def artifact_id_prefix(text: str) -> str:
    """``text`` as an artifact id or id prefix (lower case), or NotFoundInStore saying why not."""
    prefix = text.strip().lower()
    if not (_HEX.fullmatch(prefix) and MIN_PREFIX <= len(prefix) <= 64):
        raise NotFoundInStore(
            f"{text!r} is not an artifact id: give at least {MIN_PREFIX} of its hex digits"
        )
    return prefix


def guess_media_type(suffix: str) -> str:
    """The media type for a file suffix, ``application/octet-stream`` when unknown."""
    suffix = suffix.lower()
    return (
        _MEDIA_TYPES.get(suffix)
        or mimetypes.guess_type(f"file{suffix}")[0]
        or "application/octet-stream"
    )


def _make_engine(url: str, busy_timeout_s: float, create: bool) -> Engine:
    try:
        parsed = make_url(url)
        if parsed.drivername == "postgresql":  # psycopg 3 is the driver museforge ships with
            parsed = parsed.set(drivername="postgresql+psycopg")
        if parsed.get_backend_name() == "sqlite":
            return _sqlite_engine(parsed, busy_timeout_s, create)
        # a write waiting on another's row or table lock gives up as SQLite's busy timeout does
        lock_timeout = f"-c lock_timeout={round(busy_timeout_s * 1000)}"
        return create_engine(parsed, pool_pre_ping=True, connect_args={"options": lock_timeout})
    except (ArgumentError, NoSuchModuleError, ImportError) as exc:
        raise UserError(f"cannot use store URL {url!r}: {exc}") from None


def _sqlite_engine(url: URL, busy_timeout_s: float, create: bool) -> Engine:
    path = Path(url.database).expanduser() if url.database and url.database != ":memory:" else None
    read_only = False
    if path is not None:
        if not path.exists():
            if not create:
                safe = url.render_as_string(hide_password=True)
                raise NoStoreYet(f"there is no store at {safe} yet")
            path.parent.mkdir(parents=True, exist_ok=True)
        # WAL readers write the -shm file beside the database: both must be writable
        read_only = path.exists() and not (
            os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)
        )
    if read_only:
        engine = create_engine(
            "sqlite://", creator=lambda: _connect_read_only(path), poolclass=NullPool
        )
    else:
        engine = create_engine(url)

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # the "begin" hook below emits BEGIN itself
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {round(busy_timeout_s * 1000)}")
        if not read_only:
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")  # WAL: a power cut can lose, not corrupt
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        write = conn.get_execution_options().get("museforge_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


def _connect_read_only(path: Path) -> sqlite3.Connection:
    """A read-only connection to a database file this process may not write.

    A WAL database needs its ``-shm`` file; where that cannot be made (a read-only folder)
    the file is opened as immutable, which is true as long as nobody can write it.
    """
    uri = f"file:{quote(str(path.resolve()))}?mode=ro"
    conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.OperationalError:
        conn.close()
        conn = sqlite3.connect(uri + "&immutable=1", uri=True, check_same_thread=False)
    return conn


def _is_contention(exc: IntegrityError | OperationalError) -> bool:
    """Whether another writer caused ``exc``, so that trying again will succeed."""
    if isinstance(exc, IntegrityError):  # a row we looked for was inserted meanwhile
        return True
    if getattr(exc.orig, "sqlstate", None) in ("40001", "40P01", _LOCK_TIMEOUT):
        return True  # serialization failure, deadlock, lock_timeout
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


def _touch(path: Path) -> bool:
    """Give an existing file a new mtime; False when there is no such file."""
    try:
        os.utime(path)
    except FileNotFoundError:
        return False
    return path.is_file()


def _first_line(exc: DatabaseError) -> str:
    """The driver's own message, one line, without SQLAlchemy's SQL and background link."""
    return str(exc.orig if exc.orig is not None else exc).strip().splitlines()[0]


def _copy_hashing(source: Path, target: Path) -> str:
    """Copy ``source`` to ``target`` and return the sha256 of the bytes actually copied."""
    digest = hashlib.sha256()
    with open(source, "rb") as src, open(target, "wb") as dst:
        for chunk in iter(lambda: src.read(1 << 20), b""):
            digest.update(chunk)
            dst.write(chunk)
    return digest.hexdigest()
