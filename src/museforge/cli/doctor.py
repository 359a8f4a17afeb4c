"""``museforge doctor``: what this machine has, so a person can see why something is slow or missing."""

from __future__ import annotations

import json
import platform
from importlib import metadata
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

import museforge
from museforge.core import home

# Packages whose version a bug report needs; optional ones show "not installed".
PACKAGES = (
    "torch",
    "numpy",
    "pillow",
    "safetensors",
    "sqlalchemy",
    "typer",
    "rich",
    "psycopg",
    "music21",
    "mido",
    "fastapi",
    "uvicorn",
    "transformers",
    "llama-cpp-python",
    "gymnasium",
    "vpype",
)


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def _mask_password(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:  # not a URL at all: show nothing of it, it may hold a secret
        return "(not a database URL)"


def collect() -> dict:
    """Everything the doctor reports, as plain data."""
    import torch

    from museforge.core.checkpoints import shipped_models
    from museforge.core.pretrained.sources import pretrained_report
    from museforge.image.style.features import vgg19_status
    from museforge.music.soundfont import find_soundfont, fluidsynth_binary
    from museforge.story.llm import runtime_report

    soundfont = find_soundfont()
    mps = getattr(torch.backends, "mps", None)
    return {
        "museforge": museforge.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": {name: _version(name) for name in PACKAGES},
        "torch_threads": torch.get_num_threads(),
        "gpu": {
            "cuda": torch.cuda.is_available(),
            "cuda_devices": [
                torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())
            ],
            "mps": bool(mps and mps.is_available()),
        },
        "soundfont": str(soundfont) if soundfont else None,
        "fluidsynth": fluidsynth_binary(),
        "home": str(home.home()),
        "store": _mask_password(home.db_url()),
        "objects": str(home.objects_dir()),
        "shipped_models": shipped_models(),
        "vgg19": vgg19_status(),
        "pretrained": pretrained_report(),
        "story_model": runtime_report(),
    }


def _yes_no(value: object) -> str:
    return "[green]yes[/green]" if value else "[yellow]no[/yellow]"


def _story_model(report: dict) -> str:
    if not report["ready"]:
        return f"{_yes_no(False)} ({escape('; '.join(report['problems']))})"
    name = Path(report["model"]).name
    return (
        f"{_yes_no(True)} {name} ({report['model_mb']:g} MB) on {report['runtime']}, "
        f"{report['threads']} threads"
    )


def doctor(
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object instead of a table.")
    ] = False,
) -> None:
    """Print versions, torch threads, GPU, SoundFont, where the store lives, the shipped models
    and the story model's runtime."""
    info = collect()
    if as_json:
        print(json.dumps(info, indent=2))
        return
    gpu = info["gpu"]
    gpu_text = (
        ", ".join(gpu["cuda_devices"]) if gpu["cuda"] else ("Apple MPS" if gpu["mps"] else "")
    )
    table = Table(title=f"museforge {info['museforge']}", show_header=False)
    table.add_column("what", style="bold")
    table.add_column("value")
    table.add_row("python", f"{info['python']} ({info['platform']})")
    table.add_row("torch threads", str(info["torch_threads"]))
    table.add_row("GPU", f"{_yes_no(gpu['cuda'] or gpu['mps'])} {gpu_text}".strip())
    table.add_row(
        "SoundFont",
        f"{_yes_no(info['soundfont'])} {info['soundfont'] or '(apt-get install timgm6mb-soundfont)'}",
    )
    table.add_row("FluidSynth", f"{_yes_no(info['fluidsynth'])} {info['fluidsynth'] or ''}".strip())
    table.add_row("home", info["home"])
    table.add_row("store", info["store"])
    table.add_row("objects", info["objects"])
    table.add_row("shipped models", ", ".join(info["shipped_models"]) or "none")
    table.add_row("VGG-19 weights", info["vgg19"])
    for network, line in info["pretrained"].items():
        table.add_row(f"{network} weights", escape(line))
    table.add_row("story model", _story_model(info["story_model"]))
    for name, version in info["packages"].items():
        table.add_row(name, version if version != "not installed" else f"[dim]{version}[/dim]")
    Console().print(table)
