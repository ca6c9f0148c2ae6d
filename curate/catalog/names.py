"""Messages for a dataset spec that does not resolve: the closest names ("did you mean"), or,
for a known name with an unknown version, that name's versions. Every known name is a
candidate (the list is never cut before the match is looked for)."""

from __future__ import annotations

import difflib
from typing import Any

MAX_LISTED = 30


def closest(name: str, known: list[str], n: int = 5) -> list[str]:
    """Up to `n` known names nearest to `name`: those containing it or contained in it first
    (a prefix or suffix typed), then by similarity (difflib ratio >= 0.5)."""
    low = name.lower()
    contains = [k for k in known if low and (low in k.lower() or k.lower() in low)]
    contains.sort(key=lambda k: (abs(len(k) - len(name)), k))
    similar = difflib.get_close_matches(name, known, n=n, cutoff=0.5)
    return list(dict.fromkeys(similar[:1] + contains + similar))[:n]


def not_found_message(catalog, spec: str) -> str:
    """Why `spec` (NAME or NAME@VERSION) does not resolve, with what the user may have meant."""
    name, _, version = str(spec).partition("@")
    where = f" in {catalog.db_path}"
    known = [r["name"] for r in catalog.sql("SELECT DISTINCT name FROM datasets ORDER BY 1")]
    if not known:
        return f"dataset {spec} not found{where} (the catalog is empty)"
    if name in known and version:
        rows = catalog.sql("SELECT version, rows, created FROM datasets WHERE name = ? "
                           "ORDER BY created DESC", [name])
        return (f"dataset {name} has no version {version!r}{where}; its versions, newest "
                f"first: {versions_list(rows)}")
    near = closest(name, known)
    if near:
        plural = "s" if len(known) != 1 else ""
        return (f"dataset {spec} not found{where}; did you mean {', '.join(near)}? "
                f"({len(known)} dataset name{plural} in all: curate catalog ls)")
    listed = ", ".join(known[:MAX_LISTED])
    more = f", … {len(known) - MAX_LISTED} more (curate catalog ls)" \
        if len(known) > MAX_LISTED else ""
    return f"dataset {spec} not found{where} (known: {listed}{more})"


def ambiguous_message(spec: str, rows: list[dict[str, Any]]) -> str:
    """A version prefix matching several versions: list them."""
    return f"{spec}: version prefix is ambiguous; it matches {versions_list(rows)}"


def versions_list(rows: list[dict[str, Any]], limit: int = 10) -> str:
    parts = []
    for r in rows[:limit]:
        extra = []
        if r.get("rows") is not None:
            extra.append(f"{r['rows']:,} rows")
        if r.get("created") is not None:
            extra.append(str(r["created"])[:16])
        parts.append(f"{r['version'][:12]}" + (f" ({', '.join(extra)})" if extra else ""))
    more = f", … {len(rows) - limit} more" if len(rows) > limit else ""
    return ", ".join(parts) + more
