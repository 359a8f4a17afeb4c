"""Home (recent work of every medium, the queue) and the gallery, page by page."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from museforge.studio.jobs import QUEUE_SHOWN, job_record
from museforge.studio.pages import render, render_kept, tiles, works

router = APIRouter()

RECENT = 12
PAGE_SIZE = 24
SHOWN_KINDS = ("melody", "image")  # what people make; renderings and inputs hang off these


@router.get("/", response_class=HTMLResponse, summary="Home: recent work and the queue")
def home_page(request: Request) -> HTMLResponse:
    store = request.app.state.store
    recent = {kind: tiles(store, works(store, kind, RECENT)) for kind in SHOWN_KINDS}
    jobs = [job_record(j) for j in store.list_jobs(limit=QUEUE_SHOWN)]
    return render(request, "home.html", recent=recent, jobs=jobs, stories=_stories(store))


@router.get("/gallery", response_class=HTMLResponse, summary="Everything kept, newest first")
async def gallery_page(
    request: Request,
    kind: str = Query("melody", pattern="^(melody|image|painting|plot|audio|score|batch)$"),
    page: int = Query(1, ge=1, le=100_000),
) -> Response:
    store = request.app.state.store

    def context() -> dict:
        found = store.list_artifacts(kind=kind, limit=PAGE_SIZE + 1, offset=(page - 1) * PAGE_SIZE)
        shown = tiles(store, found[:PAGE_SIZE], hide_discarded=False)
        return {"kind": kind, "page": page, "tiles": shown, "more": len(found) > PAGE_SIZE}

    return await render_kept(request, ("gallery", kind, page), "gallery.html", context)


def _stories(store) -> list:
    from museforge.story.cowrite import list_stories

    return list_stories(store)[:RECENT]
