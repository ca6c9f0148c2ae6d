"""Reading user files (JSONL, JSON, Parquet, CSV) into rows, with errors that name the file,
row and field, and an option to set bad rows aside with their reasons instead of failing.

Below every area: the catalog importer, prompt sources and recipes all read files through here.

What a row may hold (checked per row, so `skip_bad` can set one bad row aside):
- values nested at most `MAX_DEPTH` levels (deeper JSON is refused before it can exhaust the
  stack of the parser or of a later step);
- integers within int64 (the Parquet store's integer type); a bigger one is an error naming the
  field: to keep it exactly, write it as a string;
- one type per field across rows: `int` and `float` mix as float, a field holding numbers in
  some rows and text in others is read as text ("12", "\\frac{1}{2}"), and every other mix
  (text and object, number and list, two different types inside one list or one nested
  field) is an error naming the field's path (`meta.source`, `tags[]`);
- only what JSON and Unicode allow, kept as written: `NaN`, `Infinity` and a number too large
  for a float (`1e400`, read as infinity) are errors naming the field (Python's `json` takes
  them; they would be stored as nan / inf, a gold answer as the text "nan"); a key given twice
  in one object is an error (JSON parsers keep only the last, silently); text with an unpaired
  surrogate escape (`"\\ud800"`) is not Unicode and cannot be stored as UTF-8;
- the answer-like fields (`TEXT_FIELDS`: reference, answer, id, ...) are always text, so the
  gold `12` and the gold `"12"` are the same answer.
Row numbers are JSONL line numbers, JSON list positions (from 1), Parquet row positions (from
1) and CSV record numbers counting the header as 1 (the line number when no value spans lines).
"""

from __future__ import annotations

import errno
import json
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from curate.errors import BadInput

MAX_ROW_BYTES = 16 * 1024 * 1024
MAX_DEPTH = 64                      # nesting levels of lists / objects in one row
INT64 = (-(2 ** 63), 2 ** 63 - 1)
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
# Fields read as text whatever the file holds (a gold answer 12 is the text "12").
TEXT_FIELDS = ("id", "problem_id", "reference", "answer", "final_answer", "gold",
               "expected_answer")


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
    as_text: list[str] = field(default_factory=list)   # fields of mixed number/text, read as text


class _NotJSONNumber(float):
    """A number JSON cannot hold (NaN, Infinity, a literal beyond float64), kept as written so
    that the row check can name its field."""

    def __new__(cls, text: str):
        v = float("nan") if text.lstrip("-+").lower().startswith("nan") else \
            float("-inf") if text.startswith("-") else float("inf")
        obj = super().__new__(cls, v)
        obj.text = text
        return obj


class _TwiceKeyed(dict):
    """An object that gave a key twice (the last value is kept, as `json` does); `twice`
    names the key, so the row check can report it."""
    twice: str = ""


def _parse_float(text: str) -> float:
    v = float(text)
    return _NotJSONNumber(text) if v in (float("inf"), float("-inf")) else v


def _pairs(pairs: list[tuple[str, Any]]) -> dict:
    d = dict(pairs)
    if len(d) == len(pairs):
        return d
    seen: set[str] = set()
    twice = next(k for k, _ in pairs if k in seen or seen.add(k))
    d = _TwiceKeyed(d)
    d.twice = twice
    return d


_DECODER = json.JSONDecoder(parse_float=_parse_float, parse_constant=_NotJSONNumber,
                            object_pairs_hook=_pairs)


def json_loads(text: str) -> Any:
    """`json.loads` that marks what JSON cannot faithfully hold (NaN / Infinity / overflowing
    numbers, keys given twice) for `shape_of` to report with the field's path."""
    return _DECODER.decode(text)


def _not_unicode(text: str) -> bool:
    """Whether `text` holds an unpaired surrogate (from a `\\udXXX` escape): not storable."""
    if text.isascii():
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _type_name(v: Any) -> str:
    return {bool: "bool", int: "int", float: "float", str: "string", list: "list",
            dict: "object"}.get(type(v), type(v).__name__)


# -- value shapes ----------------------------------------------------------------------------
# A shape is None (only nulls seen), "bool" | "int" | "float" | "string" | "other", or
# ("list", shape) / ("object", {key: shape}). Two shapes unify the way Arrow infers one column
# from Python values (int + float -> float, objects -> union of their keys).

