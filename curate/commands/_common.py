"""Printing helpers shared by the CLI verbs."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console
from rich.table import Table

console = Console(stderr=False)
err_console = Console(stderr=True)


def print_json(obj: Any) -> None:
    """Machine-readable output on stdout (one JSON document)."""
    sys.stdout.write(json.dumps(obj, indent=2, default=str, ensure_ascii=False) + "\n")


def print_rows(rows: list[dict[str, Any]], title: str | None = None,
               columns: list[str] | None = None) -> None:
    """A rich table of dict rows."""
    if not rows:
        console.print("(no rows)")
        return
    cols = columns or list(rows[0].keys())
    table = Table(title=title, show_lines=False)
    for c in cols:
        table.add_column(str(c), overflow="fold")
    for r in rows:
        table.add_row(*[_cell(r.get(c)) for c in cols])
    console.print(table)


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, (dict, list)):
        s = json.dumps(v, default=str, ensure_ascii=False)
    else:
        s = str(v)
    return s if len(s) <= 200 else s[:197] + "..."
