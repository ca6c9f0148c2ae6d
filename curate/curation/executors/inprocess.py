"""Run a batch op in this process, streaming: memory is bounded by the batch, not the dataset.

Input batches come from the version's part files (only the columns the op reads), each goes
through the op, and the kept rows stream into the store (`Catalog.register` with a `finish`
hook: the counts the op summed are recorded once the last batch is written). Dropped rows
(filter, decontaminate) stream into a spill file beside, adopted as `OUTPUT-dropped` before the
output is recorded, as `dropped.register_split` does for tables. Group ops read their small
per-row keys in a first pass (only the columns the keys need), decide, then stream the rows a
second time.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from curate.curation.executors.ops import BatchOp, Finished, add_tallies, dropped, dropped_schema
from curate.errors import CurateError

BATCH_ROWS = 2048


def input_schema(catalog, ref) -> pa.Schema:
    """The version's Arrow schema (from its first file's footer; reads no rows)."""
    from curate.curation.executors.units import damaged

    f = catalog.files(ref)[0]
    try:
        return pq.ParquetFile(f).schema_arrow
    except (OSError, pa.ArrowException) as e:
        raise damaged(f, e) from None


def no_rows_left(step: str, output: str, n_in: int, dropped_counts: dict[str, int]) -> CurateError:
    """A step that leaves no rows stops here, saying why, rather than register nothing."""
    why = ", ".join(f"{k}: {v}" for k, v in dropped_counts.items()) or "nothing matched"
    return CurateError(f"{step}: no rows left for {output!r} out of {n_in} ({why}); "
                       "nothing registered")


def record_dropped(catalog, op: BatchOp, output: str, files: list[Path], n_dropped: int,
                   parent: str, fin: Finished) -> Finished:
    """Adopt the dropped rows as OUTPUT-dropped (when kept and any) and name that version in
    the output's counts (`dropped_version`), as `dropped.register_split` does."""
    if not op.drops:
        return fin
    from curate.curation.dropped import dropped_name

    counts = dict(fin.counts)
    if op.keep_dropped and n_dropped:
        dref = catalog.adopt(
            dropped_name(output), files, kind=op.kind, parents=[parent],
            step=f"{op.step}-dropped", params=fin.params,
            counts={"in": counts.get("in"), "out": n_dropped,
                    "dropped": counts.get("dropped") or {}, "kept_as": output}, keep_source=True)
        counts["dropped_version"] = dref.spec
    elif not op.keep_dropped:
        counts["dropped_version"] = None
    return Finished(fin.params, counts, fin.card, fin.stats)


def check_output_names(op: BatchOp, output: str) -> None:
    from curate.curation.dropped import check_names

    check_names(output, op.drops and op.keep_dropped)


def run_inprocess(catalog, spec: str, output: str, op: BatchOp, *, progress: bool = False,
                  batch_rows: int = BATCH_ROWS, run_id: str | None = None):
    """Apply `op` to catalog version `spec` and register the result as `output`."""
    check_output_names(op, output)
    ref = catalog.resolve(spec)
    schema = input_schema(catalog, ref)
    op.check(schema, ref.spec)
    out_schema = op.output_schema(schema)
    tallies: Counter = Counter()
    notes: list[Any] = []
    seen = {"in": 0, "out": 0, "dropped": 0}
    _clean_spills(catalog.home / "staging")
    spill_dir = catalog.home / "staging" / f"inprocess-{os.getpid()}-{uuid.uuid4().hex}"
    spill = spill_dir / "dropped.parquet"
    decided = _decide_groups(catalog, ref, op, schema, batch_rows) if op.needs_groups else None

    def batches():
        from curate.progress import progress_bar

        writer = None
        op.open()
        try:
            with progress_bar(enabled=progress) as bar:
                task = bar.add_task(op.step, total=ref.rows)
                row0 = 0
                for batch in catalog.iter_batches(ref, batch_size=batch_rows,
                                                  columns=None if decided is not None
                                                  else op.read_columns(schema)):
                    if decided is not None:
                        res = op.apply_decided(batch, decided[row0:row0 + batch.num_rows])
                    else:
                        res = op.apply(batch, row0)
                    row0 += batch.num_rows
                    add_tallies(tallies, res.tallies)
                    if res.notes is not None:
                        notes.append(res.notes)
                    seen["in"] += batch.num_rows
                    seen["out"] += res.batch.num_rows
                    if res.dropped is not None and res.dropped.num_rows:
                        if writer is None:
                            spill_dir.mkdir(parents=True, exist_ok=True)
                            writer = pq.ParquetWriter(spill, dropped_schema(schema))
                        writer.write_batch(res.dropped)
                        seen["dropped"] += res.dropped.num_rows
                    bar.advance(task, batch.num_rows)
                    if res.batch.num_rows:
                        yield res.batch
            if writer is not None:
                writer.close()
                writer = None
            if not seen["out"]:   # raised inside the write: nothing half-written stays
                raise no_rows_left(op.step, output, seen["in"], dropped(tallies))
        finally:
            if writer is not None:
                writer.close()
            op.close()

    def finish(_written) -> dict:
        fin = op.finish(seen["in"], seen["out"], dict(tallies), notes)
        fin = record_dropped(catalog, op, output, [spill], seen["dropped"], ref.spec, fin)
        return {"params": fin.params, "counts": fin.counts, "card": fin.card,
                "stats": fin.stats}

    try:
        return catalog.register(output, batches(), kind=op.kind, parents=[ref.spec],
                                step=op.step, schema=out_schema, run_id=run_id, finish=finish)
    finally:
        shutil.rmtree(spill_dir, ignore_errors=True)


def _clean_spills(root: Path) -> None:
    """Spill folders of in-process runs whose process is gone (killed mid-run)."""
    if not root.is_dir():
        return
    for d in root.glob("inprocess-*"):
        pid = d.name.split("-")[1]
        if pid.isdigit():
            try:
                os.kill(int(pid), 0)
                continue
            except ProcessLookupError:
                pass
            except PermissionError:
                continue
        shutil.rmtree(d, ignore_errors=True)


def _decide_groups(catalog, ref, op: BatchOp, schema: pa.Schema, batch_rows: int) -> np.ndarray:
    """First pass of a group op: its keys for every row, then one decision per row."""
    parts = []
    row0 = 0
    op.open()
    try:
        for batch in catalog.iter_batches(ref, batch_size=batch_rows,
                                          columns=op.key_columns(schema)):
            parts.append(op.keys(batch, row0))
            row0 += batch.num_rows
    finally:
        op.close()
    keys = pa.concat_tables(parts) if parts else op.empty_keys()
    out = np.empty(keys.num_rows, dtype=object)
    for i, d in enumerate(op.decide(keys)):   # (reason, detail) tuples: no broadcasting
        out[i] = d
    return out
