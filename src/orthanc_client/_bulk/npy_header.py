"""The header of a ``.npy`` answer (``/instances/{id}/numpy``): dtype, shape, and where the data starts."""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    pass

class NpyHeader(NamedTuple):
    dtype: str
    shape: tuple[int, ...]
    fortran_order: bool
    length: int  # bytes before the data


def parse_npy_header(prefix: bytes) -> NpyHeader | None:
    """The header of a ``.npy`` stream from its first bytes; ``None`` if more bytes are needed."""
    if len(prefix) < 10:
        return None
    if prefix[:6] != b"\x93NUMPY":
        raise ValueError("not a .npy stream")
    major = prefix[6]
    if major == 1:
        size_bytes, start = 2, 8
    else:
        size_bytes, start = 4, 8
        if len(prefix) < 12:
            return None
    header_len = int.from_bytes(prefix[start : start + size_bytes], "little")
    end = start + size_bytes + header_len
    if len(prefix) < end:
        return None
    info = ast.literal_eval(prefix[start + size_bytes : end].decode("latin1"))
    return NpyHeader(str(info["descr"]), tuple(int(n) for n in info["shape"]), bool(info["fortran_order"]), end)
