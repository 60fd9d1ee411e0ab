"""Reading chosen safetensors tensors with plain file reads, straight into preallocated tensors.

``safe_open(...).get_tensor`` returns tensors backed by a memory map of the shard: cheap, but
the pages stay mapped (and resident) while any tensor of that shard lives. The loader reads
the members of fused tensors (:mod:`.fusion`) here instead: ``readinto`` fills the slice of
the fused tensor directly, so the checkpoint's pages are never mapped into the process.

The format (safetensors' own description): 8 bytes little-endian header length N, N bytes of
JSON ``{name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}``, then
the data; offsets count from the first byte after the header, tensors are little-endian and
row-major.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import NamedTuple

import torch

from ..errors import ModelLoadError

HEADER_LENGTH_BYTES = 8
METADATA_KEY = "__metadata__"
FILE_DTYPES = {"BF16": torch.bfloat16, "F16": torch.float16, "F32": torch.float32, "F64": torch.float64}


class StoredTensor(NamedTuple):
    dtype: torch.dtype
    shape: tuple[int, ...]
    start: int                        # absolute byte offset in the file
    nbytes: int


def read_header(file: Path) -> dict[str, StoredTensor]:
    """Every tensor of a safetensors file: dtype, shape and absolute byte range."""
    try:
        with open(file, "rb") as handle:
            length = int.from_bytes(handle.read(HEADER_LENGTH_BYTES), "little")
            header = json.loads(handle.read(length))
        data_start = HEADER_LENGTH_BYTES + length
        stored = {}
        for name, entry in header.items():
            if name == METADATA_KEY:
                continue
            begin, end = entry["data_offsets"]
            stored[name] = StoredTensor(FILE_DTYPES.get(entry["dtype"]), tuple(entry["shape"]),
                                        data_start + begin, end - begin)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelLoadError(f"cannot read the safetensors header of {file}: {exc}") from None
    return stored


def _fill(handle, buffer: memoryview, what: str) -> None:
    """Read exactly len(buffer) bytes (a read may return fewer; end of file is an error)."""
    done = 0
    while done < len(buffer):
        got = handle.readinto(buffer[done:])
        if not got:
            raise ModelLoadError(f"{what} is cut short: {done} of {len(buffer)} bytes")
        done += got


def read_into(file: Path, targets: dict[str, torch.Tensor], stored: dict[str, StoredTensor]) -> None:
    """Fill each contiguous tensor of ``targets`` (name -> tensor of the stored shape, any dtype and
    device) with the stored tensor of that name, in file order. Into a CPU tensor of the stored
    dtype the bytes go directly; otherwise through a temporary in the stored dtype, converted by
    ``copy_`` (the same rounding as ``.to(dtype)``)."""
    with open(file, "rb", buffering=0) as handle:
        for name in sorted(targets, key=lambda n: stored[n].start):
            target, entry = targets[name], stored[name]
            what = f"tensor {name} in {file}"
            if entry.dtype is None:
                raise ModelLoadError(f"{what} has a dtype the loader does not read")
            expected = target.numel() * entry.dtype.itemsize
            if entry.shape != tuple(target.shape) or entry.nbytes != expected:
                raise ModelLoadError(f"{what}: header says {entry.shape}, {entry.nbytes} bytes; expected "
                                     f"{tuple(target.shape)}, {expected} bytes")
            direct = target.dtype == entry.dtype and target.device.type == "cpu"
            landing = target if direct else torch.empty(entry.shape, dtype=entry.dtype)
            handle.seek(entry.start)
            with torch.no_grad():
                _fill(handle, memoryview(landing.view(torch.uint8).numpy()).cast("B"), what)
                if not direct:
                    target.copy_(landing)
