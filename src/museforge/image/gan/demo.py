"""The GAN part of ``museforge demo``: faces drawn by the shipped ``portrait-32``, a
style-mixing grid and an interpolation GIF, each kept in the store with its seeds.

The model makes 32 px images; the gallery shows them enlarged with square pixels
(nearest neighbour), so nothing is smoothed that the model did not make.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from museforge.core.checkpoints import model_id, read_config, resolve_model_dir
from museforge.core.gallery import Item, Section
from museforge.core.store import Store
from museforge.image.gan.explore import interpolate, mix_grid, save_gif
from museforge.image.gan.generate import grid, load_gan, sample
from museforge.image.results import keep_file, keep_image

MODEL = "portrait-32"
SAMPLES = 24
TRUNCATION = 0.7  # a little more typical than psi 1: the faces a person looks at first
COARSE_SEEDS = (1, 2, 3)
FINE_SEEDS = (4, 5, 6, 7)
WALK_SEEDS = (8, 9, 10, 8)  # back to the first: the GIF loops without a jump
WALK_FRAMES = 12
SCALE = 4  # pixels a model pixel takes in the gallery


def demo_section(out_dir: Path, seed: int = 0) -> Section:
    """Make the pictures into ``out_dir/gan`` and describe them for the gallery."""
    gan, mid = load_gan(MODEL), model_id(MODEL)
    folder = Path(out_dir) / "gan"
    params = {"model": MODEL, "truncation_psi": TRUNCATION}
    items = []
    with Store() as store:
        faces = sample(gan, SAMPLES, seed, TRUNCATION)
        path = folder / f"samples-s{seed}.png"
        artifact = keep_image(
            _enlarge(grid(faces, cols=6)),
            path,
            {},
            params=params | {"command": "gan sample", "n": SAMPLES},
            seed=seed,
            model_id=mid,
            store=store,
        )
        items.append(_item(f"{SAMPLES} samples", path, artifact, mid, seed))

        cells = mix_grid(gan, COARSE_SEEDS, FINE_SEEDS, truncation_psi=TRUNCATION)
        path = folder / "mixing.png"
        flat = cells.reshape(-1, *cells.shape[2:])
        artifact = keep_image(
            _enlarge(grid(flat, cols=cells.shape[1])),
            path,
            {},
            params=params
            | {"command": "gan mix", "coarse": list(COARSE_SEEDS), "fine": list(FINE_SEEDS)},
            seed=COARSE_SEEDS[0],
            model_id=mid,
            store=store,
        )
        items.append(
            _item(
                "Style mixing: rows take pose and shape from the left column, "
                "the rest from the top row",
                path,
                artifact,
                mid,
                COARSE_SEEDS[0],
            )
        )

        frames = interpolate(gan, WALK_SEEDS, WALK_FRAMES, TRUNCATION)
        large = np.stack([np.asarray(_enlarge(Image.fromarray(f, "RGB"))) for f in frames])
        path = save_gif(large, folder / "walk.gif")
        artifact = keep_file(
            path,
            {},
            params=params
            | {"command": "gan interpolate", "seeds": list(WALK_SEEDS), "frames": WALK_FRAMES},
            seed=WALK_SEEDS[0],
            model_id=mid,
            store=store,
        )
        items.append(_item("A walk from face to face (GIF)", path, artifact, mid, WALK_SEEDS[0]))
    return Section(
        title="Faces from a GAN",
        intro=f"Faces drawn by {MODEL}, a StyleGAN2-style model with adaptive augmentation "
        "trained on a laptop CPU on 90 small grey photos from scikit-image (truncation "
        f"{TRUNCATION}); a style-mixing grid; and a walk through its latent space." + _measured(),
        items=items,
    )


def _measured() -> str:
    """The model card's figures, when the model's record has them."""
    m = read_config(resolve_model_dir(MODEL)).get("metrics", {})
    if not {"kid", "kid_std", "kid_real", "ms_ssim", "ms_ssim_real"} <= m.keys():
        return ""
    return (
        f" Measured on {m['samples']} samples against its training faces: KID "
        f"{m['kid']:.2f} ± {m['kid_std']:.2f} (faces against faces: {m['kid_real']:.2f}), "
        f"MS-SSIM {m['ms_ssim']:.3f} (the faces' own: {m['ms_ssim_real']:.3f}; lower is "
        "more varied)."
    )


def _enlarge(image: Image.Image) -> Image.Image:
    return image.resize((image.width * SCALE, image.height * SCALE), Image.Resampling.NEAREST)


def _item(title: str, path: Path, artifact: str, mid: str, seed: int) -> Item:
    return Item(
        kind="image",
        title=title,
        path=path,
        provenance={"artifact": artifact[:12], "model": mid, "seed": seed},
    )
