"""``museforge image embed``: each picture of a folder as ImageNet features, for ``map``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console


def embed_cmd(
    folder: Annotated[
        Path,
        typer.Argument(help="A folder of pictures; sub-folders, if any, are their groups."),
    ],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Folder for features.safetensors and items.csv.")
    ],
    probe: Annotated[
        bool, typer.Option(help="Probe the features for the groups (sub-folders), if any.")
    ] = True,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the probe's folds.")] = 0,
) -> None:
    """Write each picture's ImageNet features (MobileNetV2, pooled) for `museforge map` and
    your tools, and say how well a linear probe reads the sub-folders from them."""
    from museforge.core.feature_map import probe_line, write_features, write_probe
    from museforge.image.embed import embed_images

    features, items = embed_images(folder)
    write_features(out, features, items)
    console = Console()
    console.print(f"{len(items)} pictures -> {out} (features of {features.shape[1]} numbers)")
    report = write_probe(out, features, items, seed) if probe else None
    if report is not None:
        console.print(probe_line(report, "sub-folders"))
