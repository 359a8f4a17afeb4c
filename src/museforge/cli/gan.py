"""``museforge image gan``: train a DCGAN or StyleGAN2 on a folder of images, sample it, mix
styles, interpolate, vary, project a picture into it, and measure it."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from museforge.cli.run_options import (
    AllowChangeOpt,
    ForceOpt,
    KeepOpt,
    SkipNonfiniteOpt,
    keep_trained_model,
    run_folder,
    run_options,
)
from museforge.cli.transfer_options import (
    AdaptFromOpt,
    DomainAdversarialOpt,
    FreezeOpt,
    LrScaleOpt,
    domain_weight,
)

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image

app = typer.Typer(
    help="GANs: train a DCGAN or a StyleGAN2 with adaptive augmentation (ADA) on your own "
    "images, then sample new ones, mix their styles, walk between them, vary them, find a "
    "picture in the model, and measure it.",
    no_args_is_help=True,
)

SEED_MAX = 2**63 - 1  # torch seeds generators with up to 64 bits; variations add to the seed
MAX_SEEDS = 64

ModelOpt = Annotated[
    str, typer.Option("--model", "-m", help="A model folder from `image gan train`.")
]
TruncationOpt = Annotated[
    float,
    typer.Option(
        min=0.0,
        max=2.0,
        help="StyleGAN's truncation psi: below 1 more typical images, less variety; "
        "0 the average image.",
    ),
]
OutDirOpt = Annotated[
    Path, typer.Option("--out", "-o", help="Folder for the images (made if missing).")
]


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
    discriminator: Annotated[
        str,
        typer.Option(
            help="StyleGAN's D: stylegan (StyleGAN2's, on pixels) or projected (Sauer et al. "
            "2021: small Ds on frozen ImageNet EfficientNet-Lite0 features)."
        ),
    ] = "stylegan",
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
            min=0,
            help="With --init: keep this many of D's first layers frozen (Freeze-D); "
            "--freeze-d 2 is --freeze D.0 --freeze D.1.",
        ),
    ] = 0,
    conditional: Annotated[
        bool,
        typer.Option(
            help="Learn one class per sub-folder of SOURCE; samples then cycle through them."
        ),
    ] = False,
    keep: KeepOpt = 3,
    skip_nonfinite: SkipNonfiniteOpt = 0,
    force: ForceOpt = False,
    allow_config_change: AllowChangeOpt = False,
    freeze: FreezeOpt = None,
    lr_scale: LrScaleOpt = None,
    adapt_from: AdaptFromOpt = None,
    domain_adversarial: DomainAdversarialOpt = None,
) -> None:
    """Train a GAN on SOURCE; Ctrl-C saves a checkpoint, --resume goes on.

    Transfer to a few images of your own: --init a trained model, --freeze parts of it
    (G, D, D.0 D.1 ... D's layers from the image inwards; a StyleGAN also has mapping and
    synthesis), --lr-scale PART=F, and --adapt-from the images the model learnt
    --domain-adversarial W: a domain classifier on D's features of real source and target
    images, through a gradient reversal layer (DANN), so D's features cannot tell them apart.
    """
    from dataclasses import replace

    from museforge import cli
    from museforge.core.distributed import is_main_process, main_process_first
    from museforge.core.training import CHECKPOINT_FILE
    from museforge.core.transfer import parse_scales
    from museforge.errors import UserError
    from museforge.image.gan.train import GANTransfer, default_config, train_gan

    _check_choices(arch, res)
    domain_adversarial = domain_weight(adapt_from, domain_adversarial)
    if freeze_d and init is None:
        raise typer.BadParameter(
            "needs --init (a trained model whose D layers to keep)", param_hint="--freeze-d"
        )
    if (freeze or adapt_from is not None) and init is None:
        raise typer.BadParameter(
            "needs --init (the trained model to carry over)", param_hint="--init"
        )
    scales = parse_scales(lr_scale)
    _check_source(source)
    if adapt_from is not None:
        _check_source(adapt_from)
    if init is not None:
        _check_init(init, arch, res)
    try:
        config = default_config(arch, res, discriminator)
    except UserError as err:
        raise typer.BadParameter(str(err), param_hint="--discriminator") from None
    if freeze or scales:  # a wrong part fails before the images are read
        _check_parts(init, config, tuple(freeze or ()), scales)
    changes = {"steps": steps, "batch_size": batch_size}
    config = replace(config, seed=seed, **{k: v for k, v in changes.items() if v is not None})
    config = replace(config, conditional=conditional)
    options = run_options(keep, skip_nonfinite, force, allow_config_change)
    created = not out.exists()
    try:
        with run_folder(out, options) as folder:
            with main_process_first():
                cache = _cache_for(source, folder, res)
                if adapt_from is not None:
                    adapt_from = _cache_for(adapt_from, folder, res, "source-images")
            transfer = GANTransfer(tuple(freeze or ()), scales, adapt_from, domain_adversarial)
            result = train_gan(
                cache,
                folder,
                config,
                resume=resume,
                init=init,
                freeze_d=freeze_d,
                command=cli.invoked,
                options=options,
                transfer=transfer,
            )
    except UserError:
        if created and not (out / CHECKPOINT_FILE).exists():
            shutil.rmtree(out, ignore_errors=True)  # a run that never started leaves nothing
        raise
    keep_trained_model(result.model_dir, data=[cache], init=init)
    if not is_main_process():
        return
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


def _check_parts(
    init: str | None, config: Any, freeze: tuple[str, ...], scales: dict[str, float]
) -> None:
    """The parts --freeze and --lr-scale name exist in the model the run starts from."""
    from museforge.core.transfer import freeze as freeze_parts
    from museforge.core.transfer import lr_scales
    from museforge.image.gan.dcgan import DCGAN
    from museforge.image.gan.generate import load_gan
    from museforge.image.gan.stylegan import StyleGAN

    if init is not None:
        gan = load_gan(init)
    else:
        gan = StyleGAN(config.model) if config.arch == "stylegan" else DCGAN(config.model)
    freeze_parts(gan, list(freeze))
    lr_scales(gan, scales)


def _cache_for(source: str, out: Path, res: int, name: str = "images") -> Path:
    """An image cache for ``source``: a cache file as it is; a folder or sample set decoded
    into ``out/<name>-<res>px.npz`` (reused when there)."""
    from museforge.errors import require_file
    from museforge.image.data import build_image_dataset

    if source.endswith(".npz"):
        return require_file(source, "image cache")
    target = out / f"{name}-{res}px.npz"
    if not target.is_file():
        Console(stderr=True).print(f"reading {source} into {target} (once)")
        build_image_dataset(source, target, res)
    return target


@app.command("sample")
def sample_cmd(
    model: ModelOpt,
    n: Annotated[int, typer.Option("--n", min=1, max=1024, help="How many images.")] = 16,
    seed: Annotated[
        int, typer.Option(min=0, help="Seed of the latents: the same seed, the same images.")
    ] = 0,
    truncation: TruncationOpt = 1.0,
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Folder for grid.png and one PNG per image.")
    ] = Path("museforge-out/gan-samples"),
) -> None:
    """Draw N new images from a trained GAN; each is kept in the store with its seed."""
    from museforge.core.checkpoints import model_id
    from museforge.core.store import Store
    from museforge.errors import make_out_dir
    from museforge.image.gan.generate import grid, load_gan, sample

    gan, mid = load_gan(model), model_id(model)
    images = sample(gan, n, seed, truncation)
    out = make_out_dir(out)
    params = {"command": "gan sample", "n": n, "seed": seed, "truncation_psi": truncation}
    width = len(str(n - 1))
    with Store() as store:
        keep = partial(_keep, params=params, seed=seed, model_id=mid, store=store)
        files = [str(out / f"sample-s{seed}-{i:0{width}d}.png") for i in range(n)]
        for i, (image, path) in enumerate(zip(images, files, strict=True)):
            keep(image, path, index=i)
        grid_id = keep(grid(images), out / "grid.png", {"sample": files})
    Console().print(f"[green]{n} images[/green] in {out}; grid.png [dim]{grid_id[:12]}[/dim]")


@app.command("mix")
def mix_cmd(
    model: ModelOpt,
    coarse: Annotated[
        str,
        typer.Option(
            help="Seeds of the rows, comma-separated (e.g. 1,2,3): each gives the coarse "
            "styles (pose, shape) of its row."
        ),
    ],
    fine: Annotated[
        str,
        typer.Option(
            help="Seeds of the columns, comma-separated: each gives the finer styles "
            "(colours, detail) of its column."
        ),
    ],
    out: OutDirOpt,
    crossover: Annotated[
        int | None,
        typer.Option(
            min=0,
            help="The first layer taken from the fine seed (default: the first above "
            "8 x 8 px); 0 gives the fine seed's image.",
        ),
    ] = None,
    truncation: TruncationOpt = 1.0,
) -> None:
    """StyleGAN style mixing: each row's pose and shape in each column's colours and detail."""
    from museforge.core.checkpoints import model_id
    from museforge.core.store import Store
    from museforge.errors import make_out_dir
    from museforge.image.gan.explore import coarse_crossover, mix_grid
    from museforge.image.gan.generate import grid, load_gan

    rows, cols = _parse_seeds(coarse, "--coarse"), _parse_seeds(fine, "--fine")
    gan, mid = load_gan(model), model_id(model)
    cells = mix_grid(gan, rows, cols, crossover, truncation)
    crossover = coarse_crossover(gan) if crossover is None else crossover
    out = make_out_dir(out)
    params = {
        "command": "gan mix",
        "coarse": rows,
        "fine": cols,
        "crossover": crossover,
        "truncation_psi": truncation,
    }
    coarse_files = [str(out / f"coarse-s{seed}.png") for seed in rows]
    fine_files = [str(out / f"fine-s{seed}.png") for seed in cols]
    mixes = [str(out / f"mix-s{a}-s{b}.png") for a in rows for b in cols]
    with Store() as store:
        keep = partial(_keep, params=params, model_id=mid, store=store)
        for i, (seed, path) in enumerate(zip(rows, coarse_files, strict=True)):
            keep(cells[i + 1, 0], path, seed=seed)
        for j, (seed, path) in enumerate(zip(cols, fine_files, strict=True)):
            keep(cells[0, j + 1], path, seed=seed)
        for k, path in enumerate(mixes):
            i, j = divmod(k, len(cols))
            parents = {"coarse": [coarse_files[i]], "fine": [fine_files[j]]}
            keep(cells[i + 1, j + 1], path, parents, seed=rows[i])
        sheet = grid(cells.reshape(-1, *cells.shape[2:]), cols=len(cols) + 1)
        inputs = {"coarse": coarse_files, "fine": fine_files, "mix": mixes}
        grid_id = keep(sheet, out / "grid.png", inputs, seed=rows[0])
    Console().print(
        f"[green]{len(mixes)} mixes[/green] from layer {crossover} in {out}; "
        f"grid.png [dim]{grid_id[:12]}[/dim]"
    )


@app.command("interpolate")
def interpolate_cmd(
    model: ModelOpt,
    seeds: Annotated[
        str,
        typer.Option(
            help="Seeds to walk through, comma-separated (e.g. 1,2,3); end with the first "
            "again for a seamless loop."
        ),
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="The animated GIF to write.")],
    frames: Annotated[
        int, typer.Option(min=2, max=1000, help="Frames from each seed to the next.")
    ] = 24,
    duration: Annotated[
        int, typer.Option(min=20, max=10_000, help="Milliseconds each frame is shown.")
    ] = 80,
    truncation: TruncationOpt = 1.0,
) -> None:
    """An animated GIF that walks from seed to seed through the latent space, looping."""
    from museforge.core.checkpoints import model_id
    from museforge.image.gan.explore import interpolate, save_gif
    from museforge.image.gan.generate import load_gan
    from museforge.image.results import keep_file

    walk = _parse_seeds(seeds, "--seeds", at_least=2)
    if out.suffix.lower() != ".gif" or out.is_dir():
        raise typer.BadParameter(f"{out}: give a file name ending in .gif", param_hint="--out")
    gan, mid = load_gan(model), model_id(model)
    images = interpolate(gan, walk, frames, truncation)
    save_gif(images, out, duration)
    params = {
        "command": "gan interpolate",
        "seeds": walk,
        "frames": frames,
        "duration_ms": duration,
        "truncation_psi": truncation,
    }
    artifact = keep_file(out, {}, params=params, seed=walk[0], model_id=mid)
    Console().print(f"[green]{len(images)} frames[/green] in {out} [dim]{artifact[:12]}[/dim]")


@app.command("vary")
def vary_cmd(
    model: ModelOpt,
    seed: Annotated[int, typer.Option(min=0, max=SEED_MAX, help="The seed whose image to vary.")],
    out: OutDirOpt,
    amount: Annotated[
        float,
        typer.Option(
            min=0.0,
            max=1.0,
            help="How far from the image: 0 gives it again, 1 the images of the next seeds.",
        ),
    ] = 0.3,
    n: Annotated[int, typer.Option("--n", min=1, max=256, help="How many variations.")] = 8,
    truncation: TruncationOpt = 1.0,
) -> None:
    """Variations of one seed's image: its latent moved part of the way towards others."""
    from museforge.core.checkpoints import model_id
    from museforge.core.store import Store
    from museforge.errors import make_out_dir
    from museforge.image.gan.explore import render, seed_latents, vary_latent
    from museforge.image.gan.generate import load_gan

    gan, mid = load_gan(model), model_id(model)
    latent = seed_latents(gan, [seed], truncation)
    original = render(gan, latent)[0]
    images = vary_latent(gan, latent, amount, n, seed, truncation)
    params = {"command": "gan vary", "amount": amount, "truncation_psi": truncation}
    out = make_out_dir(out)
    with Store() as store:
        keep = partial(_keep, params=params, seed=seed, model_id=mid, store=store)
        source = str(out / f"seed-s{seed}.png")
        keep(original, source)
        _keep_variations(keep, original, images, out / f"variation-s{seed}", source)
    Console().print(f"[green]{n} variations[/green] of seed {seed} in {out}")


