"""Recipes: how the studio made an artifact, kept in its params as ``params["studio"]``.

A recipe names the medium and the verb and holds every form field, so "recall" can fill
the form again, "reproduce" can make the artifact again, and a PNG downloaded from the
studio carries it in a ``tEXt`` chunk (keyword ``museforge``) that the page reads back
when the file is dropped on it.
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Callable
from typing import Any

from museforge.core.store import Artifact, Store

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_KEYWORD = b"museforge"

Reproducer = Callable[[Store, dict[str, Any]], bytes]


def recipe_of(artifact: Artifact) -> dict[str, Any] | None:
    """The studio recipe the artifact was made by, if the studio made it."""
    recipe = (artifact.params or {}).get("studio")
    return recipe if isinstance(recipe, dict) else None


def recipe_for_file(store: Store, artifact: Artifact) -> dict[str, Any] | None:
    """The recipe of the artifact, or of the one it is a rendering of (a piano roll)."""
    recipe = recipe_of(artifact)
    if recipe is None:
        for edge in store.parents(artifact.id):
            if edge.relation == "rendered-from":
                recipe = recipe_of(edge.artifact)
    return recipe


def with_recipe_chunk(png: bytes, recipe: dict[str, Any]) -> bytes:
    """``png`` with the recipe in a tEXt chunk right after IHDR (pixels untouched)."""
    if not png.startswith(PNG_SIGNATURE):
        return png
    (ihdr_length,) = struct.unpack(">I", png[8:12])
    end_of_ihdr = 8 + 12 + ihdr_length
    body = PNG_KEYWORD + b"\0" + json.dumps(recipe, sort_keys=True).encode("latin-1", "replace")
    chunk = struct.pack(">I", len(body)) + b"tEXt" + body
    chunk += struct.pack(">I", zlib.crc32(b"tEXt" + body) & 0xFFFFFFFF)
    return png[:end_of_ihdr] + chunk + png[end_of_ihdr:]


def read_recipe_chunk(png: bytes) -> dict[str, Any] | None:
    """The recipe a PNG carries, if any (the page does the same in JavaScript)."""
    at = len(PNG_SIGNATURE)
    while at + 8 <= len(png):
        (length,) = struct.unpack(">I", png[at : at + 4])
        kind = png[at + 4 : at + 8]
        body = png[at + 8 : at + 8 + length]
        if kind == b"tEXt" and body.startswith(PNG_KEYWORD + b"\0"):
            return json.loads(body[len(PNG_KEYWORD) + 1 :].decode("latin-1"))
        at += 12 + length
    return None
