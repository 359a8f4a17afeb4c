"""Model weights as safetensors plus a JSON config: never pickle.

A model folder (as in Hugging Face diffusers) holds ``model.safetensors``, ``config.json``
and ``MODEL_CARD.md``; ``save_pretrained`` writes one and ``from_pretrained`` reads it back.
Shipped models live in ``museforge/weights/<name>/`` and load by name.

The training loop keeps its own state (optimizer, RNG, EMA weights) the same way:
``save_state`` writes one safetensors file whose metadata holds everything that is not a
tensor as JSON, and ``flatten_state`` / ``unflatten_state`` split nested state such as an
optimizer's ``state_dict()`` into those two parts and put it back together exactly.
"""

from __future__ import annotations

import json
import typing
from collections.abc import Sequence
from dataclasses import asdict, fields, is_dataclass
from pathlib import Path
from typing import Any, ClassVar, Self

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import Tensor

import museforge
from museforge.core.atomic import atomic_folder, atomic_path
from museforge.core.hashing import sha256_file
from museforge.errors import BadInputFile, MissingFile, UserError

WEIGHTS_DIR = Path(museforge.__file__).parent / "weights"
WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
CARD_FILE = "MODEL_CARD.md"

# A model folder's config.json is data from anywhere: before a byte is allocated, every
# whole number in it must stay under MAX_CONFIG_INT and the model it describes (built on
# PyTorch's "meta" device, which allocates nothing) under MAX_MODEL_NUMBERS numbers.
MAX_CONFIG_INT = 1_000_000
MAX_MODEL_NUMBERS = 1_000_000_000  # 4 GB of float32; the shipped models hold under 10 M

# Keys in a safetensors file's metadata (a str -> str map).
_ALIASES = "aliases"  # JSON {name: name it shares memory with}, for tied weights
_STATE = "museforge_state"  # JSON meta of save_state


class UnknownModel(UserError):
    """A name that is neither a model folder nor a shipped model."""


class Pretrained:
    """Mixin for ``nn.Module`` classes built from one dataclass config held in ``self.config``.

    Subclasses declare ``config_class`` (the dataclass) and ``model_type`` (a stable name
    stored in config.json, so a folder is never loaded into the wrong class).
    """

    config_class: ClassVar[type]
    model_type: ClassVar[str]
    # buffers (by name) a folder saved before they existed may lack; they keep their defaults
    optional_buffers: ClassVar[tuple[str, ...]] = ()
    config: Any

    def save_pretrained(
        self,
        directory: str | Path,
        *,
        card: str | None = None,
        extra: dict[str, Any] | None = None,
        dtype: torch.dtype | None = None,
    ) -> Path:
        """Write the model folder; ``dtype=torch.float16`` halves a shipped file's size.

        ``extra`` (the training command, steps, metrics) goes into config.json beside the
        config, so a model folder says how it was made.
        """
        directory = Path(directory)
        record = {
            "model_type": self.model_type,
            "config": asdict(self.config),
            "museforge_version": museforge.__version__,
        }
        clash = record.keys() & (extra or {}).keys()
        if clash:
            raise ValueError(f"extra may not replace {sorted(clash)}")
        record |= extra or {}
        tensors, aliases = _tensors_for_file(self.state_dict(), dtype)
        metadata = {"format": "pt"}
        if aliases:
            metadata[_ALIASES] = json.dumps(aliases)
        card = card if card is not None else _default_card(record)
        with atomic_folder(directory) as tmp:
            save_file(tensors, tmp / WEIGHTS_FILE, metadata=metadata)
            record["weights_sha256"] = sha256_file(tmp / WEIGHTS_FILE)
            (tmp / CONFIG_FILE).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
            (tmp / CARD_FILE).write_text(card, encoding="utf-8")
        return directory

    @classmethod
    def from_pretrained(
        cls, name_or_path: str | Path, map_location: str | torch.device = "cpu"
    ) -> Self:
        """Load a model folder or a shipped model by name, in float32 and eval mode.

        Weights shipped as float16 come back as float32: the CPU is slow and imprecise with
        half precision, and a loaded model should behave like the one that was trained.
        """
        directory = resolve_model_dir(name_or_path)
        record = read_config(directory)
        if record["model_type"] != cls.model_type:
            raise BadInputFile(
                directory,
                f"holds a {record['model_type']!r} model, not {cls.model_type!r}",
                f"load it with the class for {record['model_type']!r}",
            )
        config = _build_config(cls.config_class, record["config"], directory / CONFIG_FILE)
        _check_size(cls, config, directory / CONFIG_FILE)
        weights = directory / WEIGHTS_FILE
        if not weights.is_file():
            raise BadInputFile(directory, f"has no {WEIGHTS_FILE}", "save the model again")
        tensors, _ = _read_file(weights)
        expected = record.get("weights_sha256")
        if expected is not None and sha256_file(weights) != expected:
            raise BadInputFile(
                directory,
                f"holds a {WEIGHTS_FILE} that is not the one its {CONFIG_FILE} was written with",
                "a save was cut short or files were mixed; save or copy the model again",
            )
        model = cls(config)
        try:
            missing, unexpected = model.load_state_dict(tensors, strict=False)
        except RuntimeError as err:
            raise BadInputFile(weights, "does not fit its config.json", str(err)[:300]) from None
        # buffers a class added later keep their initial values in folders saved before
        optional = cls.optional_buffers
        missing = [key for key in missing if key.rsplit(".", 1)[-1] not in optional]
        if missing or unexpected:
            found = f"missing {missing[:5]}, unexpected {unexpected[:5]}"
            raise BadInputFile(weights, "does not fit its config.json", found)
        return model.float().to(map_location).eval()


