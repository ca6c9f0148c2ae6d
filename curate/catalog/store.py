"""The content-addressed Parquet store: immutable version folders written atomically.

A version folder is `store/<name>/<version>/part-NNNNN.parquet` plus `manifest.json` with
each file's size and xxh3-128 hash (the integrity check). The version id is a hash of the
content (column names, logical types and values in row order: `content_id.py`), not of the
files, so the same rows get the same version however they were written and split: by
`write_version` here, or by workers whose files `adopt_files` takes in without re-encoding.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import functools
import json
import os
import queue
import re
import shutil
import sys
import threading
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import xxhash

from curate.catalog.content_id import ContentId
from curate.catalog.locking import file_lock
from curate.errors import BadInput, IntegrityError

MANIFEST = "manifest.json"
TMP = ".tmp"                         # staging folders and writers' lock files
LEGACY_TMP = re.compile(r"\d+-[0-9a-f]{32}")   # staging folders of earlier versions
LOCKS = ".locks"                     # one lock file per dataset name, for publishing
PART_BYTES = 512 * 1024 * 1024      # start a new part after ~512 MB of Arrow data
BATCH_ROWS = 10_000                  # rows per batch when converting python rows
ROW_GROUP_ROWS = 50_000
ROW_GROUP_BYTES = 128 * 1024 * 1024  # Arrow bytes per row group written
HASH_CHUNK = 8 * 1024 * 1024


@dataclass
class WrittenVersion:
    version: str
    path: Path
    rows: int
    bytes: int
    schema: pa.Schema
    stats: dict[str, Any]



STREAM_BUFFER = 1 << 20     # bytes a streamed read buffers per column


def open_stream(path: str | Path) -> pq.ParquetFile:
    """A Parquet file opened for streaming reads: column chunks are read through a 1 MiB
    buffer page by page (not whole row groups pre-buffered, not memory-mapped), so reading a
    version batch by batch holds about one batch, whatever the file's row-group sizes
    (a mapped file's pages stay in the RSS that cluster schedulers account)."""
    return pq.ParquetFile(path, memory_map=False, buffer_size=STREAM_BUFFER, pre_buffer=False)


def hash_file(path: Path) -> str:
    """xxh3-128 of the file: a content address fast enough (~10 GB/s) to not slow writes."""
    h = xxhash.xxh3_128()
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


class _Flusher:
    """Pushes written bytes to disk and hashes them in a background thread while the writer
    goes on, so closing a large part costs neither a full write-back stall nor a re-read.

    Parquet is written append-only, so bytes below the current file size are final.
    """

    def __init__(self, path: Path):
        self.fd = os.open(path, os.O_RDONLY)
        self.hash = xxhash.xxh3_128()
        self.offset = 0
        self.wake = threading.Event()
        self.done = False
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _catch_up(self) -> None:
        end = os.fstat(self.fd).st_size
        while self.offset < end:
            chunk = os.pread(self.fd, min(HASH_CHUNK, end - self.offset), self.offset)
            if not chunk:
                break
            self.hash.update(chunk)
            self.offset += len(chunk)

    def _run(self) -> None:
        try:
            while not self.done:
                self.wake.wait()
                self.wake.clear()
                os.fdatasync(self.fd)
                self._catch_up()
        except BaseException as e:  # surfaced by close()
            self.error = e

    def poke(self) -> None:
        self.wake.set()

    def close(self) -> str:
        """Finish after the writer closed the file: sync, hash the tail, return the hash."""
        self.done = True
        self.wake.set()
        self.thread.join()
        try:
            if self.error:
                raise self.error
            os.fsync(self.fd)
            self._catch_up()
            return self.hash.hexdigest()
        finally:
            os.close(self.fd)


class _Background:
    """One worker thread for per-batch statistics (Arrow compute releases the GIL)."""

    def __init__(self) -> None:
        self.q: queue.Queue = queue.Queue(maxsize=64)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while (item := self.q.get()) is not None:
            if self.error is None:
                try:
                    item()
                except BaseException as e:
                    self.error = e

    def submit(self, fn) -> None:
        self.q.put(fn)

    def close(self) -> None:
        self.q.put(None)
        self.thread.join()
        if self.error:
            raise self.error


def to_batches(data: Any, schema: pa.Schema | None = None) -> Iterator[pa.RecordBatch]:
    """Stream any supported input as Arrow record batches without materialising it twice."""
    datasets = sys.modules.get("datasets")  # only a loaded `datasets` can have made `data`
    if datasets is not None and isinstance(data, datasets.Dataset):
        if data._indices is not None:  # a select()/shuffle() view: materialise the order
            data = data.flatten_indices()
        table = data.data.table
        yield from _cast_batches(table.to_batches(max_chunksize=ROW_GROUP_ROWS), schema)
        return
    if isinstance(data, pa.Table):
        yield from _cast_batches(data.to_batches(max_chunksize=ROW_GROUP_ROWS), schema)
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
    """Write `data` into a new immutable version folder; returns it once durable on disk.

    The steps (stage in a private folder, publish by rename, and, in the catalog, record)
    are separate functions so a caller can journal between them (see `Catalog.register`).
    """
    with Staging(store_root) as staging:
        written = stage_version(staging.folder, data, schema, part_bytes)
        staging.published = True  # from here a crash leaves a folder, never half of one
        written.path = publish_version(store_root, name, written.path, written.version)
        return written


def stage_version(folder: Path, data: Any, schema: pa.Schema | None = None,
                  part_bytes: int = PART_BYTES) -> WrittenVersion:
    """Write the parts and the manifest of a version into `folder` (a staging folder) and
    fsync them; the returned `path` is `folder`."""
    content = ContentId()
    files, rows, nbytes, out_schema, stats = _write_parts(folder, data, schema, part_bytes,
                                                          content)
    manifest = {"files": [], "rows": rows, "format": "parquet"}
    for f, digest in files:
        st = f.stat()
        manifest["files"].append(
            {"name": f.name, "bytes": st.st_size, "xxh3_128": digest, "mtime_ns": st.st_mtime_ns})
    version = content.hexdigest()
    manifest["version"] = version
    _write_manifest(folder, manifest)
    return WrittenVersion(version, folder, rows, nbytes, out_schema, stats)


def _write_manifest(folder: Path, manifest: dict) -> None:
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=1))
    _fsync_path(folder / MANIFEST)  # parts were synced as they were closed
    _fsync_path(folder)


