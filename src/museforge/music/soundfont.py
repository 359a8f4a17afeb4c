"""Find a General MIDI SoundFont for rendering audio with FluidSynth.

Debian's packages put them under /usr/share/sounds/sf2 (timgm6mb-soundfont,
fluidr3mono-gm-soundfont, fluid-soundfont-gm); ``$MUSEFORGE_SOUNDFONT`` overrides.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

SEARCH_DIRS = (
    Path("/usr/share/sounds/sf2"),
    Path("/usr/share/soundfonts"),
    Path("/usr/local/share/soundfonts"),
)
# Smallest first: they all cover General MIDI and the small one loads fastest.
PREFERRED = ("TimGM6mb.sf2", "FluidR3Mono_GM.sf3", "FluidR3_GM.sf2", "default-GM.sf2")


def find_soundfont() -> Path | None:
    """The SoundFont to render with, or None when none is installed."""
    override = os.environ.get("MUSEFORGE_SOUNDFONT")
    if override:
        path = Path(override).expanduser()
        return path if path.is_file() else None
    found = [
        p
        for d in SEARCH_DIRS
        if d.is_dir()
        for p in sorted(d.iterdir())
        if p.suffix.lower() in {".sf2", ".sf3"}
    ]
    for name in PREFERRED:
        for path in found:
            if path.name == name:
                return path
    return found[0] if found else None


def fluidsynth_binary() -> str | None:
    """Path of the ``fluidsynth`` program, or None."""
    return shutil.which("fluidsynth")
