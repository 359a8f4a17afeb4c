"""Co-writing kept in the store: every version of every part of a story, so the person
stays the author.

A story is a set of nodes named like paths ("premise", "beats", "scene/3"). Each node has
numbered versions (1, 2, ...) that are never changed or deleted, and a log of choices that
says which version is current. Proposing alternatives adds versions without choosing one;
accepting, editing, restoring and undoing append a choice. Undo walks back along the
choices (each remembers the one it replaced), so undoing twice goes back two steps.

This module never calls a language model: the caller passes the text and how it was made
(:class:`Provenance`), which keeps co-writing testable and the model swappable.

The tables live in the store's own metadata, on the store's engine. Every change is one
write transaction, so a process killed mid-way leaves each version whole or absent.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import JSON, BigInteger, ForeignKey, Integer, String, Text, UniqueConstraint, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from museforge.core.store import Base, Store, UTCDateTime
from museforge.errors import NotFoundInStore, UserError
from museforge.story.fountain import dialogue
from museforge.story.plan import Plan
from museforge.story.render import characters_text, scene_text

MAX_TEXT_CHARS = 200_000  # a long chapter; a bigger paste is almost surely a mistake
FRONT_NODES = ("title", "logline", "premise", "characters", "beats")

_NODE = re.compile(r"[a-z][a-z0-9-]{0,31}(/[a-z0-9][a-z0-9-]{0,31}){0,3}")
_SCENE = re.compile(r"scene/(\d+)")
_HEADING = re.compile(r"(INT\.?/EXT|INT|EXT|EST|I/E)[. ]", re.IGNORECASE)
_ready: weakref.WeakSet[Store] = weakref.WeakSet()

T = TypeVar("T")


def _utcnow() -> datetime:
    return datetime.now(UTC)


class StoryRecord(Base):
    __tablename__ = "story"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=_utcnow)


class StoryVersion(Base):
    """One version of one node: its whole text and how it came to be. Never updated."""

    __tablename__ = "story_version"
    __table_args__ = (UniqueConstraint("story_id", "node", "number", name="uq_story_version"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    story_id: Mapped[int] = mapped_column(ForeignKey("story.id"), index=True)
    node: Mapped[str] = mapped_column(String(140))
    number: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    how: Mapped[str] = mapped_column(String(16))
    parent: Mapped[int | None] = mapped_column(Integer)  # the version it was made from
    model_id: Mapped[str | None] = mapped_column(String(200))
    seed: Mapped[int | None] = mapped_column(BigInteger)
    settings: Mapped[dict[str, Any]] = mapped_column(JSON)
    details: Mapped[dict[str, Any]] = mapped_column(JSON)  # instruction, selection, source
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=_utcnow)


class StoryChoice(Base):
    """A node's current version from ``seq`` on; ``previous`` is the choice undo returns to."""

    __tablename__ = "story_choice"
    __table_args__ = (UniqueConstraint("story_id", "node", "seq", name="uq_story_choice"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    story_id: Mapped[int] = mapped_column(ForeignKey("story.id"), index=True)
    node: Mapped[str] = mapped_column(String(140))
    seq: Mapped[int] = mapped_column(Integer)
    version: Mapped[int] = mapped_column(Integer)
    previous: Mapped[int | None] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(16))
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=_utcnow)


@dataclass(frozen=True)
class Provenance:
    """The model that wrote a text, with the seed and settings that make it again."""

    model_id: str
    seed: int
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Version:
    """One version of a node. ``how`` is generated, edited, rewritten, restored or
    continued; ``parent`` is the version it was made from; ``current`` marks the one in use."""

    node: str
    number: int
    text: str
    how: str
    parent: int | None
    model_id: str | None
    seed: int | None
    settings: dict[str, Any]
    details: dict[str, Any]
    created: datetime
    current: bool


@dataclass(frozen=True)
class StorySummary:
    id: int
    label: str  # the current title, else the premise's first line
    nodes: list[str]
    created: datetime


