"""A curation step as a function of Arrow batches: the one definition that the in-process verbs
and the executor pipelines both run.

An op is a picklable, module-level object (datatrove's executors ship it to new processes,
other hosts or Ray workers, which re-import it). `apply(batch, row0)` maps one batch whose first
row is row `row0` of the input version to the kept/changed rows plus integer tallies (summed
across batches and tasks) and optional notes (small JSON-able extras such as report examples,
merged by `finish`). An op must not depend on how the rows are split into batches.

Group ops (`needs_groups`) decide some rows from whole groups (all samples of a problem): they
run in two passes, `keys(batch, row0)` producing small per-row keys, `decide(keys)` turning
the keys of complete groups into one reason per row, and `apply_decided(batch, reasons)`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa


@dataclass
class Applied:
    batch: pa.RecordBatch
    tallies: dict[str, int] = field(default_factory=dict)
    notes: Any = None
    dropped: pa.RecordBatch | None = None   # the rows dropped, with the four drop columns


@dataclass
class Finished:
    """What the step records in lineage."""
    params: dict[str, Any]
    counts: dict[str, Any]
    card: str | None = None
    stats: dict[str, Any] | None = None


class BatchOp:
    """Base class; subclasses set `step` and implement `apply` and `finish`."""

    step: str = ""
    kind: str = "traces"
    needs_groups: bool = False
    drops: bool = False          # drops rows (filter, decontaminate): they can be kept
    keep_dropped: bool = False   # ... and are registered as OUTPUT-dropped

    def check(self, schema: pa.Schema, spec: str) -> None:
        """Raise BadInput when the input cannot go through this step (before any work)."""

    def read_columns(self, schema: pa.Schema) -> list[str] | None:
        """The input columns `apply` needs (None: all)."""
        return None

    def output_schema(self, schema: pa.Schema) -> pa.Schema:
        return schema

    def open(self) -> None:
        """Acquire per-process resources (a verifier pool, a benchmark index)."""

    def close(self) -> None:
        pass

    def apply(self, batch: pa.RecordBatch, row0: int) -> Applied:
        raise NotImplementedError

    def finish(self, n_in: int, n_out: int, tallies: dict[str, int], notes: list) -> Finished:
        raise NotImplementedError

    def key(self) -> dict[str, Any]:
        """What identifies this op's output for a given input (staging folders are keyed by it)."""
        return {"step": self.step, "params": self.finish_params()}

    def finish_params(self) -> dict[str, Any]:
        return {}


def add_tallies(total: Counter, more: dict[str, int]) -> None:
    for k, v in more.items():
        if v:
            total[k] += int(v)


def dropped(tallies: dict[str, int], prefix: str = "dropped:") -> dict[str, int]:
    """`{reason: n}` from tallies named `dropped:REASON`, sorted by reason."""
    return dict(sorted((k[len(prefix):], int(v)) for k, v in tallies.items()
                       if k.startswith(prefix) and v))


def keep_mask(batch: pa.RecordBatch, reasons: list) -> tuple[pa.RecordBatch, dict[str, int]]:
    """Rows whose reason is None, and `dropped:REASON` tallies for the others."""
    keep = [r is None for r in reasons]
    tallies = Counter(f"dropped:{r}" for r in reasons if r is not None)
    if all(keep):
        return batch, dict(tallies)
    return batch.filter(pa.array(keep, type=pa.bool_())), dict(tallies)


def split(batch: pa.RecordBatch, step: str, reasons: list, matches: list | None = None,
          details: list | None = None, keep_dropped: bool = True) -> Applied:
    """Kept rows, `dropped:REASON` tallies, and (when kept) the dropped rows with the drop
    columns of `curate.curation.dropped`."""
    kept, tallies = keep_mask(batch, reasons)
    out = None
    if keep_dropped and kept.num_rows < batch.num_rows:
        from curate.curation.dropped import dropped_table

        t = dropped_table(pa.Table.from_batches([batch]), step, list(reasons), matches, details)
        out = t.combine_chunks().to_batches()[0] if t.num_rows else None
    return Applied(kept, tallies, dropped=out)


def dropped_schema(schema: pa.Schema) -> pa.Schema:
    """The schema of OUTPUT-dropped: the input's columns, then the four drop columns."""
    from curate.curation.dropped import COLUMNS

    keep = [f for f in schema if f.name not in COLUMNS]
    return pa.schema(keep + [pa.field(c, pa.string()) for c in COLUMNS])
