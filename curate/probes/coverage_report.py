"""The coverage report: a 2-D PCA map of training sets and benchmarks in one projection, and a
self-contained HTML page (tables coloured by closeness, the map inlined, the examples)."""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path
from typing import Any

import numpy as np

from curate.errors import CurateError

MAX_FIT = 20_000          # vectors used to fit the projection
MAX_POINTS = 4_000        # points drawn per training set
# copies stand out (contamination to look at); the rest from close (green) to far (grey)
VERDICT_COLOURS = {"near copies": "#8250df", "contains copies": "#cf222e", "close": "#1a7f37",
                   "related": "#d4a72c", "far": "#6e7781"}


def pca_2d(sets: list[np.ndarray], seed: int = 0) -> tuple[list[np.ndarray], np.ndarray]:
    """Project every set with one PCA fitted on a balanced sample of all of them.

    Returns the 2-D points per set and the explained-variance ratio of the two axes.
    """
    rng = np.random.default_rng(seed)
    per = max(1, MAX_FIT // max(1, len(sets)))
    fit = np.concatenate([s if len(s) <= per else s[rng.choice(len(s), per, replace=False)]
                          for s in sets])
    mean = fit.mean(axis=0)
    _, sv, vt = np.linalg.svd(fit - mean, full_matrices=False)
    var = sv ** 2
    ratio = var[:2] / var.sum() if var.sum() > 0 else np.zeros(2)
    return [(s - mean) @ vt[:2].T for s in sets], ratio


def plot_map(sets, path: Path, title: str = "Training sets and benchmarks (PCA)") -> Path:
    """PNG scatter: training sets as clouds of small dots, benchmarks as larger markers."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pts, ratio = pca_2d([s.vectors for s in sets])
    rng = np.random.default_rng(0)
    fig, ax = plt.subplots(figsize=(8, 6.5), dpi=110)
    train_cm = plt.get_cmap("tab10")
    bench_style = [("o", "#111111"), ("s", "#cf222e"), ("D", "#8250df"), ("^", "#0969da")]
    ti = bi = 0
    for s, p in zip(sets, pts):  # benchmarks as hollow markers under the training dots
        if s.role == "benchmark":
            marker, colour = bench_style[bi % len(bench_style)]
            ax.scatter(p[:, 0], p[:, 1], s=34, marker=marker, facecolors="none",
                       edgecolors=colour, linewidths=0.9, alpha=0.8, zorder=2,
                       label=f"benchmark {s.name} ({len(s.texts)})")
            bi += 1
    for s, p in zip(sets, pts):
        if s.role == "train":
            if len(p) > MAX_POINTS:
                p = p[rng.choice(len(p), MAX_POINTS, replace=False)]
            ax.scatter(p[:, 0], p[:, 1], s=9, alpha=0.55, color=train_cm((ti + 1) % 10),
                       label=f"{s.name} ({len(s.texts)})", linewidths=0, zorder=3)
            ti += 1
    ax.set_xlabel(f"PC1 ({ratio[0]:.0%} of variance)")
    ax.set_ylabel(f"PC2 ({ratio[1]:.0%} of variance)")
    ax.set_title(title)
    ax.legend(loc="best", fontsize=8, markerscale=1.5, framealpha=0.85)
    ax.grid(alpha=0.2)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp, format="png")
    plt.close(fig)
    tmp.replace(path)
    return path


def _e(x: Any) -> str:
    return html.escape(str(x))


def _shade(v: float) -> str:
    """Background colour for a similarity: red (<= 0.3, far) through amber to green
    (>= 0.95, copies)."""
    x = min(1.0, max(0.0, (float(v) - 0.3) / 0.65))
    return f"hsl({int(120 * x)}, 70%, {88 - 10 * x:.0f}%)"


def _matrix(rep) -> str:
    """Datasets x benchmarks, each cell the median nearest-neighbour similarity + verdict."""
    bench = [b["benchmark"] for b in rep.benchmarks]
    by = {(r["dataset"], r["benchmark"]): r for r in rep.results}
    head = "".join(f"<th>{_e(b)}</th>" for b in bench)
    rows = []
    for d in rep.datasets:
        cells = []
        for b in bench:
            r = by[(d["dataset"], b)]
            cells.append(
                f'<td style="background:{_shade(r["nn_p50"])}"><b>{r["nn_p50"]:.2f}</b> '
                f'<span class="badge" style="background:{VERDICT_COLOURS[r["verdict"]]}">'
                f'{_e(r["verdict"])}</span><br><small>{_copies(r)} · '
                f'{100 * r.get("frac_ge_0.5", 0):.0f}% ≥ 0.5</small></td>')
        rows.append(f"<tr><th class='row'>{_e(d['dataset'])}</th>{''.join(cells)}</tr>")
    return (f"<table class='matrix'><tr><th>median nearest-neighbour similarity</th>{head}</tr>"
            f"{''.join(rows)}</table>")


def _copies(r: dict) -> str:
    """'10 items (2.0%) with a copy (≥ 0.95)'."""
    n = r.get("copies", 0)
    return (f"{n} item{'s' if n != 1 else ''} ({100 * r.get('copy_share', 0):.1f}%) with a "
            f"copy (≥ {r.get('copy_similarity', 0.95):g})")


def _bar(frac: float) -> str:
    return (f"<div class='bar'><div style='width:{100 * frac:.1f}%'></div>"
            f"<span>{100 * frac:.1f}%</span></div>")


def _summary(rep) -> str:
    th = rep.thresholds
    head = ("<tr><th>dataset</th><th>benchmark</th><th>verdict</th><th>copies</th>"
            "<th>mean</th><th>p10</th>"
            "<th>p50</th><th>p90</th>" + "".join(f"<th>≥ {t:g}</th>" for t in th)
            + "<th>centroid dist.</th><th>train texts</th><th>items</th></tr>")
    rows = []
    for r in _by_severity(rep.results):
        fr = "".join(f"<td>{_bar(r[f'frac_ge_{t:g}'])}</td>" for t in th)
        rows.append(
            f"<tr><td>{_e(r['dataset'])}</td><td>{_e(r['benchmark'])}</td>"
            f"<td><span class='badge' style='background:{VERDICT_COLOURS[r['verdict']]}'>"
            f"{_e(r['verdict'])}</span></td><td>{r.get('copies', 0)} "
            f"({100 * r.get('copy_share', 0):.1f}%)</td>"
            + "".join(f"<td style='background:{_shade(r[k])}'>{r[k]:.3f}</td>"
                      for k in ("nn_mean", "nn_p10", "nn_p50", "nn_p90"))
            + fr + f"<td>{r['centroid_distance']:.3f}</td><td>{r['train_texts']}</td>"
            f"<td>{r['benchmark_items']}</td></tr>")
    return f"<table>{head}{''.join(rows)}</table>"


def _by_severity(results: list[dict]) -> list[dict]:
    from curate.probes.coverage import severity

    return sorted(results, key=lambda r: (severity(r["verdict"]), -r.get("copy_share", 0)))


def _copies_section(rep) -> str:
    """First on the page: every pair where benchmark items have a copy in the training set,
    with those items and their copies shown open (not folded away)."""
    hits = [r for r in _by_severity(rep.results) if r.get("copies")]
    if not hits:
        return ("<h2>Copies</h2><p class='meta'>No benchmark item has a training neighbour at "
                "or above the copy similarity.</p>")
    out = ["<h2 id='copies'>Copies of benchmark items in the training data</h2>"]
    for r in hits:
        shown = len(r.get("copy_examples") or [])
        more = f" (first {shown} shown)" if shown < r["copies"] else ""
        out.append(f"<div class='copies'><h3><span class='badge' style='background:"
                   f"{VERDICT_COLOURS.get(r['verdict'], '#888')}'>{_e(r['verdict'])}</span> "
                   f"{_e(r['dataset'])} vs {_e(r['benchmark'])}: {_copies(r)}{more}</h3>"
                   + _example_block("Benchmark items with a copy, and their closest training "
                                    "texts", r.get("copy_examples") or []) + "</div>")
    return "".join(out)


def _example_block(title: str, items: list[dict]) -> str:
    out = [f"<h4>{_e(title)}</h4>"]
    for it in items:
        neigh = "".join(
            f"<li><span class='sim' style='background:{_shade(n['similarity'])}'>"
            f"{n['similarity']:.3f}</span> <span class='lbl'>{_e(n['label'])}</span> "
            f"{_e(n['text'])}</li>" for n in it["neighbours"])
        out.append(f"<div class='ex'><div class='q'><b>{_e(it['item'])}</b> "
                   f"(nearest {it['nn_similarity']:.3f}): {_e(it['question'])}</div>"
                   f"<ol>{neigh}</ol></div>")
    return "".join(out)


CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:24px;color:#1f2328;max-width:1200px}
h1{font-size:22px}h2{font-size:18px;margin-top:28px;border-bottom:1px solid #d0d7de}
table{border-collapse:collapse;margin:10px 0;font-size:13px}
td,th{border:1px solid #d0d7de;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f6f8fa}.matrix td{font-size:15px;min-width:120px}
.badge{color:#fff;border-radius:10px;padding:1px 8px;font-size:12px;white-space:nowrap}
.bar{position:relative;width:110px;height:16px;background:#eee;border-radius:3px}
.bar div{height:100%;background:#4fa35a;border-radius:3px}
.bar span{position:absolute;left:4px;top:0;font-size:11px}
.ex{margin:6px 0 12px 0}.q{background:#f6f8fa;padding:4px 6px}
.sim{padding:0 4px;border-radius:3px;font-family:monospace}.lbl{color:#656d76;font-size:11px}
li{margin:2px 0;font-size:13px}.meta{color:#656d76;font-size:13px}
.copies{border-left:4px solid #cf222e;padding-left:10px;margin:8px 0}.copies h3{font-size:15px}
"""


def render_html(rep, png_bytes: bytes | None) -> str:
    """The whole report as one HTML string (the map inlined as base64); copies first."""
    from curate.probes.coverage import COPY_SHARE, COPY_SIMILARITY

    img = (f"<img alt='PCA map' style='max-width:100%' src='data:image/png;base64,"
           f"{base64.b64encode(png_bytes).decode()}'>") if png_bytes else ""
    ex = []
    for r in _by_severity(rep.results):
        ex.append(f"<details><summary><b>{_e(r['dataset'])}</b> vs <b>{_e(r['benchmark'])}</b>"
                  f" — {_e(r['verdict'])}, median {r['nn_p50']:.3f}</summary>"
                  + _example_block("Most covered benchmark items and their closest training "
                                   "texts", r["most_covered"])
                  + _example_block("Least covered benchmark items", r["least_covered"])
                  + "</details>")
    figures = json.dumps([{k: v for k, v in r.items()
                           if k not in ("most_covered", "least_covered", "copy_examples")}
                          for r in rep.results], default=float)
    return f"""<!doctype html><html><head><meta charset="utf-8">
<title>Coverage report</title><style>{CSS}</style></head><body>
<h1>Coverage of benchmarks by training data</h1>
<p class="meta">Embedder <code>{_e(rep.embedder)}</code> ({_e(rep.embedder_version)}), index
<code>{_e(rep.index)}</code>. Each benchmark item's similarity is the cosine similarity to its
nearest training text: ~1 means a copy is in the training set. Verdicts, most severe first:
near copies (median ≥ 0.9), contains copies (at least {100 * COPY_SHARE:g}% of items have a
neighbour ≥ {COPY_SIMILARITY:g}, whatever the median), then from the median: ≥ 0.7 close,
≥ 0.5 related, else far.</p>
{_copies_section(rep)}
<h2>At a glance</h2>{_matrix(rep)}
<h2>Nearest-neighbour similarity per benchmark</h2>{_summary(rep)}
<h2>Map</h2>{img}
<h2>Examples</h2>{''.join(ex)}
<script type="application/json" id="figures">{html.escape(figures, quote=False)}</script>
</body></html>"""


def write_report(rep, out_dir: Path) -> dict[str, str]:
    """Write coverage_map.png, coverage.html and coverage.json into `out_dir`."""
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise CurateError(f"{out_dir}: cannot create report folder: {e.strerror}") from None
    png = plot_map(rep.sets, out_dir / "coverage_map.png") if rep.sets else None
    page = render_html(rep, png.read_bytes() if png else None)
    html_path = out_dir / "coverage.html"
    tmp = html_path.with_suffix(".tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(html_path)
    paths = {"html": str(html_path.resolve())}
    if png:
        paths["png"] = str(png.resolve())
    json_path = out_dir / "coverage.json"
    json_path.write_text(json.dumps({**rep.to_dict(), "report": paths}, indent=2,
                                    default=float), encoding="utf-8")
    paths["json"] = str(json_path.resolve())
    return paths
