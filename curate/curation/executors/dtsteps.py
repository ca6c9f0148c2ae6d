"""datatrove PipelineSteps that carry Arrow batches of curate rows between curate's batch ops.

Each datatrove `Document` here holds one Arrow record batch of a unit (`metadata["batch"]`),
not one row: curate's functions work on batches, and a long-CoT row converted to a Python
object per step would cost more than the step. Steps are module-level classes holding plain
data, so datatrove's executors can pickle them into new processes, Slurm jobs or Ray workers.

- `ReadUnits`: a task's units of the input version's part files, as batches.
- `ApplyOp`: a batch op per batch; its tallies go to datatrove's stats.
- `GroupKeys`: a group op's per-row keys, with each row's bucket (its problem, hashed).
- `DecideGroups`: one task per bucket: the keys of its problems, whole, decided.
- `ApplyDecided`: the decisions for the unit's rows, applied.
- `WriteUnits`: one Parquet file per unit (written to a temporary name, then renamed), plus
  a JSON sidecar with the op's notes; a task's failure is written to `errors/`.
"""

from __future__ import annotations

import json
import os
import traceback
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import xxhash
from datatrove.data import Document
from datatrove.pipeline.base import PipelineStep

from curate.curation.executors.units import Unit, read_unit, task_units
from curate.errors import CurateError
from curate.record import stable_json

ROW_GROUP_BYTES = 64 * 1024 * 1024


class ReadUnits(PipelineStep):
    name = "curate read units"
    type = "📖 - READER"

    def __init__(self, units: list[Unit], columns: list[str] | None, batch_rows: int):
        super().__init__()
        self.units, self.columns, self.batch_rows = units, columns, batch_rows

    def run(self, data=None, rank: int = 0, world_size: int = 1):
        for unit in task_units(self.units, rank, world_size):
            row0 = unit.row0
            it = read_unit(unit, self.columns, self.batch_rows)
            nxt = next(it, None)
            j = 0
            while nxt is not None:
                batch, nxt = nxt, next(it, None)
                self.stat_update("rows_in", value=batch.num_rows)
                yield Document(text="batch", id=f"{unit.index}:{j}", metadata={
                    "unit": unit, "row0": row0, "batch": batch, "last": nxt is None,
                    "notes": []})
                row0 += batch.num_rows
                j += 1


def _tally(step: PipelineStep, tallies: dict[str, int]) -> None:
    for k, v in tallies.items():
        if v:
            step.stat_update(k, value=int(v))


def _carry(step: PipelineStep, doc: Document, batch: pa.RecordBatch, res) -> None:
    """Put an op's result on the document and its tallies in the step's stats."""
    n_dropped = res.dropped.num_rows if res.dropped is not None else 0
    _tally(step, {**res.tallies, "rows_in": batch.num_rows, "rows_out": res.batch.num_rows,
                  "rows_dropped_kept": n_dropped})
    if res.notes is not None:
        doc.metadata["notes"].append(res.notes)
    doc.metadata["batch"] = res.batch
    doc.metadata["dropped"] = res.dropped


class ApplyOp(PipelineStep):
    type = "⚙️ - CURATE"

    def __init__(self, op):
        self.name = f"curate {op.step}"
        super().__init__()
        self.op = op

    def run(self, data, rank: int = 0, world_size: int = 1):
        self.op.open()
        try:
            for doc in data:
                batch = doc.metadata["batch"]
                res = self.op.apply(batch, doc.metadata["row0"])
                _carry(self, doc, batch, res)
                yield doc
        finally:
            self.op.close()


def bucket_of(problem_ids: pa.Array, rows: np.ndarray, buckets: int) -> np.ndarray:
    """A row's bucket: xxh3 of its problem id modulo `buckets` (its row index without one)."""
    out = np.empty(len(rows), dtype=np.int64)
    for i, pid in enumerate(problem_ids.to_pylist()):
        out[i] = (xxhash.xxh3_64_intdigest(pid.encode("utf-8", "surrogatepass"))
                  if pid is not None else int(rows[i])) % buckets
    return out


class GroupKeys(PipelineStep):
    type = "⚙️ - CURATE"

    def __init__(self, op, buckets: int):
        self.name = f"curate {op.step} keys"
        super().__init__()
        self.op, self.buckets = op, buckets

    def run(self, data, rank: int = 0, world_size: int = 1):
        self.op.open()
        try:
            for doc in data:
                keys = self.op.keys(doc.metadata["batch"], doc.metadata["row0"])
                b = bucket_of(keys.column("problem_id"), keys.column("row").to_numpy(),
                              self.buckets)
                keys = keys.append_column("bucket", pa.array(b, pa.int64()))
                self.stat_update("rows_in", value=keys.num_rows)
                doc.metadata["batch"] = keys.combine_chunks().to_batches()[0] \
                    if keys.num_rows else pa.RecordBatch.from_pylist([], schema=keys.schema)
                yield doc
        finally:
            self.op.close()


