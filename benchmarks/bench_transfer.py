"""Transfer learning on melodies: a few tunes of a corpus the source model never saw.

The seed names three kinds of transfer; this measures two of them (fine-tuning, and
fine-tuning plus domain-adversarial adaptation, ``core/transfer.py``) against no transfer,
for a person with N = 10, 20, 50, 100 tunes of their own:

- source: a 2-bar melody VAE trained here on music21's corpus without the Essen Chinese
  (Han) tunes;
- target: the Han tunes, split into N training tunes and held-out tunes (tunes that repeat
  another tune's intervals left out, ``music/duplicates.py``);
- rows: ``source as is`` (no training), ``target only`` (a fresh model on the N tunes),
  ``fine-tune`` (the source model trained on the N tunes), ``fine-tune + adversarial``
  (the same, plus a domain classifier on the codes and a gradient reversal, weight W;
  one row for each W given with ``--weight``);
- every model draws its samples' codes from the density fitted to the codes of the
  windows it trained on, as ``music train`` exports a model (``music/prior.py``);
- figures on the held-out target tunes: reconstruction accuracy (teacher-forced, greedy),
  style overlap of 256 samples with them (Yang & Lerch, ``music/metrics.py``), the share
  of the samples' notes in their key, and the accuracy of a linear probe telling source
  from target codes (cross-validated; 0.5 = indistinguishable).

Prints one JSON object; writes a table and a plot into ``--out``. On two busy CPU cores it
takes 20-40 minutes; ``--quick`` runs a tiny version to check the script.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from museforge.core.feature_map import linear_probe
from museforge.core.home import home
from museforge.core.training import RunOptions, TrainConfig, train
from museforge.music.adapt import Adaptation, AdaptingVAE
from museforge.music.data import SPLITS, MelodyDataset, build_dataset, load_dataset
from museforge.music.duplicates import interval_key
from museforge.music.evaluate import reconstruction_accuracy
from museforge.music.generate import sample
from museforge.music.key_share import mean_key_share
from museforge.music.metrics import evaluate_samples
from museforge.music.model import MelodyVAE, MelodyVAEConfig
from museforge.music.origins import origin
from museforge.music.train import MelodyTrainConfig, melody_loss

TARGET = "China"
SIZES = (10, 20, 50, 100)
HELD_OUT_TUNES = 150
MODEL = MelodyVAEConfig(bars=2, enc_hidden=128, dec_hidden=128, z_dim=64, embed_dim=32)
SAMPLES = 256
PROBE_CODES = 300
METHODS = ("target only", "fine-tune", "fine-tune + adversarial")


def tune_windows(data: MelodyDataset) -> dict[int, np.ndarray]:
    """Every 2-bar window of every tune, whichever split the cache put it in."""
    starts = np.concatenate([data.window_starts(2, s) for s in SPLITS])
    windows = np.concatenate([data.windows(2, s) for s in SPLITS])
    tune = data.melody_tune[np.searchsorted(data.offsets, starts, side="right") - 1]
    return {int(t): windows[tune == t] for t in np.unique(tune)}


def split_target(data: MelodyDataset, by_tune: dict[int, np.ndarray], seed: int):
    """Source tunes, and the target's training candidates and held-out tunes (deduplicated)."""
    tunes = data.meta["tunes"]
    target = [t for t in by_tune if origin(tunes[t]["source"]) == TARGET]
    source = [t for t in by_tune if origin(tunes[t]["source"]) != TARGET]
    order = np.random.default_rng(seed).permutation(target)
    held, train_pool = order[:HELD_OUT_TUNES], order[HELD_OUT_TUNES:]
    keys = {_key(data, t) for t in train_pool} - {None}
    held = [t for t in held if _key(data, t) not in keys]
    return source, [int(t) for t in train_pool], [int(t) for t in held]


def _key(data: MelodyDataset, tune: int) -> bytes | None:
    melodies = np.flatnonzero(data.melody_tune == tune)
    first = melodies[0]
    return interval_key(data.events[data.offsets[first] : data.offsets[first + 1]])


def stack(by_tune: dict[int, np.ndarray], tunes: list[int]) -> torch.Tensor:
    return torch.from_numpy(np.concatenate([by_tune[t] for t in tunes]))


def fit(
    model: torch.nn.Module,
    windows: torch.Tensor,
    steps: int,
    out: Path,
    adaptation: Adaptation | None = None,
    lr: float = 1e-3,
) -> MelodyVAE:
    """``model`` trained on ``windows``, with its prior fitted to their codes."""
    config = replace(MelodyTrainConfig(model=MODEL), steps=steps, batch_size=64, lr=lr)
    if adaptation is not None:
        model = AdaptingVAE(model)
    train(
        model,
        windows,
        melody_loss(config, adaptation),
        TrainConfig(
            steps=steps, batch_size=64, lr=lr, checkpoint_every=steps, log_every=50, seed=0
        ),
        out,
        progress=False,
        options=RunOptions(keep=1),
    )
    vae = getattr(model, "vae", model).eval()
    vae.fit_prior(windows)
    return vae


