"""The paint page: paint a chosen or uploaded picture stroke by stroke with the shipped
agent (Huang et al. 2019, "Learning to Paint") or a baseline (greedy; Hertzmann 1998's
painterly rendering), watch its time-lapse frame by frame, and download the strokes laid
out for a pen plotter as SVG, HPGL and G-code.

Thin over ``museforge.paint``: ``draw.paint_strokes / render_files`` paint and render,
``plotter.plan`` and its writers with ``gcode.write_gcode`` make the plotter files, and
``results.keep_drawing`` keeps them all in the store with the picture as the parent.
"""

from __future__ import annotations

import functools
import io
import re
import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, Response

from museforge.core.store import Artifact, Store
from museforge.errors import UserError
from museforge.studio.jobs import JobContext
from museforge.studio.pages import render, tiles
from museforge.studio.recipes import recipe_of
from museforge.studio.uploads import check_upload, keep_checked, upload_limits

router = APIRouter()

PICTURES = ("chelsea", "astronaut", "coffee", "rocket")
AGENT = "painter-64"  # the shipped Learning-to-Paint agent
METHODS = ("agent", "greedy", "painterly")
PAPERS = ("a4", "a3", "letter")
GRID = 12
_ID = re.compile(r"[0-9a-f]{64}")
# what each file of a painting is called on the page, by (kind, suffix) in the store
FILES = {
    ("painting", ".png"): "Painting (PNG)",
    ("painting", ".gif"): "Time-lapse (GIF)",
    ("painting", ".svg"): "Strokes (SVG)",
    ("plot", ".svg"): "Plotter SVG",
    ("plot", ".hpgl"): "HPGL",
    ("plot", ".gcode"): "G-code",
}


@functools.lru_cache(maxsize=1)
def _agent() -> Any:
    from museforge.paint.ddpg import PaintAgent

    return PaintAgent.from_pretrained(AGENT)


def _model_id(method: str) -> str:
    if method != "agent":
        return f"baseline:{method}"
    from museforge.core.checkpoints import model_id

    return model_id(AGENT)


def _picture(store: Store, picture: str) -> str:
    """The picture as ``museforge.paint`` reads it: a stored upload's path or skimage:NAME."""
    if _ID.fullmatch(picture):
        return str(store.path_of(store.get(picture)))
    return f"skimage:{picture}"


def paint_files(
    store: Store, recipe: dict[str, Any], folder: Path, on_stroke=None
) -> tuple[dict[str, Path], dict[str, Any]]:
    """Paint the recipe into ``folder``: the painting, its time-lapse and SVG, and the plot
    files; returns them with the facts worth keeping (time, pen travel)."""
    import time

    from museforge.paint.draw import paint_strokes, render_files
    from museforge.paint.gcode import GcodeProfile, write_gcode
    from museforge.paint.pictures import fit, load_picture, working_size
    from museforge.paint.plotter import (
        PlotterConfig,
        pen_lines_mm,
        plan,
        write_plot_hpgl,
        write_plot_svg,
    )

    picture = load_picture(_picture(store, recipe["picture"]))
    _, _, full_h, full_w = picture.shape
    target = fit(picture, *working_size(full_h, full_w, recipe["size"]))
    method = _agent() if recipe["method"] == "agent" else recipe["method"]
    started = time.perf_counter()
    drawing = paint_strokes(
        target, recipe["strokes"], method, seed=recipe["seed"], on_stroke=on_stroke
    )
    seconds = time.perf_counter() - started
    out_h, out_w = working_size(full_h, full_w, recipe["out_size"])
    files = render_files(drawing, folder, out_h, out_w)
    config = PlotterConfig(
        paper=recipe["paper"], landscape=recipe["landscape"], margin=recipe["margin"]
    )
    plot = plan(drawing.strokes, out_h, out_w, drawing.brush, config)
    files["plot_svg"] = write_plot_svg(plot, folder / "plot.svg")
    hpgl = write_plot_hpgl(plot, folder / "plot.hpgl", config)
    if hpgl is not None:
        files["plot_hpgl"] = hpgl
    files["plot_gcode"] = write_gcode(
        folder / "plot.gcode", pen_lines_mm(plot), plot.page[1], GcodeProfile()
    )
    facts = {
        "seconds": round(seconds, 3),
        "pen_up_unsorted_mm": round(plot.pen_up_unsorted, 1),
        "pen_up_sorted_mm": round(plot.pen_up_sorted, 1),
        "pen_down_mm": round(plot.pen_down, 1),
    }
    return files, facts


def run_paint(context: JobContext) -> dict[str, Any]:
    """The job: paint with progress stroke by stroke, then keep every file in the store."""
    from museforge.paint.results import keep_drawing

    store, recipe = context.store, dict(context.params["recipe"])
    if context.items:  # kept before the studio stopped: nothing left to do
        return {"painting": context.items[0]}
    total = recipe["strokes"]
    context.report(0.02, f"painting {total} strokes with {recipe['method']}")

    def on_stroke(done: int) -> None:
        context.report(0.05 + 0.8 * done / max(total, 1), f"stroke {done} of {total}")

    with tempfile.TemporaryDirectory(prefix="museforge-paint-") as folder:
        files, facts = paint_files(store, recipe, Path(folder), on_stroke)
        context.report(0.9, "keeping the painting, its time-lapse and the plotter files")
        params = {"command": "studio paint", "studio": recipe, **facts}
        ids = keep_drawing(
            files,
            _picture(store, recipe["picture"]),
            None,
            None,
            params,
            recipe["seed"],
            _model_id(recipe["method"]),
            store=store,
        )
    context.checkpoint(ids["png"], 1.0, f"painted in {facts['seconds']:.1f} s")
    return {"painting": ids["png"], "files": ids}