class ShapeError(ValueError):
    def __init__(self, reason: str, path: str):
        super().__init__(reason)
        self.reason, self.path = reason, path


def shape_of(v: Any, path: str = "", depth: int = 0, lists: bool = True) -> Any:
    """The shape of one value; ShapeError for nesting past MAX_DEPTH, an integer outside int64
    or (with `lists`) a list whose items have different shapes."""
    if v is None:
        return None
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        if not INT64[0] <= v <= INT64[1]:
            raise ShapeError("integer out of int64 range (write it as a string to keep it)",
                             path)
        return "int"
    if isinstance(v, float):
        if type(v) is _NotJSONNumber:
            raise ShapeError(f"{v.text} is not a JSON number (write null, or a string to keep "
                             "it)", path)
        return "float"
    if isinstance(v, str):
        if _not_unicode(v):
            raise ShapeError("text with an unpaired surrogate escape (\\ud800-\\udfff) is not "
                             "valid Unicode", path)
        return "string"
    if depth >= MAX_DEPTH and isinstance(v, (list, dict)):
        raise ShapeError(f"nested deeper than {MAX_DEPTH} levels", path)
    if isinstance(v, list):
        item = None
        for x in v:
            s = shape_of(x, path + "[]", depth + 1, lists)
            try:
                item = unify(item, s, path + "[]")
            except ShapeError as e:
                if not lists:
                    item = "other"
                    continue
                raise ShapeError(f"list items of different types ({_shape_name(item)} and "
                                 f"{_shape_name(s)})", e.path) from None
        return ("list", item)
    if isinstance(v, dict):
        if type(v) is _TwiceKeyed:
            raise ShapeError("key given twice in one object (JSON keeps only the last)",
                             f"{path}.{v.twice}" if path else v.twice)
        for k in v:
            if _not_unicode(str(k)):
                raise ShapeError("a key with an unpaired surrogate escape is not valid Unicode",
                                 path or None)
        return ("object", {str(k): shape_of(x, f"{path}.{k}" if path else str(k), depth + 1,
                                            lists) for k, x in v.items()})
    return "other"


def _row_keys_problem(row: dict[str, Any]) -> tuple[str, str | None] | None:
    if type(row) is _TwiceKeyed:
        return "key given twice in one object (JSON keeps only the last)", row.twice
    for k in row:
        if _not_unicode(str(k)):
            return "a field name with an unpaired surrogate escape is not valid Unicode", None
    return None


def value_problem(row: dict[str, Any]) -> tuple[str, str] | None:
    """(reason, field path) when a value of `row` nests past MAX_DEPTH, holds an integer
    outside int64 or something JSON cannot faithfully hold (NaN, Infinity, a key given twice,
    an unpaired surrogate): the checks that do not depend on other rows; else None."""
    bad = _row_keys_problem(row)
    if bad:
        return bad
    try:
        for k, v in row.items():
            shape_of(v, str(k), lists=False)
    except ShapeError as e:
        return e.reason, e.path
    except RecursionError:
        return f"nested deeper than {MAX_DEPTH} levels", None
    return None


def _shape_name(s: Any) -> str:
    if s is None:
        return "null"
    if isinstance(s, tuple):
        return s[0]
    return {"int": "number", "float": "number"}.get(s, s)


def unify(a: Any, b: Any, path: str) -> Any:
    """One shape for two; ShapeError (naming `path`) when they cannot share a column."""
    if a is None or a == b:
        return b
    if b is None:
        return a
    if isinstance(a, str) and isinstance(b, str) and {a, b} == {"int", "float"}:
        return "float"
    if isinstance(a, tuple) and isinstance(b, tuple) and a[0] == b[0]:
        if a[0] == "list":
            return ("list", unify(a[1], b[1], path + "[]"))
        keys = {**a[1], **b[1]}
        return ("object", {k: unify(a[1].get(k), b[1].get(k), f"{path}.{k}" if path else k)
                           for k in keys})
    raise ShapeError(f"wrong type: {_shape_name(b)}, expected {_shape_name(a)} "
                     "(as in earlier rows)", path)


