"""Dropped rows kept: what filter, dedup and decontaminate removed, and why, as a dataset.

A cleaning step that drops rows registers them as `OUTPUT-dropped` beside its output (same
parent, step `<step>-dropped`), each row as it was plus four columns:

| column | meaning |
|---|---|
| `dropped_by` | the step: `filter`, `dedup` or `decontaminate` |
| `drop_reason` | the reason counted in lineage (`near_duplicate`, `too_long`, `contaminated`, ...) |
| `drop_match` | what the row collides with: the id of the kept row it duplicates (dedup), `BENCHMARK:ITEM_ID` (decontamination), null for filters |
| `drop_detail` | JSON: the evidence (similarity and the kept text, the matched n-gram or whole question and the benchmark text, the measure a filter compared) |

The output's lineage counts name the dropped version (`dropped_version`), so
`curate show OUTPUT` leads to it; `curate show OUTPUT-dropped` and SQL over its Parquet files
inspect it. Every name a step will write is checked before anything is written.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from curate.curation import tables
from curate.errors import BadInput, CurateError
from curate.record import stable_json

SUFFIX = "-dropped"
COLUMNS = ("dropped_by", "drop_reason", "drop_match", "drop_detail")


def dropped_name(output: str) -> str:
    return f"{output}{SUFFIX}"


def check_names(output: str, keep_dropped: bool) -> None:
    """Every name the step will write is valid, checked before writing any (one-line error
    that says when it is the `-dropped` companion that does not fit)."""
    from curate.catalog.catalog import check_names as check

    check(output)
    if keep_dropped:
        try:
            check(dropped_name(output))
        except BadInput as e:
            raise BadInput(f"{e} (the dropped rows go to {dropped_name(output)!r}: shorten "
                           "the name or pass --no-dropped)") from None


def dropped_table(table: pa.Table, step: str, reasons: list[str | None],
                  matches: list[str | None] | None = None,
                  details: list[dict[str, Any] | None] | None = None) -> pa.Table:
    """The rows with a reason (in their order), with the four drop columns added."""
    idx = [i for i, r in enumerate(reasons) if r is not None]
    out = table.take(pa.array(idx, type=pa.int64()))
    cols = {
        "dropped_by": [step] * len(idx),
        "drop_reason": [reasons[i] for i in idx],
        "drop_match": [None if matches is None or matches[i] is None else str(matches[i])
                       for i in idx],
        "drop_detail": [stable_json(details[i]) if details and details[i] is not None else None
                        for i in idx],
    }
    for name, values in cols.items():
        if name in out.column_names:
            out = out.drop_columns([name])
        out = out.append_column(pa.field(name, pa.string()), pa.array(values, pa.string()))
    return out


def register_split(catalog, output: str, kept: pa.Table, dropped: pa.Table | None, *,
                   parents: list[str], step: str, params: dict, counts: dict,
                   keep_dropped: bool = True, kind: str = "traces", card: str | None = None,
                   stats: dict | None = None):
    """Register the kept rows as `output` and, unless `keep_dropped` is off, the dropped rows
    as `output-dropped` first (its version goes into the output's counts as
    `dropped_version`). Names and a non-empty output are checked before anything is written."""
    check_names(output, keep_dropped)
    if kept.num_rows == 0:
        d = counts.get("dropped") or {}
        why = ", ".join(f"{k}: {v}" for k, v in d.items()) or "nothing matched"
        raise CurateError(f"{step}: no rows left for {output!r} out of "
                          f"{counts.get('in', 0)} ({why}); nothing registered")
    counts = dict(counts)
    if keep_dropped and dropped is not None and dropped.num_rows:
        dref = catalog.register(
            dropped_name(output), dropped, kind=kind, parents=parents, step=f"{step}-dropped",
            params=params, counts={"in": counts.get("in"), "out": dropped.num_rows,
                                   "dropped": counts.get("dropped") or {}, "kept_as": output})
        counts["dropped_version"] = dref.spec
    elif not keep_dropped:
        counts["dropped_version"] = None
    return tables.register(catalog, output, kept, parents=parents, step=step, params=params,
                           counts=counts, kind=kind, card=card, stats=stats)