def keys_schema(op) -> pa.Schema:
    return op.empty_keys().schema.append(pa.field("bucket", pa.int64()))


class DecideGroups(PipelineStep):
    """Task `rank` decides the groups of bucket `rank`: it reads only that bucket's row group
    of every unit's keys file and writes `decisions/bucket-RANK.parquet` (row, reason)."""

    name = "curate decide groups"
    type = "⚙️ - CURATE"

    def __init__(self, op, keys_dir: str, out_dir: str, errors_dir: str, n_units: int):
        super().__init__()
        self.op, self.keys_dir, self.out_dir = op, keys_dir, out_dir
        self.errors_dir, self.n_units = errors_dir, n_units

    def run(self, data=None, rank: int = 0, world_size: int = 1):
        try:
            parts = []
            for u in range(self.n_units):
                path = Path(self.keys_dir) / f"unit-{u:06d}.parquet"
                with pq.ParquetFile(path) as pf:
                    buckets = json.loads(pf.schema_arrow.metadata[b"curate_buckets"])
                    if rank in buckets:
                        parts.append(pf.read_row_group(buckets.index(rank)).drop_columns(
                            ["bucket"]))
            keys = (pa.concat_tables(parts) if parts else self.op.empty_keys())
            keys = keys.sort_by("row")
            self.stat_update("rows_in", value=keys.num_rows)
            decisions = self.op.decide(keys)
            out = pa.table({"row": keys.column("row"),
                            "decision": pa.array([None if d is None else stable_json(list(d))
                                                  for d in decisions], pa.string())})
            _atomic_write(out, Path(self.out_dir) / f"bucket-{rank:05d}.parquet",
                          row_group_size=65_536)
        except BaseException as e:
            _record_error(self.errors_dir, rank, e)
            raise
        return
        yield  # a generator: datatrove iterates the last step


class ApplyDecided(PipelineStep):
    """The group decisions for each unit's rows (from every bucket's file), applied."""

    type = "⚙️ - CURATE"

    def __init__(self, op, decisions_dir: str, buckets: int):
        self.name = f"curate {op.step}"
        super().__init__()
        self.op, self.decisions_dir, self.buckets = op, decisions_dir, buckets

    def _reasons(self, unit: Unit) -> np.ndarray:
        lo, hi = unit.row0, unit.row0 + unit.rows
        parts = []
        for b in range(self.buckets):
            t = pq.read_table(Path(self.decisions_dir) / f"bucket-{b:05d}.parquet",
                              filters=[("row", ">=", lo), ("row", "<", hi)])
            if t.num_rows:
                parts.append(t)
        t = pa.concat_tables(parts).sort_by("row") if parts else None
        if t is None or t.num_rows != unit.rows or \
                t.column("row").to_numpy()[0] != lo or t.column("row").to_numpy()[-1] != hi - 1:
            raise CurateError(f"group decisions for rows {lo}..{hi - 1} are incomplete")
        out = np.empty(t.num_rows, dtype=object)
        for i, d in enumerate(t.column("decision").to_pylist()):
            out[i] = None if d is None else tuple(json.loads(d))
        return out

    def run(self, data, rank: int = 0, world_size: int = 1):
        current, reasons = None, None
        for doc in data:
            unit = doc.metadata["unit"]
            if unit.index != current:
                current, reasons = unit.index, self._reasons(unit)
            batch, row0 = doc.metadata["batch"], doc.metadata["row0"]
            res = self.op.apply_decided(
                batch, reasons[row0 - unit.row0:row0 - unit.row0 + batch.num_rows])
            _carry(self, doc, batch, res)
            yield doc


class WriteUnits(PipelineStep):
    """One Parquet file per unit, `unit-NNNNNN.parquet`, complete or absent (written under a
    temporary name and renamed); the op's notes beside it as `unit-NNNNNN.json`. With
    `bucketed`, rows are sorted by their `bucket` column and each bucket is one row group."""

    name = "curate write units"
    type = "💽 - WRITER"

    def __init__(self, out_dir: str, schema: pa.Schema, errors_dir: str,
                 bucketed: bool = False, dropped_dir: str | None = None,
                 dropped_schema: pa.Schema | None = None):
        super().__init__()
        self.out_dir, self.schema, self.errors_dir = out_dir, schema, errors_dir
        self.bucketed = bucketed
        self.dropped_dir, self.dropped_schema = dropped_dir, dropped_schema

    def run(self, data, rank: int = 0, world_size: int = 1):
        out = Path(self.out_dir)
        out.mkdir(parents=True, exist_ok=True)
        writer = None
        try:
            for doc in data:
                unit: Unit = doc.metadata["unit"]
                if writer is None:
                    writer = _UnitWriter(out, unit, self.schema, self.bucketed)
                    if self.dropped_dir:
                        writer.side = _UnitWriter(Path(self.dropped_dir), unit,
                                                  self.dropped_schema, False, lazy=True)
                writer.add(doc.metadata["batch"])
                if writer.side is not None and doc.metadata.get("dropped") is not None:
                    writer.side.add(doc.metadata["dropped"])
                writer.notes.extend(doc.metadata["notes"])
                self.stat_update("rows_out", value=doc.metadata["batch"].num_rows)
                if doc.metadata["last"]:
                    writer.close()
                    writer = None
        except BaseException as e:
            if writer is not None:
                writer.abort()
            _record_error(self.errors_dir, rank, e)
            raise
        return
        yield  # a generator: datatrove iterates the last step


