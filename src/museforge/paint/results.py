"""Paintings into the store: the PNG with its inputs as parents, the other files (time-lapse,
SVG, plotter files) as renderings of it."""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path

from museforge.core.store import Store
from museforge.paint.pictures import SAMPLE_PREFIX, is_sample


def keep_drawing(
    files: dict[str, Path],
    image: str,
    start: Path | None,
    mask: str | None,
    params: dict,
    seed: int,
    model: str,
    store: Store | None = None,
) -> dict[str, str]:
    """Store the painting with its inputs as parents, and the other files as renderings."""

    def source_file(source: str) -> Path:
        if not is_sample(source):
            return Path(source)
        from importlib import resources

        import skimage.data

        name = source[len(SAMPLE_PREFIX) :]
        folder = Path(str(resources.files(skimage.data)))
        return next(iter(sorted(folder.glob(f"{name}.*"))), None) or folder / f"{name}.png"

    ids: dict[str, str] = {}
    with Store() if store is None else nullcontext(store) as db:
        parents = []
        for role, source in (("picture", image), ("mask", mask)):
            if source is None:
                continue
            path = source_file(source)
            if path.is_file():
                kept = db.add_file(path, kind="image", note=f"given as the {role} ({source})")
                parents.append((kept.id, "input"))
        if start is not None:
            kept = db.add_file(start, kind="painting", note=f"the drawing continued ({start})")
            parents.append((kept.id, "continuation-of"))
        painting = db.add_file(
            files["png"], kind="painting", params=params, seed=seed, model_id=model, parents=parents
        )
        ids["png"] = painting.id
        for key, path in files.items():
            if key == "png":
                continue
            kind = "plot" if key.startswith("plot") else "painting"
            ids[key] = db.add_file(
                path,
                kind=kind,
                params=params,
                seed=seed,
                model_id=model,
                parents=[(painting.id, "rendered-from")],
            ).id
    return ids
