"""Agreement of curate's math verifier with the labels of the graded files in ../shared/data.

For each file: a confusion matrix (label x verdict, verdict None counted apart) for the
default config (boxed, then math-verify anchors) and the lenient one (math-verify's
unanchored right-most match). Disagreements go to results/verifier_disagreements.jsonl, the
seed set for tests/data/verifier_adjudicated.jsonl.

    .venv/bin/python benchmarks/verifier_agreement.py [--limit N] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._util import write_result  # noqa: E402
from curate.curation.verify_pool import VerifierPool  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
OUT = Path(__file__).resolve().parent / "results"


def _harness_file(path: Path):
    for line in path.open():
        r = json.loads(line)
        for resp, score in zip(r["code"], r["score"]):
            yield {"gold": r["gt"], "pred": resp, "label": bool(score), "q": r["idx"]}


def _gsm8k(path: Path):
    for qi, line in enumerate(path.open()):
        r = json.loads(line)
        gold = r["ground_truth"].rsplit("A:", 1)[-1].strip()
        for system in ("6b_finetuning", "6b_verification", "175b_finetuning", "175b_verification"):
            s = r[system]
            yield {"gold": gold, "pred": s["solution"], "label": bool(s["is_correct"]),
                   "q": f"{qi}/{system}"}


FILES = {
    "qwen25-14b-math500": ("graded-skythought-math500/qwen25_14b_instruct_math500.jsonl", _harness_file, {}),
    "gemma2-27b-math500": ("graded-skythought-math500/gemma2_27b_it_math500.jsonl", _harness_file, {}),
    "skyt1-27b-math500": ("longcot-skythought/skyt1_correct5k_27b_math500.jsonl", _harness_file, {}),
    "skyt1-32b-aime24": ("longcot-skythought/skyt1_correct5k_32b_ckpt140_aime24.jsonl", _harness_file, {}),
    "qwen25math-cot100": ("graded-qwen25math-rm-maj/math_cot_100.jsonl", _harness_file, {}),
    # GSM8K solutions end "A: <number>": the answer is the last number (explicit opt-in).
    "gsm8k-openai": ("graded-gsm8k-openai/example_model_solutions.jsonl", _gsm8k,
                     {"last_number_fallback": True}),
}


def confusion(items, results) -> dict[str, int]:
    c: Counter = Counter()
    for it, r in zip(items, results):
        lab = "label_true" if it["label"] else "label_false"
        v = {True: "mv_true", False: "mv_false", None: "mv_none"}[r.verified]
        c[f"{lab}/{v}"] += 1
    agree = c["label_true/mv_true"] + c["label_false/mv_false"]
    n = sum(c.values())
    return {**dict(sorted(c.items())), "n": n, "agreement": round(agree / n, 4) if n else None}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--limit", type=int, default=None, help="rows per file")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=10.0)
    args = ap.parse_args()
    if not DATA.is_dir():
        sys.exit(f"no shared data at {DATA}")
    out: dict = {"files": {}}
    disagreements = []
    t0 = time.perf_counter()
    with VerifierPool(workers=args.workers, timeout=args.timeout) as pool:
        for key, (rel, reader, extra) in FILES.items():
            items = list(reader(DATA / rel))[: args.limit]
            pairs = [(it["gold"], it["pred"]) for it in items]
            entry = {}
            for cfg_name, cfg in (("default", {}), ("unanchored", {"unanchored": True})):
                opts = {**extra, **cfg}
                res = pool.verify_many(pairs, "math", opts)
                entry[cfg_name] = confusion(items, res)
                if cfg_name == "default":
                    for it, r in zip(items, res):
                        if r.verified is not None and r.verified != it["label"]:
                            disagreements.append({
                                "file": key, "q": it["q"], "gold": it["gold"],
                                "label": it["label"], "verdict": r.verified,
                                "final_answer": r.final_answer,
                                "pred_tail": it["pred"][-300:]})
            out["files"][key] = entry
            print(key, json.dumps(entry["default"]), flush=True)
        out["restarts"] = pool.restarts
    out["seconds"] = round(time.perf_counter() - t0, 1)
    out["disagreements"] = len(disagreements)
    OUT.mkdir(exist_ok=True)
    with open(OUT / "verifier_disagreements.jsonl", "w") as f:
        for d in disagreements:
            f.write(json.dumps(d, ensure_ascii=False) + "\n")
    write_result("verifier_agreement", out)


if __name__ == "__main__":
    main()
