"""Music figures (issue acceptance): sampling 64 two-bar melodies (target <= 0.5 s),
reloading the cached corpus (target <= 2 s), and training throughput in sequences/s.

Times on a shared machine are noisy, so each is the best of a few runs, and training
throughput is also given as a ratio against a bare PyTorch loop over the same model and
batches in this process (1.0 = our loop costs nothing).
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import torch
from torch.nn import functional as F

from museforge.core.checkpoints import shipped_models
from museforge.core.home import home
from museforge.core.timing import best_of
from museforge.music.data import build_dataset, load_dataset
from museforge.music.generate import sample
from museforge.music.model import MelodyVAE, MelodyVAEConfig
from museforge.music.train import MelodyTrainConfig, train_melody_vae

TRAIN_STEPS = 20
BATCH = 128


def _bare_loop(model: MelodyVAE, windows: torch.Tensor) -> float:
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(0)
    start = time.perf_counter()
    for _ in range(TRAIN_STEPS):  # no transposition, no metrics: the bare minimum
        x = windows[torch.randint(len(windows), (BATCH,), generator=gen)]
        mu, logvar = model.encode(x)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
        loss = F.cross_entropy(model(x, z, 1.0).transpose(1, 2), x, reduction="none").sum(1).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return time.perf_counter() - start


def main() -> None:
    cache = home() / "cache" / "corpus-melodies.npz"
    if not cache.is_file():
        build_dataset("corpus", cache)
    load_s = best_of(lambda: load_dataset(cache).windows(2, "train"))
    data = load_dataset(cache)
    windows = torch.from_numpy(data.windows(2, "train"))

    name = "melody-2bar" if "melody-2bar" in shipped_models() else None
    model = MelodyVAE.from_pretrained(name) if name else MelodyVAE(MelodyVAEConfig())
    sample(model, 64, seed=0)  # warm-up
    sample_s = best_of(lambda: sample(model, 64, seed=0))

    # Timed from the loop's own metrics, between two logged steps: start-up, the final
    # held-out evaluation and the model export are not training throughput.
    config = MelodyTrainConfig(
        steps=TRAIN_STEPS + 10, batch_size=BATCH, checkpoint_every=10_000, log_every=10
    )
    with tempfile.TemporaryDirectory() as tmp:
        train_melody_vae(cache, Path(tmp) / "run", config, progress=False)
        lines = (Path(tmp) / "run" / "metrics.jsonl").read_text().splitlines()
        times = {row["step"]: row["time"] for row in map(json.loads, lines)}
        ours_s = times[TRAIN_STEPS + 10] - times[10]
    torch.manual_seed(0)
    bare_s = _bare_loop(MelodyVAE(MelodyVAEConfig()).train(), windows)
    print(
        json.dumps(
            {
                "benchmark": "music",
                "model": name or "melody-2bar architecture, untrained",
                "sample_64_two_bar_s": round(sample_s, 3),
                "sample_target_ratio": round(sample_s / 0.5, 3),
                "corpus_reload_s": round(load_s, 3),
                "corpus_reload_target_ratio": round(load_s / 2.0, 3),
                "train_sequences_per_s": round(TRAIN_STEPS * BATCH / ours_s, 1),
                "train_bare_loop_sequences_per_s": round(TRAIN_STEPS * BATCH / bare_s, 1),
                "train_overhead_ratio": round(ours_s / bare_s, 3),
                "torch_threads": torch.get_num_threads(),
            }
        )
    )


if __name__ == "__main__":
    main()
