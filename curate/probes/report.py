"""`curate report`: one self-contained HTML dashboard over the catalog.

Sections: datasets with lineage, coverage, runs, eval tables and curves (score and response
length against step), Transferability Index tables, probe plots. Every image is inlined as
base64 and the CSS is inline, so the file opens anywhere without a server or network.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import io
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#222;background:#fafafa}
header{background:#243b55;color:#fff;padding:14px 24px}header h1{margin:0;font-size:22px}
header p{margin:4px 0 0;font-size:13px;opacity:.85}
nav{padding:8px 24px;background:#e9eef5;font-size:14px}nav a{margin-right:14px;color:#243b55}
section{padding:8px 24px 18px}h2{border-bottom:2px solid #243b55;padding-bottom:4px}
table{border-collapse:collapse;font-size:12.5px;margin:8px 0 14px;background:#fff}
th,td{border:1px solid #ccd;padding:3px 7px;text-align:left;vertical-align:top;max-width:520px;
overflow-wrap:anywhere}th{background:#e9eef5}td.num{text-align:right;font-variant-numeric:tabular-nums}
figure{display:inline-block;margin:6px 12px 12px 0;background:#fff;border:1px solid #ccd;padding:6px}
figure img{max-width:760px;display:block}figcaption{font-size:12px;color:#555;margin-top:4px}
.empty{color:#888;font-style:italic}.warn{color:#a15c00;font-size:12.5px}
"""


def _esc(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, (dict, list)):
        s = json.dumps(v, default=str, ensure_ascii=False)
        return html.escape(s if len(s) < 400 else s[:397] + "...")
    return html.escape(str(v))


def table(rows: list[dict[str, Any]], columns: list[str] | None = None) -> str:
    """An HTML table of dict rows (numbers right-aligned, long JSON cut)."""
    if not rows:
        return '<p class="empty">(none)</p>'
    cols = columns or list(rows[0])
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in cols)
    body = []
    for r in rows:
        cells = []
        for c in cols:
            v = r.get(c)
            cls = ' class="num"' if isinstance(v, (int, float)) and not isinstance(v, bool) else ""
            cells.append(f"<td{cls}>{_esc(v)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def img_tag(png: bytes, caption: str) -> str:
    b64 = base64.b64encode(png).decode()
    return (f'<figure><img alt="{html.escape(caption)}" src="data:image/png;base64,{b64}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")


def _file_img(path: str | None, caption: str) -> str:
    if not path or not Path(path).is_file() or not str(path).endswith(".png"):
        return ""
    return img_tag(Path(path).read_bytes(), caption)


def _fig_png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return buf.getvalue()


def _loads(v: Any) -> Any:
    if isinstance(v, str):
        try:
            return json.loads(v)
        except json.JSONDecodeError:
            return v
    return v


# -- sections ---------------------------------------------------------------------------------

def datasets_section(cat) -> str:
    rows = cat.sql("SELECT name, version, kind, rows, created, card FROM datasets "
                   "ORDER BY name, created DESC")
    lin = cat.sql("SELECT child, parent, step, params, counts, code_version FROM lineage "
                  "ORDER BY created")
    for r in rows:
        r["version"] = r["version"][:12]
        r["card"] = (r["card"] or "")[:160]
    edges = [{"dataset": r["child"].split("@")[0] + "@" + r["child"].split("@")[-1][:12],
              "parent": (r["parent"].split("@")[0] + "@" + r["parent"].split("@")[-1][:12])
              if r["parent"] else "(root)",
              "step": r["step"], "counts": _loads(r["counts"]), "params": _loads(r["params"])}
             for r in lin]
    return (f"<h3>Versions ({len(rows)})</h3>{table(rows)}"
            f"<h3>Lineage</h3>{table(edges, ['dataset', 'parent', 'step', 'counts', 'params'])}")


def coverage_section(cat) -> str:
    rows = cat.sql("SELECT dataset, benchmark, embedder, metrics, report_path, created "
                   "FROM coverage ORDER BY created DESC")
    flat, imgs = [], []
    for r in rows:
        m = _loads(r["metrics"]) or {}
        row = {"dataset": r["dataset"], "benchmark": r["benchmark"], "embedder": r["embedder"]}
        if isinstance(m, dict):
            row.update({k: v for k, v in m.items() if isinstance(v, (int, float, str))})
        flat.append(row)
        if r["report_path"] and str(r["report_path"]).endswith(".png"):
            imgs.append(_file_img(r["report_path"], f"coverage {r['dataset']} vs {r['benchmark']}"))
    cols = list(dict.fromkeys(k for r in flat for k in r)) if flat else None
    return table(flat, cols) + "".join(imgs)


def runs_section(cat) -> str:
    rows = cat.sql("SELECT id, kind, name, status, started, finished, metrics, error FROM runs "
                   "ORDER BY started DESC LIMIT 200")
    for r in rows:
        r["metrics"] = _loads(r["metrics"])
    return table(rows)


def evals_section(cat) -> str:
    rows = cat.sql(
        "SELECT model, step, benchmark, domain, metric, value, n_samples, k, "
        "mean_response_tokens, truncation_rate, created, "
        "json_extract_string(config, '$.train_run') AS train_run FROM evals "
        "WHERE metric = 'accuracy' ORDER BY model, benchmark, step, created")
    latest: dict[tuple, dict] = {}
    for r in rows:
        latest[(r["model"], r["step"], r["benchmark"])] = r
    table_rows = [{"model": _short(r["model"]), "step": r["step"], "benchmark": r["benchmark"],
                   "group": r["domain"], "accuracy (%)": round(100 * r["value"], 2)
                   if r["value"] is not None else None, "k": r["k"], "samples": r["n_samples"],
                   "mean tokens": r["mean_response_tokens"], "truncated": r["truncation_rate"]}
                  for r in latest.values()]
    curves = eval_curves(list(latest.values()))
    return table(table_rows) + curves


def _short(model: str | None) -> str:
    if not model:
        return ""
    p = Path(model)
    return "/".join(p.parts[-2:]) if len(p.parts) > 2 else model


def eval_curves(rows: list[dict[str, Any]]) -> str:
    """Score and response length against step, per checkpoint family (rows with a step)."""
    stepped = [r for r in rows if r["step"] is not None]
    if not stepped:
        return ""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.6))
    series: dict[str, list[dict[str, Any]]] = {}
    runs = {r.get("train_run") for r in stepped}
    for r in stepped:
        label = r["benchmark"] if len(runs) == 1 else f"{r.get('train_run') or '?'}: {r['benchmark']}"
        series.setdefault(label, []).append(r)
    for bench, rs in series.items():
        rs.sort(key=lambda r: r["step"])
        a1.plot([r["step"] for r in rs], [100 * (r["value"] or 0) for r in rs], marker="o",
                label=bench)
        a2.plot([r["step"] for r in rs], [r["mean_response_tokens"] or 0 for r in rs],
                marker="o", label=bench)
    a1.set_xlabel("step")
    a1.set_ylabel("accuracy (%)")
    a2.set_xlabel("step")
    a2.set_ylabel("mean response tokens")
    a1.legend(fontsize=8)
    for a in (a1, a2):
        a.grid(alpha=0.3)
    fig.tight_layout()
    return img_tag(_fig_png(fig), "eval curves: accuracy and response length against step")


