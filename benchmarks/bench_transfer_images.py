"""Transfer learning on images: the same flags as the melodies (``core/transfer.py``) on a
GAN and on a fast style network, one few-shot row each, at a small equal CPU budget.

GAN (``image gan train``): the shipped ``portrait-32`` (a StyleGAN2-ADA that learnt faces
0-89 of scikit-image's ``lfw_subset``) carried to a domain it never saw: the 100 crops of
that file that are not faces (25 px grey patches of scenes), ``--shots`` of them to train
on and the rest held out. Rows, each ``--gan-steps`` steps of batch 16 on one thread:
``source as is`` (no training), ``scratch`` (portrait-32's recipe from random weights),
``fine-tune`` (``--init``), ``Freeze-D`` (``--init --freeze D.0 --freeze D.1``) and
``fine-tune + adversarial`` (``--init --adapt-from FACES --domain-adversarial W``: a domain
classifier on D's features of real faces and real patches, through a gradient reversal
layer). Figures against the held-out patches: KID +- its standard deviation over subsets
(``image/gan/kid.py``, ImageNet MobileNetV2 features), beside the held-out patches' own
half-against-half KID; and the accuracy of a linear probe telling D's features of the
faces from those of the held-out patches (cross-validated; 0.5 = indistinguishable).

Fast style (``image style train``): a new style picture (``skimage:brick``, held out of the
shipped arbitrary-style network's training) learnt in ``--style-steps`` steps, from scratch
(the per-style network ``image style train`` makes) and from the shipped ``style-gravel``
(``--init style-gravel``, its code set to brick's), beside ``style-gravel`` given brick's code
without training. Both train with MobileNetV2's losses; figures on five photos at 256 px by
judges not trained with: VGG16 Gram distance, colour histogram and gradient statistics,
each relative to the untouched photo (1.0 = no style moved, lower = closer to the style),
the content loss under the training network, the content structure (edge correlation),
and the CPU seconds of training.

Two more rows spend the CPU time of the plain run: the adversarial GAN (its domain term
costs D two more passes a step) for fewer steps, the shipped style (its network runs at
half the picture's size) for more.

Prints one JSON object; writes ``transfer_images.json`` and ``transfer_images.md`` into
``--out``. ``--quick`` runs a few steps of each to check the script.

Measured (``--gan-steps 400 --style-steps 200``, one torch thread, 2 shared CPU cores at a
load average of 7-9; one seed; 17 minutes; the figures repeat exactly on a second run):

| GAN, 20 patches | steps | CPU s | KID +- std (real-vs-real -0.004) | D probe |
|---|---|---|---|---|
| portrait-32 as is | 0 | | 0.944 +- 0.062 | 0.994 |
| scratch | 400 | 129 | 0.118 +- 0.009 | 0.935 |
| fine-tune | 400 | 118 | 0.180 +- 0.030 | 0.988 |
| Freeze-D (D.0, D.1) | 400 | 90 | 0.107 +- 0.020 | 0.988 |
| fine-tune + adversarial (W 0.5) | 400 | 170 | 0.082 +- 0.013 | 0.947 |
| the same, CPU of fine-tune | 278 | 117 | 0.088 +- 0.015 | 0.935 |

| fast style, brick | steps | CPU s | style distance (VGG16) | content loss | structure |
|---|---|---|---|---|---|
| style-gravel with brick's code | 0 | | 0.857 (0.612) | 0.376 | 0.872 |
| scratch | 200 | 55 | 0.958 (0.891) | 0.083 | 0.993 |
| from style-gravel | 200 | 22 | 0.915 (0.778) | 0.155 | 0.984 |
| from style-gravel, CPU of scratch | 488 | 56 | 0.930 (0.807) | 0.091 | 0.993 |

Style distance: the mean of the three judges, the VGG16 Gram judge alone in brackets. The
shipped preset given brick's code scores closest to the style without training, at the
cost of the content (0.376); training at the content weight 0.3 moves both networks
towards the content. At equal CPU the shipped start ends closer to the style than
scratch (0.930 against 0.958) with a like content loss (0.091 against 0.083). The GAN's
KID spread is over subsets of one run's samples, not over seeds.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import time
from dataclasses import replace
from importlib import resources
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from museforge.core.feature_map import linear_probe
from museforge.core.timing import load_average, reference_seconds
from museforge.image.data import LFW_FACES, build_image_dataset, load_image_dataset
from museforge.image.gan.generate import load_gan, sample
from museforge.image.gan.kid import kid_report
from museforge.image.gan.train import (
    TRAIN_FACES,
    GANTransfer,
    discriminator_features,
    portrait_config,
    train_gan,
)
from museforge.image.io import load_image
from museforge.image.style.fast import (
    DEFAULT_CONTENTS,
    FastStyleConfig,
    FastTrainConfig,
    FastTransfer,
    load_fast_style,
    start_from,
    stylize_fast,
    train_fast_style,
)
from museforge.image.style.features import build_features
from museforge.image.style.gatys import relative_mse
from museforge.image.style.judge import edge_correlation, judge_for, style_scores

SOURCE_MODEL = "portrait-32"
FREEZE_D = ("D.0", "D.1")  # Mo et al. freeze D's first, high-resolution layers
STYLE_MODEL = "style-gravel"
NEW_STYLE = "skimage:brick"
PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "retina")
LOSS_NET = "mobilenetv2"  # what style-gravel was trained with; the judge is then VGG16


# --- GAN ----------------------------------------------------------------------------------


def lfw_folders(root: Path, shots: int) -> dict[str, Path]:
    """Folders of PNGs: the faces portrait-32 learnt, ``shots`` non-face patches to train on
    and the other patches, held out."""
    path = Path(str(resources.files("skimage.data").joinpath("lfw_subset.npy")))
    pixels = np.round(np.clip(np.load(path, allow_pickle=False), 0, 1) * 255).astype(np.uint8)
    patches = pixels[LFW_FACES:]
    order = np.random.default_rng(0).permutation(len(patches))
    parts = {
        "faces": pixels[:TRAIN_FACES],
        "target": patches[order[:shots]],
        "held_out": patches[order[shots:]],
    }
    folders = {}
    for name, images in parts.items():
        folder = root / name
        folder.mkdir(parents=True)
        for i, image in enumerate(images):
            Image.fromarray(image, "L").convert("RGB").save(folder / f"{i:03d}.png")
        folders[name] = build_image_dataset(folder, root / f"{name}.npz", 32, progress=False)
    return folders


@torch.no_grad()
def measure_gan(model_dir: str | Path, caches: dict[str, Path], samples: int) -> dict:
    gan = load_gan(model_dir)
    held = load_image_dataset(caches["held_out"]).images
    faces = load_image_dataset(caches["faces"]).images
    fake = torch.from_numpy(sample(gan, samples, seed=0)).permute(0, 3, 1, 2)
    kid = kid_report(fake, held, seed=0)
    gan.D.eval()
    features = [discriminator_features(gan.D, x.float() / 127.5 - 1) for x in (faces, held)]
    probe = linear_probe(torch.cat(features), ["source"] * len(faces) + ["target"] * len(held))
    return {
        "kid": round(kid["kid"], 5),
        "kid_std": round(kid["kid_std"], 5),
        "kid_real": round(kid["kid_real"], 5),
        "kid_real_std": round(kid["kid_real_std"], 5),
        "domain_probe_acc": round(probe["accuracy"], 4),
    }


def gan_rows(root: Path, shots: int, steps: int, weight: float, samples: int) -> dict:
    caches = lfw_folders(root / "data", shots)
    config = replace(portrait_config(), checkpoint_every=10_000, log_every=10)
    adversarial = GANTransfer(adapt_from=caches["faces"], domain_adversarial=weight)
    runs = {
        "scratch": ({"init": None}, GANTransfer()),
        "fine-tune": ({"init": SOURCE_MODEL}, GANTransfer()),
        "Freeze-D": ({"init": SOURCE_MODEL}, GANTransfer(freeze=FREEZE_D)),
        "fine-tune + adversarial": ({"init": SOURCE_MODEL}, adversarial),
    }
    rows = [{"method": "source as is", "steps": 0} | measure_gan(SOURCE_MODEL, caches, samples)]
    print(json.dumps(rows[-1]), file=sys.stderr, flush=True)

    def one(method: str, kwargs: dict, transfer: GANTransfer, n: int) -> None:
        folder = root / f"gan-{len(rows)}"
        cpu, wall = time.process_time(), time.perf_counter()
        train_gan(
            caches["target"],
            folder,
            replace(config, steps=n),
            progress=False,
            transfer=transfer,
            **kwargs,
        )
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        logged = [json.loads(x) for x in (folder / "metrics.jsonl").read_text().splitlines()]
        row = {"method": method, "steps": n, "cpu_s": round(cpu, 1), "wall_s": round(wall, 1)}
        if "domain_acc" in logged[-1]:
            tail = logged[-5:]  # the classifier's batch accuracy over the last logged steps
            row["train_domain_acc"] = round(statistics.fmean(r["domain_acc"] for r in tail), 3)
        rows.append(row | measure_gan(folder / "model", caches, samples))
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)

    for method, (kwargs, transfer) in runs.items():
        one(method, kwargs, transfer, steps)
    # the domain term costs D two more passes a step: the same CPU time as plain fine-tuning
    ratio = rows[2]["cpu_s"] / max(rows[4]["cpu_s"], 1e-9)
    equal = max(1, round(steps * ratio))
    one("fine-tune + adversarial, CPU of fine-tune", {"init": SOURCE_MODEL}, adversarial, equal)
    return {
        "source_model": SOURCE_MODEL,
        "target": "lfw_subset's non-face patches",
        "shots": shots,
        "held_out": len(load_image_dataset(caches["held_out"]).images),
        "source_images": TRAIN_FACES,
        "batch_size": config.batch_size,
        "threads": torch.get_num_threads(),
        "samples": samples,
        "domain_weight": weight,
        "freeze_d": list(FREEZE_D),
        "rows": rows,
    }


# --- fast style ---------------------------------------------------------------------------


@torch.no_grad()
def measure_style(model: torch.nn.Module, photos: list[torch.Tensor], style: torch.Tensor):
    net, judge = build_features(LOSS_NET), build_features(judge_for(LOSS_NET))
    scores, content, edges = [], [], []
    for photo in photos:
        result = stylize_fast(model, photo)
        scores.append(style_scores(judge, result, photo, style))
        pairs = zip(net(result, net.content_layers), net(photo, net.content_layers), strict=True)
        content.append(sum(float(relative_mse(a, b)) for a, b in pairs))
        edges.append(edge_correlation(result, photo))
    mean = {k: round(statistics.fmean(s[k] for s in scores), 4) for k in scores[0]}
    return {
        "style_distance": round(statistics.fmean(mean.values()), 4),
        "style_network": mean["network"],
        "style_colour": mean["colour"],
        "style_gradient": mean["gradient"],
        "content_loss": round(statistics.fmean(content), 4),
        "content_structure": round(statistics.fmean(edges), 4),
    }


def style_rows(root: Path, steps: int, batch: int, crop: int) -> dict:
    style = load_image(NEW_STYLE, 256)
    photos = [load_image(f"skimage:{name}", 256) for name in PHOTOS]
    contents = [load_image(c, 512) for c in DEFAULT_CONTENTS]
    config = FastTrainConfig(
        net=FastStyleConfig(width=16),
        batch_size=batch,
        crop=crop,
        features=LOSS_NET,
        checkpoint_every=100_000,
        log_every=10,
    )
    net = build_features(LOSS_NET, seed=0)
    as_is = start_from(STYLE_MODEL, style, NEW_STYLE, LOSS_NET)
    rows = [{"method": f"{STYLE_MODEL}, brick's code, no training", "steps": 0}]
    rows[-1] |= measure_style(as_is, photos, style)
    print(json.dumps(rows[-1]), file=sys.stderr, flush=True)

    def one(method: str, transfer: FastTransfer, n: int) -> None:
        folder = root / f"style-{len(rows)}"
        cpu, wall = time.process_time(), time.perf_counter()
        kwargs = {"style_name": NEW_STYLE, "net": net, "progress": False}
        train_fast_style(
            style, contents, folder, replace(config, steps=n), **kwargs, transfer=transfer
        )
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        logged = [json.loads(x) for x in (folder / "metrics.jsonl").read_text().splitlines()]
        tail = logged[-5:]  # the training terms over the last logged steps
        row = {"method": method, "steps": n, "cpu_s": round(cpu, 1), "wall_s": round(wall, 1)}
        row["train_style_term"] = round(statistics.fmean(r["style"] for r in tail), 4)
        row["train_content_term"] = round(statistics.fmean(r["content"] for r in tail), 4)
        rows.append(row | measure_style(load_fast_style(folder / "model"), photos, style))
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)

    one("scratch", FastTransfer(), steps)
    one(f"from {STYLE_MODEL}", FastTransfer(init=STYLE_MODEL), steps)
    # the shipped network runs at half the picture's size: more steps in the same CPU time
    equal = max(1, round(steps * rows[1]["cpu_s"] / max(rows[2]["cpu_s"], 1e-9)))
    one(f"from {STYLE_MODEL}, CPU of scratch", FastTransfer(init=STYLE_MODEL), equal)
    return {
        "source_model": STYLE_MODEL,
        "new_style": NEW_STYLE,
        "loss_network": LOSS_NET,
        "judge": f"{judge_for(LOSS_NET)} + colour + gradient statistics",
        "photos": [f"skimage:{p}" for p in PHOTOS],
        "batch_size": batch,
        "crop": crop,
        "rows": rows,
    }


# --- report -------------------------------------------------------------------------------


def table(report: dict) -> str:
    lines = [
        f"# Transfer on images ({report['threads']} thread, load {report['load_average']})",
        "",
    ]
    if "gan" in report:
        lines += gan_table(report["gan"])
    if "fast_style" in report:
        lines += style_table(report["fast_style"])
    return "\n".join(lines)


def gan_table(gan: dict) -> list[str]:
    lines = [
        f"## GAN: {gan['source_model']} -> {gan['shots']} of {gan['target']}",
        "",
        f"KID of {gan['samples']} samples against {gan['held_out']} held-out patches "
        "(lower is better); probe: D's features, faces vs held-out patches (0.5 = alike).",
        "",
        "| method | steps | CPU s | KID | KID std | real-vs-real KID | domain probe |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in gan["rows"]:
        lines.append(
            f"| {r['method']} | {r['steps']} | {r.get('cpu_s', '')} | {r['kid']} | "
            f"{r['kid_std']} | {r['kid_real']} | {r['domain_probe_acc']} |"
        )
    return [*lines, ""]


def style_table(style: dict) -> list[str]:
    lines = [
        f"## Fast style: {style['new_style']} from {style['source_model']} or scratch",
        "",
        f"Judges: {style['judge']} (1.0 = the photo's own style, lower = closer).",
        "",
        "| method | steps | CPU s | style distance | network | colour | gradient | "
        "content loss | content structure |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in style["rows"]:
        lines.append(
            f"| {r['method']} | {r['steps']} | {r.get('cpu_s', '')} | {r['style_distance']} | "
            f"{r['style_network']} | {r['style_colour']} | {r['style_gradient']} | "
            f"{r['content_loss']} | {r['content_structure']} |"
        )
    return [*lines, ""]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("bench-out/transfer-images"))
    parser.add_argument("--shots", type=int, default=20, help="target pictures to train on")
    parser.add_argument("--gan-steps", type=int, default=300)
    parser.add_argument("--weight", type=float, default=0.5, help="the domain term's weight W")
    parser.add_argument("--samples", type=int, default=80, help="GAN samples for KID")
    parser.add_argument("--style-steps", type=int, default=100)
    parser.add_argument("--only", choices=("gan", "style"), help="run one section")
    parser.add_argument("--quick", action="store_true", help="a tiny run to check the script")
    args = parser.parse_args()
    torch.set_num_threads(1)
    batch, crop = 4, 128
    if args.quick:
        args.gan_steps, args.style_steps, args.samples, batch, crop = 2, 2, 20, 1, 64
    shutil.rmtree(args.out, ignore_errors=True)  # run folders refuse to be trained twice
    args.out.mkdir(parents=True)
    started = time.perf_counter()
    report = {
        "benchmark": "transfer_images",
        "threads": torch.get_num_threads(),
        "load_average": load_average(),
        "reference_s": round(reference_seconds(), 3),
    }
    if args.only != "style":
        report["gan"] = gan_rows(args.out, args.shots, args.gan_steps, args.weight, args.samples)
    if args.only != "gan":
        report["fast_style"] = style_rows(args.out, args.style_steps, batch, crop)
    report["load_average_end"] = load_average()
    report["seconds"] = round(time.perf_counter() - started, 1)
    (args.out / "transfer_images.json").write_text(json.dumps(report, indent=2) + "\n")
    (args.out / "transfer_images.md").write_text(table(report))
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
