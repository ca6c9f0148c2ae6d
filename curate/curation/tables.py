"""Arrow-table helpers shared by the curation steps: read a catalog version, replace or add
columns keeping the schema, keep rows by mask, and register the result with its counts."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pyarrow as pa

from curate.errors import BadInput, CurateError


def read(catalog, spec: str) -> pa.Table:
    """A catalog version as an Arrow table."""
    return catalog.table(spec)


def column(table: pa.Table, name: str, default: Any = None) -> list[Any]:
    """A column as a Python list (a list of `default` when the column is absent)."""
    if name in table.column_names:
        return table.column(name).to_pylist()
    return [default] * table.num_rows


def require(table: pa.Table, names: list[str], spec: str) -> None:
    missing = [n for n in names if n not in table.column_names]
    if missing:
        raise BadInput(f"dataset {spec} has no column(s) {', '.join(missing)}")


def set_column(table: pa.Table, name: str, values: list[Any],
               type_: pa.DataType | None = None) -> pa.Table:
    """Replace column `name` (keeping its type) or append it."""
    if name in table.column_names:
        i = table.column_names.index(name)
        old = table.schema.field(name).type
        arr = pa.array(values, type=type_ or (None if pa.types.is_null(old) else old))
        return table.set_column(i, pa.field(name, arr.type), arr)
    arr = pa.array(values, type=type_)
    return table.append_column(pa.field(name, arr.type), arr)


def keep(table: pa.Table, mask: list[bool]) -> pa.Table:
    return table.filter(pa.array(mask, type=pa.bool_()))


def drop_counts(n_in: int, reasons: list[str | None]) -> dict[str, Any]:
    """`{"in", "out", "dropped": {reason: n}}` from one reason (None = kept) per row."""
    dropped = Counter(r for r in reasons if r is not None)
    return {"in": n_in, "out": n_in - sum(dropped.values()), "dropped": dict(sorted(dropped.items()))}


def register(catalog, output: str, table: pa.Table, *, parents: list[str], step: str,
             params: dict, counts: dict, kind: str = "traces", card: str | None = None,
             stats: dict | None = None):
    """Register a step's output with lineage to its parents, its parameters and counts.

    A step that leaves no rows stops the pipeline here, saying why, rather than handing an
    empty dataset to the next step."""
    if table.num_rows == 0:
        dropped = (counts or {}).get("dropped") or {}
        why = ", ".join(f"{k}: {v}" for k, v in dropped.items()) or "nothing matched"
        raise CurateError(f"{step}: no rows left for {output!r} out of "
                          f"{(counts or {}).get('in', 0)} ({why})")
    return catalog.register(output, table, kind=kind, parents=parents, step=step,
                            params=params, counts=counts, card=card, stats=stats)
