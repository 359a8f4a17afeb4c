"""Melody features a person can use: each tune's place in a melody model's latent space.

A tune's feature is the mean of the posterior means mu of q(z|x) over its windows (the
model's own length, starting on bar lines, up to ``MAX_WINDOWS`` spread over the tune), so
a 2-bar model describes a whole tune by its typical 2-bar figures. ``embed_tunes`` returns
the features with ``FeatureItem``s that carry the tune's title, origin and its opening bars
as notes to play (see ``core/feature_map.py``).
"""

from __future__ import annotations

import numpy as np
import torch

from museforge.core.feature_map import FeatureItem
from museforge.core.progress import track
from museforge.errors import UserError
from museforge.music.data import SPLITS, MelodyDataset
from museforge.music.melody import events_to_notes
from museforge.music.model import MelodyVAE
from museforge.music.origins import origin
from museforge.music.stacked import StackedMelodyVAE

MAX_WINDOWS = 16  # windows a tune's feature averages over
PLAY_BARS = 4  # bars of the opening a map plays
SECONDS_PER_STEP = 0.125  # a 16th note at 120 quarter notes a minute


@torch.no_grad()
def embed_tunes(
    model: MelodyVAE | StackedMelodyVAE, dataset: MelodyDataset, progress: bool = True
) -> tuple[torch.Tensor, list[FeatureItem]]:
    """Features [tunes, z_dim] of every tune with a window of the model's length."""
    bars = model.config.bars
    starts = np.concatenate([dataset.window_starts(bars, split) for split in SPLITS])
    windows = np.concatenate([dataset.windows(bars, split) for split in SPLITS])
    melody = np.searchsorted(dataset.offsets, starts, side="right") - 1
    tune = dataset.melody_tune[melody]
    order = np.argsort(tune, kind="stable")
    tunes, first = np.unique(tune[order], return_index=True)
    if len(tunes) == 0:
        raise UserError(f"no tune has a {bars}-bar window to embed (4/4 or 2/4 melodies needed)")
    bounds = np.append(first, len(order))
    features, items = [], []
    meta = dataset.meta["tunes"]
    model.eval()
    for i in track(range(len(tunes)), len(tunes), "embedding tunes", progress):
        rows = order[bounds[i] : bounds[i + 1]]
        rows = rows[np.linspace(0, len(rows) - 1, min(MAX_WINDOWS, len(rows))).astype(int)]
        mu, _ = model.encode(torch.from_numpy(windows[rows]))
        features.append(mu.mean(dim=0))
        t = meta[int(tunes[i])]
        opening = windows[rows[0]][: PLAY_BARS * dataset.config.bar_steps]
        notes = [
            (p, s * SECONDS_PER_STEP, e * SECONDS_PER_STEP) for p, s, e in events_to_notes(opening)
        ]
        title = t["title"] or t["id"]
        items.append(FeatureItem(t["id"], title, origin(t["source"]), notes))
    return torch.stack(features), items