def reproduce(store: Store, recipe: dict[str, Any]) -> bytes:
    """The PNG the recipe paints, made again."""
    with tempfile.TemporaryDirectory(prefix="museforge-paint-") as folder:
        files, _ = paint_files(store, recipe, Path(folder))
        return files["png"].read_bytes()


def register(app) -> None:
    app.state.queue.register("paint", run_paint)
    app.state.reproducers["paint.draw"] = reproduce


def paintings(store: Store, limit: int = GRID) -> list[dict[str, Any]]:
    """The studio's paintings, newest first, each with its files and time-lapse frames."""
    found = [
        a
        for a in store.list_artifacts(kind="painting", limit=limit * 4)
        if a.suffix == ".png" and recipe_of(a) is not None
    ][:limit]
    shown = []
    for tile in tiles(store, found):
        files = files_of(store, tile["a"])
        gif = files.get(("painting", ".gif"))
        tile["files"] = [(FILES[key], files[key]) for key in FILES if key in files]
        tile["timelapse"] = gif
        tile["frames"] = frame_count(store, gif) if gif else 0
        shown.append(tile)
    return shown


def files_of(store: Store, painting: Artifact) -> dict[tuple[str, str], Artifact]:
    found = {("painting", ".png"): painting}
    for edge in store.children(painting.id):
        if edge.relation == "rendered-from":
            found[(edge.artifact.kind, edge.artifact.suffix)] = edge.artifact
    return found


def frame_count(store: Store, gif: Artifact) -> int:
    from PIL import Image

    with Image.open(store.path_of(gif)) as image:
        return getattr(image, "n_frames", 1)


@router.get("/paint", response_class=HTMLResponse, summary="The paint page")
def paint_page(request: Request, recall: str | None = Query(None, pattern="^[0-9a-f]{4,64}$")):
    from museforge.core.checkpoints import shipped_models

    store: Store = request.app.state.store
    form = {"picture": PICTURES[0], "method": "agent", "strokes": 200, "size": 96}
    form |= {"out_size": 256, "seed": 0, "paper": "a4", "landscape": True, "margin": 15.0}
    if recall:
        form |= recipe_of(store.get(recall)) or {}
    methods = [m for m in METHODS if m != "agent" or AGENT in shipped_models()]
    return render(
        request,
        "paint.html",
        form=form,
        pictures=PICTURES,
        methods=methods,
        papers=PAPERS,
        paintings=paintings(store),
    )


@router.get("/paint/tiles", response_class=HTMLResponse, summary="The paintings alone")
def paint_tiles(request: Request) -> HTMLResponse:
    return render(request, "paint_tiles.html", paintings=paintings(request.app.state.store))


@router.get("/paint/frames/{artifact_id}/{frame}", summary="One frame of a time-lapse, as PNG")
def frame(
    request: Request,
    artifact_id: str = PathParam(pattern="^[0-9a-f]{64}$", description="A time-lapse GIF"),
    frame: int = PathParam(ge=0, le=10_000, description="The frame, from 0"),
) -> Response:
    from PIL import Image, ImageSequence

    store: Store = request.app.state.store
    gif = store.get(artifact_id)
    if gif.suffix != ".gif":
        raise UserError(f"artifact {gif.id[:12]} is not a time-lapse")
    with Image.open(store.path_of(gif)) as image:
        count = getattr(image, "n_frames", 1)
        if frame >= count:
            raise UserError(f"the time-lapse has {count} frames, from 0 to {count - 1}")
        picture = ImageSequence.Iterator(image)[frame].convert("RGB")
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return Response(
        buffer.getvalue(),
        media_type="image/png",
        headers={"Cache-Control": "public, max-age=31536000, immutable"},
    )


@router.post("/paint/draw", summary="Paint a picture stroke by stroke (a job)")
async def draw(
    request: Request,
    picture: str = Form(PICTURES[0], pattern="^(" + "|".join(PICTURES) + ")$"),
    picture_upload: Annotated[
        UploadFile | None, File(description="Your own picture (PNG or JPEG), instead")
    ] = None,
    method: str = Form("agent", pattern="^(" + "|".join(METHODS) + ")$"),
    strokes: int = Form(200, ge=1, le=2000),
    size: int = Form(96, ge=16, le=256),
    out_size: int = Form(256, ge=32, le=1024),
    seed: int = Form(0, ge=0, le=2**31 - 1),
    paper: str = Form("a4", pattern="^(" + "|".join(PAPERS) + ")$"),
    landscape: bool = Form(False),
    margin: float = Form(15.0, ge=0.0, le=50.0),
) -> dict:
    store: Store = request.app.state.store
    config = request.app.state.config
    if picture_upload is not None and picture_upload.filename:
        checked = await check_upload(picture_upload, ("png", "jpeg"), **upload_limits(config))
        picture = keep_checked(store, checked, "picture").id
    recipe = {"medium": "paint", "verb": "draw", "picture": picture, "method": method}
    recipe |= {"strokes": strokes, "size": size, "out_size": out_size, "seed": seed}
    recipe |= {"paper": paper, "landscape": landscape, "margin": margin}
    shown = picture if len(picture) < 64 else "your picture"
    job = request.app.state.queue.submit(
        "paint", {"recipe": recipe}, f"paint {shown}, {strokes} strokes, {method}"
    )
    return {"job": job.id}