def check_adoptable(files: list[Path]) -> list[Path]:
    """The files `stage_adopted` will take (empty ones left out unless all are), after
    checking each is Parquet with the first one's columns (BadInput naming the file)."""
    paths = [Path(f) for f in files]
    if not paths:
        raise BadInput("adopt: no files given")
    schemas, sizes = [], []
    for p in paths:
        try:
            md = pq.ParquetFile(p).metadata
            schemas.append(md.schema.to_arrow_schema().remove_metadata())
            sizes.append(md.num_rows)
        except (OSError, pa.ArrowException) as e:
            raise BadInput(f"cannot read as Parquet: {str(e).splitlines()[0]}",
                           file=str(p)) from None
    for p, sch in zip(paths, schemas):
        if sch != schemas[0]:
            raise BadInput(f"columns differ from {paths[0].name}: {sch} vs {schemas[0]}",
                           file=str(p))
    return [p for p, n in zip(paths, sizes) if n] or paths[:1]


def stage_adopted(folder: Path, files: list[Path], read_rows: int = 65_536) -> WrittenVersion:
    """Take Parquet files written elsewhere into `folder` (a staging folder), byte for byte:
    each is hard-linked (copied where a link is impossible, e.g. across filesystems), read
    once, batch by batch, for the content id and the statistics, and hashed for the manifest.
    `files` come from `check_adoptable`."""
    parts = []
    for i, src in enumerate(files):
        dst = folder / f"part-{i:05d}.parquet"
        try:
            os.link(src, dst)
        except OSError:
            shutil.copyfile(src, dst)
            _fsync_path(dst)
        parts.append(dst)
    content, stats = ContentId(), _Stats()
    content.update(pq.ParquetFile(parts[0]).schema_arrow.empty_table())
    rows = nbytes = 0
    manifest: dict[str, Any] = {"files": [], "format": "parquet"}
    for dst in parts:
        with open_stream(dst) as pf:
            for batch in pf.iter_batches(batch_size=read_rows):
                content.update(batch)
                stats.add(batch)
                rows += batch.num_rows
                nbytes += batch.nbytes
            out_schema = pf.schema_arrow
        st = dst.stat()
        manifest["files"].append({"name": dst.name, "bytes": st.st_size,
                                  "xxh3_128": hash_file(dst), "mtime_ns": st.st_mtime_ns})
    version = content.hexdigest()
    manifest.update(rows=rows, version=version)
    _write_manifest(folder, manifest)
    return WrittenVersion(version, folder, rows, nbytes, out_schema, stats.result(rows))