def load_model(name_or_path: str | Path, classes: Sequence[type], what: str) -> Any:
    """A model folder (or shipped name) loaded by the one of ``classes`` (``Pretrained``
    subclasses) whose ``model_type`` its config names; ``what`` says what was expected,
    e.g. "a GAN", in the error for any other type."""
    directory = resolve_model_dir(name_or_path)
    model_type = read_config(directory)["model_type"]
    by_type = {cls.model_type: cls for cls in classes}
    if model_type not in by_type:
        raise BadInputFile(
            directory,
            f"holds a {model_type!r} model, not {what}",
            f"give a model folder of {' or '.join(by_type)}",
        )
    return by_type[model_type].from_pretrained(directory)


def shipped_models() -> list[str]:
    """Names of the models that ship with museforge (folders of WEIGHTS_DIR with a config)."""
    if not WEIGHTS_DIR.is_dir():
        return []
    return sorted(p.name for p in WEIGHTS_DIR.iterdir() if (p / CONFIG_FILE).is_file())


def resolve_model_dir(name_or_path: str | Path) -> Path:
    """An existing folder wins; otherwise the name of a shipped model."""
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        return path
    if path.exists():
        raise BadInputFile(path, "is a file, expected a model folder")
    name = str(name_or_path)
    shipped = shipped_models()
    if name in shipped:
        return WEIGHTS_DIR / name
    if path.name != name or name.startswith((".", "~")):
        raise MissingFile(path, "model folder")
    raise UnknownModel(
        f"{name}: no such model folder or shipped model (shipped: {', '.join(shipped) or 'none'})"
    )


def model_id(name_or_path: str | Path) -> str:
    """A model's identity for provenance: its name and the start of its weights' sha256,
    so a result names exactly the weights that made it, even after a retrain."""
    directory = resolve_model_dir(name_or_path)
    return f"{directory.name}@{sha256_file(directory / WEIGHTS_FILE)[:12]}"


def read_config(directory: str | Path) -> dict[str, Any]:
    """The parsed config.json of a model folder, checked to hold a model type and config."""
    path = Path(directory) / CONFIG_FILE
    if not path.is_file():
        raise BadInputFile(directory, f"has no {CONFIG_FILE}", "is it a folder saved by museforge?")
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise BadInputFile(path, "is not valid JSON", str(err)) from None
    if not (
        isinstance(record, dict)
        and isinstance(record.get("model_type"), str)
        and isinstance(record.get("config"), dict)
    ):
        raise BadInputFile(path, "lacks 'model_type' or 'config'", "save the model again")
    return record


def save_state(path: str | Path, tensors: dict[str, Tensor], meta: dict[str, Any]) -> None:
    """Write tensors plus JSON ``meta`` as one safetensors file, atomically."""
    flat, aliases = _tensors_for_file(tensors, None)
    metadata = {"format": "pt", _STATE: json.dumps(meta)}
    if aliases:
        metadata[_ALIASES] = json.dumps(aliases)
    with atomic_path(path) as tmp:
        save_file(flat, tmp, metadata=metadata)


