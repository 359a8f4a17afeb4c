"""``museforge map``: draw the features ``music embed`` or ``image embed`` wrote."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console


def map_cmd(
    folder: Annotated[
        Path, typer.Argument(help="A folder written by `museforge music embed` or `image embed`.")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="The HTML page to write.")] = Path(
        "map.html"
    ),
    title: Annotated[str, typer.Option(help="The page's title.")] = "Where the items sit",
    seed: Annotated[int, typer.Option(min=0, help="Seed of the t-SNE layout.")] = 0,
) -> None:
    """Draw every item as a dot on a 2-D map (t-SNE of its features), coloured by group;
    the page works offline: hover to see an item, click to play or show it."""
    from museforge.core.atomic import atomic_write_text
    from museforge.core.feature_map import map_html, read_features

    features, items = read_features(folder)
    atomic_write_text(out, map_html(features, items, title, seed=seed))
    Console().print(f"{len(items)} items -> {out}")
