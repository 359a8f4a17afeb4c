"""Build the GAN that ships with museforge, after comparing the two architectures.

    python scripts/train_gan_models.py                 # compare, then ship portrait-32
    python scripts/train_gan_models.py --minutes 5     # a quicker, weaker comparison
    python scripts/train_gan_models.py --ship-only     # measure and ship finished runs

Both architectures train on the first 90 of the 100 face photos of scikit-image's
``lfw_subset`` at 32 px (the last 10 stay new, for ``benchmarks/bench_gan.py``'s
transfer-learning test)
through the project's own path (``museforge.image.gan.train.train_gan``), each for the same
CPU time of this process (one thread), in chunks of steps that resume exactly. Each is then
measured as ``museforge image gan evaluate`` measures it: sliced Wasserstein distance of
100 samples against the training faces (with the real-against-real floor), MS-SSIM diversity and
the nearest-neighbour ratio. The StyleGAN ships as ``portrait-32`` (float16, with a model
card) when it does not copy its training faces (ratio >= 0.5), unless ``--ship-anyway``.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

from museforge.core.cards import hardware
from museforge.core.checkpoints import CONFIG_FILE, WEIGHTS_DIR, WEIGHTS_FILE
from museforge.core.training import CHECKPOINT_FILE, MODEL_DIR, TrainingInterrupted
from museforge.image.data import LFW_SOURCE, build_image_dataset, load_image_dataset
from museforge.image.gan.explore import evaluate
from museforge.image.gan.generate import grid, load_gan, sample
from museforge.image.gan.train import default_config, train_gan

ROOT = Path(__file__).resolve().parent.parent
NAME = "portrait-32"
RES = 32
CHUNK = 100  # steps between checks of the CPU time spent
# StyleGAN at 32 px on a CPU: 64 channels a layer (0.4 M weights in G) takes ~0.23 s a
# step of 16 images on one thread, about DCGAN's 0.2 s; 256 channels take 3.7 s.
STYLEGAN_CHANNELS = 64
TRAIN_FACES = 90  # faces 90-99 stay new, for the transfer-learning benchmark
MIN_NN_RATIO = 0.5  # the bar: samples at least half as far from the faces as they
# lie from each other


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=30.0, help="CPU minutes per model")
    parser.add_argument("--runs", type=Path, default=ROOT / ".cache" / "runs")
    parser.add_argument("--channels", type=int, default=STYLEGAN_CHANNELS)
    parser.add_argument("--archs", default="dcgan,stylegan", help="which to train, in order")
    parser.add_argument("--ship-only", action="store_true", help="measure and ship finished runs")
    parser.add_argument("--ship-anyway", action="store_true", help="ship even if it copies")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    command = shlex.join(["python", "scripts/train_gan_models.py", *sys.argv[1:]])

    cache = ROOT / ".cache" / f"lfw-{RES}px-train{TRAIN_FACES}.npz"
    if not cache.is_file():
        build_image_dataset(LFW_SOURCE, cache, RES, select=slice(0, TRAIN_FACES))
    results = {}
    for arch in args.archs.split(","):
        run_dir = args.runs / f"gan-{arch}-{RES}"
        config = default_config(arch, RES)
        if arch == "stylegan":
            config = replace(config, model=replace(config.model, channel_max=args.channels))
        if not args.ship_only:
            try:
                spent = train_for(cache, run_dir, config, args.minutes * 60, command)
            except TrainingInterrupted as stop:
                print(stop, file=sys.stderr)
                return stop.exit_code
            (run_dir / "cpu_seconds.json").write_text(json.dumps(spent) + "\n")
        spent = json.loads((run_dir / "cpu_seconds.json").read_text())
        gan = load_gan(run_dir / MODEL_DIR)
        gan.load_state_dict({k: v.half().float() for k, v in gan.state_dict().items()})
        scores = evaluate(gan, cache, n_samples=100, seed=0)
        results[arch] = {"steps": spent["steps"], "cpu_seconds": spent["cpu_seconds"]} | scores
        print(json.dumps({arch: results[arch]}), flush=True)
    (args.runs / f"gan-compare-{RES}.json").write_text(json.dumps(results, indent=2) + "\n")
    if "stylegan" not in results:
        return 0

    gan = load_gan(args.runs / f"gan-stylegan-{RES}" / MODEL_DIR)
    gan.load_state_dict({k: v.half().float() for k, v in gan.state_dict().items()})
    ratio = results["stylegan"]["nn_ratio"]
    if ratio < MIN_NN_RATIO and not args.ship_anyway:
        print(f"not shipped: nearest-neighbour ratio {ratio:.3f} < {MIN_NN_RATIO}", file=sys.stderr)
        return 1
    record = json.loads((args.runs / f"gan-stylegan-{RES}" / MODEL_DIR / CONFIG_FILE).read_text())
    facts = {
        "command": record["command"],  # the run's first; it went on in chunks of CHUNK steps
        "steps": record["steps"],
        "train_seconds": record["train_seconds"],
        "parameters": sum(p.numel() for p in gan.G.parameters()),
        "train_images": len(load_image_dataset(cache).images),
        "metrics": results["stylegan"],
        "comparison": results,
        "train_config": record.get("gan_train_config", {}),
    }
    out = WEIGHTS_DIR / NAME
    gan.save_pretrained(out, extra=facts, dtype=torch.float16)
    (out / "MODEL_CARD.md").write_text(card(facts), encoding="utf-8")
    grid(sample(gan, 36, seed=0)).resize((6 * 34 * 3, 6 * 34 * 3), 0).save(out / "preview.png")
    print(f"wrote {out} ({(out / WEIGHTS_FILE).stat().st_size / 1e6:.1f} MB)")
    return 0


def train_for(cache: Path, run_dir: Path, config, seconds: float, command: str) -> dict:
    """Train in chunks of CHUNK steps (resuming exactly) until ``seconds`` of CPU time are
    spent on it; a run already in ``run_dir`` goes on from where it stopped."""
    done_file = run_dir / "cpu_seconds.json"
    spent = json.loads(done_file.read_text()) if done_file.is_file() else {}
    cpu, steps = spent.get("cpu_seconds", 0.0), spent.get("steps", 0)
    while cpu < seconds:
        start = time.process_time()
        steps += CHUNK
        resume = (run_dir / CHECKPOINT_FILE).is_file()
        train_gan(cache, run_dir, replace(config, steps=steps), resume=resume, command=command)
        cpu += time.process_time() - start
        done_file.write_text(json.dumps({"steps": steps, "cpu_seconds": cpu}) + "\n")
    return {"steps": steps, "cpu_seconds": cpu}


def card(facts: dict) -> str:
    m, runs = facts["metrics"], facts["comparison"]
    rows = "\n".join(
        f"| {arch} | {r['steps']:,} | {r['cpu_seconds'] / 60:.0f} | {r['swd']:.1f} | "
        f"{r['swd_floor']:.1f} | {r['ms_ssim']:.3f} | {r['nn_ratio']:.2f} |"
        for arch, r in runs.items()
    )
    return f"""# {NAME}

