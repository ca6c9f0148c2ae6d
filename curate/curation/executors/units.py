"""Units of work over a version's Parquet files: row groups (or slices of them), in row order.

A unit knows its file, row group, slice and the global index of its first row, so a task can
read it alone and an op can number rows as the whole dataset does. Tasks take contiguous runs
of units; each unit's output is a file named by the unit's index, so the outputs concatenated
in unit order are the rows in input order whatever the number of tasks.

A stored file that fails to decode (bit rot that kept size and mtime) is an IntegrityError
naming the version and file, in the driver and in a task (which reports it as the user's
error), never "task did not finish, run again".
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from curate.catalog.store import open_stream


def damaged(path: str | Path, error: BaseException):
    """The IntegrityError for a stored file (store/NAME/VERSION/part-*.parquet) that failed
    to read: re-hashed against its manifest, naming the version and the file."""
    from curate.catalog.catalog import damage_message
    from curate.errors import IntegrityError

    p = Path(path)
    return IntegrityError(damage_message(f"{p.parent.parent.name}@{p.parent.name}", p, error))


@dataclass(frozen=True)
class Unit:
    index: int
    file: str
    row_group: int
    start: int          # first row within the row group
    rows: int
    row0: int           # global index of the unit's first row

    @property
    def name(self) -> str:
        return f"unit-{self.index:06d}"


def plan_units(files: list[Path | str], min_units: int = 1) -> list[Unit]:
    """One unit per non-empty row group; large row groups are split into equal slices until
    there are at least `min_units` units (or every row is its own slice)."""
    groups = []
    row0 = 0
    for f in files:
        try:
            md = pq.ParquetFile(f).metadata
        except (OSError, pa.ArrowException) as e:
            raise damaged(f, e) from None
        for rg in range(md.num_row_groups):
            n = md.row_group(rg).num_rows
            if n:
                groups.append((str(f), rg, n, row0))
                row0 += n
    total = row0
    if not total:
        return []
    split = 1
    while len(groups) * split < min_units and split < max(n for *_, n, _r in groups):
        split += 1
    units: list[Unit] = []
    for f, rg, n, start0 in groups:
        k = min(split, n)
        size = -(-n // k)
        for s in range(0, n, size):
            units.append(Unit(len(units), f, rg, s, min(size, n - s), start0 + s))
    return units


def task_units(units: list[Unit], rank: int, world_size: int) -> list[Unit]:
    """The contiguous run of units task `rank` of `world_size` takes."""
    n = len(units)
    lo = rank * n // world_size
    hi = (rank + 1) * n // world_size
    return units[lo:hi]


def read_unit(unit: Unit, columns: list[str] | None, batch_rows: int) -> Iterator[pa.RecordBatch]:
    """The unit's rows as batches of at most `batch_rows` rows (IntegrityError for a file
    that fails to decode)."""
    try:
        pf = open_stream(unit.file)
    except (OSError, pa.ArrowException) as e:
        raise damaged(unit.file, e) from None
    with pf:
        skip, left = unit.start, unit.rows
        batches = pf.iter_batches(batch_size=batch_rows, row_groups=[unit.row_group],
                                  columns=columns, use_threads=False)
        while True:
            try:
                b = next(batches, None)
            except (OSError, pa.ArrowException) as e:
                raise damaged(unit.file, e) from None
            if b is None:
                return
            if skip >= b.num_rows:
                skip -= b.num_rows
                continue
            if skip:
                b = b.slice(skip)
                skip = 0
            if b.num_rows > left:
                b = b.slice(0, left)
            left -= b.num_rows
            yield b
            if not left:
                return
