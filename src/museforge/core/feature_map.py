"""Features of a person's items, kept as files, drawn as a map, and probed for what they know.

Feature extraction is the first of the seed's three kinds of transfer: a trained network's
inner representation (a melody model's latent code, an image network's pooled features)
describes items it never saw. Three uses, medium-free:

- ``write_features`` / ``read_features``: a folder with ``features.safetensors`` (one row
  per item) and ``items.csv`` (id, title, group, and what a viewer needs), so other tools
  can read them too;
- ``project_2d``: a 2-D layout by t-SNE (van der Maaten & Hinton 2008, scikit-learn's), or
  PCA for a handful of items;
- ``linear_probe``: the cross-validated accuracy of a logistic regression that predicts each
  item's group from its features, beside the majority-class baseline: how much of the group
  the features hold in a linear, readable way (Alain & Bengio 2016);
- ``map_html``: one self-contained page (inline SVG, no network) with every item a dot,
  coloured by group; hovering names it, a click plays a melody or shows a picture.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from jinja2 import Environment, PackageLoader, select_autoescape
from safetensors.torch import load_file, save_file

from museforge.core.atomic import atomic_folder
from museforge.errors import BadInputFile, UserError, require_dir

FEATURES_FILE = "features.safetensors"
ITEMS_FILE = "items.csv"
MIN_TSNE_ITEMS = 8  # fewer items than this are laid out by PCA
MAX_MAP_ITEMS = 20_000  # a page beyond this gets slow in a browser
PROBE_FOLDS = 5


@dataclass
class FeatureItem:
    """One item with features: where it came from, and what a viewer may show of it."""

    id: str
    title: str
    group: str = ""  # e.g. a melody's origin; "" when unknown
    notes: list[tuple[int, float, float]] = field(default_factory=list)  # (pitch, start s, end s)
    picture: str = ""  # a small picture as a data: URI


def write_features(folder: Path, features: torch.Tensor, items: list[FeatureItem]) -> Path:
    """Write ``features`` [N, D] and ``items`` to ``folder``, all or nothing."""
    if features.ndim != 2 or len(features) != len(items):
        raise ValueError(f"{len(items)} items need features [N, D], not {tuple(features.shape)}")
    with atomic_folder(folder) as tmp:
        save_file({"features": features.float().contiguous()}, str(tmp / FEATURES_FILE))
        with (tmp / ITEMS_FILE).open("w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["id", "title", "group", "notes", "picture"])
            for item in items:
                writer.writerow(
                    [item.id, item.title, item.group, json.dumps(item.notes), item.picture]
                )
    return folder


def read_features(folder: str | Path) -> tuple[torch.Tensor, list[FeatureItem]]:
    """The features and items of a folder ``write_features`` wrote."""
    folder = require_dir(folder)
    path = folder / FEATURES_FILE
    if not path.is_file() or not (folder / ITEMS_FILE).is_file():
        raise UserError(
            f"{folder}: no {FEATURES_FILE} and {ITEMS_FILE} "
            "(write them with `museforge music embed` or `museforge image embed`)"
        )
    try:
        features = load_file(str(path))["features"]
        with (folder / ITEMS_FILE).open(newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        items = [
            FeatureItem(
                r["id"],
                r["title"],
                r["group"],
                [tuple(n) for n in json.loads(r["notes"] or "[]")],
                r["picture"],
            )
            for r in rows
        ]
    except (KeyError, ValueError, OSError) as exc:
        raise BadInputFile(path, f"not a features folder ({exc})") from exc
    if features.ndim != 2 or len(features) != len(items):
        raise BadInputFile(
            path, f"{len(items)} items but features of shape {tuple(features.shape)}"
        )
    return features, items


def project_2d(features: torch.Tensor | np.ndarray, seed: int = 0) -> np.ndarray:
    """A 2-D layout [N, 2] in [0, 1]: t-SNE, or PCA for fewer than ``MIN_TSNE_ITEMS`` items."""
    x = np.asarray(features, dtype=np.float64)
    if len(x) == 0:
        raise UserError("no items to lay out")
    x = x - x.mean(axis=0)
    if len(x) == 1:
        points = np.zeros((1, 2))
    elif len(x) < MIN_TSNE_ITEMS:
        _, _, vt = np.linalg.svd(x, full_matrices=False)
        points = x @ vt[:2].T if vt.shape[0] >= 2 else np.c_[x @ vt[:1].T, np.zeros(len(x))]
    else:
        from sklearn.manifold import TSNE

        perplexity = float(min(30.0, (len(x) - 1) / 3))
        points = TSNE(2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(x)
    span = points.max(axis=0) - points.min(axis=0)
    return (points - points.min(axis=0)) / np.where(span > 0, span, 1.0)


def linear_probe(
    features: torch.Tensor | np.ndarray, groups: list[str], folds: int = 5, seed: int = 0
) -> dict:
    """Cross-validated accuracy of predicting ``groups`` from ``features`` linearly.

    Groups with fewer items than ``folds`` are left out (they cannot be split); the
    majority baseline is the share of the largest group among the items kept.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    counts = Counter(g for g in groups if g)
    kept = [i for i, g in enumerate(groups) if g and counts[g] >= folds]
    classes = sorted({groups[i] for i in kept})
    if len(classes) < 2:
        raise UserError(
            f"a probe needs at least 2 groups of at least {folds} items each; "
            f"found {dict(counts) or 'no groups'}"
        )
    x = np.asarray(features, dtype=np.float64)[kept]
    y = np.array([groups[i] for i in kept])
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    split = StratifiedKFold(folds, shuffle=True, random_state=seed)
    scores = cross_val_score(model, x, y, cv=split)
    majority = max(Counter(y).values()) / len(y)
    return {
        "accuracy": float(scores.mean()),
        "accuracy_std": float(scores.std()),
        "majority_baseline": float(majority),
        "folds": folds,
        "items": len(y),
        "groups": {c: int(counts[c]) for c in classes},
    }