def adopt_files(store_root: Path, name: str, files: list[Path], keep_source: bool = False,
                read_rows: int = 65_536) -> WrittenVersion:
    """Take Parquet files written elsewhere (executor workers) in as a new version.

    The files become the version's parts in the given order, byte for byte (`stage_adopted`),
    and the folder is published as `write_version` does. Files with no rows are left out
    unless all are empty. The sources are removed once the version is in place unless
    `keep_source`. Errors (`BadInput`, naming the file): a file that is not Parquet, or whose
    columns differ from the first file's.
    """
    paths = [Path(f) for f in files]
    keep = check_adoptable(paths)
    with Staging(store_root) as staging:
        written = stage_adopted(staging.folder, keep, read_rows)
        staging.published = True
        written.path = publish_version(store_root, name, written.path, written.version)
    if not keep_source:
        for p in paths:
            p.unlink(missing_ok=True)
    return written


def publish_version(store_root: Path, name: str, staged: Path, version: str) -> Path:
    """Move a staged version folder to `store/<name>/<version>` and return that path.

    Under a per-name lock, so writers racing with the same content resolve to one folder:
    the first rename wins; a later writer keeps an intact existing copy (full re-hash) and
    drops its own, or replaces a damaged one. Raises OSError only for real I/O failures.
    """
    final = store_root / name / version
    final.parent.mkdir(parents=True, exist_ok=True)
    with file_lock(store_root / LOCKS / f"{name}.lock"):
        try:
            os.rename(staged, final)
        except OSError as e:
            if e.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                raise
            # the same content is there already (another writer, or a run killed before it
            # was recorded): keep the intact copy, repair a damaged one
            try:
                check_version(final, full=True)
                shutil.rmtree(staged)
                return final
            except IntegrityError:
                _remove_tree(final)
                os.rename(staged, final)
        _fsync_path(final.parent)
        # some filesystems move mtimes on rename: record the final ones (atomically)
        _refresh_mtimes(final)
    return final


