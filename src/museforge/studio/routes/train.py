"""The train page: upload material of your own and train on it as a job, with the
training curve drawn live from the job's progress: a picture, to train a fast style
network for it (Johnson et al. 2016, "Perceptual Losses for Real-Time Style Transfer"),
or MIDI tunes, to fine-tune the shipped melody model on them (MusicVAE, Roberts et al.
2018, from ``melody-2bar``).

Thin over ``image.style.fast.train_fast_style`` and ``music.train.train_melody_vae``, both
the one training loop in ``core.training``: the run folder lives in the studio's home, one per job, so a studio
stopped mid-run resumes the job from its last checkpoint, exactly. While the loop trains,
a watcher reads its ``metrics.jsonl`` and writes the curve into the job's record, which
the page follows by server-sent events like every job. The trained network is kept in the
store ``trained-from`` its material, with a preview: a photo stylised by the network, or
melodies sampled from the fine-tuned model.
"""

from __future__ import annotations

import io
import json
import threading
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse

from museforge.core import home
from museforge.core.store import Store
from museforge.errors import UserError
from museforge.studio.jobs import JobContext, job_record
from museforge.studio.pages import render
from museforge.studio.uploads import check_upload, keep_checked, upload_limits

router = APIRouter()

FEATURES = "random-multiscale"  # the loss network that needs no download
STYLE_SAMPLES = ("gravel", "brick", "grass", "immunohistochemistry", "hubble_deep_field")
CONTENTS = ("skimage:astronaut", "skimage:chelsea", "skimage:coffee")
PREVIEW = "skimage:rocket"
BASE_MELODY = "melody-2bar"  # the model a melody fine-tune starts from
MAX_TUNES = 50
CURVE_POINTS = 400  # at most this many points of the curve ride along in the job record
WATCH_S = 0.5


def run_root() -> Path:
    """Where the studio's training runs live: one folder per job in the studio's home."""
    return home.home() / "studio-runs"


def _style_source(store: Store, style: str) -> str:
    if len(style) == 64:
        return str(store.path_of(store.get(style)))
    return f"skimage:{style}"


