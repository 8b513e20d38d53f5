"""Minimal, dependency-light reader and writer for the safetensors format.

Format (as used by Hugging Face checkpoints):
  * 8 bytes: little-endian unsigned 64-bit length N of the header;
  * N bytes: a UTF-8 JSON object
        {"__metadata__": {"format": "pt"},
         name: {"dtype": "BF16", "shape": [..], "data_offsets": [begin, end]}, ...}
    padded with spaces so that 8 + N is a multiple of 8;
  * the data section: raw little-endian tensor bytes, row-major. data_offsets are
    relative to the start of the data section.

The writer lays tensors out back to back in sorted-name order. Tensors are passed
as (dtype_name, shape, raw_bytes) triples so this module needs only numpy; helpers
to convert torch tensors live in make_checkpoint.py.

bf16 has no numpy dtype: it is read as uint16 and widened to float32 by shifting
into the top 16 bits (exact).
"""

import json
import os
import struct

import numpy as np

# safetensors dtype name -> (bytes per element, numpy little-endian dtype used to read it)
DTYPES = {
    "BF16": (2, "<u2"),  # raw bits; see to_float64
    "F16": (2, "<f2"),
    "F32": (4, "<f4"),
    "F64": (8, "<f8"),
    "I32": (4, "<i4"),
    "I64": (8, "<i8"),
    "U8": (1, "u1"),
}


def encode_header(entries):
    """entries: list of (name, dtype, shape, nbytes) in the order the data is laid out.

    Returns the full prefix bytes (8-byte length + padded JSON header)."""
    header = {"__metadata__": {"format": "pt"}}  # first, as the Hugging Face writer puts it
    offset = 0
    for name, dtype, shape, nbytes in entries:
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    pad = (-(8 + len(text))) % 8
    text += b" " * pad
    return struct.pack("<Q", len(text)) + text


def write_file(path, tensors):
    """tensors: dict name -> (dtype, shape, raw little-endian bytes). Returns bytes of tensor data."""
    names = sorted(tensors)
    entries = []
    for name in names:
        dtype, shape, raw = tensors[name]
        if dtype not in DTYPES:
            raise ValueError(f"unsupported dtype {dtype} for {name}")
        expected = DTYPES[dtype][0] * int(np.prod(shape, dtype=np.int64))
        if len(raw) != expected:
            raise ValueError(f"{name}: {len(raw)} bytes but shape {shape} of {dtype} needs {expected}")
        entries.append((name, dtype, shape, len(raw)))
    prefix = encode_header(entries)
    total = 0
    with open(path, "wb") as f:
        f.write(prefix)
        for name in names:
            raw = tensors[name][2]
            f.write(raw)
            total += len(raw)
    return total


def read_header(path):
    """Returns (header dict without __metadata__, metadata dict or None, data_start)."""
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) != 8:
            raise ValueError(f"{path}: too short for a safetensors file")
        (n,) = struct.unpack("<Q", head)
        size = os.path.getsize(path)
        if n > size - 8:
            raise ValueError(f"{path}: header length {n} exceeds file size {size}")
        header = json.loads(f.read(n).decode("utf-8"))
    meta = header.pop("__metadata__", None)
    return header, meta, 8 + n


def read_file(path):
    """Returns dict name -> (dtype, shape, raw bytes). Validates offsets."""
    header, _meta, start = read_header(path)
    with open(path, "rb") as f:
        f.seek(start)
        data = f.read()
    out = {}
    spans = []
    for name, info in header.items():
        dtype = info["dtype"]
        shape = tuple(info["shape"])
        b, e = info["data_offsets"]
        if dtype not in DTYPES:
            raise ValueError(f"{path}: {name} has unsupported dtype {dtype}")
        need = DTYPES[dtype][0] * int(np.prod(shape, dtype=np.int64))
        if e - b != need or b < 0 or e > len(data):
            raise ValueError(f"{path}: {name} offsets {b}..{e} inconsistent with {dtype}{list(shape)}")
        spans.append((b, e, name))
        out[name] = (dtype, shape, data[b:e])
    spans.sort()
    pos = 0
    for b, e, name in spans:
        if b != pos:
            raise ValueError(f"{path}: gap or overlap before {name} ({pos} != {b})")
        pos = e
    if pos != len(data):
        raise ValueError(f"{path}: {len(data) - pos} trailing bytes after the last tensor")
    return out


def to_float64(dtype, shape, raw):
    """Decode raw little-endian bytes into a float64 numpy array of the given shape."""
    np_dtype = DTYPES[dtype][1]
    a = np.frombuffer(raw, dtype=np_dtype)
    if dtype == "BF16":
        a = (a.astype(np.uint32) << 16).view(np.float32)
    return a.astype(np.float64).reshape(shape)
