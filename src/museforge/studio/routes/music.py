"""The music page: sample melodies from seeds, vary one ("more like this"), breed two
(interpolate), play, choose and rate; every batch runs as a job, melody by melody.

Thin over ``museforge.music``: ``generate.sample / vary / interpolate`` make the events,
``results.keep_melodies`` renders MIDI, WAV and a piano roll and keeps them in the store.
"""

from __future__ import annotations

import functools
import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse

from museforge.core.store import Store
from museforge.studio.jobs import JobContext
from museforge.studio.pages import render, tiles, works
from museforge.studio.recipes import recipe_of

router = APIRouter()

MODELS = ("melody-2bar", "melody-16bar")
FORMATS = ("mid", "wav", "png")
GRID = 24
MODEL_PATTERN = "^(" + "|".join(MODELS) + ")$"
RELATIONS = {
    "sample": None,
    "vary": "variation-of",
    "continue": "continuation-of",
    "breed": "interpolation-of",
}


@functools.lru_cache(maxsize=4)
def _model(name: str) -> Any:
    from museforge.music.stacked import load_melody_vae

    return load_melody_vae(name)


def melodies_for(store: Store, recipe: dict[str, Any]) -> np.ndarray:
    """The event arrays a recipe makes; the same recipe always makes the same ones."""
    from museforge.music import generate
    from museforge.music.melody_file import read_melody

    vae = _model(recipe["model"])
    verb = recipe["verb"]
    if verb == "sample":
        return generate.sample(vae, recipe["n"], recipe["seed"], recipe["temperature"])
    if verb == "vary":
        parent = read_melody(store.path_of(store.get(recipe["parent"])), vae.steps)
        return generate.vary(
            vae, parent, amount=recipe["amount"], n=recipe["n"], seed=recipe["seed"]
        )
    if verb == "continue":
        melody = read_melody(store.path_of(store.get(recipe["parent"])))
        return np.stack(
            [
                generate.continue_melody(
                    vae, melody, bars=recipe["bars"], seed=recipe["seed"] + i, temperature=0.5
                )[0]
                for i in range(recipe["n"])
            ]
        )
    a, b = (read_melody(store.path_of(store.get(p)), vae.steps) for p in recipe["parents"])
    return generate.interpolate(vae, a, b, steps=recipe["n"] + 2)[1:-1]


def _stem(recipe: dict[str, Any], index: int) -> str:
    return f"{recipe['verb']}-s{recipe['seed']}-{index:02d}"


def make_batch(context: JobContext) -> dict[str, Any]:
    """The job: the batch record first, then each melody rendered and kept in turn."""
    from museforge.core.checkpoints import model_id
    from museforge.music.results import keep_melodies

    store, recipe = context.store, dict(context.params["recipe"])
    context.report(0.02, f"loading {recipe['model']}")
    batch = store.add_bytes(
        json.dumps(recipe, sort_keys=True).encode(),
        ".json",
        kind="batch",
        params={"studio": recipe},
    )
    events = melodies_for(store, recipe)
    relation = RELATIONS[recipe["verb"]]
    parents = [
        (p, relation) for p in recipe.get("parents", [recipe.get("parent")]) if p and relation
    ]
    total = len(events)
    for index in range(len(context.items) + 1, total + 1):
        own = {**recipe, "batch": batch.id, "index": index}
        with tempfile.TemporaryDirectory(prefix="museforge-studio-") as folder:
            (kept,) = keep_melodies(
                [events[index - 1]],
                folder,
                stem=_stem(recipe, index),
                store=store,
                model_id=model_id(recipe["model"]),
                seed=recipe["seed"],
                params={"command": f"studio {recipe['verb']}", "studio": own},
                parents=parents,
                formats=FORMATS,
            )
        context.checkpoint(kept.artifact_id, index / total, f"melody {index} of {total} kept")
    return {"batch": batch.id}


def reproduce(store: Store, recipe: dict[str, Any]) -> bytes:
    """The MIDI bytes the recipe's melody has when made again."""
    from museforge.music.render import render_all

    events = melodies_for(store, recipe)
    index = recipe["index"]
    stem = _stem(recipe, index)
    with tempfile.TemporaryDirectory(prefix="museforge-studio-") as folder:
        files = render_all(events[index - 1], folder, stem, ["mid"], title=stem, bpm=120)
        return Path(files["mid"]).read_bytes()