# -- stories -----------------------------------------------------------------------------


def create_story(store: Store, title_or_premise: str) -> int:
    """A new story whose "premise" node starts as ``title_or_premise``; returns its id."""
    text = _check_text("premise", title_or_premise)
    if not text.strip():
        raise UserError("a new story needs a title or a premise, got empty text")

    def create(session: Session) -> int:
        story = StoryRecord()
        session.add(story)
        session.flush()
        _add_version(session, story.id, "premise", text, "edited", None, None, {}, True)
        return story.id

    return _write(store, create)


def list_stories(store: Store) -> list[StorySummary]:
    """Every story, newest first, each with its label and nodes."""
    with _read(store) as session:
        stories = session.scalars(select(StoryRecord).order_by(StoryRecord.id.desc())).all()
        summaries = []
        for story in stories:
            currents = _currents(session, story.id)
            label = currents.get("title") or currents.get("premise") or ""
            first = label.strip().splitlines()[0] if label.strip() else f"story {story.id}"
            summaries.append(StorySummary(story.id, first, _ordered(currents), story.created))
    return summaries


def nodes(store: Store, story: int) -> list[str]:
    """The story's nodes, in reading order, with a current version or only proposals."""
    with _read(store) as session:
        _require_story(session, story)
        query = select(StoryVersion.node).where(StoryVersion.story_id == story).distinct()
        return _ordered(session.scalars(query))


# -- versions ----------------------------------------------------------------------------


def propose(
    store: Store,
    story: int,
    node: str,
    texts: Sequence[str],
    provenance: Provenance | Sequence[Provenance] | None = None,
) -> list[Version]:
    """Keep ``texts`` as candidate versions of ``node``; none becomes current.

    ``provenance`` is one for all texts, one per text, or None for texts a person wrote.
    """
    node = _check_node(node)
    if not texts:
        raise UserError(f"propose needs at least one text for {node}")
    cleaned = [_check_text(node, t) for t in texts]
    sources = _per_text(provenance, len(cleaned), node)

    def add(session: Session) -> list[Version]:
        _require_story(session, story)
        parent = _current_number(session, story, node)
        added = []
        for text, source in zip(cleaned, sources, strict=True):
            how = "edited" if source is None else "generated"
            added.append(_add_version(session, story, node, text, how, parent, source, {}, False))
        return added

    return _write(store, add)


def accept(store: Store, story: int, node: str, version: int) -> Version:
    """Make ``version`` of ``node`` current; accepting the current one changes nothing."""
    node = _check_node(node)

    def choose(session: Session) -> Version:
        _require_story(session, story)
        row = _require_version(session, story, node, version)
        if _current_number(session, story, node) != version:
            _choose(session, story, node, version, "accept")
        return _version(row, current=True)

    return _write(store, choose)


def edit(store: Store, story: int, node: str, text: str) -> Version:
    """A version written by hand that becomes current (the same text again changes nothing)."""
    node = _check_node(node)
    text = _check_text(node, text)

    def add(session: Session) -> Version:
        _require_story(session, story)
        current = _current_row(session, story, node)
        if current is not None and current.text == text:
            return _version(current, current=True)
        parent = None if current is None else current.number
        return _add_version(session, story, node, text, "edited", parent, None, {}, True)

    return _write(store, add)


def continue_text(
    store: Store, story: int, node: str, addition: str, provenance: Provenance | None = None
) -> Version:
    """The current text plus ``addition``, as a new current version."""
    node = _check_node(node)

    def add(session: Session) -> Version:
        _require_story(session, story)
        current = _current_row(session, story, node)
        base = "" if current is None else current.text
        text = _check_text(node, base + addition)
        parent = None if current is None else current.number
        details = {"added_chars": len(addition)}
        return _add_version(session, story, node, text, "continued", parent, provenance, details)

    return _write(store, add)


