"""The version id of a dataset: a hash of its content, not of the files that hold it.

Two writers (curate's store, datatrove's `ParquetWriter` on a cluster, any executor with any
number of tasks) put the same rows in different files, row groups and Parquet encodings, with
different schema metadata. The id must not see any of that: it hashes the column names, their
logical types and the values, in row order, and nothing else.

Each column (and each nested child) feeds three byte streams, every one a plain concatenation
over rows, so how the rows are split into batches never changes a stream:

- `v`: one byte per row, 1 if the value is present, 0 if null;
- `l`: for variable-length values (strings, binaries, lists) the length of each present value
  as a little-endian int64;
- `d`: the value bytes of present values (fixed-width values as their little-endian bytes,
  booleans as one byte each, strings as their UTF-8 bytes); lists and structs recurse into
  their children's streams.

Logical types ignore physical layout: `large_string`/`string_view` count as `string`,
`large_binary`/`binary_view` as `binary`, `large_list` as `list`, dictionary-encoded columns as
their value type, and list item names and field nullability are ignored. The id is the first
16 hex digits of xxh3-128 over the canonical schema, the row count and every stream's digest.
Throughput is that of xxh3 over the value bytes plus a few Arrow kernels per batch
(`benchmarks/content_id.py`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import xxhash

FORMAT = "curate-content-id/1"
_ONES = np.ones(1 << 16, dtype=np.uint8)


def canonical_type(t: pa.DataType) -> str:
    """A type's logical name: physical variants (large, view, dictionary) folded together."""
    if pa.types.is_dictionary(t):
        return canonical_type(t.value_type)
    if pa.types.is_large_string(t) or pa.types.is_string_view(t) or pa.types.is_string(t):
        return "string"
    if pa.types.is_large_binary(t) or pa.types.is_binary_view(t) or pa.types.is_binary(t):
        return "binary"
    if pa.types.is_map(t):
        return f"map<{canonical_type(t.key_type)},{canonical_type(t.item_type)}>"
    if pa.types.is_fixed_size_list(t):
        return f"fixed_size_list<{canonical_type(t.value_type)},{t.list_size}>"
    if pa.types.is_list(t) or pa.types.is_large_list(t) or _is_list_view(t):
        return f"list<{canonical_type(t.value_type)}>"
    if pa.types.is_struct(t):
        return "struct<" + ",".join(f"{json.dumps(t.field(i).name)}:{canonical_type(t.field(i).type)}"
                                    for i in range(t.num_fields)) + ">"
    return str(t)


def _is_list_view(t: pa.DataType) -> bool:
    f = getattr(pa.types, "is_list_view", None)
    g = getattr(pa.types, "is_large_list_view", None)
    return bool((f and f(t)) or (g and g(t)))


def canonical_schema(schema: pa.Schema) -> list[list[str]]:
    """[[name, logical type], ...] in column order; metadata and nullability left out."""
    return [[f.name, canonical_type(f.type)] for f in schema]


