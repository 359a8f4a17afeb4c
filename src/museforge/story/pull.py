"""``museforge story pull NAME``: a curated model fetched from the Hugging Face hub, on request.

Nothing is ever fetched at run time; this command is the one way museforge downloads a
model, and only one it knows by name: each entry pins the repository, a revision (a commit,
so the file cannot change under the name), the file, its size and its SHA-256. The file is
streamed into a temporary file in the models folder (``$MUSEFORGE_HOME/models``), hashed
as it comes, and renamed into place only if its size and hash are the pinned ones; a wrong
hash, a file larger than pinned or a broken connection leaves nothing behind. The hub is
``$HF_ENDPOINT`` where set (a mirror, or a local server standing in for the hub), else
https://huggingface.co; ``--manifest`` gives entries of one's own, in the same form.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, fields
from pathlib import Path

from museforge.core.atomic import atomic_path
from museforge.errors import BadInputFile, UserError, require_file
from museforge.story.models import models_dir

ENDPOINT_ENV = "HF_ENDPOINT"
HUB = "https://huggingface.co"
BLOCK = 1 << 20
_REPO = re.compile(r"^[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*$")
_FILE = re.compile(r"^[A-Za-z0-9][\w.-]*$")
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]*$")


@dataclass(frozen=True)
class Remote:
    """A model file on the hub, pinned."""

    repo: str  # "owner/name"
    revision: str  # a commit: 40 hexadecimal digits
    file: str  # the file's name in the repository (no folders)
    sha256: str
    size: int
    licence: str = ""

    def __post_init__(self) -> None:
        if not _REPO.match(self.repo) or ".." in self.repo:
            raise UserError(f"{self.repo!r} is not a hub repository (owner/name)")
        if not re.fullmatch(r"[0-9a-f]{40}", self.revision):
            raise UserError(f"{self.repo}: the revision must be a commit (40 hex digits)")
        if not _FILE.match(self.file) or ".." in self.file:
            raise UserError(f"{self.repo}: {self.file!r} is not a plain file name")
        if not re.fullmatch(r"[0-9a-f]{64}", self.sha256):
            raise UserError(f"{self.repo}: the sha256 must be 64 hex digits")
        if not isinstance(self.size, int) or self.size < 1:
            raise UserError(f"{self.repo}: the size must be a number of bytes")

    def url(self, endpoint: str) -> str:
        return f"{endpoint.rstrip('/')}/{self.repo}/resolve/{self.revision}/{self.file}"


CATALOGUE = {
    # the same bytes as `make story-large` joins from wheels (see model_parts)
    "qwen2.5-coder-1.5b": Remote(
        "Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF",
        "f86cb2c1fa58255f8052cc32aeede1b7482d4361",
        "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        1_117_320_768,
        "Apache-2.0",
    ),
}


def read_manifest(path: Path) -> dict[str, Remote]:
    """Entries from a JSON file: ``{"NAME": {"repo", "revision", "file", "sha256", "size"}}``."""
    path = require_file(path, "manifest")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadInputFile(path, "is not a JSON manifest", str(exc)) from None
    if not isinstance(data, dict):
        raise BadInputFile(path, "is not a JSON object of models by name")
    known = {f.name for f in fields(Remote)}
    entries = {}
    for name, entry in data.items():
        if not _NAME.match(str(name)) or not isinstance(entry, dict) or set(entry) - known:
            raise BadInputFile(path, f"entry {name!r} is not a model entry ({', '.join(known)})")
        try:
            entries[name] = Remote(**entry)
        except TypeError as exc:
            raise BadInputFile(path, f"entry {name!r}: {exc}") from None
    return entries


def pull(name: str, manifest: Path | None = None, folder: Path | None = None) -> Path:
    """Fetch the model ``name`` into ``folder`` (the models folder) as ``NAME.gguf``; a
    UserError, and nothing left behind, if it is unknown, cannot be fetched, or is not the
    pinned file. A model already there with the pinned hash is kept."""
    import httpx

    from museforge.core.hashing import sha256_file

    catalogue = read_manifest(manifest) if manifest else CATALOGUE
    if name not in catalogue:
        raise UserError(f"unknown model {name!r} to pull: use {', '.join(sorted(catalogue))}")
    remote = catalogue[name]
    target = (folder or models_dir()) / f"{name}.gguf"
    kept = target.is_file() and target.stat().st_size == remote.size
    if kept and sha256_file(target) == remote.sha256:
        return target
    url = remote.url(os.environ.get(ENDPOINT_ENV) or HUB)
    digest, size = hashlib.sha256(), 0
    with atomic_path(target) as tmp, tmp.open("wb") as out:
        try:
            with httpx.stream("GET", url, follow_redirects=True, timeout=60) as response:
                if response.status_code != 200:
                    raise UserError(f"{url}: the hub answered HTTP {response.status_code}")
                for block in response.iter_bytes(BLOCK):
                    size += len(block)
                    if size > remote.size:
                        raise UserError(f"{url}: larger than the pinned {remote.size:,} bytes")
                    digest.update(block)
                    out.write(block)
        except httpx.HTTPError as exc:
            raise UserError(f"{url}: cannot download ({exc or type(exc).__name__})") from None
        if size != remote.size or digest.hexdigest() != remote.sha256:
            raise UserError(
                f"{url}: refused, the file is {size:,} bytes with sha256 {digest.hexdigest()}, "
                f"not the pinned {remote.size:,} bytes and {remote.sha256}; nothing was kept"
            )
    return target