class Shapes:
    """The shape of every field over the rows seen so far. A top-level field whose rows hold
    numbers and text becomes text; every other conflict is an error for the later row."""

    def __init__(self) -> None:
        self.fields: dict[str, Any] = {}
        self.as_text: set[str] = set()

    def add(self, row: dict[str, Any]) -> tuple[str, str] | None:
        """None if `row` fits, else (reason, field path); a row that fails changes nothing."""
        new: dict[str, Any] = {}
        text: set[str] = set()
        try:
            for k, v in row.items():
                k = str(k)
                s = shape_of(v, k)
                if k in TEXT_FIELDS and s in ("int", "float", "string"):
                    s = "string"
                    if not isinstance(v, str):
                        text.add(k)
                old = self.fields.get(k)
                if {_shape_name(old), _shape_name(s)} == {"number", "string"}:
                    new[k] = "string"
                    text.add(k)
                    continue
                new[k] = unify(old, s, k)
        except ShapeError as e:
            return e.reason, e.path
        except RecursionError:
            return f"nested deeper than {MAX_DEPTH} levels", None
        self.fields.update(new)
        self.as_text |= text
        return None


def text_of(v: Any) -> Any:
    """A number as the text a reader would write for it (12 -> "12", 0.5 -> "0.5")."""
    if v is None or isinstance(v, str):
        return v
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e16:
        return repr(v)
    return json.dumps(v) if isinstance(v, (bool, list, dict)) else str(v)


def _check_row(row: Any, kind: str) -> tuple[str, str | None] | None:
    """None if the row has what its kind needs and known fields have their types."""
    if not isinstance(row, dict):
        return f"expected a JSON object, got {_type_name(row)}", None
    bad = _row_keys_problem(row)
    if bad:
        return bad
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
        want = KNOWN_TYPES.get(k)
        if v is None or not want:
            continue
        if type(v) is _NotJSONNumber:
            return f"{v.text} is not a JSON number (write null, or a string to keep it)", k
        if not (isinstance(v, want) and not (isinstance(v, bool) and bool not in want)):
            return (f"wrong type: {_type_name(v)}, expected "
                    f"{' or '.join(_type_name(t()) for t in want)}"), k
    return None


# -- readers ---------------------------------------------------------------------------------

def _loads(text: str) -> tuple[Any, str | None]:
    try:
        return json_loads(text), None
    except json.JSONDecodeError as e:
        if text.startswith("\ufeff"):
            return None, "malformed JSON (a byte order mark inside the file)"
        return None, f"malformed JSON ({e.msg} at column {e.colno})"
    except RecursionError:
        return None, f"JSON nested deeper than {MAX_DEPTH} levels"


def _jsonl_rows(path: Path, max_row_bytes: int) -> Iterator[tuple[int, Any, str | None]]:
    """(line number, parsed value or None, error) per non-blank line; reads in binary."""
    with open(path, "rb") as f:
        lineno = 0
        while True:
            raw = f.readline(max_row_bytes + 1)
            if not raw:
                break
            lineno += 1
            if lineno == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]      # a UTF-8 byte order mark opens the file (as CSV allows)
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
            value, err = _loads(text)
            yield lineno, value, err


def _json_rows(path: Path, max_row_bytes: int) -> Iterator[tuple[int, Any, str | None]]:
    try:
        doc = json_loads(path.read_bytes().decode("utf-8-sig"))
    except UnicodeDecodeError as e:
        raise BadInput(f"not valid UTF-8 (byte {e.start})", file=str(path)) from None
    except json.JSONDecodeError as e:
        raise BadInput(f"malformed JSON ({e.msg})", file=str(path), row=e.lineno) from None
    except RecursionError:
        raise BadInput(f"JSON nested deeper than {MAX_DEPTH} levels", file=str(path)) from None
    if isinstance(doc, dict):
        lists = [v for v in doc.values() if isinstance(v, list)]
        if len(lists) != 1:
            raise BadInput("a JSON file must hold a list of rows (or an object with one list)",
                           file=str(path))
        doc = lists[0]
    if not isinstance(doc, list):
        raise BadInput("a JSON file must hold a list of rows", file=str(path))
    for i, row in enumerate(doc, start=1):
        try:
            size = len(json.dumps(row, ensure_ascii=False)) if isinstance(row, dict) else 0
        except (RecursionError, ValueError):
            yield i, None, f"JSON nested deeper than {MAX_DEPTH} levels"
            continue
        if size > max_row_bytes:
            yield i, None, f"row larger than {max_row_bytes} bytes"
        else:
            yield i, row, None


