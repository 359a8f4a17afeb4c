"""Image results into files and the store: a file written whole, its inputs as parents."""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path
from typing import Any

from PIL import Image
from torch import Tensor

from museforge.core.store import RELATIONS, Store
from museforge.image.io import resolve_source, save_png


def keep_image(
    image: Image.Image | Tensor,
    out: str | Path,
    inputs: dict[str, list[str]],
    *,
    params: dict[str, Any],
    seed: int,
    model_id: str,
    store: Store | None = None,
) -> str:
    """Save ``image`` to ``out`` and record it; returns its artifact id.

    ``inputs`` maps a role ("content", "style", "mask") to image sources (files or
    ``skimage:NAME``); each is stored too and linked as an ``input`` parent, or by its
    role where the role is a lineage relation (``variation-of``).
    """
    out = save_png(image, out)
    return keep_file(out, inputs, params=params, seed=seed, model_id=model_id, store=store)


def keep_file(
    path: str | Path,
    inputs: dict[str, list[str]],
    *,
    params: dict[str, Any],
    seed: int,
    model_id: str,
    store: Store | None = None,
) -> str:
    """Record an image file already written (a PNG, an animated GIF) as ``keep_image`` does."""
    with Store() if store is None else nullcontext(store) as kept:
        parents = []
        for role, sources in inputs.items():
            for source in sources:
                note = f"given as {role} image ({source})"
                parent = kept.add_file(resolve_source(source), kind="image", note=note)
                parents.append((parent.id, role if role in RELATIONS else "input"))
        artifact = kept.add_file(
            path, kind="image", params=params, seed=seed, model_id=model_id, parents=parents
        )
    return artifact.id
