"""``museforge image gan``: train a DCGAN or StyleGAN2 on a folder of images, and sample it."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

app = typer.Typer(
    help="GANs: train a DCGAN or a StyleGAN2 with adaptive augmentation (ADA) on your own "
    "images, then sample new ones.",
    no_args_is_help=True,
)


@app.command("train")
def train_cmd(
    source: Annotated[
        str,
        typer.Argument(
            help="A folder of PNG, JPEG or WebP images (sub-folders too), an image cache (.npz), "
            "or skimage:lfw_subset (100 faces that ship with scikit-image)."
        ),
    ],
    out: Annotated[
        Path,
        typer.Option("--out", "-o", help="Run folder: image cache, checkpoint, metrics, model/."),
    ],
    arch: Annotated[
        str, typer.Option(help="stylegan (StyleGAN2 with ADA) or dcgan (Radford et al.).")
    ] = "stylegan",
    res: Annotated[int, typer.Option(help="Image side in pixels: 32, 64, 128 or 256.")] = 32,
    steps: Annotated[
        int | None, typer.Option(min=1, help="Training steps (default: the recipe's).")
    ] = None,
    batch_size: Annotated[int | None, typer.Option(min=1, help="Images per step.")] = None,
    seed: Annotated[
        int, typer.Option(min=0, help="Seed of the weights and of every random draw.")
    ] = 0,
    resume: Annotated[
        bool, typer.Option(help="Continue the run in --out from its last checkpoint.")
    ] = False,
    init: Annotated[
        str | None,
        typer.Option(
            help="Fine-tune this model folder (transfer learning) instead of starting "
            "from random weights."
        ),
    ] = None,
    freeze_d: Annotated[
        int,
        typer.Option(
            min=0, help="With --init: keep this many of D's first layers frozen (Freeze-D)."
        ),
    ] = 0,
) -> None:
    """Train a GAN on SOURCE; Ctrl-C saves a checkpoint, --resume goes on."""
    from dataclasses import replace

    from museforge import cli
    from museforge.core.training import CHECKPOINT_FILE
    from museforge.errors import UserError, make_out_dir
    from museforge.image.gan.train import default_config, train_gan

    _check_choices(arch, res)
    if freeze_d and init is None:
        raise typer.BadParameter(
            "needs --init (a trained model whose D layers to keep)", param_hint="--freeze-d"
        )
    _check_source(source)
    if init is not None:
        _check_init(init, arch, res)
    config = default_config(arch, res)
    changes = {"steps": steps, "batch_size": batch_size}
    config = replace(config, seed=seed, **{k: v for k, v in changes.items() if v is not None})
    created = not out.exists()
    try:
        cache = _cache_for(source, make_out_dir(out), res)
        result = train_gan(
            cache, out, config, resume=resume, init=init, freeze_d=freeze_d, command=cli.invoked
        )
    except UserError:
        if created and not (out / CHECKPOINT_FILE).exists():
            shutil.rmtree(out, ignore_errors=True)  # a run that never started leaves nothing
        raise
    Console().print(
        f"[green]trained[/green] {result.steps} steps, loss {result.final_loss:.3f}, "
        f"{result.wall_time:.0f} s; sample it with: museforge image gan sample "
        f"--model {result.model_dir} --out samples"
    )


def _check_choices(arch: str, res: int) -> None:
    from museforge.image.data import RESOLUTIONS
    from museforge.image.gan.train import ARCHS

    if arch not in ARCHS:
        raise typer.BadParameter(f"{arch!r}: choose {' or '.join(ARCHS)}", param_hint="--arch")
    if res not in RESOLUTIONS:
        raise typer.BadParameter(
            f"{res}: choose one of {', '.join(map(str, RESOLUTIONS))}", param_hint="--res"
        )


def _check_source(source: str) -> None:
    """Fail on a missing source before the run folder is made."""
    from museforge.errors import MissingFile, UserError
    from museforge.image.data import LFW_SOURCE
    from museforge.image.io import SAMPLE_PREFIX

    if source.startswith(SAMPLE_PREFIX):
        if source != LFW_SOURCE:
            raise UserError(f"{source}: no such sample data set; choose {LFW_SOURCE}")
    elif not Path(source).expanduser().exists():
        raise MissingFile(source, "image folder or cache")


def _check_init(init: str, arch: str, res: int) -> None:
    from museforge.core.checkpoints import read_config, resolve_model_dir

    record = read_config(resolve_model_dir(init))
    kind, size = record["model_type"], record["config"].get("res")
    if (kind, size) != (arch, res):
        raise typer.BadParameter(
            f"{init} holds a {size} px {kind} model; give --arch {kind} --res {size} to "
            "fine-tune it",
            param_hint="--init",
        )


def _cache_for(source: str, out: Path, res: int) -> Path:
    """An image cache for ``source``: a cache file as it is; a folder or sample set decoded
    into ``out/images-<res>px.npz`` (reused when there)."""
    from museforge.errors import require_file
    from museforge.image.data import build_image_dataset

    if source.endswith(".npz"):
        return require_file(source, "image cache")
    target = out / f"images-{res}px.npz"
    if not target.is_file():
        Console(stderr=True).print(f"reading {source} into {target} (once)")
        build_image_dataset(source, target, res)
    return target


@app.command("sample")
def sample_cmd(
    model: Annotated[
        str, typer.Option("--model", "-m", help="A model folder from `image gan train`.")
    ],
    n: Annotated[int, typer.Option("--n", min=1, max=1024, help="How many images.")] = 16,
    seed: Annotated[
        int, typer.Option(min=0, help="Seed of the latents: the same seed, the same images.")
    ] = 0,
    truncation: Annotated[
        float,
        typer.Option(
            min=0.0,
            max=2.0,
            help="StyleGAN's truncation psi: below 1 more typical images, less variety; "
            "0 the average image.",
        ),
    ] = 1.0,
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Folder for grid.png and one PNG per image.")
    ] = Path("museforge-out/gan-samples"),
) -> None:
    """Draw N new images from a trained GAN; each is kept in the store with its seed."""
    from PIL import Image

    from museforge.core.checkpoints import model_id
    from museforge.core.store import Store
    from museforge.errors import make_out_dir
    from museforge.image.gan.generate import grid, load_gan, sample
    from museforge.image.results import keep_image

    gan, mid = load_gan(model), model_id(model)
    images = sample(gan, n, seed, truncation)
    out = make_out_dir(out)
    params = {"command": "gan sample", "n": n, "seed": seed, "truncation_psi": truncation}
    width = len(str(n - 1))
    with Store() as store:
        files = []
        for i, image in enumerate(images):
            path = out / f"sample-s{seed}-{i:0{width}d}.png"
            keep_image(
                Image.fromarray(image, "RGB"),
                path,
                {},
                params=params | {"index": i},
                seed=seed,
                model_id=mid,
                store=store,
            )
            files.append(str(path))
        grid_id = keep_image(
            grid(images),
            out / "grid.png",
            {"sample": files},
            params=params,
            seed=seed,
            model_id=mid,
            store=store,
        )
    Console().print(f"[green]{n} images[/green] in {out}; grid.png [dim]{grid_id[:12]}[/dim]")
