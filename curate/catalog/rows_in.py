"""What `Catalog.register` accepts, and the row checks it shares with `curate import`.

Inputs a notebook user holds: a list of dicts, a `datasets.Dataset`, a `pyarrow.Table` or
`RecordBatch`, a `pandas.DataFrame`, or any iterable of dicts / record batches (streamed, never
held whole). For the kinds import knows (`problems`, `traces`, `benchmark`) every row must have
a prompt (`prompt`, or `problem` / `question` / `input`) that is not empty, and the fields
import knows must have their types (`verified` a bool, `completion_tokens` an int, `messages`
a list, ...). A bad row is one `BadInput` naming the dataset, the row (0-based position in the
input) and the field; nothing is registered. Other kinds (mixture, rejects, ...) are stored as
given.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from curate.errors import BadInput
from curate.formats.rows import KNOWN_TYPES, PROMPT_ALIASES, REQUIRED

_ARROW_OK = {
    str: lambda t: pa.types.is_string(t) or pa.types.is_large_string(t),
    int: pa.types.is_integer,
    float: pa.types.is_floating,
    bool: pa.types.is_boolean,
    list: lambda t: pa.types.is_list(t) or pa.types.is_large_list(t),
}
_NAMES = {str: "string", int: "int", float: "float", bool: "bool", list: "list"}


def checked_kind(kind: str) -> bool:
    """Whether rows of `kind` are checked (the kinds `curate import` reads)."""
    return kind in REQUIRED


def prepare(data: Any, kind: str, name: str) -> Any:
    """`data` in a form the store writes, checked for `kind`. Raises BadInput on the first bad
    row (or column), or for an input that is not rows."""
    pd = sys.modules.get("pandas")
    if pd is not None and isinstance(data, pd.DataFrame):
        try:
            data = pa.Table.from_pandas(data, preserve_index=False)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as e:
            raise BadInput(f"register {name!r}: a column holds values of mixed types: "
                           f"{str(e).splitlines()[0]}") from None
        data = _pandas_ints(data)
    ds = sys.modules.get("datasets")
    if ds is not None and isinstance(data, ds.Dataset):
        if data._indices is not None:        # a select()/shuffle() view: materialise it
            data = data.flatten_indices()
        data = data.data.table
    if not checked_kind(kind):
        return data
    if isinstance(data, pa.Table | pa.RecordBatch):
        check_table(data, kind, name)
        return data
    if isinstance(data, str | bytes | dict):
        return data                            # the store names what it wants
    if isinstance(data, list):
        for i, row in enumerate(data):
            _raise(check_row(row, kind), name, i)
        return data
    return _checked_stream(iter(data), kind, name)


def _pandas_ints(table: pa.Table) -> pa.Table:
    """pandas turns an int column with a missing value into floats: known integer fields
    whose values are all whole go back to int64 (the type every other input gives)."""
    for i, f in enumerate(table.schema):
        want = KNOWN_TYPES.get(f.name, ())
        if int in want and float not in want and pa.types.is_floating(f.type):
            col = table.column(i)
            vals = pc.drop_null(col)
            if len(vals) == 0 or pc.all(pc.equal(pc.floor(vals), vals)).as_py():
                table = table.set_column(i, pa.field(f.name, pa.int64()),
                                         pc.cast(col, pa.int64()))
    return table


def _checked_stream(it: Iterator[Any], kind: str, name: str) -> Iterator[Any]:
    n = 0
    for item in it:
        if isinstance(item, pa.RecordBatch):
            check_table(item, kind, name, offset=n)
            n += item.num_rows
        else:
            _raise(check_row(item, kind), name, n)
            n += 1
        yield item


def _raise(problem: tuple[str, str | None] | None, name: str, row: int) -> None:
    if problem is not None:
        reason, field = problem
        raise BadInput(f"register {name!r}: row {row}: {reason}", field=field)


def check_row(row: Any, kind: str) -> tuple[str, str | None] | None:
    """(reason, field) for a row that lacks what `kind` needs or holds a known field of the
    wrong type; None for a good row (the row is not changed)."""
    if not isinstance(row, dict):
        return f"expected a dict, got {type(row).__name__}", None
    if "prompt" in REQUIRED.get(kind, ()):
        if not any(isinstance(row.get(a), str) and row[a].strip() for a in PROMPT_ALIASES):
            field = next((a for a in PROMPT_ALIASES if a in row), "prompt")
            hint = "" if field in row else " (other data: pass another kind, e.g. kind='rows')"
            return (f"missing or empty prompt (one of {', '.join(PROMPT_ALIASES)}){hint}", field)
    for k, v in row.items():
        want = KNOWN_TYPES.get(k)
        if v is None or not want:
            continue
        if not isinstance(v, want) or (isinstance(v, bool) and bool not in want):
            return (f"wrong type: {type(v).__name__}, expected "
                    f"{' or '.join(_NAMES[t] for t in want)}"), k
    return None


def check_table(table: pa.Table | pa.RecordBatch, kind: str, name: str, offset: int = 0) -> None:
    """The same checks on Arrow data: column types, then the first row with no prompt."""
    if table.num_rows == 0:
        return
    cols = table.schema
    for f in cols:
        want = KNOWN_TYPES.get(f.name)
        if not want or pa.types.is_null(f.type):
            continue
        if not any(_ARROW_OK[t](f.type) for t in want) or (
                pa.types.is_boolean(f.type) and bool not in want):
            raise BadInput(f"register {name!r}: column of type {f.type}, expected "
                           f"{' or '.join(_NAMES[t] for t in want)}", field=f.name)
    if "prompt" not in REQUIRED.get(kind, ()):
        return
    present = [a for a in PROMPT_ALIASES if a in cols.names
               and _ARROW_OK[str](cols.field(a).type)]
    if not present:
        raise BadInput(f"register {name!r}: {kind} rows need a prompt column (one of "
                       f"{', '.join(PROMPT_ALIASES)}); columns: {', '.join(cols.names)} "
                       f"(other data: pass another kind, e.g. kind='rows')", field="prompt")
    ok = None
    for a in present:
        col = table.column(a)
        has = pc.and_(pc.is_valid(col), pc.greater(pc.utf8_length(pc.utf8_trim_whitespace(
            pc.fill_null(col, ""))), 0))
        ok = has if ok is None else pc.or_(ok, has)
    bad = pc.indices_nonzero(pc.invert(ok))
    if len(bad):
        raise BadInput(f"register {name!r}: row {offset + bad[0].as_py()}: missing or empty "
                       f"prompt (one of {', '.join(PROMPT_ALIASES)})", field=present[0])
