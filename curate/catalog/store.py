"""The content-addressed Parquet store: immutable version folders written atomically.

A version folder is `store/<name>/<version>/part-NNNNN.parquet` plus `manifest.json` with
each file's size and sha256. The version id is a hash of those file hashes, so identical
content gets the same version and a version can never be rewritten with other bytes.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from curate.errors import BadInput, IntegrityError

MANIFEST = "manifest.json"
PART_BYTES = 512 * 1024 * 1024      # start a new part after ~512 MB of Arrow data
BATCH_ROWS = 10_000                  # rows per batch when converting python rows
ROW_GROUP_ROWS = 50_000
HASH_CHUNK = 8 * 1024 * 1024


@dataclass
class WrittenVersion:
    version: str
    path: Path
    rows: int
    bytes: int
    schema: pa.Schema


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(HASH_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def to_batches(data: Any, schema: pa.Schema | None = None) -> Iterator[pa.RecordBatch]:
    """Stream any supported input as Arrow record batches without materialising it twice."""
    try:
        import datasets  # noqa: PLC0415
    except ImportError:  # pragma: no cover
        datasets = None
    if datasets is not None and isinstance(data, datasets.Dataset):
        if data._indices is not None:  # a select()/shuffle() view: materialise the order
            data = data.flatten_indices()
        table = data.data.table
        yield from _cast_batches(table.to_batches(max_chunksize=BATCH_ROWS), schema)
        return
    if isinstance(data, pa.Table):
        yield from _cast_batches(data.to_batches(max_chunksize=BATCH_ROWS), schema)
        return
    if isinstance(data, pa.RecordBatch):
        yield from _cast_batches([data], schema)
        return
    if isinstance(data, (str, bytes, dict)):
        raise BadInput("data must be rows (a list or iterable of dicts), a Table or a Dataset")
    if isinstance(data, list) and all(isinstance(r, dict) for r in data):
        # a list is already in memory: infer the schema from all of it, not the first batch
        try:
            table = rows_to_table(data, schema)
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError) as e:
            raise BadInput(f"rows do not fit one schema: {str(e).splitlines()[0]}") from None
        yield from table.to_batches(max_chunksize=BATCH_ROWS)
        return
    yield from _rows_to_batches(iter(data), schema)


def _cast_batches(batches: Iterable[pa.RecordBatch], schema: pa.Schema | None):
    for b in batches:
        if schema is not None and b.schema != schema:
            b = pa.Table.from_batches([b]).select(schema.names).cast(schema).to_batches()[0] \
                if b.num_rows else pa.RecordBatch.from_pylist([], schema=schema)
        yield b


def _rows_to_batches(it: Iterator[Any], schema: pa.Schema | None) -> Iterator[pa.RecordBatch]:
    buf: list[dict] = []
    n = 0
    for item in it:
        if isinstance(item, pa.RecordBatch):
            if buf:
                schema = yield from _flush(buf, schema, n)
                buf = []
            yield from _cast_batches([item], schema)
            schema = schema or item.schema
            n += item.num_rows
            continue
        if not isinstance(item, dict):
            raise BadInput(f"row {n} is a {type(item).__name__}, expected a dict")
        buf.append(item)
        n += 1
        if len(buf) >= BATCH_ROWS:
            schema = yield from _flush(buf, schema, n - len(buf))
            buf = []
    if buf:
        schema = yield from _flush(buf, schema, n - len(buf))


def rows_to_table(rows: list[dict], schema: pa.Schema | None = None) -> pa.Table:
    """Rows to a Table using the union of all rows' keys (pyarrow's from_pylist only looks
    at the first row's keys and would drop the others)."""
    if schema is not None:
        return pa.Table.from_pylist(rows, schema=schema)
    keys: dict[str, None] = {}
    for r in rows:
        keys.update(dict.fromkeys(r))
    return pa.Table.from_pydict({k: [r.get(k) for r in rows] for k in keys})


def _flush(rows: list[dict], schema: pa.Schema | None, first_row: int):
    if schema is not None:
        extra = {k for r in rows for k in r} - set(schema.names)
        if extra:
            raise BadInput(f"rows {first_row}..{first_row + len(rows) - 1} have fields not in "
                           f"the earlier rows: {sorted(extra)[:5]}")
    try:
        batch = rows_to_table(rows, schema).combine_chunks().to_batches()[0]
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError) as e:
        raise BadInput(f"rows {first_row}..{first_row + len(rows) - 1} do not fit the schema: "
                       f"{str(e).splitlines()[0]}") from None
    if schema is None:
        schema = batch.schema
    yield batch
    return schema