def _table_rows(table: pa.Table, start: int = 1) -> Iterator[tuple[int, Any, str | None]]:
    for i, row in enumerate(table.to_pylist(), start=start):
        yield i, row, None


def _csv_rows(path: Path, delimiter: str) -> Iterator[tuple[int, Any, str | None]]:
    """CSV records numbered from 1 at the header; a record with the wrong number of fields is
    a row error with its number (the others are read)."""
    import pyarrow.csv as pacsv

    ragged: dict[int, str] = {}

    def on_invalid(row) -> str:
        n = row.number if row.number is not None else -1
        ragged[n] = f"expected {row.expected_columns} fields, got {row.actual_columns}"
        return "skip"

    try:
        opts = pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=True,
                                  invalid_row_handler=on_invalid)
        names = _csv_header(path, delimiter)
        types = {c: pa.string() for c in names if c in TEXT_FIELDS or c in KNOWN_TYPES
                 and str in KNOWN_TYPES[c]}
        table = pacsv.read_csv(path, parse_options=opts,
                               read_options=pacsv.ReadOptions(use_threads=False),
                               convert_options=pacsv.ConvertOptions(column_types=types))
    except (pa.ArrowInvalid, UnicodeDecodeError) as e:
        raise BadInput(f"unreadable CSV ({str(e).splitlines()[0]})", file=str(path)) from None
    n = 2
    for row in table.to_pylist():
        while n in ragged:
            yield n, None, ragged.pop(n)
            n += 1
        yield n, row, None
        n += 1
    for k in sorted(ragged):
        yield k, None, ragged[k]


def _csv_header(path: Path, delimiter: str) -> list[str]:
    import csv

    with open(path, encoding="utf-8-sig", errors="replace", newline="") as f:
        return next(csv.reader(f, delimiter=delimiter), [])


def check_file(path: str | Path, empty_ok: bool = False) -> Path:
    """`path` as a readable regular file (non-empty unless `empty_ok`), else a one-line
    BadInput saying what it is instead: missing, a directory, a broken symbolic link or a link
    loop, a FIFO, device or socket (which could block or never end), unreadable, empty."""
    path = Path(path)
    try:
        st = os.stat(path)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise BadInput("symbolic link loop", file=str(path)) from None
        if e.errno in (errno.ENOENT, errno.ENOTDIR):
            if os.path.islink(path):
                raise BadInput(f"broken symbolic link (to {os.readlink(path)})",
                               file=str(path)) from None
            raise BadInput("no such file", file=str(path)) from None
        raise BadInput(f"cannot read ({e.strerror or type(e).__name__})", file=str(path)) from None
    if stat.S_ISDIR(st.st_mode):
        raise BadInput("is a directory, not a file (for a dataset folder use hf:PATH)",
                       file=str(path))
    if not stat.S_ISREG(st.st_mode):
        what = ("a FIFO" if stat.S_ISFIFO(st.st_mode) else "a device" if
                stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode) else
                "a socket" if stat.S_ISSOCK(st.st_mode) else "a special file")
        raise BadInput(f"not a regular file ({what})", file=str(path))
    try:
        with open(path, "rb"):
            pass
    except OSError as e:
        raise BadInput(f"cannot read ({e.strerror or type(e).__name__})", file=str(path)) from None
    if st.st_size == 0 and not empty_ok:
        raise BadInput("empty file", file=str(path))
    return path


def file_rows(path: str | Path, max_row_bytes: int = MAX_ROW_BYTES
              ) -> Iterator[tuple[int, Any, str | None]]:
    """(row number, row or None, error) for each row of a JSONL/JSON/Parquet/CSV file;
    file-level problems (missing, a directory, empty, unreadable, unknown type) raise BadInput."""
    path = check_file(path)
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        return _jsonl_rows(path, max_row_bytes)
    if suffix == ".json":
        return _json_rows(path, max_row_bytes)
    if suffix == ".parquet":
        try:
            return _table_rows(pq.read_table(path))
        except (pa.ArrowInvalid, OSError) as e:
            raise BadInput(f"unreadable Parquet ({str(e).splitlines()[0]})", file=str(path)) from None
    if suffix in (".csv", ".tsv"):
        return _csv_rows(path, "\t" if suffix == ".tsv" else ",")
    raise BadInput(f"unsupported file type {suffix!r} (jsonl, json, parquet, csv)",
                   file=str(path))


