"""TI, probes and coverage: each measurement once (the newest of each model/base/texts), the
latest first, with its headline figures and its plot inlined as a PNG data URI."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from curate.dashboard import data
from curate.dashboard.format import short
from curate.dashboard.site import Card, Page, dataset_href

NAV = ("Probes", "probes.html")
MAX_PLOT_BYTES = 600_000


def png_uri(path: Any) -> str | None:
    """A PNG file as a data URI (None when absent, not a PNG, or too large to inline)."""
    if not path:
        return None
    p = Path(str(path))
    if p.suffix.lower() != ".png" or not p.is_file() or p.stat().st_size > MAX_PLOT_BYTES:
        return None
    return "data:image/png;base64," + base64.b64encode(p.read_bytes()).decode()


def _once(rows: list[dict[str, Any]], key) -> list[dict[str, Any]]:
    seen, out = set(), []
    for r in rows:  # newest first
        k = key(r)
        if k not in seen:
            seen.add(k)
            out.append(r)
    return out


def ti_results(site) -> list[dict[str, Any]]:
    rows = [p for p in data.probes(site) if p["probe"] == "ti"]
    out = []
    for p in _once(rows, lambda p: (p["model"], p["base"], (p["params"] or {}).get("formula"))):
        res = p["results"] if isinstance(p["results"], dict) else {}
        out.append({"model": short(p["model"]), "base": short(p["base"]),
                    "formula": res.get("formula"), "created": p["created"],
                    "table": res.get("table") or [], "reason": res.get("reason"),
                    "warnings": res.get("warnings") or [],
                    "key": "delta_rel" if res.get("formula") == "v1" else "di"})
    return out


def shift_results(site) -> list[dict[str, Any]]:
    from curate.probes.runner import summary

    rows = [p for p in data.probes(site) if p["probe"] != "ti"]
    out = []
    for p in _once(rows, lambda p: (p["probe"], p["model"], p["base"], p["texts"])):
        res = p["results"] if isinstance(p["results"], dict) else {}
        try:
            figures = summary(p["probe"], res) if p["probe"] in ("kl", "pca-shift",
                                                                  "rank-shift") else {}
        except (KeyError, TypeError, AttributeError):
            figures = {}
        if p["probe"] == "length":
            figures = {b: (t.get("dip") or {}) for b, t in res.items() if isinstance(t, dict)}
        out.append({"probe": p["probe"], "model": short(p["model"]), "base": short(p["base"]),
                    "texts": p["texts"], "created": p["created"], "figures": figures,
                    "plot": png_uri(p["plot_path"])})
    return out


def coverage_results(site) -> list[dict[str, Any]]:
    out, plots = [], set()
    for c in _once(data.coverage(site), lambda c: (c["dataset"], c["benchmark"], c["embedder"])):
        m = c["metrics"] if isinstance(c["metrics"], dict) else {}
        flat = {k: v for k, v in m.items() if isinstance(v, (int, float, str))}
        out.append({"dataset": c["dataset"], "benchmark": c["benchmark"],
                    "embedder": c["embedder"], "verdict": m.get("verdict"),
                    "figures": {k: v for k, v in flat.items() if k != "verdict"} or None,
                    "created": c["created"], "_href": dataset_href(c["dataset"]),
                    "plot": None if c["report_path"] in plots else png_uri(c["report_path"])})
        plots.add(c["report_path"])  # one map drawn for several benchmarks is shown once
    return out


def card(site) -> Card:
    ti = ti_results(site)
    sh = shift_results(site)
    rows = [{"probe": f"TI ({t['formula']})", "model": t["model"], "base": t["base"],
             "created": t["created"], "_href": "probes.html#ti"} for t in ti]
    rows += [{"probe": s["probe"], "model": s["model"], "base": s["base"],
              "created": s["created"], "_href": "probes.html#probes"} for s in sh]
    rows.sort(key=lambda r: r["created"], reverse=True)
    return Card("TI and probes", NAV[1], ["probe", "model", "base", "created"], rows[:8],
                total=len(rows), empty="no probes yet: curate probe ti|kl|pca-shift|rank-shift")


def pages(site):
    yield Page("probes.html", "TI and probes", "probes.html",
               {"ti": ti_results(site), "shifts": shift_results(site),
                "coverage": coverage_results(site)}, section=NAV[0])
