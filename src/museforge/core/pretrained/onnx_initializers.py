"""The weight tensors (initializers) of an ONNX file, read with numpy alone.

An ONNX file is one protocol-buffer message (``ModelProto``). Only four fields are needed:
``ModelProto.graph`` (7), ``GraphProto.initializer`` (5), and in each ``TensorProto`` its
``dims`` (1), ``data_type`` (2), ``name`` (8) and ``raw_data`` (9). The format is
https://github.com/onnx/onnx/blob/main/onnx/onnx.proto; nothing in the file is executed.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

_DTYPES = {1: np.float32, 6: np.int32, 7: np.int64, 10: np.float16, 11: np.float64}
_VARINT, _FIXED64, _BYTES, _FIXED32 = 0, 1, 2, 5


def _varint(buf: memoryview, i: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        byte = buf[i]
        i += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, i


def _fields(buf: memoryview, start: int, end: int) -> Iterator[tuple[int, int, object]]:
    """(field number, wire type, value) of a message; a bytes field's value is (start, end)."""
    i = start
    while i < end:
        key, i = _varint(buf, i)
        number, wire = key >> 3, key & 7
        if wire == _VARINT:
            value, i = _varint(buf, i)
            yield number, wire, value
        elif wire == _BYTES:
            size, i = _varint(buf, i)
            yield number, wire, (i, i + size)
            i += size
        elif wire in (_FIXED64, _FIXED32):
            i += 8 if wire == _FIXED64 else 4
        else:
            raise ValueError(f"protocol buffer wire type {wire} at byte {i}")
    if i != end:
        raise ValueError("a protocol buffer field runs past its message")


def _tensor(buf: memoryview, start: int, end: int) -> tuple[str, np.ndarray]:
    dims: list[int] = []
    name, dtype, raw = "", 0, None
    for number, wire, value in _fields(buf, start, end):
        if number == 1 and wire == _VARINT:
            dims.append(int(value))
        elif number == 1:  # packed dims
            j, stop = value
            while j < stop:
                d, j = _varint(buf, j)
                dims.append(d)
        elif number == 2:
            dtype = int(value)
        elif number == 8:
            name = bytes(buf[value[0] : value[1]]).decode()
        elif number == 9:
            raw = value
    if raw is None or dtype not in _DTYPES:
        raise ValueError(f"initializer {name!r}: no raw data of a known type")
    array = np.frombuffer(buf[raw[0] : raw[1]], dtype=_DTYPES[dtype]).reshape(dims)
    return name, array.copy()


def read_initializers(path: str | Path) -> dict[str, np.ndarray]:
    """Every initializer of the ONNX model at ``path``, by name."""
    buf = memoryview(Path(path).read_bytes())
    out = {}
    for number, _, graph in _fields(buf, 0, len(buf)):
        if number != 7:
            continue
        for g_number, _, tensor in _fields(buf, *graph):
            if g_number == 5:
                name, array = _tensor(buf, *tensor)
                out[name] = array
    if not out:
        raise ValueError("no initializers: not an ONNX model")
    return out