class _UnitWriter:
    """One unit's file; `side` writes the unit's dropped rows (only if there are any), closed
    and renamed before the main file, whose presence therefore means the unit is complete."""

    def __init__(self, out: Path, unit: Unit, schema: pa.Schema, bucketed: bool,
                 lazy: bool = False):
        out.mkdir(parents=True, exist_ok=True)
        self.final = out / f"{unit.name}.parquet"
        self.tmp = out / f".{unit.name}.parquet.{os.getpid()}.tmp"
        self.notes_path = out / f"{unit.name}.json"
        self.schema, self.bucketed = schema, bucketed
        self.pending: list[pa.RecordBatch] = []
        self.pending_bytes = 0
        self.notes: list = []
        self.side: _UnitWriter | None = None
        self.final.unlink(missing_ok=True)     # a rerun of the unit: no stale file survives
        self.writer = None if (bucketed or lazy) else pq.ParquetWriter(self.tmp, schema)

    def add(self, batch: pa.RecordBatch) -> None:
        if batch.schema != self.schema:
            batch = pa.Table.from_batches([batch]).select(self.schema.names).cast(
                self.schema).combine_chunks().to_batches()[0] if batch.num_rows else None
        if batch is None or not batch.num_rows:
            return
        self.pending.append(batch)
        self.pending_bytes += batch.nbytes
        if not self.bucketed and self.pending_bytes >= ROW_GROUP_BYTES:
            self._flush()

    def _flush(self) -> None:
        if self.pending and self.writer is None:
            self.writer = pq.ParquetWriter(self.tmp, self.schema)
        if self.pending:
            t = pa.Table.from_batches(self.pending, schema=self.schema)
            self.writer.write_table(t, row_group_size=t.num_rows)
        self.pending, self.pending_bytes = [], 0

    def close(self) -> None:
        if self.bucketed:
            t = (pa.Table.from_batches(self.pending, schema=self.schema)
                 .sort_by([("bucket", "ascending"), ("row", "ascending")]))
            b = t.column("bucket").to_numpy()
            buckets = sorted(set(b.tolist()))
            meta = {b"curate_buckets": json.dumps(buckets).encode()}
            with pq.ParquetWriter(self.tmp, self.schema.with_metadata(meta)) as w:
                for k in buckets:
                    lo, hi = np.searchsorted(b, k, "left"), np.searchsorted(b, k, "right")
                    w.write_table(t.slice(lo, hi - lo).replace_schema_metadata(meta),
                                  row_group_size=hi - lo)
        else:
            self._flush()
            if self.writer is None:       # a lazy writer that got no rows: no file
                return
            self.writer.close()
        if self.side is not None:
            self.side.close()
        if self.notes:
            tmp_notes = self.notes_path.with_suffix(".json.tmp")
            tmp_notes.write_text(json.dumps(self.notes, default=str))
            os.replace(tmp_notes, self.notes_path)
        _fsync(self.tmp)
        os.replace(self.tmp, self.final)

    def abort(self) -> None:
        try:
            if self.side is not None:
                self.side.abort()
            if self.writer is not None:
                self.writer.close()
        finally:
            self.tmp.unlink(missing_ok=True)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _atomic_write(table: pa.Table, path: Path, row_group_size: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    pq.write_table(table, tmp, row_group_size=row_group_size)
    _fsync(tmp)
    os.replace(tmp, path)


def _record_error(errors_dir: str, rank: int, e: BaseException) -> None:
    """The failure of task `rank`, for the driver: a user error as its one line, anything else
    with its traceback (the task's full log is in the logging folder)."""
    try:
        d = Path(errors_dir)
        d.mkdir(parents=True, exist_ok=True)
        user = isinstance(e, CurateError)
        payload = {"rank": rank, "user_error": user, "type": type(e).__name__,
                   "message": str(e), "traceback": None if user else traceback.format_exc()}
        (d / f"task-{rank:05d}.json").write_text(json.dumps(payload))
    except OSError:
        pass
