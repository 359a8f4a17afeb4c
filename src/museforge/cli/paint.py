"""``museforge paint``: paint pictures with strokes (an agent or a baseline), plot them with
a pen, train and measure painting agents. Results and their inputs go into the store."""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from museforge.cli.run_options import (
    AllowChangeOpt,
    ForceOpt,
    KeepOpt,
    SkipNonfiniteOpt,
    keep_trained_model,
    run_folder,
    run_options,
)

app = typer.Typer(
    help="Robot painting: Bézier strokes from a reinforcement-learning agent (Learning to "
    "Paint) or a baseline, as PNG, time-lapse GIF, SVG, and plotter SVG/HPGL/G-code.",
    no_args_is_help=True,
)

SeedOpt = Annotated[int, typer.Option(min=0, help="Seed: same seed, same painting.")]
PolishOpt = Annotated[
    bool,
    typer.Option(
        help="Agents: after the policy has placed the strokes, fit them all together through "
        "the renderer (a few seconds); --no-polish keeps the pure policy's strokes.",
    ),
]
BASELINE_NAMES = ("greedy", "painterly", "optimize")


def _method(method: str, model: str) -> Any:
    """A baseline's name, or a loaded agent (``agent`` means the --model one)."""
    if method in BASELINE_NAMES:
        return method
    from museforge.core.checkpoints import load_model
    from museforge.paint.ddpg import PaintAgent
    from museforge.paint.dqn import PaintDQN

    name = model if method == "agent" else method
    return load_model(name, [PaintAgent, PaintDQN], "a painting agent")


def _model_name(method: str, model: str) -> str:
    if method in BASELINE_NAMES:
        return f"baseline:{method}"
    from museforge.core.checkpoints import model_id

    return model_id(model if method == "agent" else method)