@app.command("project")
def project_cmd(
    image: Annotated[
        str,
        typer.Argument(
            help="The picture to find in the model: a PNG, JPEG or WebP file, or a sample "
            "such as skimage:astronaut; its centre square is used."
        ),
    ],
    model: ModelOpt,
    out: OutDirOpt,
    steps: Annotated[int, typer.Option(min=1, max=100_000, help="Adam steps on the latent.")] = 300,
    seed: Annotated[
        int,
        typer.Option(
            min=0, max=SEED_MAX, help="Seed of the candidate starts and of the variations."
        ),
    ] = 0,
    vary: Annotated[
        int, typer.Option(min=0, max=256, help="Also write this many variations of the result.")
    ] = 0,
    amount: Annotated[
        float,
        typer.Option(
            min=0.0, max=1.0, help="How far the variations stray: 0 not at all, 1 all the way."
        ),
    ] = 0.3,
    distance: Annotated[
        str,
        typer.Option(
            help="perceptual (VGG16 features and pixels, as LPIPS) or pixel (MSE alone; "
            "needs no pretrained weights)."
        ),
    ] = "perceptual",
) -> None:
    """Find IMAGE in the model (GAN inversion): the closest image it makes, and its PSNR."""
    import math

    from museforge.core.checkpoints import model_id
    from museforge.core.store import Store
    from museforge.errors import make_out_dir
    from museforge.image.gan.explore import project, vary_latent
    from museforge.image.gan.generate import load_gan
    from museforge.image.io import open_image

    picture = open_image(image)
    gan, mid = load_gan(model), model_id(model)
    found = project(gan, picture, steps, seed, distance=distance, progress=True)
    variations = vary_latent(gan, found.latent, amount, vary, seed) if vary else None
    exact = math.isinf(found.psnr)  # JSON (and so PostgreSQL) has no infinity: null stands for it
    params = {
        "command": "gan project",
        "steps": steps,
        "distance": distance,
        "psnr_db": None if exact else round(found.psnr, 2),
    }
    out = make_out_dir(out)
    with Store() as store:
        keep = partial(_keep, params=params, seed=seed, model_id=mid, store=store)
        keep(found.target, out / "target.png", {"target": [image]})
        rebuilt = str(out / "projection.png")
        keep(found.image, rebuilt, {"target": [image]})
        if variations is not None:
            keep = partial(keep, params=params | {"amount": amount})
            _keep_variations(keep, found.image, variations, out / "variation", rebuilt)
    Console().print(f"[green]PSNR {found.psnr:.1f} dB[/green] after {steps} steps, in {out}")


