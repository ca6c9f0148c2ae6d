"""Printing helpers shared by the CLI verbs (they live in `curate.console`, below every area)."""

from __future__ import annotations

from curate.console import (  # noqa: F401 - re-exported for the verbs
    console,
    decode_json_text,
    err_console,
    print_json,
    print_rows,
)
