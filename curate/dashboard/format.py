"""How values look on the dashboard: numbers as stored (fractions as percents, losses to four
significant digits), times to the minute, JSON objects as key/value lists (never raw JSON in a
cell), Markdown cards as HTML. Registered as Jinja2 filters by `curate.dashboard.site`."""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from pathlib import Path
from typing import Any

from markupsafe import Markup, escape

DASH = "—"


def loads(v: Any) -> Any:
    """A JSON column's value as an object (catalog JSON columns come back as text)."""
    if isinstance(v, str) and v[:1] in "{[":
        try:
            return json.loads(v)
        except json.JSONDecodeError:
            return v
    return v


def num(v: Any, digits: int = 4) -> str:
    """1234 -> '1,234'; 0.012345 -> '0.01235'; None/NaN -> '—'."""
    if v is None or isinstance(v, bool):
        return DASH if v is None else ("yes" if v else "no")
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        if not math.isfinite(v):
            return DASH
        if v == int(v) and abs(v) < 1e15:
            return f"{int(v):,}"
        return f"{v:,.{digits}g}" if abs(v) >= 1e-4 else f"{v:.{digits - 1}e}"
    return str(v)


def pct(v: Any, digits: int = 1) -> str:
    """A fraction in [0, 1] as a percent: 0.4567 -> '45.7%'."""
    if v is None or not isinstance(v, (int, float)) or not math.isfinite(v):
        return DASH
    return f"{100 * v:.{digits}f}%"


def when(v: Any) -> str:
    """A timestamp to the minute (UTC as stored)."""
    if v is None:
        return DASH
    if isinstance(v, str):
        try:
            v = dt.datetime.fromisoformat(v)
        except ValueError:
            return v
    if isinstance(v, dt.datetime):
        return v.strftime("%Y-%m-%d %H:%M")
    return str(v)


def duration(start: Any, end: Any) -> str:
    """`end - start` as '3m 12s' (or '—')."""
    if not isinstance(start, dt.datetime) or not isinstance(end, dt.datetime):
        return DASH
    s = max(0, int((end - start).total_seconds()))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s"
    return f"{s // 3600}h {(s % 3600) // 60:02d}m"


def short(v: Any) -> str:
    """A model path shortened to its last two parts; a version to 12 characters."""
    if v is None:
        return DASH
    s = str(v)
    if "@" in s and "/" not in s:
        name, _, ver = s.partition("@")
        return f"{name}@{ver[:12]}"
    if "/" in s:
        parts = Path(s).parts
        return "/".join(parts[-2:]) if len(parts) > 2 else s
    return s


def cell(v: Any, limit: int = 240) -> Markup:
    """Any value as table-cell HTML: dicts as `key: value` lines, lists joined, text cut."""
    v = loads(v)
    if isinstance(v, dict):
        if not v:
            return Markup(DASH)
        items = [Markup('<span class="k">{}</span> {}').format(k, cell(x, limit // 2))
                 for k, x in list(v.items())[:12]]
        more = Markup('<span class="muted">… {} more</span>').format(len(v) - 12) \
            if len(v) > 12 else Markup("")
        return Markup('<span class="kv">') + Markup("<br>").join(items) + more + Markup("</span>")
    if isinstance(v, list):
        if not v:
            return Markup(DASH)
        if all(not isinstance(x, (dict, list)) for x in v):
            parts = [num(x) if isinstance(x, (int, float)) else str(x) for x in v[:20]]
            text = ", ".join(parts) + (f", … ({len(v)} in all)" if len(v) > 20 else "")
            return escape(text)
        return Markup("<br>").join(cell(x, limit // 2) for x in v[:5]) + (
            Markup('<br><span class="muted">… {} in all</span>').format(len(v))
            if len(v) > 5 else Markup(""))
    if isinstance(v, (int, float)) or v is None:
        return escape(num(v))
    if isinstance(v, dt.datetime):
        return escape(when(v))
    s = str(v)
    return escape(s if len(s) <= limit else s[: limit - 1] + "…")


def is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def clip(text: Any, limit: int = 4000) -> str:
    """Long text cut to `limit` characters with a note of the full length."""
    s = "" if text is None else str(text)
    if len(s) <= limit:
        return s
    return s[:limit] + f"\n… ({len(s):,} characters in all)"


def markdown(text: str | None) -> Markup:
    """A dataset card (Markdown, raw HTML disabled, tables on) as HTML; images dropped, since
    their files live beside the exported card, not in the dashboard."""
    if not text:
        return Markup("")
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"html": False}).enable("table")
    md.disable("image")
    html = md.render(text)
    # links to files beside an exported card (recipe.yaml, ...) do not exist here: text only
    html = _RELATIVE_LINK.sub(r"\1", html)
    return Markup(html)


_RELATIVE_LINK = re.compile(r'<a href="(?!https?:|#|mailto:)[^"]*">(.*?)</a>', re.S)


FILTERS = {"num": num, "pct": pct, "when": when, "short": short, "cell": cell, "clip": clip,
           "markdown": markdown, "loads": loads}
TESTS = {"num": is_num}
GLOBALS = {"duration": duration}
