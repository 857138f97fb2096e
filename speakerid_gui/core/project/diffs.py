"""The diffs an edit stores (forward and inverse), and their compact on-disk form.

A Diff says: these segment ids get these assignment values (one value for all of them,
or one per id), and these cluster rows become these (None: deleted). On disk it is a
BLOB: a magic, a small JSON header, then raw little-endian arrays: ids ascending as
deltas in the smallest unsigned type that holds them, a column that is the same for
every id as a single value (a merge is "ids -> cluster b"), bools as bits. A 43k-segment
move is a few hundred KB, written and read in about a millisecond.

Projects written before this format keep JSON text in the same columns; decode() reads
both, so old edits still undo and redo.
"""
from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field

import numpy as np

MAGIC = b"SPKDIFF1"


@dataclass
class Diff:
    ids: np.ndarray                                   # segment ids (int64, ascending, unique)
    cols: dict[str, object] = field(default_factory=dict)    # column -> scalar or array (one per id)
    clusters: dict[int, dict | None] = field(default_factory=dict)
    cuts: list = field(default_factory=list)  # turns cut in two first (turn_cuts.py): [parent, piece, t, end]


def encode(diff: Diff) -> bytes:
    ids = np.asarray(diff.ids, dtype=np.int64)
    payload: list[bytes] = []
    offset = 0

    def add(array: np.ndarray) -> dict:
        nonlocal offset
        raw = np.ascontiguousarray(array).tobytes()
        payload.append(raw)
        spec = {"dtype": array.dtype.str, "at": offset, "len": len(raw)}
        offset += len(raw)
        return spec

    header: dict = {"n": len(ids), "cols": {}, "clusters": {str(c): info for c, info in diff.clusters.items()}}
    if diff.cuts:
        header["cuts"] = diff.cuts
    if len(ids):
        deltas = np.diff(ids)
        header["first"] = int(ids[0])
        header["ids"] = add(deltas.astype(_smallest_unsigned(int(deltas.max(initial=0)))))
    for name, values in diff.cols.items():
        values = np.asarray(values)
        if values.ndim == 0:
            header["cols"][name] = {"value": values.item()}
        elif len(values) and (values == values[0]).all():  # the same for every id: one value
            header["cols"][name] = {"value": values[0].item()}
        elif values.dtype == np.bool_:
            header["cols"][name] = {**add(np.packbits(values)), "bits": True}
        elif values.dtype.kind in "iu" and len(values):
            header["cols"][name] = add(values.astype(_smallest_signed(int(values.min()), int(values.max()))))
        else:
            header["cols"][name] = add(values)
    head = json.dumps(header, separators=(",", ":")).encode()
    return b"".join([MAGIC, struct.pack("<I", len(head)), head, *payload])


def decode(stored: bytes | str, dtypes: dict[str, np.dtype]) -> Diff:
    """A stored diff (this format, or the JSON of older projects); dtypes: column -> memory dtype."""
    if isinstance(stored, str):
        return _decode_json(json.loads(stored), dtypes)
    stored = bytes(stored)
    if not stored.startswith(MAGIC):
        return _decode_json(json.loads(stored.decode()), dtypes)
    (size,) = struct.unpack_from("<I", stored, len(MAGIC))
    start = len(MAGIC) + 4
    header = json.loads(stored[start:start + size])
    body = memoryview(stored)[start + size:]
    n = header["n"]

    def array(spec) -> np.ndarray:
        return np.frombuffer(body[spec["at"]:spec["at"] + spec["len"]], dtype=np.dtype(spec["dtype"]))

    if n:
        ids = np.empty(n, np.int64)
        ids[0] = header["first"]
        np.cumsum(array(header["ids"]), dtype=np.int64, out=ids[1:])
        ids[1:] += header["first"]
    else:
        ids = np.zeros(0, np.int64)
    cols = {}
    for name, spec in header["cols"].items():
        dtype = dtypes[name]
        if "value" in spec:
            cols[name] = np.asarray(spec["value"], dtype=dtype)[()]
        elif spec.get("bits"):
            cols[name] = np.unpackbits(array(spec), count=n).astype(dtype)
        else:
            cols[name] = array(spec).astype(dtype)
    return Diff(ids, cols, _cluster_rows(header["clusters"]), header.get("cuts", []))


def _decode_json(data: dict, dtypes) -> Diff:
    """The format of older projects: {"ids": [...], "cols": {name: [...]}, "clusters": {...}}."""
    ids = np.asarray(data["ids"], dtype=np.int64)
    cols = {k: np.asarray(v, dtype=dtypes[k]) for k, v in data["cols"].items()}
    if len(ids) and not (np.diff(ids) > 0).all():  # old diffs kept the caller's order: sort, last write wins
        _, last = np.unique(ids[::-1], return_index=True)
        keep = len(ids) - 1 - last
        ids, cols = ids[keep], {k: v[keep] for k, v in cols.items()}
    return Diff(ids, cols, _cluster_rows(data["clusters"]))


def _cluster_rows(rows: dict) -> dict[int, dict | None]:
    return {int(c): info for c, info in rows.items()}


def _smallest_unsigned(largest: int) -> np.dtype:
    for dtype in (np.uint8, np.uint16, np.uint32):
        if largest <= np.iinfo(dtype).max:
            return np.dtype(dtype)
    return np.dtype(np.uint64)


def _smallest_signed(lo: int, hi: int) -> np.dtype:
    for dtype in (np.int8, np.int16, np.int32):
        info = np.iinfo(dtype)
        if info.min <= lo and hi <= info.max:
            return np.dtype(dtype)
    return np.dtype(np.int64)
