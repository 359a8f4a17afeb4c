"""Trained models as artifacts, so a result's lineage reaches past a model's name to the
data it learned from and the model it started from."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from museforge.core.checkpoints import WEIGHTS_FILE, model_id, read_config, resolve_model_dir
from museforge.core.store import Artifact, Store
from museforge.errors import require_file


def record_trained_model(
    store: Store,
    model_dir: str | Path,
    data: Sequence[str | Path] = (),
    init: str | Path | None = None,
    note: str | None = None,
) -> Artifact:
    """Keep ``model_dir``'s weights as a ``model`` artifact whose params are its config.json.

    ``data`` are the files it was trained on (a dataset file, or a fingerprint file that
    stands for a folder of data), each kept as a ``dataset`` artifact; ``init`` is the model
    folder (or shipped name) training started from, recorded the same way. Both become
    ``trained-from`` parents. Recording the same weights again adds only new edges.
    """
    directory = resolve_model_dir(model_dir)
    weights = require_file(directory / WEIGHTS_FILE)
    config = read_config(directory)
    parents = [
        (store.add_file(require_file(path), kind="dataset").id, "trained-from") for path in data
    ]
    if init is not None:
        parents.append((record_trained_model(store, init).id, "trained-from"))
    return store.add_file(
        weights,
        kind="model",
        params=config,
        model_id=model_id(directory),
        parents=parents,
        note=note,
    )
