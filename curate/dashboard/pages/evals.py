"""Evaluations: the newest score of each (model, step, benchmark), accuracy as a percent of the
stored fraction, and per training run (or model) the score- and length-vs-step curves."""

from __future__ import annotations

from typing import Any

from curate.dashboard import data
from curate.dashboard.charts import Series, line_chart
from curate.dashboard.format import short
from curate.dashboard.site import Card, Page, run_href

NAV = ("Evals", "evals.html")


def latest(site, metric: str = "accuracy") -> list[dict[str, Any]]:
    """The newest row per (model, step, benchmark) of `metric`, newest first."""
    seen, out = set(), []
    for e in data.evals(site):  # newest first
        if e["metric"] != metric:
            continue
        key = (e["model"], e["step"], e["benchmark"])
        if key not in seen:
            seen.add(key)
            out.append(e)
    return out


def family(e: dict[str, Any]) -> str:
    """What a curve is drawn for: the training run of a checkpoint, else the model."""
    cfg = e["config"] if isinstance(e["config"], dict) else {}
    return cfg.get("train_run") or e["model"]


def _row(e: dict[str, Any]) -> dict[str, Any]:
    cfg = e["config"] if isinstance(e["config"], dict) else {}
    row = {"model": short(e["model"]), "step": e["step"], "benchmark": e["benchmark"],
           "group": e["domain"], "accuracy": _pct(e["value"]), "k": e["k"],
           "samples": e["n_samples"], "mean tokens": _round(e["mean_response_tokens"], 1),
           "truncated": _pct(e["truncation_rate"]), "created": e["created"]}
    if cfg.get("train_run"):
        row["_hrefs"] = {"model": run_href(cfg["train_run"])}
    return row


def _pct(v: Any) -> str | None:
    return None if v is None else f"{100 * v:.1f}%"


def _round(v: Any, nd: int) -> Any:
    return round(v, nd) if isinstance(v, float) else v


def card(site) -> Card:
    rows = [_row(e) for e in latest(site)]
    return Card("Evals", NAV[1], ["model", "step", "benchmark", "accuracy", "mean tokens"],
                rows[:8], total=len(rows), empty="no evals yet: curate eval MODEL --suite S")


def families(site) -> list[dict[str, Any]]:
    """Per training run or model: its rows and, with two or more steps, its two charts."""
    groups: dict[str, list] = {}
    for e in latest(site):
        groups.setdefault(family(e), []).append(e)
    out = []
    for fam, rows in groups.items():
        steps = {e["step"] for e in rows if e["step"] is not None}
        charts = []
        if len(steps) >= 2:
            by_bench: dict[str, list] = {}
            for e in rows:
                if e["step"] is not None:
                    by_bench.setdefault(e["benchmark"], []).append(e)
            acc, length = [], []
            for bench, es in sorted(by_bench.items()):
                es.sort(key=lambda e: e["step"])
                xs = [e["step"] for e in es]
                acc.append(Series(bench, xs, [None if e["value"] is None else 100 * e["value"]
                                              for e in es]))
                length.append(Series(bench, xs, [e["mean_response_tokens"] for e in es]))
            charts = [line_chart(acc, title="score against step", x_label="step",
                                 y_label="accuracy (%)", y_zero=True, y_span=10),
                      line_chart(length, title="response length against step",
                                 x_label="step", y_label="mean response tokens", y_zero=True,
                                 y_span=10)]
        run = next((r for r in data.runs(site) if r["id"] == fam), None)
        label = f"run {run['name'] or fam}" if run else short(fam)
        out.append({"name": fam, "label": label, "href": run_href(fam) if run else None,
                    "charts": charts,
                    "rows": [_row(e) for e in sorted(rows, key=lambda e: (
                        e["benchmark"], e["step"] if e["step"] is not None else -1))]})
    return out


def pages(site):
    yield Page("evals.html", "Evals", "evals.html", {"families": families(site)},
               section=NAV[0])