def rewrite_selection(
    store: Store,
    story: int,
    node: str,
    start: int,
    end: int,
    instruction: str,
    new_text: str,
    provenance: Provenance | None = None,
) -> Version:
    """The current text with characters ``start:end`` replaced by ``new_text``, as a new
    current version that records the instruction and the selection."""
    node = _check_node(node)

    def add(session: Session) -> Version:
        _require_story(session, story)
        current = _require_current(session, story, node)
        if not 0 <= start <= end <= len(current.text):
            raise UserError(
                f"selection {start}:{end} is outside {node}, which has {len(current.text)} "
                "characters"
            )
        text = _check_text(node, current.text[:start] + new_text + current.text[end:])
        details = {"instruction": instruction, "start": start, "end": end}
        return _add_version(
            session, story, node, text, "rewritten", current.number, provenance, details
        )

    return _write(store, add)


def restore(store: Store, story: int, node: str, version: int) -> Version:
    """A new current version with the text of an earlier ``version``; nothing is deleted."""
    node = _check_node(node)

    def add(session: Session) -> Version:
        _require_story(session, story)
        source = _require_version(session, story, node, version)
        current = _current_row(session, story, node)
        if current is not None and current.number == version:
            return _version(current, current=True)
        details = {"restored_from": version}
        return _add_version(session, story, node, source.text, "restored", version, None, details)

    return _write(store, add)


def undo(store: Store, story: int, node: str) -> Version:
    """Make the version that was current before the last choice current again."""
    node = _check_node(node)

    def step_back(session: Session) -> Version:
        _require_story(session, story)
        last = _last_choice(session, story, node)
        if last is None or last.previous is None:
            raise UserError(f"nothing to undo in {node} of story {story}")
        before = session.scalars(
            select(StoryChoice).where(
                *_where(StoryChoice, story, node), StoryChoice.seq == last.previous
            )
        ).one()
        session.add(
            StoryChoice(
                story_id=story,
                node=node,
                seq=last.seq + 1,
                version=before.version,
                previous=before.previous,
                action="undo",
            )
        )
        row = _require_version(session, story, node, before.version)
        return _version(row, current=True)

    return _write(store, step_back)


def history(store: Store, story: int, node: str) -> list[Version]:
    """Every version of ``node``, oldest first; ``current`` marks the one in use."""
    node = _check_node(node)
    with _read(store) as session:
        _require_story(session, story)
        current = _current_number(session, story, node)
        rows = session.scalars(
            select(StoryVersion)
            .where(*_where(StoryVersion, story, node))
            .order_by(StoryVersion.number)
        ).all()
    if not rows:
        raise NotFoundInStore(f"story {story} has no node {node}")
    return [_version(row, current=row.number == current) for row in rows]


def current_text(store: Store, story: int, node: str) -> str:
    """The text of the current version of ``node``."""
    node = _check_node(node)
    with _read(store) as session:
        _require_story(session, story)
        return _require_current(session, story, node).text


# -- export ------------------------------------------------------------------------------


def export_markdown(store: Store, story: int) -> str:
    """The story's current texts as Markdown: the title as ``#``, each node under ``##``."""
    texts = _current_texts(store, story)
    lines = [f"# {_one_line(texts.pop('title', '')) or f'Story {story}'}", ""]
    for node, text in texts.items():
        lines += [f"## {_heading(node)}", "", text.strip(), ""]
    return "\n".join(lines)


