"""``museforge music``: melodies with a MusicVAE-style model; ``dataset`` builds its data."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(
    help="Melodies: learn from MIDI, MusicXML and ABC tunes with a MusicVAE-style model.",
    no_args_is_help=True,
)
dataset_app = typer.Typer(
    help="Melody data sets: parse tunes once into a cache of training windows.",
    no_args_is_help=True,
)
app.add_typer(dataset_app, name="dataset")


@dataset_app.command("build")
def build(
    out: Annotated[
        Path, typer.Option(help="The cache file to write (.npz); its folder is created.")
    ],
    source: Annotated[
        str,
        typer.Option(
            help='"corpus" for music21\'s folk tunes and Bach chorales, or a folder or file '
            "of MIDI, MusicXML and ABC."
        ),
    ] = "corpus",
    jobs: Annotated[
        int | None, typer.Option(help="Parallel parsing processes (default: one per core).")
    ] = None,
    limit: Annotated[
        int | None,
        typer.Option(help="Read only this many tunes, spread over the source (for a quick try)."),
    ] = None,
) -> None:
    """Parse melodies from SOURCE and cache them for training."""
    from museforge.music.data import build_dataset, load_dataset

    started = time.perf_counter()
    path = build_dataset(source, out, jobs=jobs, limit=limit)
    seconds = time.perf_counter() - started
    console = Console()
    console.print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB) in {seconds:.1f} s")
    _print_summary(load_dataset(path).summary(), console)


@dataset_app.command("info")
def info(
    file: Annotated[
        Path, typer.Argument(help="A cache file written by `museforge music dataset build`.")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Show what a melody cache holds: tunes, melodies, windows per split, skipped files."""
    from museforge.music.data import load_dataset

    summary = load_dataset(file).summary()
    if as_json:
        print(json.dumps(summary, indent=2, ensure_ascii=False))
    else:
        _print_summary(summary, Console())


def _print_summary(summary: dict, console: Console) -> None:
    facts = Table(show_header=False, box=None)
    facts.add_row("source", summary["source"])
    facts.add_row("files", str(summary["files"]))
    facts.add_row("tunes", str(summary["tunes"]))
    facts.add_row("melodies", str(summary["melodies"]))
    low, high = summary["pitch_range"] or ("-", "-")
    facts.add_row("pitch range", f"MIDI {low}..{high}")
    meters = ", ".join(f"{name} {count}" for name, count in list(summary["meters"].items())[:8])
    facts.add_row("meters (melodies)", meters)
    skipped = summary["skipped"]
    reasons = "; ".join(f"{problem}: {count}" for problem, count in skipped["problems"].items())
    facts.add_row(
        "skipped",
        f"{skipped['tunes']} tunes in {skipped['files']} files"
        + (f" ({reasons})" if reasons else ""),
    )
    console.print(facts)

    splits = Table("split", "tunes", "melodies", "2-bar windows", "16-bar windows")
    for name, split in summary["splits"].items():
        splits.add_row(
            name,
            *(str(split[k]) for k in ("tunes", "melodies", "windows_2_bars", "windows_16_bars")),
        )
    console.print(splits)
