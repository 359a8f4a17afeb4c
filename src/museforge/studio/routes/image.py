"""The image page: style transfer with an uploaded style picture and a strength, and GAN
samples with truncation. Thin over ``museforge.image``; each run is a job.

Strength mixes the stylised picture with the content in pixel space (0 gives the
photo back, 1 the full transfer), so one slider reads the same whatever the network.
"""

from __future__ import annotations

import functools
import io
import json
import re
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse

from museforge.core.store import Store
from museforge.errors import UserError
from museforge.studio.jobs import JobContext
from museforge.studio.pages import render, tiles, works
from museforge.studio.recipes import recipe_of
from museforge.studio.uploads import check_upload, keep_checked, upload_limits

router = APIRouter()

SAMPLES = ("chelsea", "astronaut", "coffee", "rocket", "retina")
STYLE_SAMPLES = ("gravel", "brick", "grass", "immunohistochemistry", "hubble_deep_field")
GAN_MODELS = ("portrait-32",)
FEATURES = "random-multiscale"  # offline, the measured best of the weight-free networks
GRID = 24
_ID = re.compile(r"[0-9a-f]{64}")


@functools.lru_cache(maxsize=2)
def _gan(name: str) -> Any:
    from museforge.image.gan.generate import load_gan

    return load_gan(name)


def _source(store: Store, source: str) -> str:
    """An image source for ``museforge.image.io``: a stored upload's path or skimage:NAME."""
    if _ID.fullmatch(source):
        return str(store.path_of(store.get(source)))
    return f"skimage:{source}"


def _png(image: Any) -> bytes:
    from museforge.image.io import tensor_to_image

    buffer = io.BytesIO()
    tensor_to_image(image).save(buffer, format="PNG")
    return buffer.getvalue()


def stylized_png(store: Store, recipe: dict[str, Any]) -> bytes:
    """Gatys et al. (2016) style transfer through ``image.style``, mixed by strength."""
    from museforge.image.io import load_image
    from museforge.image.style.features import build_features
    from museforge.image.style.gatys import StyleConfig, stylize

    config = StyleConfig(
        steps=recipe["steps"], size=recipe["size"], features=FEATURES, seed=recipe["seed"]
    )
    content = load_image(_source(store, recipe["content"]), config.size)
    style = load_image(_source(store, recipe["style"]), config.size)
    net = build_features(FEATURES, seed=recipe["seed"])
    result = stylize(content, [style], config, net=net).image
    strength = recipe["strength"]
    return _png(content + strength * (result - content))


def gan_png(store: Store, recipe: dict[str, Any]) -> bytes:
    """One GAN sample (the recipe's index among its batch) as PNG bytes."""
    from PIL import Image

    from museforge.image.gan.generate import sample

    images = sample(_gan(recipe["model"]), recipe["n"], recipe["seed"], recipe["truncation"])
    buffer = io.BytesIO()
    Image.fromarray(images[recipe["index"] - 1]).save(buffer, format="PNG")
    return buffer.getvalue()


def _inputs(store: Store, recipe: dict[str, Any]) -> list[tuple[str, str]]:
    parents = []
    for role in ("content", "style"):
        source = recipe[role]
        if not _ID.fullmatch(source):
            from museforge.image.io import resolve_source

            source = store.add_file(
                resolve_source(f"skimage:{source}"), kind="image", note=f"given as {role} image"
            ).id
        parents.append((source, "input"))
    return parents


def run_image(context: JobContext) -> dict[str, Any]:
    store, recipe = context.store, dict(context.params["recipe"])
    batch = store.add_bytes(
        json.dumps(recipe, sort_keys=True).encode(),
        ".json",
        kind="batch",
        params={"studio": recipe},
    )
    if recipe["verb"] == "stylize":
        context.report(0.05, f"painting at {recipe['size']} px, {recipe['steps']} steps")
        own = {**recipe, "batch": batch.id, "index": 1}
        kept = store.add_bytes(
            stylized_png(store, own),
            ".png",
            kind="image",
            params={"command": "studio stylize", "studio": own},
            seed=recipe["seed"],
            model_id=FEATURES,
            parents=_inputs(store, recipe),
        )
        context.checkpoint(kept.id, 1.0, "painted")
        return {"batch": batch.id}
    from museforge.core.checkpoints import model_id

    total = recipe["n"]
    for index in range(len(context.items) + 1, total + 1):
        own = {**recipe, "batch": batch.id, "index": index}
        kept = store.add_bytes(
            gan_png(store, own),
            ".png",
            kind="image",
            params={"command": "studio gan sample", "studio": own},
            seed=recipe["seed"],
            model_id=model_id(recipe["model"]),
        )
        context.checkpoint(kept.id, index / total, f"image {index} of {total}")
    return {"batch": batch.id}