def read_curve(metrics: Path) -> list[list[float]]:
    """``[[step, loss], ...]`` from a run's metrics, thinned to at most CURVE_POINTS."""
    if not metrics.is_file():
        return []
    points = []
    for line in metrics.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line being written
        if "loss" in record:
            points.append([record["step"], round(float(record["loss"]), 5)])
    thinned = points[:: max(1, -(-len(points) // CURVE_POINTS))]
    if points and thinned[-1] != points[-1]:
        thinned.append(points[-1])
    return thinned


class CurveWatcher:
    """Writes the run's curve and progress into the job record while the loop trains."""

    def __init__(self, context: JobContext, metrics: Path, steps: int) -> None:
        self.context, self.metrics, self.steps = context, metrics, steps
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self.curve: list[list[float]] = []

    def _watch(self) -> None:
        while not self._stop.wait(WATCH_S):
            self.publish()

    def publish(self) -> None:
        curve = read_curve(self.metrics)
        if curve and curve != self.curve:
            self.curve = curve
            step, loss = curve[-1]
            self.context.store.update_job(
                self.context.job_id,
                progress=0.05 + 0.85 * step / self.steps,
                message=f"step {step} of {self.steps}, loss {loss:.4f}",
                result={"items": self.context.items, "curve": curve},
            )

    def __enter__(self) -> CurveWatcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.publish()


def run_train(context: JobContext) -> dict[str, Any]:
    """The job: train (or resume) in the job's run folder, then keep the model and a preview."""
    if context.params.get("what") == "melody":
        return run_melody(context)
    return run_style(context)


def run_melody(context: JobContext) -> dict[str, Any]:
    """Fine-tune the melody model on the uploaded tunes; keep it and four melodies of it."""
    import shutil
    import tempfile

    from museforge.core.checkpoints import model_id
    from museforge.core.model_records import record_trained_model
    from museforge.core.training import CHECKPOINT_FILE, METRICS_FILE, RunOptions
    from museforge.music.data import build_dataset
    from museforge.music.generate import sample
    from museforge.music.results import keep_melodies
    from museforge.music.stacked import load_melody_vae
    from museforge.music.train import default_config, train_melody_vae

    store, p = context.store, context.params
    folder = run_root() / context.job_id
    if context.items:  # kept before the studio stopped
        return {"model": context.items[0], "curve": read_curve(folder / METRICS_FILE)}
    tunes = run_root() / f"{context.job_id}-tunes"
    cache = tunes / "tunes.npz"
    if not cache.is_file():
        context.report(0.02, f"reading {len(p['tunes'])} tunes")
        (tunes / "midi").mkdir(parents=True, exist_ok=True)
        for i, tune in enumerate(p["tunes"]):
            shutil.copyfile(store.path_of(store.get(tune)), tunes / "midi" / f"{i:03d}.mid")
        build_dataset(tunes / "midi", cache, jobs=1, progress=False)
    config = replace(
        default_config(2),
        steps=p["steps"],
        batch_size=p["batch_size"],
        checkpoint_every=max(1, p["steps"] // 5),
        log_every=1,
        seed=p["seed"],
    )
    with CurveWatcher(context, folder / METRICS_FILE, p["steps"]) as watcher:
        result = train_melody_vae(
            cache,
            folder,
            config,
            resume=(folder / CHECKPOINT_FILE).is_file(),
            init=BASE_MELODY,
            progress=False,
            command="studio train melody",
            options=RunOptions(keep=2, force=True),
        )
    context.report(0.93, "keeping the model and four of its melodies")
    model = record_trained_model(
        store, result.model_dir, data=[cache], init=BASE_MELODY, note="fine-tuned in the studio"
    )
    melodies = sample(load_melody_vae(result.model_dir), 4, p["seed"], 0.5)
    with tempfile.TemporaryDirectory(prefix="museforge-studio-") as out:
        kept = keep_melodies(
            melodies,
            out,
            stem=f"tuned-s{p['seed']}",
            store=store,
            model_id=model_id(result.model_dir),
            seed=p["seed"],
            params={"command": "studio train melody sample", "temperature": 0.5},
            parents=[(model.id, "generated-by")],
            formats=("mid", "wav", "png"),
        )
    context.checkpoint(model.id, 1.0, f"trained {result.steps} steps, loss {result.final_loss:.4f}")
    return {
        "model": model.id,
        "melodies": [k.artifact_id for k in kept],
        "curve": watcher.curve,
        "steps": result.steps,
        "final_loss": round(result.final_loss, 5),
    }


def run_style(context: JobContext) -> dict[str, Any]:
    """Train a fast style network for the picture; keep it and a photo in its style."""
    from museforge.core.checkpoints import model_id
    from museforge.core.model_records import record_trained_model
    from museforge.core.training import CHECKPOINT_FILE, METRICS_FILE, RunOptions
    from museforge.image.io import load_image, tensor_to_image
    from museforge.image.style.fast import (
        FastStyleConfig,
        FastTrainConfig,
        load_fast_style,
        stylize_fast,
        train_fast_style,
    )
    from museforge.image.style.features import build_features

    store, p = context.store, context.params
    folder = run_root() / context.job_id
    if context.items:  # kept before the studio stopped
        return {"model": context.items[0], "curve": read_curve(folder / METRICS_FILE)}
    resume = (folder / CHECKPOINT_FILE).is_file()
    context.report(0.02, "resuming from the last checkpoint" if resume else "reading the pictures")
    config = replace(
        FastTrainConfig(),
        net=FastStyleConfig(width=p["width"]),
        steps=p["steps"],
        batch_size=p["batch_size"],
        crop=p["crop"],
        content_size=max(2 * p["crop"], 128),
        style_size=p["style_size"],
        features=FEATURES,
        checkpoint_every=max(1, p["steps"] // 5),
        log_every=1,
        seed=p["seed"],
    )
    style = load_image(_style_source(store, p["style"]), config.style_size)
    contents = [load_image(c, config.content_size) for c in CONTENTS]
    net = build_features(FEATURES, seed=p["seed"])
    with CurveWatcher(context, folder / METRICS_FILE, p["steps"]) as watcher:
        result = train_fast_style(
            style,
            contents,
            folder,
            config,
            style_name=p["label_style"],
            net=net,
            resume=resume,
            progress=False,
            command=f"studio train {p['label_style']}",
            options=RunOptions(keep=2, force=True),
        )
    context.report(0.93, "keeping the network and a preview")
    data = [Path(_style_source(store, p["style"]))] if len(p["style"]) == 64 else []
    model = record_trained_model(
        store, result.model_dir, data=data, note=f"fast style for {p['label_style']}, studio"
    )
    network = load_fast_style(result.model_dir)
    picture = stylize_fast(network, load_image(PREVIEW, 128))
    buffer = io.BytesIO()
    tensor_to_image(picture).save(buffer, format="PNG")
    preview = store.add_bytes(
        buffer.getvalue(),
        ".png",
        kind="image",
        params={"command": "studio train preview", "style": p["label_style"], "photo": PREVIEW},
        seed=p["seed"],
        model_id=model_id(result.model_dir),
        parents=[(model.id, "generated-by")],
        note=f"{PREVIEW} stylised by the network trained in the studio",
    )
    context.checkpoint(model.id, 1.0, f"trained {result.steps} steps, loss {result.final_loss:.4f}")
    return {
        "model": model.id,
        "preview": preview.id,
        "curve": watcher.curve,
        "steps": result.steps,
        "final_loss": round(result.final_loss, 5),
    }


def register(app) -> None:
    app.state.queue.register("train", run_train)


def _runs(store: Store) -> list[dict[str, Any]]:
    return [job_record(j) for j in store.list_jobs(limit=200) if j.kind == "train"][:8]


@router.get("/train", response_class=HTMLResponse, summary="Train a style of your own")
def train_page(request: Request) -> HTMLResponse:
    store: Store = request.app.state.store
    return render(request, "train.html", style_samples=STYLE_SAMPLES, runs=_runs(store))


@router.post("/train/style", summary="Train a fast style network for a picture (a job)")
async def train_style(
    request: Request,
    style: Annotated[
        UploadFile | None, File(description="Your style picture (PNG or JPEG)")
    ] = None,
    style_sample: str = Form("", pattern="^(" + "|".join(STYLE_SAMPLES) + ")?$"),
    steps: int = Form(60, ge=1, le=5000),
    batch_size: int = Form(2, ge=1, le=16),
    crop: int = Form(64, ge=32, le=256),
    style_size: int = Form(128, ge=32, le=512),
    width: int = Form(8, ge=4, le=32),
    seed: int = Form(0, ge=0, le=2**31 - 1),
) -> dict:
    store: Store = request.app.state.store
    config = request.app.state.config
    if style is not None and style.filename:
        checked = await check_upload(style, ("png", "jpeg"), **upload_limits(config))
        source, label = keep_checked(store, checked, "style to train on").id, checked.name
    elif style_sample:
        source, label = style_sample, style_sample
    else:
        raise UserError("choose a style picture: upload one or pick a sample")
    params = {"style": source, "label_style": label, "steps": steps, "batch_size": batch_size}
    params |= {"crop": crop, "style_size": style_size, "width": width, "seed": seed}
    job = request.app.state.queue.submit("train", params, f"train a style on {label}")
    return {"job": job.id}


@router.post("/train/melody", summary="Fine-tune the melody model on MIDI tunes (a job)")
async def train_melody(
    request: Request,
    tunes: Annotated[list[UploadFile], File(description="Your tunes (MIDI files)")],
    steps: int = Form(60, ge=1, le=5000),
    batch_size: int = Form(16, ge=1, le=256),
    seed: int = Form(0, ge=0, le=2**31 - 1),
) -> dict:
    store: Store = request.app.state.store
    config = request.app.state.config
    given = [t for t in tunes if t.filename]
    if not given or len(given) > MAX_TUNES:
        raise UserError(f"give 1 to {MAX_TUNES} MIDI files, not {len(given)}")
    limits = upload_limits(config)
    checked = [await check_upload(t, ("midi",), **limits) for t in given]  # all before any is kept
    kept = [keep_checked(store, c, "tune to train on").id for c in checked]
    params = {"what": "melody", "tunes": kept, "steps": steps, "batch_size": batch_size}
    params["seed"] = seed
    label = f"fine-tune {BASE_MELODY} on {len(kept)} tune{'s' if len(kept) > 1 else ''}"
    job = request.app.state.queue.submit("train", params, label)
    return {"job": job.id}
