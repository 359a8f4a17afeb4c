"""The image part of ``museforge demo``: a photo painted by each shipped fast style, once as
it comes and once keeping the photo's colours, beside the style images they learnt from."""

from __future__ import annotations

from pathlib import Path

from museforge.core.checkpoints import model_id, shipped_models
from museforge.core.gallery import Item, Section
from museforge.core.store import Store
from museforge.image.io import SAMPLE_PREFIX, load_image, save_png
from museforge.image.results import keep_image
from museforge.image.style.fast import load_fast_style, stylize_fast
from museforge.image.style.gatys import keep_colors

CONTENT = "skimage:chelsea"
SIZE = 384
MAX_STYLES = 2
STYLES: list[str] | None = None  # None: the shipped style-* networks


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
    intro = (
        f"A photo painted by the shipped fast style networks ({', '.join(Path(s).name for s in styles)}), one "
        "forward pass each, as they come and keeping the photo's colours; each network "
        "learnt its style from the picture shown before it."
        if styles
        else "No fast style networks are shipped with this copy of museforge."
    )
    return Section(title="Style transfer", intro=intro, items=items)
