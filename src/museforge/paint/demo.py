"""The painting part of ``museforge demo``: a photo painted stroke by stroke by the shipped
agent (Hertzmann's painterly rendering when none ships), its time-lapse, and the same strokes laid out for a
pen plotter on A4 (merged, simplified and sorted with vpype), with the pen-up travel the
sorting saved."""

from __future__ import annotations

import time
from pathlib import Path

from museforge.core.checkpoints import model_id, shipped_models
from museforge.core.gallery import Item, Section
from museforge.core.store import Store
from museforge.paint.ddpg import PaintAgent
from museforge.paint.draw import paint_strokes, render_files
from museforge.paint.gcode import GcodeProfile, write_gcode
from museforge.paint.pictures import fit, load_picture, working_size
from museforge.paint.plotter import PlotterConfig, pen_lines_mm, plan, write_plot_svg
from museforge.paint.results import keep_drawing

PICTURE = "skimage:chelsea"
AGENT = "painter-64"
STROKES = 200
SIZE = 96  # the baseline's working size
OUT_SIZE = 384
PLOTTER = PlotterConfig(paper="a4", landscape=True, margin=15.0, pen_width=0.5)


def demo_section(out_dir: Path, seed: int = 0) -> Section:
    """Paint PICTURE into ``out_dir/paint`` and describe the files for the gallery."""
    folder = Path(out_dir) / "paint"
    folder.mkdir(parents=True, exist_ok=True)
    target_full = load_picture(PICTURE)
    _, _, full_h, full_w = target_full.shape
    if AGENT in shipped_models():
        method, count, mid = PaintAgent.from_pretrained(AGENT), STROKES, model_id(AGENT)
        name = f"the shipped agent {AGENT}"
    else:
        method, count, mid = "painterly", STROKES, "baseline:painterly"
        name = "Hertzmann's painterly rendering"
    target = fit(target_full, *working_size(full_h, full_w, SIZE))
    started = time.perf_counter()
    drawing = paint_strokes(target, count, method, seed=seed)
    seconds = time.perf_counter() - started
    oh, ow = working_size(full_h, full_w, OUT_SIZE)
    files = render_files(drawing, folder, oh, ow)
    plot = plan(drawing.strokes, oh, ow, drawing.brush, PLOTTER)
    files["plot_svg"] = write_plot_svg(plot, folder / "plot.svg")
    files["plot_gcode"] = write_gcode(
        folder / "plot.gcode",
        pen_lines_mm(plot),
        plot.page[1],
        GcodeProfile(),
        park=complex(plot.area[0], plot.area[3]),
    )
    params = {
        "command": "paint draw",
        "image": PICTURE,
        "strokes": count,
        "seconds": round(seconds, 3),
        "paper": PLOTTER.paper,
        "pen_up_unsorted_mm": round(plot.pen_up_unsorted, 1),
        "pen_up_sorted_mm": round(plot.pen_up_sorted, 1),
    }
    with Store() as store:
        ids = keep_drawing(files, PICTURE, None, None, params, seed, mid, store=store)
    provenance = {"artifact": ids["png"][:12], "model": mid, "seed": seed}
    items = [
        Item(kind="image", title=f"{count} strokes", path=files["png"], provenance=provenance),
        Item(kind="image", title="Time-lapse", path=files["gif"]),
        Item(
            kind="svg",
            title="For a pen plotter (A4, landscape)",
            path=files["plot_svg"],
            caption=f"pen-up travel {plot.pen_up_unsorted / 1000:.1f} m in painting order, "
            f"{plot.pen_up_sorted / 1000:.1f} m sorted; pen down {plot.pen_down / 1000:.1f} m",
            downloads=[files["plot_gcode"], files["svg"]],
        ),
    ]
    intro = (
        f"The cat painted with {count} quadratic Bézier strokes by {name} in {seconds:.1f} s, "
        "then the same strokes as pen lines for a plotter: wide strokes become hatching, "
        "dark strokes more passes, white ones are left to the paper."
    )
    return Section(title="Robot painting", intro=intro, items=items)