@app.command("draw")
def draw_cmd(
    image: Annotated[
        str, typer.Argument(help="The picture to paint: a file, or skimage:NAME (e.g. chelsea).")
    ],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Folder for painting.png, timelapse.gif, ...")
    ],
    strokes: Annotated[int, typer.Option(min=0, max=100_000, help="Strokes to paint.")] = 200,
    method: Annotated[
        str,
        typer.Option(
            help="greedy, painterly, optimize, agent (the --model agent), or a model folder."
        ),
    ] = "agent",
    model: Annotated[str, typer.Option(help="The painting agent for --method agent.")] = (
        "painter-64"
    ),
    size: Annotated[
        int, typer.Option(min=16, max=512, help="Long side the baselines work at, pixels.")
    ] = 96,
    out_size: Annotated[
        int, typer.Option(min=16, max=4096, help="Long side of painting.png, pixels.")
    ] = 512,
    start: Annotated[
        Path | None, typer.Option(help="An SVG drawing to continue (museforge's own or any).")
    ] = None,
    mask: Annotated[
        str | None,
        typer.Option(help="A picture, white where the canvas must be kept: no new stroke there."),
    ] = None,
    divide: Annotated[
        int,
        typer.Option(
            min=1, max=8, help="Agents: paint the second half patch by patch on an N x N split."
        ),
    ] = 1,
    polish: PolishOpt = True,
    pen: Annotated[
        bool, typer.Option(help="Pen mode: black ink of one width (for a plotter).")
    ] = False,
    plotter: Annotated[
        str | None,
        typer.Option(help="Also write plot.svg/.hpgl/.gcode for a4, a3, letter or WxHmm paper."),
    ] = None,
    margin: Annotated[float, typer.Option(help="Plotter margin on every side, mm.")] = 15.0,
    pen_width: Annotated[float, typer.Option(help="Plotter pen width, mm.")] = 0.5,
    landscape: Annotated[bool, typer.Option(help="Turn the plotter paper sideways.")] = False,
    gcode_profile: Annotated[
        Path | None, typer.Option(help="A TOML G-code profile: pen lift, feeds, header.")
    ] = None,
    serial: Annotated[
        str | None,
        typer.Option(
            help="Stream plot.gcode to a GRBL machine on this serial port (needs --plotter)."
        ),
    ] = None,
    seed: SeedOpt = 0,
) -> None:
    """Paint IMAGE with N strokes; write the PNG, a time-lapse GIF and an SVG of the strokes."""
    from museforge.errors import UserError
    from museforge.paint.draw import paint_strokes, render_files
    from museforge.paint.gcode import GcodeProfile, load_profile
    from museforge.paint.pictures import check_source, fit, load_mask, load_picture, working_size
    from museforge.paint.plotter import PlotterConfig, drawable_area
    from museforge.paint.polish import NO_POLISH, PolishConfig
    from museforge.paint.strokes import BrushConfig
    from museforge.paint.svg import read_strokes_svg

    # Every input is checked before anything is written.
    check_source(image)
    if mask:
        check_source(mask)
    plot_config = None
    if serial is not None and plotter is None:
        raise UserError("--serial streams the plotter's G-code: give --plotter too")
    if plotter is not None:
        plot_config = PlotterConfig(
            paper=plotter, landscape=landscape, margin=margin, pen_width=pen_width
        )
        drawable_area(plot_config)
    profile = load_profile(gcode_profile) if gcode_profile else GcodeProfile()
    if out.exists() and not out.is_dir():
        raise UserError(f"{out}: exists and is not a folder; choose another output folder")
    target_full = load_picture(image)
    start_strokes = read_strokes_svg(start) if start else None
    runner = _method(method, model)
    _, _, full_h, full_w = target_full.shape
    h, w = working_size(full_h, full_w, size)
    target = fit(target_full, h, w)
    keep = load_mask(mask, h, w) if mask else None
    brush = BrushConfig(pen=True) if pen else None

    from museforge.core.progress import counter

    started = time.perf_counter()
    with counter(strokes, "paint") as advance:
        drawing = paint_strokes(
            target,
            strokes,
            runner,
            seed=seed,
            brush=brush,
            start=start_strokes,
            keep=keep,
            divide=divide,
            polish=PolishConfig() if polish else NO_POLISH,
            on_stroke=advance,
        )
    seconds = time.perf_counter() - started
    oh, ow = working_size(full_h, full_w, out_size)
    staging = Path(
        tempfile.mkdtemp(prefix=".paint-", dir=out.parent if out.parent.exists() else None)
    )
    try:
        files = render_files(drawing, staging, oh, ow, keep)
        plot_info = {}
        if plot_config is not None:
            plot_info = _plot(drawing, oh, ow, plot_config, profile, staging, files)
        out.mkdir(parents=True, exist_ok=True)
        for key, path in list(files.items()):
            files[key] = Path(shutil.move(str(path), out / path.name))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    params = {
        "command": "paint draw",
        "image": image,
        "strokes": strokes,
        "method": method,
        "size": size,
        "out_size": out_size,
        "pen": pen,
        "divide": divide,
        "polish": polish,
        "start": str(start) if start else None,
        "mask": mask,
        "seconds": round(seconds, 3),
        **plot_info,
    }
    from museforge.paint.results import keep_drawing

    ids = keep_drawing(files, image, start, mask, params, seed, _model_name(method, model))
    console = Console()
    for key, path in files.items():
        console.print(f"{path}  [dim]{ids[key][:12]}[/dim]")
    if plot_info:
        console.print(
            f"pen-up travel: {plot_info['pen_up_unsorted_mm']:.0f} mm in stroke order, "
            f"{plot_info['pen_up_sorted_mm']:.0f} mm sorted; pen down "
            f"{plot_info['pen_down_mm']:.0f} mm"
        )
    if serial is not None:
        from museforge.paint.grbl import program_lines, stream

        program = program_lines(files["plot_gcode"].read_text(encoding="utf-8"))
        with counter(len(program), f"plot {serial}") as advance:
            done = stream(serial, program, on_line=advance)
        console.print(f"sent {done} lines to {serial}")


def _plot(drawing, height, width, config, profile, folder: Path, files: dict) -> dict:
    from museforge.paint.gcode import write_gcode
    from museforge.paint.plotter import pen_lines_mm, plan, write_plot_hpgl, write_plot_svg

    plot = plan(drawing.strokes, height, width, drawing.brush, config)
    files["plot_svg"] = write_plot_svg(plot, folder / "plot.svg")
    hpgl = write_plot_hpgl(plot, folder / "plot.hpgl", config)
    if hpgl is not None:
        files["plot_hpgl"] = hpgl
    files["plot_gcode"] = write_gcode(
        folder / "plot.gcode", pen_lines_mm(plot), plot.page[1], profile
    )
    return {
        "paper": config.paper,
        "landscape": config.landscape,
        "margin_mm": config.margin,
        "pen_width_mm": config.pen_width,
        "pen_up_unsorted_mm": round(plot.pen_up_unsorted, 1),
        "pen_up_sorted_mm": round(plot.pen_up_sorted, 1),
        "pen_down_mm": round(plot.pen_down, 1),
    }