def load_state(path: str | Path) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """Read back what ``save_state`` wrote: (tensors on the CPU, meta)."""
    path = Path(path)
    if not path.is_file():
        raise MissingFile(path)
    tensors, metadata = _read_file(path)
    if _STATE not in metadata:
        raise BadInputFile(path, "holds no training state", "was it written by museforge?")
    return tensors, json.loads(metadata[_STATE])


def flatten_state(obj: Any, prefix: str) -> tuple[dict[str, Tensor], Any]:
    """Split nested state into ``(tensors, skeleton)``: the skeleton is JSON-ready.

    Tensors become ``{"__tensor__": key}`` with keys under ``prefix``; tuples and dicts with
    keys that are not plain strings (an optimizer's integer parameter ids) are marked so
    that ``unflatten_state`` gives back exactly the same types.
    """
    tensors: dict[str, Tensor] = {}

    def walk(x: Any, key: str) -> Any:
        if isinstance(x, Tensor):
            if key in tensors:
                raise ValueError(f"two tensors would be stored as {key!r}")
            tensors[key] = x
            return {"__tensor__": key}
        if isinstance(x, tuple):
            return {"__tuple__": [walk(v, f"{key}/{i}") for i, v in enumerate(x)]}
        if isinstance(x, list):
            return [walk(v, f"{key}/{i}") for i, v in enumerate(x)]
        if isinstance(x, dict):
            if all(isinstance(k, str) and not _is_marker(k) for k in x):
                return {k: walk(v, f"{key}/{k}") for k, v in x.items()}
            return {"__items__": [[walk(k, key), walk(v, f"{key}/{k}")] for k, v in x.items()]}
        if x is None or isinstance(x, bool | int | float | str):
            return x
        raise TypeError(f"cannot store a {type(x).__name__} at {key}")

    return tensors, walk(obj, prefix)


def unflatten_state(skeleton: Any, tensors: dict[str, Tensor]) -> Any:
    """The inverse of ``flatten_state``."""
    if isinstance(skeleton, list):
        return [unflatten_state(v, tensors) for v in skeleton]
    if not isinstance(skeleton, dict):
        return skeleton
    if skeleton.keys() == {"__tensor__"}:
        return tensors[skeleton["__tensor__"]]
    if skeleton.keys() == {"__tuple__"}:
        return tuple(unflatten_state(v, tensors) for v in skeleton["__tuple__"])
    if skeleton.keys() == {"__items__"}:
        return {
            unflatten_state(k, tensors): unflatten_state(v, tensors)
            for k, v in skeleton["__items__"]
        }
    return {k: unflatten_state(v, tensors) for k, v in skeleton.items()}


def _is_marker(key: str) -> bool:
    return key.startswith("__") and key.endswith("__")


def _tensors_for_file(
    state: dict[str, Tensor], dtype: torch.dtype | None
) -> tuple[dict[str, Tensor], dict[str, str]]:
    """Contiguous CPU tensors that safetensors accepts, plus aliases for tied weights.

    safetensors refuses tensors that share memory: an exact alias (tied embedding and
    output weights) is stored once and recorded by name; any other overlap is copied.
    """
    tensors: dict[str, Tensor] = {}
    aliases: dict[str, str] = {}
    seen_views: dict[tuple, str] = {}
    seen_storage: set[int] = set()
    for name, t in state.items():
        t = t.detach()
        storage = t.untyped_storage().data_ptr()
        view = (storage, t.storage_offset(), tuple(t.shape), t.stride(), t.dtype, t.device)
        if t.numel() and view in seen_views:
            aliases[name] = seen_views[view]
            continue
        seen_views[view] = name
        if dtype is not None and t.is_floating_point():
            t = t.to(dtype)
        t = t.contiguous().cpu()
        if t.untyped_storage().data_ptr() in seen_storage:
            t = t.clone()
        seen_storage.add(t.untyped_storage().data_ptr())
        tensors[name] = t
    return tensors, aliases


