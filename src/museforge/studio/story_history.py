"""Redo for co-writing, read from the story's own log of choices.

``story.cowrite`` keeps every choice a person makes on a part (accept, edit, undo, ...)
as an appended row, and offers undo. Redo needs no table of its own: walking the log,
each undo puts the version it stepped away from on a redo stack; choosing that same
version again takes it off (a redo), and any other choice clears the stack, as in every
editor. So the page can offer redo, and show the choices as a history list.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from museforge.core.store import Store
from museforge.errors import UserError
from museforge.story import cowrite


@dataclass(frozen=True)
class Choice:
    seq: int
    action: str  # accept, edit, undo, ... as the story's log names it
    version: int  # the version current from this choice on
    redo: bool  # this choice took back an undo


def walk(store: Store, story: int, node: str) -> tuple[list[Choice], list[int]]:
    """The choices made on ``node``, oldest first (each marked if it was a redo), and the
    redo stack they leave: the versions undone and not chosen again, the next one last."""
    cowrite.nodes(store, story)  # a missing story is a clear error, and the tables exist
    query = (
        select(cowrite.StoryChoice)
        .where(cowrite.StoryChoice.story_id == story, cowrite.StoryChoice.node == node)
        .order_by(cowrite.StoryChoice.seq)
    )
    with store._read() as session:
        rows = session.scalars(query).all()
    log: list[Choice] = []
    stack: list[int] = []
    current: int | None = None
    for row in rows:
        redo = False
        if row.action == "undo" and current is not None:
            stack.append(current)
        elif stack and row.version == stack[-1]:
            stack.pop()
            redo = True
        else:
            stack.clear()
        current = row.version
        log.append(Choice(row.seq, row.action, row.version, redo))
    return log, stack


def redo(store: Store, story: int, node: str) -> int:
    """Make the version the last undo stepped away from current again."""
    _, stack = walk(store, story, node)
    if not stack:
        raise UserError(f"nothing to redo in {node} of story {story}")
    return cowrite.accept(store, story, node, stack[-1]).number
