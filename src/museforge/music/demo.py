"""The music part of ``museforge demo``: four sampled melodies and one interpolation from
the shipped 2-bar model, then a 16-bar melody from the long model, each with an audio
player and a piano roll."""

from __future__ import annotations

from pathlib import Path

from museforge.core.checkpoints import model_id, shipped_models
from museforge.core.gallery import Item, Section
from museforge.core.store import Store
from museforge.music.generate import interpolate, sample
from museforge.music.model import MelodyVAE
from museforge.music.results import MelodyResult, keep_melodies
from museforge.music.stacked import load_melody_vae

MODEL = "melody-2bar"
LONG_MODEL = "melody-16bar"


def demo_section(out_dir: Path, seed: int = 0) -> Section:
    """Make the melodies into ``out_dir/music`` and describe them for the gallery."""
    vae, mid = MelodyVAE.from_pretrained(MODEL), model_id(MODEL)
    folder = Path(out_dir) / "music"
    with Store() as store:
        sampled = keep_melodies(
            sample(vae, 4, seed=seed, temperature=0.5),
            folder,
            stem=f"sample-s{seed}",
            store=store,
            model_id=mid,
            seed=seed,
            params={"command": "sample", "temperature": 0.5},
            formats=("wav", "png"),
        )
        ends = [r.artifact_id for r in sampled[:2]]
        path = interpolate(vae, sampled[0].events, sampled[1].events, steps=5)
        morph = keep_melodies(
            path,
            folder,
            stem="interpolation",
            store=store,
            model_id=mid,
            seed=seed,
            params={"command": "interpolate", "steps": 5},
            parents=[(a, "interpolation-of") for a in ends],
            formats=("wav", "png"),
        )
        long = []
        if LONG_MODEL in shipped_models() or Path(LONG_MODEL).is_dir():
            long_mid = model_id(LONG_MODEL)
            long = keep_melodies(
                sample(load_melody_vae(LONG_MODEL), 1, seed=seed, temperature=0.5),
                folder,
                stem=f"long-s{seed}",
                store=store,
                model_id=long_mid,
                seed=seed,
                params={"command": "sample", "temperature": 0.5, "bars": 16},
                formats=("wav", "png"),
            )
    items = [_item(f"Sample {i}", r, mid, seed) for i, r in enumerate(sampled, start=1)]
    items += [_item(f"Interpolation {i} of 5", r, mid, seed) for i, r in enumerate(morph, start=1)]
    items += [_item("A 16-bar melody", r, long_mid, seed) for r in long]
    tail = f", and a 16-bar melody from {LONG_MODEL}" if long else ""
    return Section(
        title="Melodies",
        intro=f"Four melodies sampled from {MODEL} (temperature 0.5), then a morph from the "
        f"first to the second through the model's latent space{tail}. Each has a MIDI file "
        "beside it.",
        items=items,
    )


def _item(title: str, result: MelodyResult, mid: str, seed: int) -> Item:
    return Item(
        kind="audio",
        title=title,
        path=result.files["wav"],
        image=result.files["png"],
        provenance={"artifact": result.artifact_id[:12], "model": mid, "seed": seed},
        downloads=[result.files["mid"]],
    )