def _read_file(path: Path) -> tuple[dict[str, Tensor], dict[str, str]]:
    """All tensors (aliases restored) and the metadata of a safetensors file."""
    try:
        with safe_open(path, framework="pt", device="cpu") as f:
            metadata = f.metadata() or {}
            tensors = {name: f.get_tensor(name) for name in f.keys()}  # noqa: SIM118 (not a dict)
        aliases = json.loads(metadata.get(_ALIASES, "{}"))
        for name, target in aliases.items():
            tensors[name] = tensors[target]
    except (SafetensorError, OSError, json.JSONDecodeError, KeyError) as err:
        raise BadInputFile(
            path, "is not a readable safetensors file", f"{err}; write it again"
        ) from None
    return tensors, metadata


def _build_config(config_class: type, data: dict[str, Any], path: Path) -> Any:
    _check_numbers(data, path)
    try:
        return _from_dict(config_class, data)
    except (TypeError, ValueError) as err:
        raise BadInputFile(path, f"config does not fit {config_class.__name__}", str(err)) from None


def _check_numbers(data: Any, path: Path, where: str = "config") -> None:
    """Every whole number in a config stays between -MAX_CONFIG_INT and MAX_CONFIG_INT."""
    if isinstance(data, dict):
        for key, value in data.items():
            _check_numbers(value, path, f"{where}.{key}")
    elif isinstance(data, list):
        for i, value in enumerate(data):
            _check_numbers(value, path, f"{where}[{i}]")
    elif isinstance(data, int) and not isinstance(data, bool) and abs(data) > MAX_CONFIG_INT:
        raise BadInputFile(
            path, f"asks for {where} = {data:,}, beyond the {MAX_CONFIG_INT:,} museforge allows"
        )


def _check_size(cls: type, config: Any, path: Path) -> None:
    """Build the model on the meta device (no memory) and count the numbers it would hold."""
    try:
        with torch.device("meta"):
            probe = cls(config)
    except Exception as err:  # a config a constructor refuses, whatever the reason
        raise BadInputFile(
            path, "does not describe a model that can be built", str(err)[:200]
        ) from None
    numbers = sum(t.numel() for t in probe.state_dict().values())
    if numbers > MAX_MODEL_NUMBERS:
        raise BadInputFile(
            path,
            f"describes a model of {numbers:,} numbers, more than the "
            f"{MAX_MODEL_NUMBERS:,} museforge loads",
        )


def _from_dict(config_class: type, data: dict[str, Any]) -> Any:
    """Rebuild a dataclass from ``asdict`` output: nested dataclasses and tuples come back.

    A field missing from the file takes its default, so configs saved before a field was
    added still load. A field the class has retired (its ``RETIRED_FIELDS``: name -> the
    value it must hold, or None for any) is read and dropped.
    """
    hints = typing.get_type_hints(config_class)
    names = {f.name for f in fields(config_class)}
    retired = getattr(config_class, "RETIRED_FIELDS", {})
    for name in data.keys() & retired.keys():
        if retired[name] is not None and data[name] != retired[name]:
            raise TypeError(f"field {name}={data[name]!r} is no longer supported")
    data = {k: v for k, v in data.items() if k not in retired}
    unknown = data.keys() - names
    if unknown:
        raise TypeError(f"unknown fields {sorted(unknown)}")
    kwargs = {}
    for name, value in data.items():
        hint = hints[name]
        if is_dataclass(hint) and isinstance(value, dict):
            value = _from_dict(hint, value)
        elif typing.get_origin(hint) is tuple and isinstance(value, list):
            value = tuple(value)
        kwargs[name] = value
    return config_class(**kwargs)


def _default_card(record: dict[str, Any]) -> str:
    """A minimal model card: what the model is, its config, and how it was made."""
    lines = [
        f"# {record['model_type']}",
        "",
        f"Saved by museforge {record['museforge_version']}: weights in `{WEIGHTS_FILE}` "
        f"(safetensors), settings in `{CONFIG_FILE}`.",
        "",
        "## Config",
        "",
        "```json",
        json.dumps(record["config"], indent=2),
        "```",
    ]
    made = {
        k: v for k, v in record.items() if k not in ("model_type", "config", "museforge_version")
    }
    if made:
        lines += ["", "## Training", "", "```json", json.dumps(made, indent=2), "```"]
    return "\n".join(lines) + "\n"