@app.command("evaluate")
def evaluate_cmd(
    model: ModelOpt,
    data: Annotated[
        str,
        typer.Option(
            help="The images the model learnt from: a folder, an image cache (.npz) at the "
            "model's size, or skimage:lfw_subset."
        ),
    ],
    samples: Annotated[
        int, typer.Option(min=2, max=100_000, help="Samples to draw and measure.")
    ] = 500,
    seed: Annotated[
        int, typer.Option(min=0, max=SEED_MAX, help="Seed of the samples and the measures.")
    ] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Measure a GAN against its data: sliced Wasserstein distance, KID, MS-SSIM, copying."""
    import json
    import time

    from museforge.core.checkpoints import model_id
    from museforge.image.gan.explore import evaluate
    from museforge.image.gan.generate import load_gan

    _check_source(data)
    gan, mid = load_gan(model), model_id(model)
    started = time.perf_counter()
    report = {"model": mid, "data": data} | evaluate(gan, data, samples, seed, progress=True)
    report["seconds"] = round(time.perf_counter() - started, 2)
    if as_json:
        print(json.dumps(report, indent=2))
        return
    _print_evaluation(report, Console())


def _parse_seeds(text: str, option: str, at_least: int = 1) -> list[int]:
    try:
        seeds = [int(part) for part in text.split(",")]
    except ValueError:
        raise typer.BadParameter(
            f"{text!r}: give whole numbers separated by commas, e.g. 1,2,3", param_hint=option
        ) from None
    if not all(0 <= seed <= SEED_MAX for seed in seeds):
        raise typer.BadParameter(f"seeds lie in 0..{SEED_MAX}", param_hint=option)
    if not at_least <= len(seeds) <= MAX_SEEDS:
        raise typer.BadParameter(
            f"give {at_least} to {MAX_SEEDS} seeds, not {len(seeds)}", param_hint=option
        )
    return seeds


def _keep(
    pixels: np.ndarray | Image.Image,
    path: str | Path,
    inputs: dict[str, list[str]] | None = None,
    *,
    params: dict[str, Any],
    index: int | None = None,
    **record: Any,
) -> str:
    """Write uint8 pixels ``[H, W, 3]`` (or an image) as a PNG kept in the store, with
    ``inputs`` as parents and ``index`` added to ``params``; ``record`` holds ``keep_image``'s
    ``seed``, ``model_id`` and ``store``. Returns the artifact id."""
    from PIL import Image

    from museforge.image.results import keep_image

    image = pixels if isinstance(pixels, Image.Image) else Image.fromarray(pixels, "RGB")
    params = params if index is None else params | {"index": index}
    return keep_image(image, path, inputs or {}, params=params, **record)


def _keep_variations(
    keep: Callable[..., str],
    source_pixels: np.ndarray,
    images: np.ndarray,
    stem: Path,
    source: str,
) -> None:
    """Each variation as ``<stem>-<i>.png``, a child of the file ``source``, then grid.png
    of the source followed by them all."""
    import numpy as np

    from museforge.image.gan.generate import grid

    width = len(str(len(images) - 1))
    files = [str(stem.with_name(f"{stem.name}-{i:0{width}d}.png")) for i in range(len(images))]
    for i, (image, path) in enumerate(zip(images, files, strict=True)):
        keep(image, path, {"variation-of": [source]}, index=i)
    sheet = grid(np.concatenate([source_pixels[None], images]))
    keep(sheet, stem.parent / "grid.png", {"source": [source], "variation": files})


def _print_evaluation(report: dict[str, Any], console: Console) -> None:
    from rich.table import Table

    table = Table(
        title=f"{report['model']}: {report['samples']} samples, {report['real_images']} real images"
    )
    for column in ("measure", "samples", "real images", "reads"):
        table.add_column(column, justify="left" if column in ("measure", "reads") else "right")
    table.add_row(
        "SWD x 10^3",
        f"{report['swd']:.1f}",
        f"{report['swd_floor']:.1f}",
        f"lower is better; real images set the floor ({report['swd_images']} a side)",
    )
    for level, value in report["swd_levels"].items():
        floor = report["swd_floor_levels"][level]
        table.add_row(f"  at {level}", f"{value:.1f}", f"{floor:.1f}", "")
    table.add_row(
        "KID x 10^3",
        f"{report['kid'] * 1e3:.2f} ± {report['kid_std'] * 1e3:.2f}",
        f"{report['kid_real'] * 1e3:.2f} ± {report['kid_real_std'] * 1e3:.2f}",
        "lower is better; ImageNet MobileNetV2 features; real: one half against the other",
    )
    table.add_row(
        "MS-SSIM",
        f"{report['ms_ssim']:.3f}",
        f"{report['ms_ssim_real']:.3f}",
        "well above the real images': samples too alike",
    )
    table.add_row(
        "nearest-neighbour ratio", f"{report['nn_ratio']:.2f}", "1", "near 0: copies of the data"
    )
    console.print(table)
