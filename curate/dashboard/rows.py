"""Rows for the dashboard's row browser: a page of a version's rows, and the rows a step
dropped (the parent's rows whose id is missing from the child), read with DuckDB straight from
the immutable Parquet files so that only one page is ever in memory.

A dropped row's reason comes from the step's `NAME-dropped` dataset (`curate.curation.dropped`:
each row with `dropped_by`, `drop_reason`, `drop_match` (the kept row it duplicates, or the
benchmark item it matches) and `drop_detail` (the evidence)) when the step wrote one;
otherwise the row is shown as dropped by the step, with the step's counts by reason beside it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb

from curate.dashboard.format import loads
from curate.errors import CurateError, IntegrityError
from curate.record import split_think

PROMPT_KEYS = ("prompt", "problem", "question", "input", "instruction")
ANSWER_KEYS = ("answer_text", "answer", "response", "output", "completion", "solution")
DROP_COLUMNS = ("dropped_by", "drop_reason", "drop_match", "drop_detail")
SHOWN = {"id", "reasoning", "final_answer", "reference", "verified", "verify_detail",
         "messages", "reason", "duplicate_of", "metadata", "sampling", *PROMPT_KEYS,
         *ANSWER_KEYS, *DROP_COLUMNS}
TEXT_LIMIT = 6000


def _files(catalog, spec: str) -> list[str]:
    return [str(p) for p in catalog.files(spec)]


def _columns(files: list[str]) -> list[str]:
    import pyarrow.parquet as pq

    if not files:
        return []
    try:
        return list(pq.read_schema(files[0]).names)
    except (OSError, ValueError) as e:      # pyarrow's errors are OSError / ValueError kinds
        raise _damaged(files[:1], e) from None


def _sql_list(files: list[str]) -> str:
    return "[" + ", ".join("'" + f.replace("'", "''") + "'" for f in files) + "]"


def _fetch(query: str, files: list[str] | None = None) -> list[dict[str, Any]]:
    """Run `query` over stored files; a file that fails to decode (bit rot that kept its size
    and mtime, so the quick check passed) is an IntegrityError naming the version and file."""
    con = duckdb.connect()
    try:
        cur = con.execute(query)
        cols = [d[0] for d in cur.description]
        return [dict(zip(cols, r)) for r in cur.fetchall()]
    except duckdb.Error as e:
        if not files:
            raise
        raise _damaged(files, e) from None
    finally:
        con.close()


def _damaged(files: list[str], error: Exception) -> IntegrityError:
    from curate.catalog.catalog import damage_message

    text = str(error)
    path = Path(next((f for f in files if f in text), files[0]))
    return IntegrityError(damage_message(f"{path.parent.parent.name}@{path.parent.name}", path,
                                         error))


def page_of_rows(catalog, spec: str, offset: int, limit: int) -> list[dict[str, Any]]:
    """Rows [offset, offset+limit) of version `spec`, in stored order, as display dicts."""
    files = _files(catalog, spec)
    if not files:
        return []
    rows = _fetch(f"SELECT * FROM read_parquet({_sql_list(files)}) LIMIT {int(limit)} "
                  f"OFFSET {int(offset)}", files)
    return [display_row(r) for r in rows]


def dropped_by_step(catalog, child: str, parent: str, limit: int,
                    kept_aside: str | None = None) -> tuple[int, list[dict[str, Any]]]:
    """(number dropped, the first `limit` of them): rows of `parent` whose `id` is not in
    `child`. With `kept_aside` (a `NAME-dropped` version) its rows are used instead: they carry
    the reason and, for dedup, the row each duplicates."""
    if kept_aside:
        files = _files(catalog, kept_aside)
        src = f"read_parquet({_sql_list(files)})"
        n = _fetch(f"SELECT count(*) AS n FROM {src}", files)[0]["n"]
        rows = _fetch(f"SELECT * FROM {src} LIMIT {int(limit)}", files)
        return n, [display_row(r, dropped=True) for r in rows]
    pfiles, cfiles = _files(catalog, parent), _files(catalog, child)
    if not pfiles or "id" not in _columns(pfiles) or "id" not in _columns(cfiles):
        return 0, []
    anti = (f"FROM read_parquet({_sql_list(pfiles)}) p WHERE p.id NOT IN "
            f"(SELECT id FROM read_parquet({_sql_list(cfiles)}) WHERE id IS NOT NULL)")
    n = _fetch(f"SELECT count(*) AS n {anti}", pfiles + cfiles)[0]["n"]
    rows = _fetch(f"SELECT p.* {anti} LIMIT {int(limit)}", pfiles + cfiles) if n else []
    return n, [display_row(r, dropped=True) for r in rows]


def _first(r: dict[str, Any], keys) -> tuple[str | None, Any]:
    for k in keys:
        if r.get(k) not in (None, ""):
            return k, r[k]
    return None, None


def _clip(s: Any) -> str | None:
    if s is None:
        return None
    s = str(s)
    return s if len(s) <= TEXT_LIMIT else s[:TEXT_LIMIT] + f"\n… ({len(s):,} characters in all)"


def display_row(r: dict[str, Any], dropped: bool = False) -> dict[str, Any]:
    """A stored row as the browser shows it: prompt, reasoning, answer, verdict and reason,
    and a few other fields (JSON columns decoded)."""
    _, prompt = _first(r, PROMPT_KEYS)
    _, answer = _first(r, ANSWER_KEYS)
    reasoning = r.get("reasoning")
    msgs = r.get("messages")
    if msgs and (prompt is None or answer is None):
        users = [m.get("content") for m in msgs if m.get("role") == "user"]
        assistant = [m.get("content") for m in msgs if m.get("role") == "assistant"]
        if prompt is None and users:
            prompt = users[0]
        if answer is None and assistant:
            think, answer, _ = split_think(assistant[-1] or "")
            reasoning = reasoning or think
    detail = loads(r.get("verify_detail"))
    reason = detail.get("reason") if isinstance(detail, dict) else None   # the verdict's
    drop_reason = r.get("drop_reason") or r.get("reason")                   # the step's
    evidence = loads(r.get("drop_detail"))
    extra = {k: loads(v) for k, v in r.items()
             if k not in SHOWN and v not in (None, "") and not isinstance(v, (bytes, list))}
    meta = loads(r.get("metadata"))
    return {
        "id": r.get("id"),
        "prompt": _clip(prompt),
        "reasoning": _clip(reasoning),
        "answer": _clip(answer),
        "final_answer": r.get("final_answer"),
        "reference": _clip(r.get("reference")),
        "verified": r.get("verified"),
        "verifier": detail.get("verifier") if isinstance(detail, dict) else None,
        "reason": reason,
        "drop_reason": drop_reason,
        "duplicate_of": r.get("drop_match") or r.get("duplicate_of"),
        "dropped_by": r.get("dropped_by"),
        "evidence": evidence if isinstance(evidence, dict) else None,
        "dropped": dropped or bool(r.get("drop_reason")),
        "reasoning_chars": len(reasoning) if reasoning else 0,
        "extra": extra,
        "metadata": meta if isinstance(meta, dict) else None,
    }


def version_files_exist(catalog, spec: str) -> bool:
    """False when the version's files are gone (the page then says so instead of failing)."""
    try:
        return all(Path(f).is_file() for f in _files(catalog, spec))
    except CurateError:  # missing or altered files: shown as such, not a crash
        return False
