"""The image part of ``museforge demo``: a photo painted by each shipped fast style, once as
it comes and once keeping the photo's colours, beside the style images they learnt from;
the arbitrary-style network after a picture it never saw in training; then the same photo
painted by the optimisation (Gatys et al.), which takes seconds rather than a fraction of
one and moves further towards its style."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from torch import Tensor

from museforge.core.checkpoints import model_id, shipped_models
from museforge.core.gallery import Item, Section
from museforge.core.store import Store
from museforge.image.io import SAMPLE_PREFIX, load_image, save_png
from museforge.image.results import keep_image
from museforge.image.style.arbitrary import ArbitraryStyleNet, stylize_any
from museforge.image.style.fast import load_fast_style, stylize_fast
from museforge.image.style.gatys import StyleConfig, keep_colors, stylize

CONTENT = "skimage:chelsea"
SIZE = 384
MAX_STYLES = 6
UNSEEN_STYLE = "skimage:brick"  # held out of the arbitrary-style network's training
STYLES: list[str] | None = None  # None: the shipped style-* networks
OPTIMISED_STYLE = "skimage:immunohistochemistry"
OPTIMISED = StyleConfig(size=256, steps=30)  # VGG16, L-BFGS at 256 px


def _styles() -> list[str]:
    names = (
        STYLES if STYLES is not None else [m for m in shipped_models() if m.startswith("style-")]
    )
    return names[:MAX_STYLES]


def demo_section(out_dir: Path, seed: int = 0) -> Section:
    """Make the pictures into ``out_dir/images`` and describe them for the gallery."""
    styles = _styles()
    folder = Path(out_dir) / "images"
    content = load_image(CONTENT, SIZE)
    items = [Item(kind="image", title="Content", path=save_png(content, folder / "content.png"))]
    with Store() as store:
        for spec in styles:
            model, mid, name = load_fast_style(spec), model_id(spec), Path(spec).name
            source = model.config.style
            if source.startswith(SAMPLE_PREFIX):
                style_png = save_png(load_image(source, SIZE), folder / f"{name}-source.png")
                items.append(Item(kind="image", title=f"Style of {name}", path=style_png))
            result = stylize_fast(model, content)
            for variant, image in (
                ("", result),
                (" keeping colours", keep_colors(result, content)),
            ):
                path = folder / f"{name}{variant.replace(' ', '-')}.png"
                params = {"command": "stylize", "content": CONTENT, "fast": spec, "size": SIZE}
                params["preserve_colors"] = bool(variant)
                artifact = keep_image(
                    image,
                    path,
                    {"content": [CONTENT]},
                    params=params,
                    seed=seed,
                    model_id=mid,
                    store=store,
                )
                items.append(
                    Item(
                        kind="image",
                        title=f"{name}{variant}",
                        path=path,
                        provenance={"artifact": artifact[:12], "model": mid},
                    )
                )
        arbitrary = [s for s in styles if isinstance(load_fast_style(s), ArbitraryStyleNet)]
        if arbitrary:
            items += _unseen(arbitrary[0], content, folder, seed, store)
        items += _optimised(folder, seed, store)
    names = ", ".join(Path(s).name for s in styles) or "none shipped"
    intro = (
        f"A photo painted by the shipped fast style networks ({names}), one forward pass "
        "each, as they come and keeping the photo's colours; each learnt its style from the "
        "picture shown before it; then the same network after a picture it never saw in "
        f"training. Last, the optimisation ({OPTIMISED.steps} steps at "
        f"{OPTIMISED.size} px, {OPTIMISED.features} features) with the tissue picture."
    )
    return Section(title="Style transfer", intro=intro, items=items)


def _unseen(spec: str, content: Tensor, folder: Path, seed: int, store: Store) -> list[Item]:
    """The arbitrary-style network after a picture it was never trained on."""
    model = load_fast_style(spec)
    style_png = save_png(load_image(UNSEEN_STYLE, SIZE), folder / "unseen-source.png")
    result = stylize_any(model, content, load_image(UNSEEN_STYLE, SIZE))
    path = folder / "unseen.png"
    params = {"command": "stylize", "content": CONTENT, "fast": spec, "styles": [UNSEEN_STYLE]}
    params["size"] = SIZE
    inputs = {"content": [CONTENT], "style": [UNSEEN_STYLE]}
    mid = model_id(spec)
    artifact = keep_image(result, path, inputs, params=params, seed=seed, model_id=mid, store=store)
    provenance = {"artifact": artifact[:12], "model": mid}
    return [
        Item(kind="image", title="A style never seen in training", path=style_png),
        Item(kind="image", title="Any picture as the style", path=path, provenance=provenance),
    ]


def _optimised(folder: Path, seed: int, store: Store) -> list[Item]:
    config = replace(OPTIMISED, seed=seed)
    content = load_image(CONTENT, config.size)
    style = load_image(OPTIMISED_STYLE, config.size)
    result = stylize(content, [style], config).image
    path = folder / "optimised.png"
    params = {"command": "stylize", "content": CONTENT, "styles": [OPTIMISED_STYLE]}
    params |= {"size": config.size, "steps": config.steps, "features": config.features}
    inputs = {"content": [CONTENT], "style": [OPTIMISED_STYLE]}
    artifact = keep_image(
        result, path, inputs, params=params, seed=seed, model_id=config.features, store=store
    )
    provenance = {"artifact": artifact[:12], "features": config.features, "seed": seed}
    return [Item(kind="image", title="Optimised (Gatys et al.)", path=path, provenance=provenance)]
