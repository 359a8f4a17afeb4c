"""``museforge paint draw``: the files, the store, --start, --mask, and bad input."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from museforge.cli import run
from museforge.core.store import Store
from museforge.paint.svg import read_strokes_svg

FAST = ["--method", "greedy", "--size", "32", "--out-size", "64"]


def _picture(path: Path) -> Path:
    gen = np.random.default_rng(0)
    array = np.zeros((24, 32, 3), np.uint8)
    array[:, :16] = (200, 40, 30)
    array[:, 16:] = (20, 60, 180)
    array[8:16] += gen.integers(0, 40, (8, 32, 3), dtype=np.uint8)
    Image.fromarray(array).save(path)
    return path


def test_draw_writes_png_gif_svg_and_keeps_them_with_their_parents(
    tmp_path: Path, home: Path, capsys: pytest.CaptureFixture
) -> None:
    picture = _picture(tmp_path / "in.png")
    out = tmp_path / "out"
    assert run(["paint", "draw", str(picture), "--strokes", "12", "--out", str(out), *FAST]) == 0
    png = Image.open(out / "painting.png")
    assert png.size == (64, 48)
    gif = Image.open(out / "timelapse.gif")
    assert gif.n_frames > 5
    strokes = read_strokes_svg(out / "strokes.svg")
    assert strokes.shape == (12, 13)
    painted = np.asarray(png, dtype=np.float32)
    assert painted[:, :20, 0].mean() > painted[:, 44:, 0].mean() + 60  # red left, blue right
    with Store() as store:
        paintings = store.list_artifacts(kind="painting")
        png_artifact = next(a for a in paintings if a.suffix == ".png")
        parents = store.parents(png_artifact.id)
        assert [e.relation for e in parents] == ["input"]
        assert png_artifact.params["strokes"] == 12 and png_artifact.seed == 0
        children = {e.relation for e in store.children(png_artifact.id)}
        assert children == {"rendered-from"}

    # --start continues the drawing; --mask keeps the left half as it is
    mask = tmp_path / "mask.png"
    Image.fromarray(
        np.hstack([np.full((24, 16), 255, np.uint8), np.zeros((24, 16), np.uint8)])
    ).save(mask)
    more = tmp_path / "more"
    args = ["paint", "draw", str(picture), "--strokes", "6", "--out", str(more), *FAST]
    assert run([*args, "--start", str(out / "strokes.svg")]) == 0
    both = read_strokes_svg(more / "strokes.svg")
    assert both.shape == (18, 13) and torch.allclose(both[:12], strokes, atol=1e-6)
    masked = tmp_path / "masked"
    args = ["paint", "draw", str(picture), "--strokes", "6", "--out", str(masked), *FAST]
    assert run([*args, "--mask", str(mask)]) == 0
    left = np.asarray(Image.open(masked / "painting.png"), dtype=np.float32)[:, :24]
    assert left.min() > 250  # the paper there is untouched
    assert "painting.png" in capsys.readouterr().out


def _huge_png(path: Path, side: int = 30000) -> Path:
    """A PNG whose header claims side x side pixels; the pixel data is a stub."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )
    return path


@pytest.mark.parametrize(
    ("case", "extra", "message"),
    [
        ("unreadable", [], "is not a readable image"),
        ("huge", [], "than the limit of 40 MP"),
        ("negative", ["--strokes", "-3"], "--strokes"),
        ("paper", ["--plotter", "40x25mm", "--margin", "15"], "smaller than its margins"),
        ("missing", [], "no such picture file"),
        ("serial", ["--serial", "/dev/ttyUSB0"], "give --plotter too"),
    ],
)
def test_bad_input_gives_one_line_exit_2_and_writes_nothing(
    tmp_path: Path, home: Path, capsys: pytest.CaptureFixture, case: str, extra: list, message: str
) -> None:
    picture = _picture(tmp_path / "in.png")
    if case == "unreadable":
        picture = tmp_path / "broken.png"
        picture.write_bytes(b"this is not a picture")
    elif case == "huge":
        picture = _huge_png(tmp_path / "huge.png")
    elif case == "missing":
        picture = tmp_path / "nowhere.png"
    out = tmp_path / "out"
    code = run(["paint", "draw", str(picture), "--out", str(out), *FAST, *extra])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and err.startswith("error: ") and message in err, err
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "home") == sorted(
        p.name for p in tmp_path.iterdir() if p.name != "home" and not p.name.startswith(".paint")
    )
