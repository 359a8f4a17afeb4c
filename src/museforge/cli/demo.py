"""``museforge demo``: run every medium on its shipped model and write a gallery page."""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from museforge.core.gallery import Section, write_gallery
from museforge.errors import make_out_dir

# Each medium adds "module:function"; the function takes (out_dir, seed) and returns a Section.
MEDIUM_DEMOS: list[str] = [
    "museforge.music.demo:demo_section",
    "museforge.image.demo:demo_section",
    "museforge.image.gan.demo:demo_section",
    "museforge.story.demo:demo_section",
    "museforge.paint.demo:demo_section",
]


def _load(target: str) -> Callable[[Path, int], Section]:
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


def run_demo(out: Path, seed: int = 0, demos: list[str] | None = None) -> Path:
    """Run the demos and write ``out/index.html``; returns its path."""
    from museforge.cli.doctor import collect

    out = make_out_dir(out)
    console = Console(stderr=True)
    sections = []
    for target in MEDIUM_DEMOS if demos is None else demos:
        started = time.perf_counter()
        with console.status(f"demo: {target}"):
            sections.append(_load(target)(out, seed))
        console.print(
            f"[green]done[/green] {sections[-1].title} in {time.perf_counter() - started:.1f} s"
        )
    info = collect()
    facts = {
        "museforge": info["museforge"],
        "python": info["python"],
        "torch": info["packages"]["torch"],
        "torch threads": str(info["torch_threads"]),
        "GPU": "yes" if info["gpu"]["cuda"] or info["gpu"]["mps"] else "no",
        "store": info["store"],
        "shipped models": ", ".join(info["shipped_models"]) or "none",
    }
    return write_gallery(out, sections, title="museforge demo", facts=facts)


def demo(
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Folder for the gallery (index.html and its files).")
    ] = Path("museforge-out"),
    seed: Annotated[
        int, typer.Option(help="Seed for every medium, so the gallery can be made again.", min=0)
    ] = 0,
) -> None:
    """Run every medium on its shipped model and write OUT/index.html, a gallery to open in a browser."""
    index = run_demo(out, seed)
    print(f"wrote {index}")