def write_probe(
    folder: Path, features: torch.Tensor, items: list[FeatureItem], seed: int = 0
) -> dict | None:
    """Probe ``items``' groups (when at least two have enough items) and write
    ``probe.json`` into ``folder``; None when there is nothing to probe."""
    groups = [item.group for item in items]
    counts = Counter(g for g in groups if g)
    if sum(n >= PROBE_FOLDS for n in counts.values()) < 2:
        return None
    report = linear_probe(features, groups, folds=PROBE_FOLDS, seed=seed)
    (Path(folder) / "probe.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return report


def probe_line(report: dict, what: str) -> str:
    """One line a person reads: the probe's accuracy beside the majority baseline."""
    return (
        f"probe of the {what}: accuracy {report['accuracy']:.3f} +- {report['accuracy_std']:.3f} "
        f"over {report['items']} items in {len(report['groups'])} groups; "
        f"majority baseline {report['majority_baseline']:.3f}"
    )


def map_html(
    features: torch.Tensor | np.ndarray, items: list[FeatureItem], title: str, seed: int = 0
) -> str:
    """The map page: every item a dot at its t-SNE place, coloured by group."""
    if len(items) > MAX_MAP_ITEMS:
        raise UserError(f"{len(items)} items is more than a map shows ({MAX_MAP_ITEMS})")
    points = project_2d(features, seed)
    groups = sorted({item.group or "(none)" for item in items})
    dots = [
        {
            "x": round(float(x), 5),
            "y": round(float(y), 5),
            "title": item.title,
            "group": groups.index(item.group or "(none)"),
            "notes": item.notes,
            "picture": item.picture,
        }
        for item, (x, y) in zip(items, points, strict=True)
    ]
    env = Environment(
        loader=PackageLoader("museforge.core", "templates"), autoescape=select_autoescape()
    )
    # JSON inside <script>: every "<" is written "\u003c", so no title can end the element
    data = json.dumps(dots).replace("<", "\\u003c")
    return env.get_template("feature_map.html").render(
        title=title, groups=groups, dots_json=data, count=len(items)
    )
