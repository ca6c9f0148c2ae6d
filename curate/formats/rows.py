"""Reading user files (JSONL, JSON, Parquet, CSV) into rows, with errors that name the file,
line and field, and an option to set bad rows aside with their reasons instead of failing.

Below every area: the catalog importer, prompt sources and recipes all read files through here.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from curate.errors import BadInput

MAX_ROW_BYTES = 16 * 1024 * 1024
KINDS = ("problems", "traces", "benchmark")

# Fields each kind needs (after aliasing), and the types known fields must have.
REQUIRED = {"problems": ("prompt",), "traces": ("prompt",), "benchmark": ("prompt",)}
PROMPT_ALIASES = ("prompt", "problem", "question", "input")
KNOWN_TYPES: dict[str, tuple[type, ...]] = {
    "id": (str, int), "problem_id": (str, int), "prompt": (str,), "reasoning": (str,),
    "answer_text": (str,), "final_answer": (str, int, float), "reference": (str, int, float),
    "answer": (str, int, float), "verified": (bool,), "finish_reason": (str,),
    "prompt_tokens": (int,), "completion_tokens": (int,), "messages": (list,),
}


@dataclass
class Rejected:
    line: int
    reason: str
    field: str | None = None
    raw: str = ""


@dataclass
class ImportResult:
    rows: list[dict[str, Any]]
    rejected: list[Rejected] = field(default_factory=list)
    total: int = 0


def _type_name(v: Any) -> str:
    return {bool: "bool", int: "int", float: "float", str: "string", list: "list",
            dict: "object"}.get(type(v), type(v).__name__)


def _check_row(row: Any, kind: str, types: dict[str, str]) -> tuple[str, str | None] | None:
    """None if the row is fine, else (reason, field)."""
    if not isinstance(row, dict):
        return f"expected a JSON object, got {_type_name(row)}", None
    if "prompt" not in row:
        for alias in PROMPT_ALIASES[1:]:
            if isinstance(row.get(alias), str):
                row["prompt"] = row[alias]
                break
    for req in REQUIRED[kind]:
        if row.get(req) in (None, ""):
            return f"missing required field (one of {', '.join(PROMPT_ALIASES)})" \
                if req == "prompt" else "missing required field", req
    for k, v in row.items():
        if v is None:
            continue
        want = KNOWN_TYPES.get(k)
        if want and not (isinstance(v, want) and not (isinstance(v, bool) and bool not in want)):
            return (f"wrong type: {_type_name(v)}, expected "
                    f"{' or '.join(_type_name(t()) for t in want)}"), k
        tn = "number" if isinstance(v, (int, float)) and not isinstance(v, bool) else _type_name(v)
        seen = types.setdefault(k, tn)
        if seen != tn:
            return f"wrong type: {tn}, earlier rows have {seen}", k
    return None


def _jsonl_rows(path: Path, max_row_bytes: int) -> Iterator[tuple[int, Any, str | None]]:
    """(line number, parsed value or None, error) per non-blank line; reads in binary."""
    with open(path, "rb") as f:
        lineno = 0
        while True:
            raw = f.readline(max_row_bytes + 1)
            if not raw:
                break
            lineno += 1
            if len(raw) > max_row_bytes and not raw.endswith(b"\n"):
                # skip the rest of an oversized line without holding it in memory
                while raw and not raw.endswith(b"\n"):
                    raw = f.readline(1 << 20)
                yield lineno, None, f"row larger than {max_row_bytes} bytes"
                continue
            if not raw.strip():
                continue
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                yield lineno, None, f"not valid UTF-8 (byte {e.start})"
                continue
            try:
                yield lineno, json.loads(text), None
            except json.JSONDecodeError as e:
                yield lineno, None, f"malformed JSON ({e.msg} at column {e.colno})"


def _json_rows(path: Path, max_row_bytes: int) -> Iterator[tuple[int, Any, str | None]]:
    try:
        doc = json.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as e:
        raise BadInput(f"not valid UTF-8 (byte {e.start})", file=str(path)) from None
    except json.JSONDecodeError as e:
        raise BadInput(f"malformed JSON ({e.msg})", file=str(path), row=e.lineno) from None
    if isinstance(doc, dict):
        lists = [v for v in doc.values() if isinstance(v, list)]
        if len(lists) != 1:
            raise BadInput("a JSON file must hold a list of rows (or an object with one list)",
                           file=str(path))
        doc = lists[0]
    if not isinstance(doc, list):
        raise BadInput("a JSON file must hold a list of rows", file=str(path))
    for i, row in enumerate(doc, start=1):
        size = len(json.dumps(row, ensure_ascii=False)) if isinstance(row, dict) else 0
        if size > max_row_bytes:
            yield i, None, f"row larger than {max_row_bytes} bytes"
        else:
            yield i, row, None


def _table_rows(table: pa.Table) -> Iterator[tuple[int, Any, str | None]]:
    for i, row in enumerate(table.to_pylist(), start=1):
        yield i, row, None


def read_rows(path: str | Path, kind: str = "problems", skip_bad: bool = False,
              max_row_bytes: int = MAX_ROW_BYTES) -> ImportResult:
    """Read and validate a file. Without `skip_bad` the first bad row raises BadInput."""
    if kind not in KINDS:
        raise BadInput(f"unknown kind {kind!r} (one of {', '.join(KINDS)})")
    return _collect(file_rows(path, max_row_bytes), str(path), kind, skip_bad)


def file_rows(path: str | Path, max_row_bytes: int = MAX_ROW_BYTES
              ) -> Iterator[tuple[int, Any, str | None]]:
    """(line or row number, row or None, error) for each row of a JSONL/JSON/Parquet/CSV file;
    file-level problems (missing, empty, unreadable, unknown type) raise BadInput."""
    path = Path(path)
    if not path.is_file():
        raise BadInput("no such file", file=str(path))
    if path.stat().st_size == 0:
        raise BadInput("empty file", file=str(path))
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        source = _jsonl_rows(path, max_row_bytes)
    elif suffix == ".json":
        source = _json_rows(path, max_row_bytes)
    elif suffix == ".parquet":
        try:
            source = _table_rows(pq.read_table(path))
        except (pa.ArrowInvalid, OSError) as e:
            raise BadInput(f"unreadable Parquet ({str(e).splitlines()[0]})", file=str(path)) from None
    elif suffix in (".csv", ".tsv"):
        import pyarrow.csv as pacsv

        try:
            opts = pacsv.ParseOptions(delimiter="\t" if suffix == ".tsv" else ",")
            source = _table_rows(pacsv.read_csv(path, parse_options=opts))
        except (pa.ArrowInvalid, UnicodeDecodeError) as e:
            raise BadInput(f"unreadable CSV ({str(e).splitlines()[0]})", file=str(path)) from None
    else:
        raise BadInput(f"unsupported file type {suffix!r} (jsonl, json, parquet, csv)",
                       file=str(path))
    return source


def _collect(source: Iterator[tuple[int, Any, str | None]], where: str, kind: str,
             skip_bad: bool) -> ImportResult:
    """Validate rows from `source`; the first bad one raises unless `skip_bad`."""
    result = ImportResult(rows=[])
    types: dict[str, str] = {}
    for lineno, row, err in source:
        result.total += 1
        fld = None
        if err is None:
            bad = _check_row(row, kind, types)
            if bad:
                err, fld = bad
        if err is not None:
            if not skip_bad:
                raise BadInput(err, file=where, row=lineno, field=fld)
            raw = json.dumps(row, ensure_ascii=False, default=str)[:1000] if row is not None else ""
            result.rejected.append(Rejected(lineno, err, fld, raw))
            continue
        result.rows.append(row)
    if result.total == 0:
        raise BadInput("no rows in file", file=where)
    if not result.rows:
        raise BadInput(f"no valid rows ({len(result.rejected)} rejected; first: "
                       f"line {result.rejected[0].line}: {result.rejected[0].reason})",
                       file=where)
    return result