A StyleGAN2-style generator with adaptive discriminator augmentation (ADA), in plain
PyTorch, trained on {facts["train_images"]} of the 100 face photos of scikit-image's `lfw_subset`
(25 x 25 grey pixels, scaled to {RES} px; faces 90-99 were kept out, so that fine-tuning
can be measured on faces it has not seen). {facts["parameters"]:,} weights in G, {STYLEGAN_CHANNELS}
channels a layer, so that it trains on a laptop CPU; the folder also holds D and the
averaged G (`G_ema`, what samples come from), so `--init {NAME}` can fine-tune it.

## How it was made

- Command: `{facts["command"]}`
- Steps: {facts["steps"]:,} of batch {facts["train_config"].get("batch_size", 16)}
  ({facts["train_seconds"] / 60:.0f} min of training on one thread)
- Hardware: {hardware()}
- Weights stored as float16 (loaded as float32); the metrics are of these weights.

## Measured against the {facts["train_images"]} training faces

`museforge image gan evaluate` with 100 samples: SWD between {m["swd_images"]} samples and
{m["swd_images"]} faces, its floor between the two halves of the faces; MS-SSIM and the
nearest-neighbour ratio over all 100 samples.

| model | steps | CPU min | SWD x1e3 | real-vs-real floor | MS-SSIM | nearest-neighbour ratio |
|---|---|---|---|---|---|---|
{rows}

Both rows had the same CPU time, on the same faces. SWD is the sliced Wasserstein distance
of 7 x 7 patches over a Laplacian pyramid (Karras et al. 2018; lower is better, the floor
is what real faces score against other real faces). MS-SSIM is the mean similarity of
random pairs of samples (lower = more varied). The nearest-neighbour ratio is the median
distance from a sample to its nearest training face over the median distance between
training faces: {m["nn_ratio"]:.2f}, so samples are not copies (bar: 0.5).

## Limits

Twenty-five pixel grey faces of one hundred people: the samples are small, soft and
grey. The model shows the method working on a CPU, not portrait quality; train on your
own pictures with `museforge image gan train DIR --init {NAME} --freeze-d 2`.
"""


if __name__ == "__main__":
    sys.exit(main())