@app.command("train")
def train_cmd(
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Run folder: checkpoint, metrics, model/.")
    ],
    steps: Annotated[int, typer.Option(min=1, max=10_000_000, help="Training steps.")] = 3000,
    batch_size: Annotated[int, typer.Option(min=1, max=256, help="States per step.")] = 16,
    lr: Annotated[float, typer.Option(min=0.0, help="Learning rate (AdamW).")] = 3e-4,
    pictures: Annotated[int, typer.Option(min=1, max=100_000, help="Training crops.")] = 3000,
    memory: Annotated[
        int, typer.Option(min=1, max=100_000, help="States in the replay memory.")
    ] = 2048,
    width: Annotated[int, typer.Option(min=4, max=256, help="First layer's channels.")] = 32,
    bundle: Annotated[int, typer.Option(min=1, max=20, help="Strokes per step.")] = 5,
    episode: Annotated[int, typer.Option(min=1, max=1000, help="Steps per episode.")] = 40,
    gamma: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="DDPG: discount of the critic's V(s').")
    ] = 0.25,
    algo: Annotated[
        str, typer.Option(help="ddpg (continuous strokes, 64 px) or dqn (a stroke set, 16 px).")
    ] = "ddpg",
    seed: SeedOpt = 0,
    resume: Annotated[bool, typer.Option(help="Continue the run in --out.")] = False,
    keep: KeepOpt = 3,
    skip_nonfinite: SkipNonfiniteOpt = 0,
    force: ForceOpt = False,
    allow_config_change: AllowChangeOpt = False,
) -> None:
    """Train a painting agent on crops of scikit-image pictures: model-based DDPG, or a DQN
    on a discrete stroke set for small canvases."""
    from dataclasses import replace

    from museforge import cli
    from museforge.core.distributed import is_main_process
    from museforge.core.training import CHECKPOINT_FILE
    from museforge.errors import UserError
    from museforge.paint.ddpg import AgentConfig
    from museforge.paint.train import DQNTrainConfig, PaintTrainConfig, train_painter

    if resume and not (out / CHECKPOINT_FILE).is_file():
        raise UserError(
            f"{out / CHECKPOINT_FILE}: no checkpoint to resume (train without --resume)"
        )
    if algo not in ("ddpg", "dqn"):
        raise UserError(f"--algo {algo!r}: use ddpg or dqn")
    options = run_options(keep, skip_nonfinite, force, allow_config_change)
    config: PaintTrainConfig | DQNTrainConfig
    if algo == "dqn":
        config = DQNTrainConfig()
    else:
        agent = AgentConfig(width=width, bundle=bundle, steps=episode, gamma=gamma)
        config = PaintTrainConfig(agent=agent)
    config = replace(
        config,
        train=replace(config.train, steps=steps, batch_size=batch_size, lr=lr, seed=seed),
        pictures=pictures,
        memory=memory,
    )
    with run_folder(out, options) as folder:
        result = train_painter(config, folder, resume=resume, command=cli.invoked, options=options)
    keep_trained_model(result.model_dir, note=f"painting agent ({algo})")
    if is_main_process():
        Console().print(
            f"trained {result.steps} steps in {result.wall_time:.0f} s; model in {result.model_dir}"
        )


@app.command("evaluate")
def evaluate_cmd(
    model: Annotated[str, typer.Option(help="The painting agent to measure.")] = "painter-64",
    methods: Annotated[
        str,
        typer.Option(
            help="Comma-separated: agent (policy then polish), policy (unpolished), greedy, "
            "painterly, optimize."
        ),
    ] = "agent,policy,greedy,optimize,painterly",
    images: Annotated[
        int, typer.Option(min=1, max=16, help="Held-out pictures to paint (of 16).")
    ] = 16,
    strokes: Annotated[int, typer.Option(min=10, max=1000, help="Strokes per picture.")] = 200,
    plot: Annotated[
        Path | None, typer.Option(help="Write the L2-against-strokes PNG here.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    polish: PolishOpt = True,
    seed: SeedOpt = 0,
) -> None:
    """Paint held-out 64 px pictures with each method; L2 after 10, 50, 100, 200 strokes."""
    from museforge.errors import UserError
    from museforge.paint.evaluate import AGENT_METHODS, evaluate, write_plot
    from museforge.paint.polish import NO_POLISH, PolishConfig

    names = [m.strip() for m in methods.split(",") if m.strip()]
    known = (*AGENT_METHODS, *BASELINE_NAMES)
    unknown = [m for m in names if m not in known]
    if unknown or not names:
        raise UserError(f"--methods: unknown {unknown or 'empty'}; use {', '.join(known)}")
    agent = _method("agent", model) if set(names) & set(AGENT_METHODS) else None
    report = evaluate(
        names,
        agent,
        images=images,
        strokes=strokes,
        seed=seed,
        polish=PolishConfig() if polish else NO_POLISH,
    )
    if plot is not None:
        write_plot(report, plot)
        report["plot"] = str(plot)
    if as_json:
        print(json.dumps(report))
        return
    console = Console()
    for key, value in report.items():
        console.print(f"{key}: {value}")
