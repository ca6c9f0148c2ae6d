"""Printing helpers shared by the CLI verbs (they live in `curate.console`, below every area)."""

from __future__ import annotations

from curate.console import (  # noqa: F401 - re-exported for the verbs
    console,
    decode_json_text,
    err_console,
    esc,
    print_json,
    print_rows,
)

SET_HELP = ("KEY=VALUE: any option of the library step (its DEFAULTS) without a flag of its "
            "own, e.g. --set num_perm=256 (YAML values: numbers, true/false, [a, b]); "
            "repeatable. The dataset card's rebuild commands use it.")


def parse_sets(items: list[str] | None) -> dict:
    """`--set KEY=VALUE` options as a dict (values parsed as recipes parse `--set`)."""
    from curate.curation.recipes import parse_value
    from curate.errors import BadInput

    out = {}
    for it in items or []:
        key, eq, value = it.partition("=")
        if not eq or not key.strip():
            raise BadInput(f"--set expects KEY=VALUE, got {it!r}")
        out[key.strip()] = parse_value(value)
    return out