def export_fountain(store: Store, story: int) -> str:
    """The story as a Fountain screenplay (https://fountain.io/syntax).

    What maps to what: the title node becomes the title page's ``Title:``; the other front
    nodes (logline, premise, characters, beats and any node that is not a scene) become a
    ``#`` section with their lines as ``=`` synopses, which Fountain keeps out of the
    printed script. A scene whose text starts with a heading (``INT.``, ``EXT.``, ``EST.``,
    ``INT./EXT.``, ``I/E``) keeps it, in capitals; any other scene gets a forced heading
    ``.SCENE N``. A line of dialogue in a common prose form becomes a character cue and
    its speech (``fountain.dialogue``); other scene lines are action, and a line Fountain
    would read as something else (a cue in capitals, a heading, a leading ``.!@~>#=[``) is
    forced to action with ``!``.
    """
    texts = _current_texts(store, story)
    title = _one_line(texts.pop("title", "")) or f"Story {story}"
    lines = [f"Title: {title}", ""]
    for node, text in texts.items():
        scene = _SCENE.fullmatch(node)
        if scene is None:
            lines += [f"# {_heading(node)}", ""]
            lines += [f"= {line.strip()}" for line in text.splitlines() if line.strip()]
            lines.append("")
            continue
        body = text.strip().splitlines()
        if body and _HEADING.match(body[0].strip()):
            heading, body = body[0].strip().upper(), body[1:]
        else:
            heading = f".SCENE {int(scene.group(1))}"
        lines += [heading, ""]
        for line in "\n".join(body).strip().splitlines():
            spoken = dialogue(line)
            if spoken is None:
                lines.append(_action(line))
                continue
            lines += ([""] if lines[-1] else []) + [*spoken, ""]  # a blank line around a cue
        lines.append("")
    return "\n".join(lines)


# -- internals ---------------------------------------------------------------------------


def _write(store: Store, work: Callable[[Session], T]) -> T:
    _tables(store)
    return store._write(work)


def _read(store: Store) -> Session:
    _tables(store)
    return store._read()


def _tables(store: Store) -> None:
    """Create the story tables in a store opened before this module was imported.

    They live in the store's metadata, so the store's own schema step (idempotent, locked
    on PostgreSQL) creates whatever is missing in an existing database.
    """
    if store not in _ready:
        store._create_schema()
        _ready.add(store)


def _check_node(node: str) -> str:
    if not _NODE.fullmatch(node):
        raise UserError(
            f"bad node name {node!r}: use a lower-case name like premise, beats or scene/3"
        )
    return node


def _check_text(node: str, text: str) -> str:
    if not isinstance(text, str):
        raise UserError(f"the text for {node} must be a string, got {type(text).__name__}")
    if len(text) > MAX_TEXT_CHARS:
        raise UserError(
            f"the text for {node} has {len(text):,} characters; the limit is {MAX_TEXT_CHARS:,}"
        )
    return text


def _per_text(
    provenance: Provenance | Sequence[Provenance] | None, n: int, node: str
) -> list[Provenance | None]:
    if provenance is None or isinstance(provenance, Provenance):
        return [provenance] * n
    if len(provenance) != n:
        raise UserError(f"{n} texts for {node} need {n} provenances, got {len(provenance)}")
    return list(provenance)


def _where(table: Any, story: int, node: str) -> tuple[Any, Any]:
    return table.story_id == story, table.node == node


def _require_story(session: Session, story: int) -> None:
    if session.get(StoryRecord, story) is None:
        raise NotFoundInStore(f"no story {story} in the store")


def _require_version(session: Session, story: int, node: str, number: int) -> StoryVersion:
    row = session.scalars(
        select(StoryVersion).where(
            *_where(StoryVersion, story, node), StoryVersion.number == number
        )
    ).one_or_none()
    if row is None:
        raise NotFoundInStore(f"story {story} has no version {number} of {node}")
    return row


def _last_choice(session: Session, story: int, node: str) -> StoryChoice | None:
    query = select(StoryChoice).where(*_where(StoryChoice, story, node))
    return session.scalars(query.order_by(StoryChoice.seq.desc()).limit(1)).one_or_none()


def _current_number(session: Session, story: int, node: str) -> int | None:
    last = _last_choice(session, story, node)
    return None if last is None else last.version


def _current_row(session: Session, story: int, node: str) -> StoryVersion | None:
    number = _current_number(session, story, node)
    return None if number is None else _require_version(session, story, node, number)