def ti_section(cat) -> str:
    rows = cat.sql("SELECT model, base, params, results, created FROM probes WHERE probe = 'ti' "
                   "ORDER BY created DESC")
    if not rows:
        return '<p class="empty">(no TI computed yet: curate probe ti --model M --base B)</p>'
    parts = []
    for r in rows:
        res = _loads(r["results"]) or {}
        head = (f"<h3>{_esc(_short(r['model']))} vs {_esc(_short(r['base']))} "
                f"({_esc(res.get('formula'))})</h3>")
        key = "delta_rel" if res.get("formula") == "v1" else "di"
        parts.append(head + table(res.get("table") or [],
                                  ["group", "benchmarks", "base_avg", "model_avg", key, "TI(%)"]))
        if res.get("reason"):
            parts.append(f'<p class="warn">TI undefined: {_esc(res["reason"])}</p>')
        for w in res.get("warnings") or []:
            parts.append(f'<p class="warn">warning: {_esc(w)}</p>')
    return "".join(parts)


def probes_section(cat) -> str:
    rows = cat.sql("SELECT probe, model, base, texts, results, plot_path, created FROM probes "
                   "WHERE probe <> 'ti' ORDER BY created DESC")
    if not rows:
        return '<p class="empty">(no probes yet)</p>'
    from curate.probes.runner import summary

    summ, imgs = [], []
    for r in rows:
        res = _loads(r["results"]) or {}
        figs: dict[str, Any] = {}
        if r["probe"] == "length" and isinstance(res, dict):
            figs = {b: {k: t.get("dip", {}).get(k) for k in
                        ("first", "lowest", "lowest_step", "last", "recovered", "longest_step")}
                    for b, t in res.items()}
        elif r["probe"] in ("kl", "pca-shift", "rank-shift") and isinstance(res, dict):
            try:
                figs = summary(r["probe"], res)
            except (KeyError, TypeError):
                figs = {}
        summ.append({"probe": r["probe"], "model": _short(r["model"]), "base": _short(r["base"]),
                     "texts": r["texts"], "figures": figs, "created": r["created"]})
        imgs.append(_file_img(r["plot_path"], f"{r['probe']}: {_short(r['model'])} vs "
                                              f"{_short(r['base'])}"))
    return table(summ) + "".join(imgs)


SECTIONS = [("datasets", "Datasets and lineage", datasets_section),
            ("coverage", "Coverage", coverage_section),
            ("runs", "Runs", runs_section),
            ("evals", "Evaluations", evals_section),
            ("ti", "Transferability Index", ti_section),
            ("probes", "Probes", probes_section)]


def render(cat, sections: Iterable[tuple[str, str, Any]] = SECTIONS) -> str:
    """The whole dashboard as one HTML string."""
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    nav, body = [], []
    for anchor, title, fn in sections:
        nav.append(f'<a href="#{anchor}">{html.escape(title)}</a>')
        body.append(f'<section id="{anchor}"><h2>{html.escape(title)}</h2>{fn(cat)}</section>')
    return ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<title>curate report</title>"
            f"<style>{CSS}</style></head><body><header><h1>curate report</h1>"
            f"<p>catalog {html.escape(str(cat.db_path))} · generated {now}</p></header>"
            f"<nav>{''.join(nav)}</nav>{''.join(body)}</body></html>")


def write_report(cat, out: str | Path | None = None) -> Path:
    """Write index.html into `out` (default $CURATE_HOME/report), atomically; return its path."""
    out_dir = Path(out) if out else Path(cat.home) / "report"
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "index.html"
    tmp = out_dir / ".index.html.tmp"
    tmp.write_text(render(cat), encoding="utf-8")
    tmp.replace(path)
    return path