def _remove_tree(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


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
        tmp = folder / f".{MANIFEST}.tmp"
        tmp.write_text(json.dumps(m, indent=1))
        _fsync_path(tmp)
        os.replace(tmp, mpath)


class _Stats:
    """Figures gathered from the batches as they are written, so no second pass is needed."""

    def __init__(self) -> None:
        self.tokens: list[pa.Array] = []
        self.problem_ids: list[pa.Array] = []
        self.verified = [0, 0, 0]
        self.finish_reasons: dict[str, int] = {}
        self.summary: dict[str, Any] = {}

    def add(self, batch: pa.RecordBatch) -> None:
        names = batch.schema.names
        if "completion_tokens" in names and pa.types.is_integer(batch.schema.field(
                "completion_tokens").type):
            self.tokens.append(batch.column("completion_tokens"))
        if "problem_id" in names:
            self.problem_ids.append(batch.column("problem_id"))
        if "verified" in names and batch.schema.field("verified").type == pa.bool_():
            v = batch.column("verified")
            t = pc.sum(v).as_py() or 0
            nulls = v.null_count
            self.verified[0] += t
            self.verified[1] += len(v) - t - nulls
            self.verified[2] += nulls
        if "finish_reason" in names:
            for item in pc.value_counts(batch.column("finish_reason")).to_pylist():
                key = item["values"] if item["values"] is not None else "null"
                self.finish_reasons[key] = self.finish_reasons.get(key, 0) + item["counts"]

    def finish(self, rows: int) -> None:
        self.summary = self.result(rows)

    def result(self, rows: int) -> dict[str, Any]:
        out: dict[str, Any] = {"rows": rows}
        if self.tokens:
            tok = pa.chunked_array(self.tokens).drop_null()
            if len(tok):
                out["mean_completion_tokens"] = pc.mean(tok).as_py()
                out["median_completion_tokens"] = pc.approximate_median(tok).as_py()
                out["max_completion_tokens"] = pc.max(tok).as_py()
        if self.problem_ids:
            out["problems"] = pc.count_distinct(pa.chunked_array(self.problem_ids)).as_py()
        if sum(self.verified):
            out["verified_true"], out["verified_false"], out["verified_null"] = self.verified
        if self.finish_reasons:
            out["finish_reason"] = self.finish_reasons
        return out


def _write_parts(folder: Path, data: Any, schema: pa.Schema | None, part_bytes: int,
                 content: ContentId):
    files: list[tuple[Path, str]] = []
    paths: list[Path] = []
    writer: pq.ParquetWriter | None = None
    flusher: _Flusher | None = None
    background = _Background()
    part_size = 0
    rows = 0
    nbytes = 0
    out_schema = schema
    stats = _Stats()
    pending: list[pa.RecordBatch] = []
    pending_bytes = 0

    def flush_pending() -> None:
        nonlocal writer, flusher, part_size, pending, pending_bytes
        if not pending:
            return
        if writer is None or part_size >= part_bytes:
            if writer is not None:
                writer.close()
                files.append((paths[-1], flusher.close()))
                writer = None
            path = folder / f"part-{len(paths):05d}.parquet"
            paths.append(path)
            writer = pq.ParquetWriter(path, out_schema)
            flusher = _Flusher(path)
            part_size = 0
        table = pa.Table.from_batches(pending, schema=out_schema)
        writer.write_table(table, row_group_size=max(1, table.num_rows))
        flusher.poke()
        part_size += pending_bytes
        pending, pending_bytes = [], 0

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
            if not batch.num_rows:
                continue
            if not rows:
                background.submit(functools.partial(content.update, out_schema.empty_table()))
            background.submit(functools.partial(stats.add, batch))
            background.submit(functools.partial(content.update, batch))
            pending.append(batch)
            pending_bytes += batch.nbytes
            rows += batch.num_rows
            nbytes += batch.nbytes
            if pending_bytes >= ROW_GROUP_BYTES:
                flush_pending()
        # summarise in the background while the last row group is written
        background.submit(functools.partial(stats.finish, rows))
        flush_pending()
        if writer is None:  # no rows at all: still a valid, empty version
            if out_schema is None:
                out_schema = pa.schema([])
            content.update(out_schema.empty_table())
            path = folder / "part-00000.parquet"
            pq.write_table(out_schema.empty_table(), path)
            _fsync_path(path)
            files.append((path, hash_file(path)))
        elif writer is not None:
            writer.close()
            files.append((paths[-1], flusher.close()))
            writer = None
    finally:
        if writer is not None:  # an error mid-write: release the file and the thread
            writer.close()
            flusher.close()
        background.close()
    return files, rows, nbytes, out_schema, stats.summary


def read_manifest(folder: Path) -> dict:
    """The manifest of a version folder; IntegrityError when it is missing or unreadable."""
    mpath = folder / MANIFEST
    if not mpath.is_file():
        raise IntegrityError(f"{mpath}: manifest missing; the version folder is incomplete")
    try:
        m = json.loads(mpath.read_text())
        if not isinstance(m, dict) or not all(
                isinstance(e, dict) and {"name", "bytes", "xxh3_128"} <= set(e)
                for e in m["files"]):
            raise ValueError("unexpected layout")
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise IntegrityError(f"{mpath}: unreadable manifest ({e})") from None
    return m


def check_version(folder: Path, full: bool = False) -> dict:
    """Check every file of a version is present and unaltered; return the manifest.

    Size and mtime are checked always; the hash is recomputed when the mtime moved or
    `full` is set, so an edited file is caught without re-hashing every read.
    """
    m = read_manifest(folder)
    for entry in m["files"]:
        problem = check_file(folder, entry, full)
        if problem:
            raise IntegrityError(f"{folder / entry['name']}: {problem[1]}")
    return m


def check_file(folder: Path, entry: dict, full: bool = False) -> tuple[str, str] | None:
    """(kind, detail) of what is wrong with one manifest entry's file, or None when intact.
    kind: "missing" or "damaged"."""
    f = folder / entry["name"]
    try:
        st = f.stat()
    except FileNotFoundError:
        return "missing", "file missing from dataset version"
    if not f.is_file():
        return "damaged", "not a regular file"
    if st.st_size != entry["bytes"]:
        return "damaged", f"size {st.st_size} != recorded {entry['bytes']} (altered)"
    if (full or st.st_mtime_ns != entry.get("mtime_ns")) and hash_file(f) != entry["xxh3_128"]:
        return "damaged", "content hash differs from the manifest (altered)"
    return None


def version_files(folder: Path) -> list[Path]:
    m = check_version(folder)
    return [folder / e["name"] for e in m["files"]]


class Staging:
    """A writer's private folder `store/.tmp/w-<id>/`, owned through an exclusive lock on
    `store/.tmp/w-<id>.lock` that is held until the registration is recorded or abandoned.

    The lock file doubles as the writer's journal (`journal(record)`): what it is about to
    publish, so that if the process dies between publishing the folder and recording it in
    the catalog, the next start can finish the job (`reclaim_dead_writers`). Liveness is the
    lock itself: the kernel releases it when the process dies, so there is no pid to reuse
    and no clock to trust, and a live writer's folder is never touched by anyone else.
    """

    def __init__(self, store_root: Path):
        self.root = Path(store_root) / TMP
        self.root.mkdir(parents=True, exist_ok=True)
        self.fd, self.lock_path = _new_owned_lock(self.root)
        self.id = self.lock_path.stem
        self.folder = self.root / self.id
        self.published = False  # set before publishing: the journal is then kept on errors
        try:
            self.folder.mkdir()
        except BaseException:
            self._release(remove=True)
            raise

    def __enter__(self) -> Staging:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close(failed=exc_type is not None)

    def journal(self, record: dict[str, Any]) -> None:
        """Record (durably) what this writer is about to publish and register."""
        data = json.dumps(record, default=str).encode()
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, data, 0)
        os.fsync(self.fd)

    def close(self, failed: bool = False) -> None:
        """Remove the staging folder and the journal, unless a publish was under way when it
        failed: then the journal stays for the next start to reconcile."""
        if self.fd < 0:
            return
        self._release(remove=not (failed and self.published))

    def _release(self, remove: bool) -> None:
        try:
            if remove:
                shutil.rmtree(self.folder, ignore_errors=True)
                with contextlib.suppress(FileNotFoundError):
                    self.lock_path.unlink()
        finally:
            os.close(self.fd)  # releases the lock
            self.fd = -1