def read_objects(path: str | Path, as_jsonl: bool = False) -> list[dict[str, Any]]:
    """Every row of a JSONL/JSON/Parquet/CSV file as a dict, for readers that need no kind
    (benchmark copies, probe texts, prompts): the first malformed line, non-object row, or
    value `value_problem` refuses is a BadInput naming file, row and field. `as_jsonl` reads
    a file of JSON lines whatever its suffix."""
    path = check_file(path)
    rows = []
    source = _jsonl_rows(path, MAX_ROW_BYTES) if as_jsonl else file_rows(path)
    for i, row, err in source:
        if err is None and not isinstance(row, dict):
            err = f"expected a JSON object, got {_type_name(row)}"
        bad = value_problem(row) if err is None else None
        if err is not None or bad is not None:
            err, fld = (err, None) if err is not None else bad
            raise BadInput(err, file=str(path), row=i, field=fld)
        rows.append(row)
    return rows


def read_rows(path: str | Path, kind: str = "problems", skip_bad: bool = False,
              max_row_bytes: int = MAX_ROW_BYTES, check=None) -> ImportResult:
    """Read and validate a file. Without `skip_bad` the first bad row raises BadInput."""
    if kind not in KINDS:
        raise BadInput(f"unknown kind {kind!r} (one of {', '.join(KINDS)})")
    return collect(file_rows(path, max_row_bytes), str(path), kind, skip_bad, check)


class UniqueIds:
    """A row check: ids must be unique (the first row with an id keeps it; a later one is
    rejected naming the first). The id is the first present of `fields`, else `derive(row)`
    when given; numbers and their text are the same id (1 and "1")."""

    def __init__(self, fields: tuple[str, ...], derive=None, what: str = "id"):
        self.fields, self.derive, self.what = fields, derive, what
        self.seen: dict[str, int] = {}

    def __call__(self, row: dict[str, Any], line: int) -> tuple[str, str | None] | None:
        fld = next((f for f in self.fields if row.get(f) not in (None, "")), None)
        if fld is not None:
            key, name = text_of(row[fld]), fld
        elif self.derive is not None:
            key, name = self.derive(row), None
        else:
            return None
        first = self.seen.setdefault(key, line)
        if first != line:
            what = f"duplicate {name or self.what} (also row {first})"
            return (f"{what}: {key!r}" if name else what), name or "prompt"
        return None


def _raw(row: Any) -> str:
    if row is None:
        return ""
    try:
        text = json.dumps(row, ensure_ascii=False, default=str)
        if _not_unicode(text):     # an unpaired surrogate: keep it as its escape
            text = json.dumps(row, default=str)
        return text[:1000]
    except (RecursionError, ValueError):
        return ascii(row)[:1000]


def collect(source: Iterator[tuple[int, Any, str | None]], where: str, kind: str,
            skip_bad: bool, check=None) -> ImportResult:
    """Validate rows from `source` (each against its kind, the shapes of earlier rows and
    `check(row, row_number) -> (reason, field) | None` when given); the first bad one raises unless
    `skip_bad`. Fields of mixed numbers and text come back as text."""
    result = ImportResult(rows=[])
    shapes = Shapes()
    for lineno, row, err in source:
        result.total += 1
        fld = None
        if isinstance(err, tuple):             # (reason, field) from a mapping step
            err, fld = err
        if err is None:
            bad = _check_row(row, kind) or shapes.add(row) or (check(row, lineno) if check else None)
            if bad:
                err, fld = bad
        if err is not None:
            if not skip_bad:
                raise BadInput(err, file=where, row=lineno, field=fld)
            result.rejected.append(Rejected(lineno, err, fld, _raw(row)))
            continue
        result.rows.append(row)
    if result.total == 0:
        raise BadInput("no rows in file", file=where)
    if not result.rows:
        raise BadInput(f"no valid rows ({len(result.rejected)} rejected; first: "
                       f"line {result.rejected[0].line}: {result.rejected[0].reason})",
                       file=where)
    result.as_text = sorted(shapes.as_text)
    for row in result.rows:
        for k in result.as_text:
            if k in row:
                row[k] = text_of(row[k])
    return result


_collect = collect   # the importer's earlier name