class ContentId:
    """Streaming content hash: `update()` with batches in row order, then `hexdigest()`.

    Raises ValueError when a batch's columns or logical types differ from the first one's.
    """

    def __init__(self) -> None:
        self.schema: list[list[str]] | None = None
        self.rows = 0
        self._streams: dict[str, xxhash.xxh3_128] = {}

    def _h(self, key: str) -> xxhash.xxh3_128:
        h = self._streams.get(key)
        if h is None:
            h = self._streams[key] = xxhash.xxh3_128()
        return h

    def update(self, data: pa.RecordBatch | pa.Table) -> None:
        canon = canonical_schema(data.schema)
        if self.schema is None:
            self.schema = canon
        elif canon != self.schema:
            raise ValueError(f"columns or types changed mid-stream: {canon} != {self.schema}")
        self.rows += data.num_rows
        for i, col in enumerate(data.columns):
            self._feed(str(i), col)

    def hexdigest(self, digits: int = 16) -> str:
        top = xxhash.xxh3_128()
        top.update(json.dumps([FORMAT, self.schema or [], self.rows]).encode())
        for key in sorted(self._streams):
            top.update(f"\x00{key}\x00".encode())
            top.update(self._streams[key].digest())
        return top.hexdigest()[:digits]

    # -- one array into its streams ------------------------------------------------------
    def _feed(self, path: str, arr) -> None:
        if isinstance(arr, pa.ChunkedArray):
            for chunk in arr.chunks:
                self._feed(path, chunk)
            return
        n = len(arr)
        if n == 0:
            return
        t = arr.type
        if pa.types.is_dictionary(t):
            arr = arr.dictionary_decode()
            t = arr.type
        self._validity(path, arr)
        if pa.types.is_null(t):
            return
        if arr.null_count:
            arr = pc.drop_null(arr)
            if len(arr) == 0:
                return
        if pa.types.is_string_view(t) or pa.types.is_binary_view(t):
            arr = arr.cast(pa.large_string() if pa.types.is_string_view(t) else pa.large_binary())
            t = arr.type
        if (pa.types.is_string(t) or pa.types.is_binary(t) or pa.types.is_large_string(t)
                or pa.types.is_large_binary(t)):
            self._var_bytes(path, arr, np.int64 if (pa.types.is_large_string(t)
                                                    or pa.types.is_large_binary(t)) else np.int32)
        elif pa.types.is_boolean(t):
            self._fixed(path, pc.cast(arr, pa.uint8()), 1)
        elif pa.types.is_fixed_size_binary(t):
            self._fixed(path, arr, t.byte_width)
        elif _fixed_width(t):
            self._fixed(path, arr, t.bit_width // 8)
        elif pa.types.is_map(t):  # as a list of {key, value} structs
            entries = pa.StructArray.from_arrays([arr.keys, arr.items], ["key", "value"])
            as_list = pa.ListArray.from_arrays(arr.offsets, entries)
            self._h(path + "/l").update(_np(pc.list_value_length(as_list).cast(pa.int64())))
            self._feed(path + "[]", as_list.flatten())
        elif (pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t)
              or _is_list_view(t)):
            lengths = pc.list_value_length(arr).cast(pa.int64())
            self._h(path + "/l").update(_np(lengths))
            self._feed(path + "[]", arr.flatten())
        elif pa.types.is_struct(t):
            for j, child in enumerate(arr.flatten()):
                self._feed(f"{path}.{j}", child)
        else:  # rare types (unions, extensions): their Python values, length-prefixed
            h = self._h(path + "/d")
            for v in arr.to_pylist():
                b = json.dumps(v, default=str, sort_keys=True).encode()
                h.update(len(b).to_bytes(8, "little"))
                h.update(b)

    def _validity(self, path: str, arr: pa.Array) -> None:
        h = self._h(path + "/v")
        n = len(arr)
        if arr.null_count == 0:
            for start in range(0, n, len(_ONES)):
                h.update(_ONES[: min(len(_ONES), n - start)])
        else:
            h.update(_np(pc.cast(arr.is_valid(), pa.uint8())))

    def _var_bytes(self, path: str, arr: pa.Array, off_type) -> None:
        self._h(path + "/l").update(_np(pc.binary_length(arr).cast(pa.int64())))
        bufs = arr.buffers()
        if bufs[2] is None:
            return
        offs = np.frombuffer(bufs[1], dtype=off_type, count=arr.offset + len(arr) + 1)
        lo, hi = int(offs[arr.offset]), int(offs[arr.offset + len(arr)])
        if hi > lo:
            self._h(path + "/d").update(memoryview(bufs[2])[lo:hi])

    def _fixed(self, path: str, arr: pa.Array, width: int) -> None:
        buf = arr.buffers()[1]
        start = arr.offset * width
        self._h(path + "/d").update(memoryview(buf)[start:start + len(arr) * width])


def _fixed_width(t: pa.DataType) -> bool:
    try:
        bw = t.bit_width
    except ValueError:
        return False
    return bw % 8 == 0 and not pa.types.is_boolean(t)


def _np(arr: pa.Array) -> memoryview:
    """The little-endian bytes of a null-free fixed-width array (zero-copy when possible)."""
    return memoryview(np.ascontiguousarray(arr.to_numpy(zero_copy_only=False))).cast("B")


def content_id(batches: Iterable[pa.RecordBatch | pa.Table]) -> str:
    """The version id of a stream of batches (see the module docstring)."""
    c = ContentId()
    for b in batches:
        c.update(b)
    return c.hexdigest()