def _new_owned_lock(root: Path) -> tuple[int, Path]:
    """Create and lock a fresh `w-<id>.lock`; retry if a reclaimer removed it in between."""
    while True:
        path = root / f"w-{uuid.uuid4().hex}.lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
        fcntl.flock(fd, fcntl.LOCK_EX)
        if _same_file(fd, path):
            return fd, path
        os.close(fd)


def _same_file(fd: int, path: Path) -> bool:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (st.st_ino, st.st_dev) == (mine.st_ino, mine.st_dev)


def reclaim_dead_writers(store_root: Path, on_dead=None) -> int:
    """Clean up after writers that died: remove their staging folders, and hand their
    journal (the dict given to `Staging.journal`, or None) to `on_dead(journal)` while
    their lock is held, so a published-but-unrecorded version can be recorded or removed
    exactly once. Live writers (lock held) are never touched. Returns how many were found.
    """
    tmp_root = Path(store_root) / TMP
    try:
        entries = list(os.scandir(tmp_root))
    except FileNotFoundError:
        return 0
    found = 0
    names = {e.name for e in entries}
    for e in entries:
        if e.name.endswith(".lock"):
            found += _reclaim_one(tmp_root, Path(e.path), on_dead)
        elif LEGACY_TMP.fullmatch(e.name):
            found += _remove_legacy_tmp(Path(e.path))
        elif e.name.startswith("w-") and f"{e.name}.lock" not in names and not (tmp_root / f"{e.name}.lock").exists():
            # a writer creates its lock before its folder and removes it after: no lock
            # file means the folder's owner is gone
            shutil.rmtree(e.path, ignore_errors=True)
            found += 1
    return found


def _reclaim_one(tmp_root: Path, lock: Path, on_dead) -> int:
    try:
        fd = os.open(lock, os.O_RDWR)
    except FileNotFoundError:
        return 0
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return 0  # its writer is alive
        if not _same_file(fd, lock):
            return 0  # another process reclaimed it first
        journal = None
        with contextlib.suppress(ValueError, OSError):
            raw = os.pread(fd, 1 << 20, 0)
            journal = json.loads(raw) if raw.strip() else None
        if on_dead is not None:
            on_dead(journal)
        shutil.rmtree(tmp_root / lock.stem, ignore_errors=True)
        with contextlib.suppress(FileNotFoundError):
            lock.unlink()
        return 1
    finally:
        os.close(fd)


def _remove_legacy_tmp(d: Path) -> int:
    """Folders named `<pid>-<hex>` by earlier versions: removed when that pid is gone."""
    try:
        os.kill(int(d.name.split("-", 1)[0]), 0)
        return 0
    except ProcessLookupError:
        shutil.rmtree(d, ignore_errors=True)
        return 1
    except (PermissionError, ValueError, OverflowError):
        return 0


def clean_stale_tmp(store_root: Path) -> int:
    """Remove staging folders of dead writers (without recording anything they published)."""
    return reclaim_dead_writers(store_root)