def register(app) -> None:
    app.state.queue.register("image", run_image)
    app.state.reproducers["image.stylize"] = stylized_png
    app.state.reproducers["image.gan"] = gan_png


@router.get("/image", response_class=HTMLResponse, summary="The image page")
def image_page(request: Request, recall: str | None = Query(None, pattern="^[0-9a-f]{4,64}$")):
    store: Store = request.app.state.store
    form = {"content": SAMPLES[0], "strength": 0.8, "size": 128, "steps": 40, "seed": 0}
    form |= {"model": GAN_MODELS[0], "n": 8, "truncation": 0.7}
    if recall:
        form |= recipe_of(store.get(recall)) or {}
    return render(
        request,
        "image.html",
        form=form,
        samples=SAMPLES,
        style_samples=STYLE_SAMPLES,
        gan_models=GAN_MODELS,
        tiles=_grid(store),
    )


@router.get("/image/tiles", response_class=HTMLResponse, summary="The image grid alone")
def image_tiles(request: Request) -> HTMLResponse:
    return render(request, "image_tiles.html", tiles=_grid(request.app.state.store))


def _grid(store: Store) -> list[dict]:
    return tiles(store, works(store, "image", GRID))


@router.post("/image/stylize", summary="Style transfer with an uploaded style picture")
async def stylize_route(
    request: Request,
    style: Annotated[UploadFile | None, File(description="The style picture (PNG or JPEG)")] = None,
    style_sample: str = Form("", pattern="^(" + "|".join(STYLE_SAMPLES) + ")?$"),
    content: str = Form(SAMPLES[0], pattern="^(" + "|".join(SAMPLES) + ")$"),
    content_upload: Annotated[
        UploadFile | None, File(description="Your own photo (optional)")
    ] = None,
    strength: float = Form(0.8, ge=0.0, le=1.0),
    size: int = Form(128, ge=32, le=512),
    steps: int = Form(40, ge=1, le=500),
    seed: int = Form(0, ge=0, le=2**31 - 1),
) -> dict:
    store: Store = request.app.state.store
    config = request.app.state.config
    limits = upload_limits(config)
    given = {}  # every upload is checked before any is kept
    for role, upload in (("style", style), ("content", content_upload)):
        if upload is not None and upload.filename:
            given[role] = await check_upload(upload, ("png", "jpeg"), **limits)
    if "style" not in given and not style_sample:
        raise UserError("choose a style picture: upload one or pick a sample")
    kept = {role: keep_checked(store, checked, role).id for role, checked in given.items()}
    style_source = kept.get("style", style_sample)
    content = kept.get("content", content)
    recipe = {"medium": "image", "verb": "stylize", "content": content, "style": style_source}
    recipe |= {"strength": strength, "size": size, "steps": steps, "seed": seed}
    job = request.app.state.queue.submit(
        "image", {"recipe": recipe}, f"stylise, strength {strength:.2f}"
    )
    return {"job": job.id}


@router.post("/image/gan", summary="Sample faces from a GAN, with truncation")
def gan_route(
    request: Request,
    model: str = Form(GAN_MODELS[0], pattern="^(" + "|".join(GAN_MODELS) + ")$"),
    seed: int = Form(0, ge=0, le=2**31 - 1),
    n: int = Form(8, ge=1, le=32),
    truncation: float = Form(0.7, ge=0.0, le=1.0),
) -> dict:
    recipe = {"medium": "image", "verb": "gan", "model": model, "seed": seed, "n": n}
    recipe["truncation"] = truncation
    job = request.app.state.queue.submit("image", {"recipe": recipe}, f"{n} faces, seed {seed}")
    return {"job": job.id}
