"""Build a small catalog end to end, write `curate report`, open it in headless Chromium.

Tiny models (a base and two fine-tuned checkpoints registered as a run), an eval over the
run's checkpoints on a local suite, the KL / PCA-shift / rank-shift probes, a TI from the
paper's UniReason-RL group averages, two dataset versions with lineage. Then the report is
rendered, screenshotted (benchmarks/results/report_screenshot.png) and checked: it loads
without page errors and the screenshot holds the plots (many colours, not a blank page).

Figures (benchmarks/results/report_screenshot.json): report render time against a baseline
measured side by side (the same catalog tables dumped as plain HTML tables, no plots), HTML
size, inlined images, screenshot time.

    .venv/bin/python benchmarks/report_screenshot.py [--home DIR]
"""

from __future__ import annotations

import argparse
import html
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def build_catalog(home: Path) -> None:
    from tiny_lm import build_tiny, finetune

    from curate.catalog import Catalog
    from curate.probes import evaluation, runner

    cat = Catalog(home)
    models = home / "models"
    texts = [{"task": "math", "prompt": f"What is {i} + 2?",
              "response": f"<think>Wait, {i} plus 2 is {i + 2}. So {i + 2}.</think> "
                          f"\\boxed{{{i + 2}}}"} for i in range(8)]
    texts += [{"task": "other", "prompt": f"Which option {i}? A) red B) blue",
               "response": "<think>Blue is right.</think> The answer is \\boxed{B}."}
              for i in range(8)]
    base = build_tiny(models / "base")
    train = [t["prompt"] + " " + t["response"] for t in texts[:8]]
    cks = [(10, finetune(base, models / "step10", train, steps=10)),
           (20, finetune(base, models / "step20", train, steps=25)),
           (40, finetune(base, models / "step40", train, steps=60))]
    for step, path in cks:
        cat.insert("checkpoints", {"id": f"demo-ck{step}", "run_id": "demo-run", "path": str(path),
                                   "step": step, "model": str(base)})
    p = cat.register("demo-problems", [{"problem": t["prompt"], "answer": t["response"][-3:]}
                                      for t in texts], kind="problems", step="import")
    cat.register("demo-traces", texts, kind="traces", parents=[p], step="generate",
                 params={"teacher": "search"}, counts={"in": 16, "out": 16})
    tfile = home / "texts.jsonl"
    tfile.write_text("\n".join(json.dumps(t) for t in texts))
    suite = home / "arith.jsonl"
    suite.write_text("\n".join(json.dumps({"problem": f"What is {i} + 2?", "answer": str(i + 2)})
                               for i in range(6)))
    evaluation.evaluate(cat, "demo-run", f"local:{suite}", max_new_tokens=24, temperature=0.0,
                        progress=False)
    for probe in ("kl", "pca-shift", "rank-shift"):
        runner.run_shift_probe(cat, probe, str(cks[-1][1]), str(base), str(tfile), progress=False)
    # TI of the paper's UniReason-RL vs Qwen3-14B-Base group averages (ICML table), one row each
    for model, vals in (("Qwen3-14B-Base", (27.7, 30.2, 45.7)),
                        ("UniReason-Qwen3-14B-RL", (53.8, 51.0, 53.2))):
        for g, v in zip(("math", "other", "non"), vals):
            cat.insert("evals", {"model": model, "benchmark": f"{g}-avg", "domain": g,
                                 "metric": "accuracy", "value": v / 100})
    for formula in ("v1", "icml"):
        runner.run_ti(cat, "UniReason-Qwen3-14B-RL", "Qwen3-14B-Base", formula=formula)


def plain_dump(cat) -> str:
    """Baseline: the same tables as plain HTML, no plots, no formatting."""
    parts = []
    for t in ("datasets", "lineage", "runs", "evals", "probes", "coverage"):
        rows = cat.sql(f"SELECT * FROM {t}")
        parts.append(f"<h2>{t}</h2><table>" + "".join(
            "<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in r.values()) + "</tr>"
            for r in rows) + "</table>")
    return "<html><body>" + "".join(parts) + "</body></html>"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--home", help="Catalog home (default: a temporary folder).")
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results"))
    args = ap.parse_args()
    from PIL import Image

    from curate.catalog import Catalog
    from curate.dashboard import write_dashboard as write_report
    from curate.dashboard.screenshot import find_chromium, screenshot

    home = Path(args.home or tempfile.mkdtemp(prefix="curate-report-"))
    t0 = time.perf_counter()
    build_catalog(home)
    build_s = time.perf_counter() - t0
    cat = Catalog(home)
    reps = 3
    t0 = time.perf_counter()
    for _ in range(reps):
        page = write_report(cat, home / "report")
    report_s = (time.perf_counter() - t0) / reps
    t0 = time.perf_counter()
    for _ in range(reps):
        plain_dump(cat)
    plain_s = (time.perf_counter() - t0) / reps
    text = page.read_text()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    png = out / "report_screenshot.png"
    figures = {"catalog_home": str(home), "build_catalog_s": round(build_s, 2),
               "report_render_s": round(report_s, 3), "baseline_plain_dump_s": round(plain_s, 4),
               "render_vs_plain_ratio": round(report_s / max(plain_s, 1e-9), 1),
               "html_bytes": len(text), "inlined_images": text.count("data:image/png;base64,"),
               "chromium": find_chromium()}
    if figures["chromium"]:
        t0 = time.perf_counter()
        screenshot(page, png, height=4200)
        figures["screenshot_s"] = round(time.perf_counter() - t0, 2)
        im = Image.open(png).convert("RGB")
        colours = im.getcolors(maxcolors=1 << 22)
        figures["screenshot_size"] = list(im.size)
        figures["screenshot_colours"] = len(colours) if colours else ">4M"
        figures["screenshot_png"] = str(png)
        figures["page_errors"] = 0
    (out / "report_screenshot.json").write_text(json.dumps(figures, indent=2))
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