def register(app) -> None:
    app.state.queue.register("music", make_batch)
    for verb in RELATIONS:
        app.state.reproducers[f"music.{verb}"] = reproduce


@router.get("/music", response_class=HTMLResponse, summary="The music page")
def music_page(request: Request, recall: str | None = Query(None, pattern="^[0-9a-f]{4,64}$")):
    store: Store = request.app.state.store
    form = {"model": MODELS[0], "seed": 0, "n": 6, "temperature": 0.5, "amount": 0.3}
    if recall:
        form |= recipe_of(store.get(recall)) or {}
    return render(request, "music.html", form=form, models=MODELS, tiles=_grid(store))


@router.get("/music/tiles", response_class=HTMLResponse, summary="The melody grid alone")
def music_tiles(request: Request) -> HTMLResponse:
    return render(request, "music_tiles.html", tiles=_grid(request.app.state.store))


def _grid(store: Store) -> list[dict]:
    return tiles(store, works(store, "melody", GRID))


def _submit(request: Request, recipe: dict[str, Any], label: str) -> dict:
    job = request.app.state.queue.submit("music", {"recipe": recipe}, label)
    return {"job": job.id}


@router.post("/music/sample", summary="Sample N melodies from a seed")
def sample(
    request: Request,
    model: str = Form(MODELS[0], pattern=MODEL_PATTERN),
    seed: int = Form(0, ge=0, le=2**31 - 1),
    n: int = Form(6, ge=1, le=16),
    temperature: float = Form(0.5, ge=0.0, le=2.0),
) -> dict:
    recipe = {"medium": "music", "verb": "sample", "model": model, "seed": seed, "n": n}
    recipe["temperature"] = temperature
    return _submit(request, recipe, f"{n} melodies, seed {seed}")


@router.post("/music/vary", summary="More like this: N variations of a melody")
def vary(
    request: Request,
    parent: str = Form(pattern="^[0-9a-f]{64}$"),
    model: str = Form(MODELS[0], pattern=MODEL_PATTERN),
    amount: float = Form(0.3, ge=0.0, le=1.0),
    n: int = Form(4, ge=1, le=16),
    seed: int = Form(0, ge=0, le=2**31 - 1),
) -> dict:
    request.app.state.store.get(parent)
    recipe = {"medium": "music", "verb": "vary", "model": model, "parent": parent}
    recipe |= {"amount": amount, "n": n, "seed": seed}
    return _submit(request, recipe, f"{n} variations of {parent[:8]}, amount {amount:.2f}")


@router.post("/music/continue", summary="Continue a melody by some bars, N ways")
def continue_route(
    request: Request,
    parent: str = Form(pattern="^[0-9a-f]{64}$"),
    model: str = Form(MODELS[0], pattern=MODEL_PATTERN),
    bars: int = Form(2, ge=1, le=16),
    n: int = Form(2, ge=1, le=8),
    seed: int = Form(0, ge=0, le=2**31 - 1),
) -> dict:
    request.app.state.store.get(parent)
    recipe = {"medium": "music", "verb": "continue", "model": model, "parent": parent}
    recipe |= {"bars": bars, "n": n, "seed": seed}
    return _submit(request, recipe, f"{n} continuations of {parent[:8]}, {bars} bars")


@router.post("/music/breed", summary="Breed two melodies: N children between them")
def breed(
    request: Request,
    a: str = Form(pattern="^[0-9a-f]{64}$"),
    b: str = Form(pattern="^[0-9a-f]{64}$"),
    model: str = Form(MODELS[0], pattern=MODEL_PATTERN),
    n: int = Form(3, ge=1, le=14),
) -> dict:
    store: Store = request.app.state.store
    store.get(a), store.get(b)
    recipe = {"medium": "music", "verb": "breed", "model": model, "parents": [a, b], "n": n}
    recipe["seed"] = 0
    return _submit(request, recipe, f"{n} children of {a[:8]} and {b[:8]}")