def _require_current(session: Session, story: int, node: str) -> StoryVersion:
    row = _current_row(session, story, node)
    if row is None:
        raise NotFoundInStore(f"story {story} has no current version of {node}")
    return row


def _choose(session: Session, story: int, node: str, version: int, action: str) -> None:
    last = _last_choice(session, story, node)
    session.add(
        StoryChoice(
            story_id=story,
            node=node,
            seq=1 if last is None else last.seq + 1,
            version=version,
            previous=None if last is None else last.seq,
            action=action,
        )
    )


def _add_version(
    session: Session,
    story: int,
    node: str,
    text: str,
    how: str,
    parent: int | None,
    provenance: Provenance | None,
    details: dict[str, Any],
    make_current: bool = True,
) -> Version:
    top = session.scalar(
        select(StoryVersion.number)
        .where(*_where(StoryVersion, story, node))
        .order_by(StoryVersion.number.desc())
        .limit(1)
    )
    row = StoryVersion(
        story_id=story,
        node=node,
        number=(top or 0) + 1,
        text=text,
        how=how,
        parent=parent,
        model_id=None if provenance is None else provenance.model_id,
        seed=None if provenance is None else provenance.seed,
        settings={} if provenance is None else dict(provenance.settings),
        details=details,
    )
    session.add(row)
    session.flush()
    if make_current:
        _choose(session, story, node, row.number, how)
    return _version(row, current=make_current)


def _version(row: StoryVersion, *, current: bool) -> Version:
    return Version(
        node=row.node,
        number=row.number,
        text=row.text,
        how=row.how,
        parent=row.parent,
        model_id=row.model_id,
        seed=row.seed,
        settings=row.settings,
        details=row.details,
        created=row.created,
        current=current,
    )


def _currents(session: Session, story: int) -> dict[str, str]:
    """Every node's current text, from one pass over the story's choices."""
    latest: dict[str, StoryChoice] = {}
    for choice in session.scalars(select(StoryChoice).where(StoryChoice.story_id == story)):
        if choice.node not in latest or choice.seq > latest[choice.node].seq:
            latest[choice.node] = choice
    return {
        node: _require_version(session, story, node, choice.version).text
        for node, choice in latest.items()
    }


def _current_texts(store: Store, story: int) -> dict[str, str]:
    with _read(store) as session:
        _require_story(session, story)
        currents = _currents(session, story)
    return {node: currents[node] for node in _ordered(currents)}


def _ordered(names: Any) -> list[str]:
    """Front nodes in story order, then scenes by number, then anything else by name."""

    def key(node: str) -> tuple[int, int, str]:
        if node in FRONT_NODES:
            return (0, FRONT_NODES.index(node), "")
        scene = _SCENE.fullmatch(node)
        return (1, int(scene.group(1)), "") if scene else (2, 0, node)

    return sorted(names, key=key)


def _heading(node: str) -> str:
    return " ".join(part.capitalize() for part in node.replace("-", " ").split("/"))


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _action(line: str) -> str:
    stripped = line.strip()
    if not stripped:
        return ""
    misread = stripped[0] in ".!@~>#=[" or _HEADING.match(stripped) or stripped.isupper()
    return f"!{line}" if misread else line


def keep_plan(store: Store, plan: Plan) -> int:
    """Record a planner's ``plan`` in the store as a co-written story, each part as its
    first accepted version (generated, with the model and seed), so it can be edited,
    regenerated and undone part by part; returns the story's id."""
    story = create_story(store, plan.premise)
    source = Provenance(model_id=plan.model, seed=plan.seed, settings={"structure": plan.structure})
    parts = {
        "logline": plan.logline,
        "title": plan.title,
        "characters": characters_text(plan.characters),
        "beats": "\n".join(plan.beats),
    }
    parts |= {f"scene/{i}": scene_text(scene) for i, scene in enumerate(plan.scenes, start=1)}
    for node, text in parts.items():
        if text.strip():
            (version,) = propose(store, story, node, [text], source)
            accept(store, story, node, version.number)
    return story
