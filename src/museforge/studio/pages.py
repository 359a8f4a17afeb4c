"""The Jinja2 templates and the little helpers every page uses to show artifacts."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any, NamedTuple

from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy import select

from museforge.core.store import Artifact, Lineage, Rating, Store
from museforge.studio.marks import marks_of
from museforge.studio.page_cache import CSRF_SLOT

templates = Jinja2Templates(directory=Path(__file__).parent / "templates")


def render(request: Request, name: str, **context: Any) -> HTMLResponse:
    """Render a page with the CSRF token the page's script sends back on every change."""
    return templates.TemplateResponse(
        request, name, {"csrf": getattr(request.state, "csrf", ""), **context}
    )


async def render_kept(
    request: Request, key: tuple, name: str, context: Callable[[], dict[str, Any]]
) -> Response:
    """Like ``render`` through the page cache: ``context`` is only built (and the page
    rendered, in a worker thread) when the store has changed since the page was last
    kept; a browser holding the page as it is now gets 304 Not Modified."""
    cache = request.app.state.pages
    csrf = request.state.csrf
    version = cache.version()
    headers = {"Cache-Control": "no-cache"}
    if cache.enabled:
        headers["ETag"] = cache.etag(key, version, csrf)
        if request.headers.get("if-none-match") == headers["ETag"]:
            return Response(status_code=304, headers=headers)
    body = cache.get(key, version, csrf)
    if body is None:
        template = templates.get_template(name)
        html = await run_in_threadpool(lambda: template.render(csrf=CSRF_SLOT, **context()))
        body = cache.put(key, version, html, csrf)
    return Response(body, media_type="text/html", headers=headers)


def renders_of(store: Store, artifact: Artifact) -> dict[str, Artifact]:
    """The artifact's renderings by suffix (a melody's .wav and .png)."""
    return {
        edge.artifact.suffix.lstrip("."): edge.artifact
        for edge in store.children(artifact.id)
        if edge.relation == "rendered-from"
    }


def works(store: Store, kind: str, limit: int, offset: int = 0) -> list[Artifact]:
    """What people made of ``kind``, newest first: not renderings (a melody's piano roll)
    or material given as input. One batch's members stay in their order."""
    found = store.list_artifacts(kind=kind, limit=limit * 3, offset=offset)
    made = [a for a in found if not _rendering_or_input(a)][:limit]
    first_seen: dict[str, int] = {}
    for position, artifact in enumerate(made):
        first_seen.setdefault(_batch(artifact) or artifact.id, position)
    return sorted(
        made,
        key=lambda a: (
            first_seen[_batch(a) or a.id],
            (a.params.get("studio") or {}).get("index", 0),
        ),
    )


def _batch(artifact: Artifact) -> str | None:
    return ((artifact.params or {}).get("studio") or {}).get("batch")


def _rendering_or_input(artifact: Artifact) -> bool:
    params = artifact.params or {}
    note = artifact.note or ""
    return set(params) == {"format"} or note.startswith(("given as", "uploaded as"))


class Rendering(NamedTuple):
    """A file rendered from an artifact, as a tile links it."""

    id: str
    suffix: str


def tiles(store: Store, artifacts: list[Artifact], *, hide_discarded: bool = True) -> list[dict]:
    """What a grid tile needs: the artifact, its renderings, its marks and last rating.

    Four queries for the whole grid, however many tiles: a gallery page stays fast.
    """
    ids = [a.id for a in artifacts]
    marks = marks_of(store, ids)
    renders: dict[str, dict[str, Rendering]] = {}
    with store._read() as session:
        rendered = (
            select(Lineage.parent_id, Artifact.id, Artifact.path)
            .join(Artifact, Artifact.id == Lineage.child_id)
            .where(Lineage.parent_id.in_(ids), Lineage.relation == "rendered-from")
        )
        for parent_id, render_id, path in session.execute(rendered):
            suffix = PurePosixPath(path).suffix.lstrip(".")
            renders.setdefault(parent_id, {})[suffix] = Rendering(render_id, suffix)
        chosen = set(
            session.scalars(
                select(Lineage.child_id).where(
                    Lineage.child_id.in_(ids), Lineage.relation == "chosen-from"
                )
            )
        )
        rated = select(Rating.artifact_id, Rating.score).where(Rating.artifact_id.in_(ids))
        last_rating = dict(session.execute(rated.order_by(Rating.created, Rating.id)).all())
    shown = []
    for artifact in artifacts:
        own = marks.get(artifact.id, set())
        if hide_discarded and "discard" in own:
            continue
        shown.append(
            {
                "a": artifact,
                "renders": renders.get(artifact.id, {}),
                "starred": "star" in own,
                "discarded": "discard" in own,
                "chosen": artifact.id in chosen,
                "rating": int(last_rating.get(artifact.id, 0)),
                "recipe": (artifact.params or {}).get("studio"),
            }
        )
    return shown
