"""Runs: every generate / verify / train / eval / probe run, and one page per run; training runs
draw their loss and learning-rate curves and list their checkpoints and the evals of them."""

from __future__ import annotations

from typing import Any

from curate.dashboard import data
from curate.dashboard.charts import Series, line_chart
from curate.dashboard.format import short
from curate.dashboard.site import Card, Page, dataset_href, run_href

NAV = ("Runs", "runs.html")


def _listing(site) -> list[dict[str, Any]]:
    out = []
    for r in data.runs(site):
        m = r["metrics"] if isinstance(r["metrics"], dict) else {}
        headline = {k: v for k, v in m.items() if isinstance(v, (int, float, str))
                    and not isinstance(v, bool)}
        out.append({"run": short(r["name"]) if r["name"] else r["id"], "kind": r["kind"], "status": r["status"],
                    "started": r["started"], "took": _took(r), "figures": dict(
                        list(headline.items())[:4]) or None,
                    "error": r["error"], "_href": run_href(r["id"])})
    return out


def _took(r: dict[str, Any]) -> str:
    from curate.dashboard.format import duration

    return duration(r["started"], r["finished"])


def card(site) -> Card:
    rows = _listing(site)
    return Card("Runs", NAV[1], ["run", "kind", "status", "started", "took"], rows[:8],
                total=len(rows), empty="no runs yet")


def curve(site, run: dict[str, Any]) -> list[dict[str, Any]]:
    """The run's logged points (step, loss, learning_rate, ...): from its metrics, else from
    its newest checkpoint (a run still going or killed has only those)."""
    m = run["metrics"] if isinstance(run["metrics"], dict) else {}
    pts = m.get("loss_curve")
    if not pts:
        cks = [c for c in data.checkpoints(site) if c["run_id"] == run["id"]]
        for c in cks:  # newest first
            cm = c["metrics"] if isinstance(c["metrics"], dict) else {}
            if cm.get("loss_curve"):
                pts = cm["loss_curve"]
                break
    return [p for p in pts or [] if isinstance(p, dict) and p.get("step") is not None]


def charts(points: list[dict[str, Any]]) -> list:
    """Loss, learning rate and any reward series against step, as SVG charts."""
    out = []
    keys = [("loss", "training loss", False), ("learning_rate", "learning rate", False),
            ("grad_norm", "gradient norm", False), ("reward", "mean reward", False),
            ("completions/mean_length", "completion length", False)]
    for key, label, log in keys:
        xs = [p["step"] for p in points if isinstance(p.get(key), (int, float))]
        ys = [p[key] for p in points if isinstance(p.get(key), (int, float))]
        if len(xs) >= 1:
            out.append(line_chart([Series(label, xs, ys)], title=label, x_label="step",
                                  y_label=label, log_y=log, width=430, height=240,
                                  y_format=_lr_fmt if key == "learning_rate" else _plain))
    return out


def _plain(v: float) -> str:
    return f"{v:.4g}"


def _lr_fmt(v: float) -> str:
    return f"{v:.1e}" if v else "0"


def pages(site):
    yield Page("runs.html", "Runs", "runs.html", {"runs": _listing(site)}, section=NAV[0])
    cks_by_run: dict[str, list] = {}
    for c in data.checkpoints(site):
        cks_by_run.setdefault(c["run_id"], []).append(c)
    for r in data.runs(site):
        cks = sorted(cks_by_run.get(r["id"], []), key=lambda c: c["step"] or 0)
        ck_ids = {c["id"] for c in cks}
        evals = [e for e in data.evals(site) if e["checkpoint_id"] in ck_ids
                 or (isinstance(e["config"], dict) and e["config"].get("train_run") == r["id"])]
        pts = curve(site, r)
        yield Page(run_href(r["id"]), f"run {r['name'] or r['id']}", "run.html", {
            "run": r, "charts": charts(pts), "n_points": len(pts),
            "checkpoints": [{"step": c["step"], "loss": c["loss"], "tokens_seen": c["tokens_seen"],
                             "path": c["path"], "id": c["id"], "created": c["created"]}
                            for c in cks],
            "inputs": [{"input": i, "_href": dataset_href(i)} if "@" in str(i)
                       else {"input": i} for i in (r["inputs"] or [])],
            "outputs": [{"output": o, "_href": dataset_href(o)} if "@" in str(o)
                        else {"output": o} for o in (r["outputs"] or [])],
            "evals": len(evals),
            "metrics": {k: v for k, v in (r["metrics"] or {}).items() if k != "loss_curve"}
            if isinstance(r["metrics"], dict) else r["metrics"],
        }, section=NAV[0])
