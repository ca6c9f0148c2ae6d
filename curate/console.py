"""Printing shared by the CLI and any area that talks to the user (probes, eval): rich consoles
on stdout / stderr, JSON on stdout, dict rows as a table. Lives below every area.

Text that comes from data or the user (cells, column names, paths, messages) is never read as
rich markup: `[/x]` in a prompt would raise MarkupError and `[a, b]` would silently vanish.
Tables wrap cells in `rich.text.Text`; messages that mix markup with data pass the data
through `esc`.

Tables show floats to four significant digits (a loss of 0.41237 as 0.4124, 1234.5 as 1,235)
and JSON objects as compact JSON; `--json` output keeps full precision, with JSON text columns
decoded into objects (`decode_json_text`)."""

from __future__ import annotations

import datetime as dt
import json
import math
import sys
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

console = Console(stderr=False)
err_console = Console(stderr=True)


def esc(value: Any) -> str:
    """`value` as text safe inside a rich markup string (`[` escaped): paths, names, messages."""
    return escape(str(value))


def decode_json_text(obj: Any) -> Any:
    """Strings holding a JSON object or array (catalog JSON columns) decoded, recursively."""
    if isinstance(obj, str) and obj[:1] in "{[":
        try:
            return json.loads(obj)
        except json.JSONDecodeError:
            return obj
    if isinstance(obj, dict):
        return {k: decode_json_text(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [decode_json_text(v) for v in obj]
    return obj


def print_json(obj: Any) -> None:
    """Machine-readable output on stdout (one JSON document; NaN and infinities as null)."""
    sys.stdout.write(json.dumps(_finite(obj), indent=2, default=str, ensure_ascii=False) + "\n")


def _finite(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def print_rows(rows: list[dict[str, Any]], title: str | None = None,
               columns: list[str] | None = None) -> None:
    """A rich table of dict rows (numbers right-aligned)."""
    if not rows:
        console.print("(no rows)")
        return
    cols = columns or list(dict.fromkeys(k for r in rows for k in r))
    table = Table(title=Text(title, style="table.title") if title else None, show_lines=False)
    for c in cols:
        numeric = all(isinstance(r.get(c), (int, float)) and not isinstance(r.get(c), bool)
                      for r in rows if r.get(c) is not None)
        table.add_column(Text(str(c)), overflow="fold",
                         justify="right" if numeric else "left")
    for r in rows:
        table.add_row(*[Text(cell(r.get(c))) for c in cols])
    console.print(table)


def number(v: float) -> str:
    """A float for a table: four significant digits, thousands separated above 1,000."""
    if not math.isfinite(v):
        return ""
    if v == 0:
        return "0"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:.4g}"


def cell(v: Any) -> str:
    """A value as table text (None empty, floats rounded, JSON compact, long text cut)."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, float):
        return number(v)
    if isinstance(v, int):
        return f"{v:,}" if abs(v) >= 10000 else str(v)
    if isinstance(v, dt.datetime):
        return v.strftime("%Y-%m-%d %H:%M:%S")
    v = decode_json_text(v)
    s = _plain(v) if isinstance(v, (dict, list)) else str(v)
    return s if len(s) <= 200 else s[:197] + "..."


def _plain(v: Any) -> str:
    """Objects for a human: `key: value` pairs and comma-joined lists, not JSON (`--json`
    prints the objects)."""
    if isinstance(v, dict):
        return ", ".join(f"{k}: {_plain(x)}" for k, x in v.items() if x is not None) or "-"
    if isinstance(v, list):
        return ", ".join(_plain(x) for x in v) or "-"
    return cell(v)


THIRD_PARTY = ("torch", "transformers", "trl", "datasets", "accelerate", "huggingface_hub",
               "sentence_transformers", "peft", "vllm", "datatrove", "tokenizers")
QUIET_ENV = {
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",        # also transformers' own tqdm bars
    "HF_DATASETS_DISABLE_PROGRESS_BARS": "1",
    "TRANSFORMERS_VERBOSITY": "error",
    "HF_HUB_VERBOSITY": "error",                # the Hub client sets its level on import:
                                                # offline, each file was ~10 retry warnings
    "DATASETS_VERBOSITY": "error",
    "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1",
    "TOKENIZERS_PARALLELISM": "false",
}


def quiet_third_party(verbose: bool = False) -> None:
    """Silence the libraries' per-step noise (their progress bars, advisory warnings, repeated
    warnings) so curate's own progress and messages are readable; `verbose` keeps everything.

    Call before the libraries are imported (environment variables are read at import); values
    already set in the environment win."""
    if verbose:
        return
    import logging
    import os
    import warnings

    for k, v in QUIET_ENV.items():
        os.environ.setdefault(k, v)
    pattern = r"^(" + "|".join(THIRD_PARTY) + r")(\.|$)"
    warnings.filterwarnings("ignore", module=pattern)
    for name in THIRD_PARTY:
        logging.getLogger(name).setLevel(logging.ERROR)
