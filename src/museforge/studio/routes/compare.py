"""A/B compare: two artifacts side by side, their recipes row by row with the differences
marked, and "prefer A / prefer B" (the preferred one is starred: kept as a choice)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse

from museforge.core.store import Artifact, Store
from museforge.studio.marks import set_mark
from museforge.studio.pages import render, renders_of, tiles
from museforge.studio.recipes import recipe_of

router = APIRouter()

ID = "^[0-9a-f]{4,64}$"


def recipe_rows(a: Artifact, b: Artifact) -> list[dict[str, Any]]:
    """Every setting either was made with: seed, model, then the recipe (or params)."""

    def facts(artifact: Artifact) -> dict[str, Any]:
        recipe = recipe_of(artifact) or artifact.params or {}
        return {"seed": artifact.seed, "model": artifact.model_id, **recipe}

    left, right = facts(a), facts(b)
    keys = list(dict.fromkeys([*left, *right]))
    return [
        {
            "key": k,
            "a": left.get(k, "–"),
            "b": right.get(k, "–"),
            "differs": left.get(k) != right.get(k),
        }
        for k in keys
        if k not in ("batch", "index", "medium")
    ]


@router.get("/compare", response_class=HTMLResponse, summary="Two artifacts side by side")
def compare_page(
    request: Request, a: str = Query(pattern=ID), b: str = Query(pattern=ID)
) -> HTMLResponse:
    store: Store = request.app.state.store
    left, right = store.get(a), store.get(b)
    sides = []
    for name, artifact in (("A", left), ("B", right)):
        (tile,) = tiles(store, [artifact], hide_discarded=False)
        sides.append(
            {"name": name, "tile": tile, "a": artifact, "renders": renders_of(store, artifact)}
        )
    return render(request, "compare.html", sides=sides, rows=recipe_rows(left, right))


@router.post("/compare/prefer", summary="Prefer one of two: it is starred")
def prefer(request: Request, winner: str = Form(pattern=ID), other: str = Form(pattern=ID)) -> dict:
    store: Store = request.app.state.store
    chosen, _ = store.get(winner), store.get(other)
    set_mark(store, chosen.id, "star", True)
    return {"ok": True, "preferred": chosen.id}
