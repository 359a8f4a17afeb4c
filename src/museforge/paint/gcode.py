"""G-code for pen plotters: G0 travel, G1 drawing, and a pen lift the machine understands.

A profile says how the pen goes up and down, as vpype-gcode's profiles do (their stock
``gcode`` profile has no pen lift at all): either a Z move (``lift = "z"``, for a pen in a
Z carriage) or a servo command with a dwell while it moves (``lift = "servo"``, e.g.
GRBL's ``M3 S30`` / ``M5`` on a servo build), plus feed rates and the text before and after.
Coordinates are millimetres; with ``flip_y`` (machines whose Y grows away from the person)
y is measured from the sheet's bottom edge. A profile file is TOML with the same keys.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from museforge.core.atomic import atomic_write_text
from museforge.errors import BadInputFile, require_file


@dataclass(frozen=True)
class GcodeProfile:
    lift: str = "z"  # z | servo
    z_up: float = 5.0  # mm
    z_down: float = 0.0
    z_feed: float = 600.0  # mm/min for the Z move
    servo_up: str = "M5"
    servo_down: str = "M3 S30"
    dwell: float = 0.15  # s to wait for the servo
    draw_feed: float = 1500.0  # mm/min with the pen down
    travel_feed: float = 3000.0  # mm/min for G0 (many controllers ignore it)
    flip_y: bool = True
    header: str = "G21 ; millimetres\nG90 ; absolute"
    footer: str = "M2 ; end"


def load_profile(path: str | Path) -> GcodeProfile:
    """A profile from a TOML file; unknown keys and wrong types are refused by name."""
    path = require_file(path, "G-code profile")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise BadInputFile(path, "is not a valid TOML file", str(err)) from None
    known = {f.name: f.type for f in fields(GcodeProfile)}
    unknown = sorted(data.keys() - known.keys())
    if unknown:
        raise BadInputFile(path, f"has unknown keys {unknown}", f"known: {', '.join(known)}")
    defaults = GcodeProfile()
    for key, value in data.items():
        expected = type(getattr(defaults, key))
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            data[key] = float(value)
        elif not isinstance(value, expected):
            raise BadInputFile(path, f"{key} must be a {expected.__name__}")
    if data.get("lift", "z") not in ("z", "servo"):
        raise BadInputFile(path, "lift must be 'z' or 'servo'")
    return GcodeProfile(**data)


def _pen(profile: GcodeProfile, down: bool) -> list[str]:
    if profile.lift == "z":
        z = profile.z_down if down else profile.z_up
        return [f"G1 Z{z:.3f} F{profile.z_feed:g}" if down else f"G0 Z{z:.3f}"]
    command = profile.servo_down if down else profile.servo_up
    return [command, f"G4 P{profile.dwell:g}"]


def gcode_text(
    lines: list[np.ndarray], page_height: float, profile: GcodeProfile, park: complex | None = None
) -> str:
    """The program that draws ``lines`` (complex mm, y downwards) in order, then moves the
    pen (up) to ``park``, a corner of the printable area, never outside it."""

    def xy(p: complex) -> str:
        y = page_height - p.imag if profile.flip_y else p.imag
        return f"X{p.real:.3f} Y{y:.3f}"

    out = [profile.header, *_pen(profile, down=False)]
    for line in lines:
        out.append(f"G0 {xy(line[0])} F{profile.travel_feed:g}")
        out += _pen(profile, down=True)
        out.append(f"G1 {xy(line[1] if len(line) > 1 else line[0])} F{profile.draw_feed:g}")
        out += [f"G1 {xy(p)}" for p in line[2:]]
        out += _pen(profile, down=False)
    if park is not None:
        out.append(f"G0 {xy(park)} F{profile.travel_feed:g}")
    out.append(profile.footer)
    return "\n".join(out) + "\n"


def write_gcode(
    path: Path,
    lines: list[np.ndarray],
    page_height: float,
    profile: GcodeProfile,
    park: complex | None = None,
) -> Path:
    atomic_write_text(path, gcode_text(lines, page_height, profile, park))
    return path