def write_version(store_root: Path, name: str, data: Any, schema: pa.Schema | None = None,
                  part_bytes: int = PART_BYTES) -> WrittenVersion:
    """Write `data` into a new immutable version folder; returns it once durable on disk."""
    tmp_root = store_root / ".tmp"
    tmp_root.mkdir(parents=True, exist_ok=True)
    tmp = tmp_root / f"{os.getpid()}-{uuid.uuid4().hex}"
    tmp.mkdir()
    try:
        files, rows, nbytes, out_schema = _write_parts(tmp, data, schema, part_bytes)
        manifest = {"files": [], "rows": rows, "format": "parquet"}
        for f in files:
            manifest["files"].append(
                {"name": f.name, "bytes": f.stat().st_size, "sha256": _sha256_file(f),
                 "mtime_ns": f.stat().st_mtime_ns})
        version = hashlib.sha256(
            "".join(x["sha256"] for x in manifest["files"]).encode()
        ).hexdigest()[:16]
        manifest["version"] = version
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1))
        for f in [*files, tmp / MANIFEST]:
            _fsync_path(f)
        _fsync_path(tmp)
        final = store_root / name / version
        final.parent.mkdir(parents=True, exist_ok=True)
        if final.exists():
            # Same content was written before (perhaps by a run killed before it registered):
            # keep the intact copy, repair a damaged one.
            try:
                check_version(final, full=True)
                shutil.rmtree(tmp)
            except IntegrityError:
                shutil.rmtree(final)
                os.rename(tmp, final)
        else:
            os.rename(tmp, final)
        _fsync_path(final.parent)
        # mtimes change on rename on some filesystems only for dirs; record the final ones
        _refresh_mtimes(final)
        return WrittenVersion(version, final, rows, nbytes, out_schema)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _refresh_mtimes(folder: Path) -> None:
    mpath = folder / MANIFEST
    m = json.loads(mpath.read_text())
    changed = False
    for entry in m["files"]:
        mt = (folder / entry["name"]).stat().st_mtime_ns
        if entry.get("mtime_ns") != mt:
            entry["mtime_ns"] = mt
            changed = True
    if changed:
        mpath.write_text(json.dumps(m, indent=1))


def _write_parts(folder: Path, data: Any, schema: pa.Schema | None, part_bytes: int):
    files: list[Path] = []
    writer: pq.ParquetWriter | None = None
    part_size = 0
    rows = 0
    nbytes = 0
    out_schema = schema
    try:
        for batch in to_batches(data, schema):
            if out_schema is None:
                out_schema = batch.schema
            elif batch.schema != out_schema:
                try:
                    batch = pa.Table.from_batches([batch]).cast(out_schema).to_batches()[0]
                except (pa.ArrowInvalid, pa.ArrowTypeError, ValueError) as e:
                    raise BadInput(f"row {rows}+: schema changed mid-stream: "
                                   f"{str(e).splitlines()[0]}") from None
            if writer is None or part_size >= part_bytes:
                if writer is not None:
                    writer.close()
                path = folder / f"part-{len(files):05d}.parquet"
                files.append(path)
                writer = pq.ParquetWriter(path, out_schema)
                part_size = 0
            if batch.num_rows:
                writer.write_batch(batch, row_group_size=ROW_GROUP_ROWS)
            rows += batch.num_rows
            part_size += batch.nbytes
            nbytes += batch.nbytes
        if writer is None:  # no rows at all: still a valid, empty version
            if out_schema is None:
                out_schema = pa.schema([])
            path = folder / "part-00000.parquet"
            pq.write_table(out_schema.empty_table(), path)
            files.append(path)
    finally:
        if writer is not None:
            writer.close()
    return files, rows, nbytes, out_schema


def check_version(folder: Path, full: bool = False) -> dict:
    """Check every file of a version is present and unaltered; return the manifest.

    Size and mtime are checked always; the sha256 is recomputed when the mtime moved or
    `full` is set, so an edited file is caught without re-hashing every read.
    """
    mpath = folder / MANIFEST
    if not mpath.is_file():
        raise IntegrityError(f"{mpath}: manifest missing; the version folder is incomplete")
    try:
        m = json.loads(mpath.read_text())
    except (OSError, ValueError) as e:
        raise IntegrityError(f"{mpath}: unreadable manifest ({e})") from None
    for entry in m["files"]:
        f = folder / entry["name"]
        if not f.is_file():
            raise IntegrityError(f"{f}: file missing from dataset version")
        st = f.stat()
        if st.st_size != entry["bytes"]:
            raise IntegrityError(f"{f}: size {st.st_size} != recorded {entry['bytes']} (altered)")
        if full or st.st_mtime_ns != entry.get("mtime_ns"):
            if _sha256_file(f) != entry["sha256"]:
                raise IntegrityError(f"{f}: content hash differs from the manifest (altered)")
    return m


def version_files(folder: Path) -> list[Path]:
    m = check_version(folder)
    return [folder / e["name"] for e in m["files"]]


def clean_stale_tmp(store_root: Path, max_age_s: float = 3600.0) -> int:
    """Remove temporary folders left by killed writers (dead pid or old)."""
    tmp_root = store_root / ".tmp"
    if not tmp_root.is_dir():
        return 0
    removed = 0
    for d in tmp_root.iterdir():
        pid_s = d.name.split("-", 1)[0]
        alive = False
        if pid_s.isdigit():
            try:
                os.kill(int(pid_s), 0)
                alive = True
            except ProcessLookupError:
                alive = False
            except PermissionError:
                alive = True
        if not alive or time.time() - d.stat().st_mtime > max_age_s * 24:
            shutil.rmtree(d, ignore_errors=True)
            removed += 1
    return removed
