"""Build the painting agent that ships with museforge, ``painter-64``, and measure it.

    python scripts/train_paint_models.py                  # train ~45 min, measure, ship
    python scripts/train_paint_models.py --minutes 5      # a quicker, weaker agent
    python scripts/train_paint_models.py --ship-only      # measure and ship a finished run
    python scripts/train_paint_models.py --train-only     # train only (ship with --ship-only)

Training is ``museforge paint train`` (model-based DDPG through the project's training
loop) on 64 px crops of scikit-image pictures, in chunks of steps that resume, until the
wall-clock budget is spent. The agent, greedy search, the optimisation painter and
Hertzmann's painterly rendering then paint the same held-out pictures (crops of chelsea and
lfw_subset faces 90-99, never seen in training) as ``museforge paint evaluate`` does; the
model folder goes to ``src/museforge/weights/painter-64`` in float16 with a model card
holding the command, data, steps, wall time, hardware, training curve and the figures.
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import sys
import time
from pathlib import Path

import torch
from PIL import Image, ImageDraw, ImageFont

from museforge.cli import run
from museforge.core.cards import hardware
from museforge.core.checkpoints import WEIGHTS_DIR, read_config
from museforge.core.training import CHECKPOINT_FILE, METRICS_FILE, MODEL_DIR
from museforge.paint.ddpg import PaintAgent
from museforge.paint.evaluate import evaluate, write_plot
from museforge.paint.polish import PolishConfig

ROOT = Path(__file__).resolve().parent.parent
NAME = "painter-64"
CHUNK = 200
BASELINES = ("greedy", "optimize", "painterly")
AGENTS = ("agent", "policy")


def train_for(run_dir: Path, seconds: float, steps_cap: int) -> float:
    """Train in chunks of CHUNK steps until ``seconds`` of wall time are spent."""
    started, steps = time.perf_counter(), 0
    if (run_dir / CHECKPOINT_FILE).is_file():
        steps = json.loads((run_dir / METRICS_FILE).read_text().splitlines()[-1])["step"]
    while time.perf_counter() - started < seconds and steps < steps_cap:
        steps += CHUNK
        args = ["paint", "train", "--out", _relative(run_dir), "--steps", str(steps)]
        if (run_dir / CHECKPOINT_FILE).is_file():
            args.append("--resume")
        code = run(args)
        if code:
            raise SystemExit(code)
        print(f"{steps} steps, {time.perf_counter() - started:.0f} s", flush=True)
    return time.perf_counter() - started


def _relative(path: Path | str) -> str:
    """A path or a command line with this checkout's folder left out (run from its root)."""
    return str(path).replace(f"{ROOT}/", "")


def curve_png(metrics: Path, path: Path, last_step: int) -> Path:
    """The training curve up to ``last_step``: mean reward of the sampled states."""
    rows = [json.loads(line) for line in metrics.read_text().splitlines()]
    rows = [r for r in rows if r["step"] <= last_step]
    report = {"curves": {"reward": [r["reward"] for r in rows]}}
    write_plot(report, path)
    img = Image.open(path)
    draw = ImageDraw.Draw(img)
    draw.text(
        (80, 4),
        f"reward per step, logged every {rows[0]['step']} steps",
        fill="black",
        font=ImageFont.load_default(),
    )
    img.save(path)
    return path


