"""One artifact: its file, recipe and lineage; the person's marks on it; reproduce."""

from __future__ import annotations

import hashlib
import io
import re
import tempfile
import zipfile
from pathlib import Path

from fastapi import APIRouter, Form, Request
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, HTMLResponse, Response

from museforge.core.store import Artifact, Store
from museforge.errors import UserError
from museforge.studio.jobs import JobContext, job_record
from museforge.studio.lineage_view import lineage_view
from museforge.studio.marks import set_mark
from museforge.studio.pages import render, render_kept, renders_of, tiles, works
from museforge.studio.recipes import recipe_for_file, recipe_of, with_recipe_chunk

router = APIRouter()

ArtifactId = PathParam(pattern="^[0-9a-f]{4,64}$", description="An artifact id or its first digits")
FullId = PathParam(pattern="^[0-9a-f]{64}$", description="An artifact's whole id (sha256)")
_SAFE_SUFFIX = re.compile(r"\.[a-z0-9]{1,12}")


@router.get("/artifacts/{artifact_id}", response_class=HTMLResponse, summary="An artifact")
def artifact_page(request: Request, artifact_id: str = ArtifactId) -> HTMLResponse:
    store: Store = request.app.state.store
    artifact = store.get(artifact_id)
    (tile,) = tiles(store, [artifact], hide_discarded=False)
    reproduced = [
        job_record(j)
        for j in store.list_jobs(limit=200)
        if j.kind == "reproduce" and j.params.get("artifact") == artifact.id
    ][:1]
    return render(
        request,
        "artifact.html",
        tile=tile,
        a=artifact,
        renders=renders_of(store, artifact),
        recipe=recipe_of(artifact),
        reproducible=_reproducible(request, artifact),
        lineage=store.lineage_tree(artifact.id),
        children=store.children(artifact.id),
        ratings=store.ratings(artifact.id),
        reproduced=reproduced[0] if reproduced else None,
        others=[o for o in works(store, artifact.kind, 24) if o.id != artifact.id],
    )


@router.get("/artifacts/{artifact_id}/lineage", response_class=HTMLResponse, summary="Lineage tree")
async def lineage_page(request: Request, artifact_id: str = ArtifactId) -> Response:
    store: Store = request.app.state.store

    def context() -> dict:
        tree = lineage_view(store, artifact_id)
        return {"a": tree.artifact, "lineage": tree}

    return await render_kept(request, ("lineage", artifact_id), "lineage.html", context)


@router.get("/files/{artifact_id}", summary="An artifact's file, as stored")
def artifact_file(request: Request, artifact_id: str = FullId) -> FileResponse:
    store: Store = request.app.state.store
    artifact = store.get(artifact_id)
    return FileResponse(
        store.path_of(artifact),
        media_type=artifact.media_type,
        headers={"Cache-Control": "public, max-age=31536000, immutable"},
    )


@router.get("/download/{artifact_id}", summary="An artifact's file to keep, recipe inside")
def download(request: Request, artifact_id: str = FullId) -> Response:
    """A PNG carries the studio recipe in a text chunk; drop it on a page to recall it."""
    store: Store = request.app.state.store
    artifact = store.get(artifact_id)
    data = store.path_of(artifact).read_bytes()
    recipe = recipe_for_file(store, artifact)
    if recipe is not None and artifact.suffix == ".png":
        data = with_recipe_chunk(data, recipe)
    suffix = artifact.suffix if _SAFE_SUFFIX.fullmatch(artifact.suffix) else ""
    name = f"museforge-{artifact.id[:12]}{suffix}"
    return Response(
        data,
        media_type=artifact.media_type,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get("/export/{artifact_id}", summary="The artifact and its ancestry, with provenance")
def export(request: Request, artifact_id: str = FullId) -> Response:
    """A zip of the artifact, every ancestor and ``provenance.json`` (what made what: the
    model and seed of each, the person's ratings and choices as lineage)."""
    store: Store = request.app.state.store
    artifact = store.get(artifact_id)
    with tempfile.TemporaryDirectory(prefix="museforge-export-") as folder:
        out = store.export(artifact.id, Path(folder) / "export")
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for file in sorted(out.iterdir()):
                archive.write(file, file.name)
    name = f"museforge-{artifact.id[:12]}.zip"
    return Response(
        buffer.getvalue(),
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.post("/artifacts/{artifact_id}/rate", summary="Rate 1 to 5")
def rate(request: Request, artifact_id: str = ArtifactId, score: int = Form(ge=1, le=5)) -> dict:
    store: Store = request.app.state.store
    store.rate(artifact_id, score, note="rated in the studio")
    return {"ok": True, "rating": score}


@router.post("/artifacts/{artifact_id}/mark", summary="Star or discard, or take it back")
def mark(
    request: Request,
    artifact_id: str = ArtifactId,
    mark: str = Form(pattern="^(star|discard)$"),
    on: bool = Form(),
) -> dict:
    set_mark(request.app.state.store, artifact_id, mark, on)
    return {"ok": True, "mark": mark, "on": on}


@router.post("/artifacts/{artifact_id}/choose", summary="Choose it out of its batch")
def choose(request: Request, artifact_id: str = ArtifactId) -> dict:
    """Records ``chosen-from`` lineage from the batch the artifact was made in."""
    store: Store = request.app.state.store
    artifact = store.get(artifact_id)
    batch = (recipe_of(artifact) or {}).get("batch")
    if not batch:
        raise UserError(f"artifact {artifact.id[:12]} was not made in a batch to choose from")
    store.add_bytes(
        store.path_of(artifact).read_bytes(),
        artifact.suffix,
        kind=artifact.kind,
        parents=[(batch, "chosen-from")],
    )
    return {"ok": True, "chosen": artifact.id, "from": batch}


@router.post("/artifacts/{artifact_id}/reproduce", summary="Make it again and compare bytes")
def reproduce(request: Request, artifact_id: str = ArtifactId) -> dict:
    store: Store = request.app.state.store
    artifact = store.get(artifact_id)
    if not _reproducible(request, artifact):
        raise UserError(f"artifact {artifact.id[:12]} has no studio recipe to make it again")
    job = request.app.state.queue.submit(
        "reproduce", {"artifact": artifact.id}, f"reproduce {artifact.id[:12]}"
    )
    return {"job": job.id}


def _reproducible(request: Request, artifact: Artifact) -> bool:
    recipe = recipe_of(artifact)
    return recipe is not None and _key(recipe) in request.app.state.reproducers


def register(app) -> None:
    def run(context: JobContext) -> dict:
        store = context.store
        artifact = store.get(context.params["artifact"])
        recipe = recipe_of(artifact) or {}
        context.report(0.1, f"making {recipe.get('medium')} {recipe.get('verb')} again")
        data = app.state.reproducers[_key(recipe)](store, recipe)
        digest = hashlib.sha256(data).hexdigest()
        return {"artifact": artifact.id, "reproduced": digest, "match": digest == artifact.id}

    app.state.queue.register("reproduce", run)


def _key(recipe: dict) -> str:
    return f"{recipe.get('medium')}.{recipe.get('verb')}"
