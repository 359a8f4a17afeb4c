"""A self-contained HTML gallery: pictures inline, audio players, story text, SVG.

Each medium's demo returns a ``Section``; ``write_gallery`` copies the files next to
``index.html`` and renders the page. The page needs no server and no network.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from jinja2 import Environment, PackageLoader, select_autoescape

from museforge.core.atomic import atomic_write_text

KINDS = ("image", "audio", "text", "svg", "download")


@dataclass
class Item:
    """One thing to show: a file (image, audio, svg, download) or a text."""

    kind: str
    title: str
    path: Path | None = None
    text: str = ""
    caption: str = ""
    provenance: dict = field(default_factory=dict)  # artifact id, seed, model, parents
    image: Path | None = None  # a picture shown with an audio item (a piano roll)
    downloads: list[Path] = field(default_factory=list)  # more files to offer (a MIDI file)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown gallery item kind {self.kind!r}; expected one of {KINDS}")
        if self.kind != "text" and self.path is None:
            raise ValueError(f"gallery item {self.title!r} of kind {self.kind} needs a file path")


@dataclass
class Section:
    """One medium's part of the gallery."""

    title: str
    intro: str = ""
    items: list[Item] = field(default_factory=list)


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).lstrip(".") or "file"


def write_gallery(
    out_dir: str | Path, sections: list[Section], *, title: str, facts: dict[str, str]
) -> Path:
    """Copy every item's file under ``out_dir/files`` and write ``out_dir/index.html``."""
    out_dir = Path(out_dir)
    files_dir = out_dir / "files"
    files_dir.mkdir(parents=True, exist_ok=True)
    used: set[str] = set()

    def copy(path: Path | None) -> str | None:
        if path is None:
            return None
        name = _safe_name(path.name)
        while name in used:
            name = "x" + name
        used.add(name)
        shutil.copyfile(path, files_dir / name)
        return f"files/{name}"

    rendered = []
    for section in sections:
        items = [
            {
                "item": item,
                "href": copy(item.path),
                "image": copy(item.image),
                "downloads": [(p.suffix.lstrip("."), copy(p)) for p in item.downloads],
            }
            for item in section.items
        ]
        rendered.append({"section": section, "items": items})
    env = Environment(
        loader=PackageLoader("museforge.core", "templates"), autoescape=select_autoescape()
    )
    page = env.get_template("gallery.html").render(
        title=title,
        sections=rendered,
        facts=facts,
        made=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    )
    index = out_dir / "index.html"
    atomic_write_text(index, page)
    return index