def card(record: dict, report: dict, wall: float, command: str, images: int, note: str = "") -> str:
    methods = [m for m in (*AGENTS, *BASELINES) if f"{m}.l2_200" in report]
    table = [
        "| method | L2 @10 | L2 @50 | L2 @100 | L2 @200 | seconds / picture |",
        "|---|---|---|---|---|---|",
    ]
    for m in methods:
        cells = [f"{report[f'{m}.l2_{n}']:.5f}" for n in (10, 50, 100, 200)]
        table.append(f"| {m} | {' | '.join(cells)} | {report[f'{m}.seconds_per_image']:.2f} |")

    def verdict(m: str) -> str:
        beats = report[f"{m}.l2_200"] <= report["greedy.l2_200"]
        fast = report[f"{m}.seconds_per_image"] <= report["greedy.seconds_per_image"] / 10
        return (
            f"mean L2 after 200 strokes no worse than greedy search's: {'yes' if beats else 'no'};"
            f" in at most a tenth of greedy's time: {'yes' if fast else 'no'}"
        )

    polish = PolishConfig()
    return "\n".join(
        [
            f"# {NAME}",
            "",
            "A painting agent trained by model-based DDPG (Learning to Paint, Huang et al. 2019),",
            "sized for a CPU: 64 px canvases, bundles of 5 quadratic Bézier strokes a step,",
            "40 steps (200 strokes) an episode, reward = drop in L2 over the L2 of blank paper;",
            "the actor chooses shapes and each stroke's colour is fitted in closed form.",
            "The actor is fully convolutional: it proposes a stroke for each cell of an 8x8",
            "grid, and a step paints the 5 cells furthest from the target (when painting,",
            "drawn in proportion to their error, seeded). The critic values the canvas after",
            "the bundle, V(s'); the actor's gradient flows through the differentiable renderer",
            f"and climbs r + {record['config']['gamma']} V(s'): mostly the analytic reward.",
            "",
            "Painting with it (`paint draw --method agent`, the `agent` row below) is the policy",
            "then a test-time polish (`paint/polish.py`): Adam fits all 200 strokes together",
            f"through the renderer, {polish.iterations} steps on the picture at {polish.scale:g} of",
            f"its size with each curve cut into {polish.coarse_samples} pieces"
            + (f", then {polish.fine_iterations} at full size" if polish.fine_iterations else "")
            + ", each stroke rasterised only in a box around it.",
            "The `policy` row is the same agent without the polish (`--no-polish`).",
            "",
            "## How it was made",
            "",
            f"- Command: `{command}`; each chunk of it: `{_relative(record['command'])}`, then",
            "  `--resume` with 200 steps more (a resumed run repeats an uninterrupted one bit",
            "  for bit)" + (f"; {note}" if note else ""),
            "- Data: 64 px crops of scikit-image's sample photos (astronaut, coffee, rocket,",
            "  hubble_deep_field, immunohistochemistry, retina) and lfw_subset faces 0-89;",
            "  held out: crops of chelsea and faces 90-99.",
            f"- Steps: {record['steps']} of batch 16 (replay memory 2048 states)",
            f"- Wall time: {wall / 60:.1f} min ({record['train_seconds']:.0f} s inside the loop)",
            f"- Hardware: {hardware()}, one torch thread, nice 10, on a machine shared with",
            "  four other jobs (load average about 10-13 on 2 cores): wall times, and the",
            "  seconds below, are long for the work they hold.",
            "",
            "## Training curve",
            "",
            "![reward per step](training_curve.png)",
            "",
            f"## Held-out pictures ({images} at 64 px, 200 strokes each)",
            "",
            *table,
            "",
            "![L2 against strokes](l2_vs_strokes.png)",
            "",
            f"- agent (policy + polish): {verdict('agent')}.",
            f"- policy alone: {verdict('policy')}.",
            "",
            "The polish fits the finished painting, so the agent's L2 after 10, 50 or 100 of",
            "its 200 strokes is not what it would paint with 10, 50 or 100 strokes. Greedy",
            "search here tries 64 random strokes and 4 x 16 small changes for every stroke,",
            "each with its best colour in closed form; the optimisation painter fits 10 strokes",
            "at a time with 40 Adam steps through the renderer. Greedy search is measured right",
            "after the agent, in the same run; the optimisation painter and painterly rendering",
            "in an earlier run on the same loaded machine (`--baselines-only`).",
            "",
        ]
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=45.0, help="wall-clock training budget")
    parser.add_argument("--max-steps", type=int, default=100_000)
    parser.add_argument("--runs", type=Path, default=ROOT / ".cache" / "runs")
    parser.add_argument("--images", type=int, default=6, help="held-out pictures to measure on")
    parser.add_argument("--ship-only", action="store_true")
    parser.add_argument("--train-only", action="store_true", help="train; ship later")
    parser.add_argument(
        "--baselines-only", action="store_true", help="measure the baselines (kept for shipping)"
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    command = shlex.join(["python", "scripts/train_paint_models.py", *sys.argv[1:]])
    run_dir = args.runs / NAME
    run_dir.mkdir(parents=True, exist_ok=True)
    baselines_file = run_dir / f"baselines-{args.images}.json"
    if args.baselines_only:
        report = evaluate(list(BASELINES), None, images=args.images)
        baselines_file.write_text(json.dumps(report) + "\n")
        return 0
    wall_file = run_dir / "wall_seconds.json"
    if not args.ship_only:
        wall = train_for(run_dir, args.minutes * 60, args.max_steps)
        wall_file.write_text(json.dumps({"seconds": wall, "command": command}) + "\n")
    if args.train_only:
        return 0
    trained = json.loads(wall_file.read_text())
    wall, command = trained["seconds"], trained["command"]
    note = trained.get("note", "")
    agent = PaintAgent.from_pretrained(run_dir / MODEL_DIR)
    record = read_config(run_dir / MODEL_DIR)
    if baselines_file.is_file():  # measured while the agent trained; greedy again beside it
        report = evaluate([*AGENTS, "greedy"], agent, images=args.images)
        baselines = json.loads(baselines_file.read_text())
        kept = [m for m in BASELINES if m != "greedy"]
        report |= {k: v for k, v in baselines.items() if k.split(".")[0] in kept}
        report["curves"] |= {m: baselines["curves"][m] for m in kept}
    else:
        report = evaluate([*AGENTS, *BASELINES], agent, images=args.images)
    print(json.dumps({k: v for k, v in report.items() if k != "curves"}), flush=True)
    target = WEIGHTS_DIR / NAME
    staging = run_dir / "ship"
    shutil.rmtree(staging, ignore_errors=True)
    extra = json.loads(
        _relative(
            json.dumps(
                {
                    k: v
                    for k, v in record.items()
                    if k not in ("model_type", "config", "museforge_version")
                }
            )
        )
    )
    extra["measured"] = {k: v for k, v in report.items() if k != "curves"}
    agent.save_pretrained(
        staging,
        card=card(record, report, wall, command, args.images, note),
        extra=extra,
        dtype=torch.float16,
    )
    write_plot(report, staging / "l2_vs_strokes.png")
    curve_png(run_dir / METRICS_FILE, staging / "training_curve.png", record["steps"])
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(staging, target)
    print(f"shipped {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