def measure(model: MelodyVAE, held: np.ndarray, source_held: np.ndarray) -> dict:
    recon = reconstruction_accuracy(model, held)
    made = sample(model, SAMPLES, seed=0)
    style = evaluate_samples(made, held, seed=0)
    rng = np.random.default_rng(0)
    a = source_held[rng.choice(len(source_held), PROBE_CODES, replace=False)]
    b = held[rng.choice(len(held), min(PROBE_CODES, len(held)), replace=False)]
    with torch.no_grad():
        codes = torch.cat([model.encode(torch.from_numpy(x))[0] for x in (a, b)])
    probe = linear_probe(codes, ["source"] * len(a) + ["target"] * len(b))
    return {
        "recon_acc_teacher_forced": round(recon["recon_acc_teacher_forced"], 4),
        "recon_acc_greedy": round(recon["recon_acc_greedy"], 4),
        "style_overlap": round(style["overlap_mean"], 4),
        "in_key_share": round(mean_key_share(made), 4),
        "domain_probe_acc": round(probe["accuracy"], 4),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("bench-out/transfer"))
    parser.add_argument(
        "--cache", type=Path, help="the corpus melody cache (default: built in museforge's home)"
    )
    parser.add_argument("--source-steps", type=int, default=1500)
    parser.add_argument("--steps", type=int, default=200, help="steps on the target tunes")
    parser.add_argument(
        "--weight",
        type=float,
        nargs="+",
        default=[0.5],
        help="the domain term's weight W (several: a row each)",
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--quick", action="store_true", help="a tiny run to check the script")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.quick:
        args.source_steps, args.steps, args.sizes = 20, 5, [10]
    started = time.perf_counter()
    cache = args.cache or home() / "cache" / "corpus-melodies.npz"
    if not cache.is_file():
        build_dataset("corpus", cache)
    data = load_dataset(cache)
    by_tune = tune_windows(data)
    source_tunes, pool, held_tunes = split_target(data, by_tune, seed=0)
    source = stack(by_tune, source_tunes)
    held = stack(by_tune, held_tunes).numpy()
    source_held = stack(by_tune, source_tunes[::50]).numpy()
    shutil.rmtree(args.out, ignore_errors=True)  # run folders refuse to be trained twice
    args.out.mkdir(parents=True)

    torch.manual_seed(0)
    base = fit(MelodyVAE(MODEL), source, args.source_steps, args.out / "source")
    base_state = {k: v.clone() for k, v in base.state_dict().items()}

    def from_source() -> MelodyVAE:
        model = MelodyVAE(MODEL)
        model.load_state_dict(base_state)
        return model.train()

    rows = [{"n": 0, "method": "source as is", "W": None, "windows": len(source)}]
    rows[0] |= measure(base, held, source_held)
    for n in args.sizes:
        windows = stack(by_tune, pool[:n])
        runs = [(m, None) for m in METHODS[:2]] + [(METHODS[2], w) for w in args.weight]
        for i, (method, weight) in enumerate(runs):
            torch.manual_seed(0)
            folder = args.out / f"n{n}-{i}"
            if method == "target only":
                model = fit(MelodyVAE(MODEL), windows, args.steps, folder)
            else:
                extra = None if weight is None else Adaptation(source, weight, args.steps)
                model = fit(from_source(), windows, args.steps, folder, extra, lr=3e-4)
            rows.append({"n": n, "method": method, "W": weight, "windows": len(windows)})
            rows[-1] |= measure(model, held, source_held)
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    report = {
        "benchmark": "transfer_melodies",
        "source_tunes": len(source_tunes),
        "target": TARGET,
        "held_out_target_tunes": len(held_tunes),
        "source_steps": args.source_steps,
        "target_steps": args.steps,
        "domain_weights": args.weight,
        "rows": rows,
        "seconds": round(time.perf_counter() - started, 1),
    }
    (args.out / "transfer.json").write_text(json.dumps(report, indent=2) + "\n")
    _table(rows, args.out / "transfer.md")
    _plot(rows, args.out / "transfer.png")
    print(json.dumps(report))
    return 0


def _table(rows: list[dict], path: Path) -> None:
    keys = [k for k in rows[0] if k not in ("n", "method")]
    lines = ["| N | method | " + " | ".join(keys) + " |", "|---|---|" + "---|" * len(keys)]
    for r in rows:
        lines.append(
            f"| {r['n']} | {r['method']} | "
            + " | ".join("-" if r[k] is None else str(r[k]) for k in keys)
            + " |"
        )
    path.write_text("\n".join(lines) + "\n")


def _plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    figures = ("recon_acc_greedy", "style_overlap", "domain_probe_acc")
    fig, axes = plt.subplots(1, len(figures), figsize=(4 * len(figures), 3.2))
    for ax, key in zip(axes, figures, strict=True):
        for method, weight in dict.fromkeys((r["method"], r["W"]) for r in rows[1:]):
            mine = [r for r in rows if (r["method"], r["W"]) == (method, weight)]
            label = method if weight is None else f"{method}, W={weight:g}"
            ax.plot([r["n"] for r in mine], [r[key] for r in mine], marker="o", label=label)
        ax.axhline(rows[0][key], color="grey", linestyle=":", label="source as is")
        ax.set_xscale("log")
        ax.set_xlabel("target tunes N")
        ax.set_title(key)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    sys.exit(main())
