"""Agreement of curate's math verifier with the labels shipped with real graded outputs.

The 1,500 MATH-500 responses of ../shared/data/graded-skythought-math500 (Qwen2.5-14B-Instruct,
gemma-2-27b-it) and ../shared/data/longcot-skythought (Sky-T1 27B long CoT), each labelled by
the Qwen2.5-Math harness (`math_equal`, SOURCE.txt); `--all` adds the AIME24, Qwen2.5-Math CoT
and GSM8K files. The gold is the file's `answer` (the MATH dataset's own answer, what a curate
user holds) when present, else the harness's `gt` (its normalised copy, which lost characters
on some rows).

For each file and configuration: the confusion matrix (label x verdict, verdict None counted
apart, by reason), the agreement over checkable rows and over all rows. Configurations:
`default` (curate's defaults), `whole-response` (P3's rule for thinking that never closed) and
`harness-like` (whole-response plus the Qwen harness's last-number fallback, opt-in); for
the opt-in ones, the rows they alone disagree on, by adjudicated fault.

Every disagreement of the default configuration (a verdict that differs from the label) goes
to results/verifier_disagreements.jsonl and is joined with the hand adjudication in
tests/data/verifier_adjudicated.jsonl (`correct`: the true verdict): a disagreement is the
grader's fault when curate's verdict is the true one, curate's fault otherwise, and
`unadjudicated` when nobody has read it yet. Goal: 0 curate faults, 0 unadjudicated.

    .venv/bin/python benchmarks/verifier_agreement.py [--all] [--limit N] [--workers 2]
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

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
OUT = Path(__file__).resolve().parent / "results"
ADJUDICATED = ROOT / "tests" / "data" / "verifier_adjudicated.jsonl"


def _harness_file(path: Path):
    for line in path.open():
        r = json.loads(line)
        gold = r.get("answer") if r.get("answer") not in (None, "") else r["gt"]
        for resp, score in zip(r["code"], r["score"]):
            yield {"gold": str(gold), "gt": r["gt"], "pred": resp, "label": bool(score),
                   "q": r["idx"], "harness_pred": (r.get("pred") or [None])[0]}


def _gsm8k(path: Path):
    for qi, line in enumerate(path.open()):
        r = json.loads(line)
        gold = r["ground_truth"].rsplit("A:", 1)[-1].strip()
        for system in ("6b_finetuning", "6b_verification", "175b_finetuning", "175b_verification"):
            s = r[system]
            yield {"gold": gold, "gt": gold, "pred": s["solution"],
                   "label": bool(s["is_correct"]), "q": f"{qi}/{system}", "harness_pred": None}


MATH500 = {
    "qwen25-14b-math500": ("graded-skythought-math500/qwen25_14b_instruct_math500.jsonl", _harness_file, {}),
    "gemma2-27b-math500": ("graded-skythought-math500/gemma2_27b_it_math500.jsonl", _harness_file, {}),
    "skyt1-27b-math500": ("longcot-skythought/skyt1_correct5k_27b_math500.jsonl", _harness_file, {}),
}
MORE = {
    "skyt1-32b-aime24": ("longcot-skythought/skyt1_correct5k_32b_ckpt140_aime24.jsonl", _harness_file, {}),
    "qwen25math-cot100": ("graded-qwen25math-rm-maj/math_cot_100.jsonl", _harness_file, {}),
    # GSM8K solutions end "A: <number>": the answer is the last number (explicit opt-in).
    "gsm8k-openai": ("graded-gsm8k-openai/example_model_solutions.jsonl", _gsm8k,
                     {"last_number_fallback": True}),
}
CONFIGS = {"default": {}, "whole-response": {"unclosed": "whole-response"},
           "harness-like": {"unclosed": "whole-response", "last_number_fallback": True}}


def confusion(items, results) -> dict:
    """Label x verdict counts, agreement over checkable and over all rows, None by reason."""
    c: Counter = Counter()
    none_reasons: Counter = Counter()
    for it, r in zip(items, results):
        lab = "label_true" if it["label"] else "label_false"
        v = {True: "curate_true", False: "curate_false", None: "curate_none"}[r.verified]
        c[f"{lab}/{v}"] += 1
        if r.verified is None:
            none_reasons[f"{lab}/{r.reason}"] += 1
    agree = c["label_true/curate_true"] + c["label_false/curate_false"]
    n = sum(c.values())
    checkable = n - c["label_true/curate_none"] - c["label_false/curate_none"]
    return {**dict(sorted(c.items())), "n": n, "checkable": checkable,
            "disagreements": checkable - agree,
            "agreement_checkable": round(agree / checkable, 4) if checkable else None,
            "agreement_all": round(agree / n, 4) if n else None,
            "unverifiable_by_reason": dict(sorted(none_reasons.items()))}


def adjudications() -> dict[str, dict]:
    """Hand adjudications by source (`file#idx`)."""
    if not ADJUDICATED.exists():
        return {}
    return {r["source"]: r for r in map(json.loads, ADJUDICATED.open())}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--limit", type=int, default=None, help="rows per file")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=10.0)
    ap.add_argument("--all", action="store_true", help="also AIME24, Qwen2.5-Math CoT, GSM8K")
    ap.add_argument("--configs", default=",".join(CONFIGS), help="comma-separated subset")
    args = ap.parse_args()
    if not DATA.is_dir():
        sys.exit(f"no shared data at {DATA}")
    files = {**MATH500, **(MORE if args.all else {})}
    names = args.configs.split(",")
    configs = {k: CONFIGS[k] for k in ["default"] + [n for n in names if n != "default"]}
    if "default" not in names:
        sys.exit("--configs must include default (the others are compared with it)")
    adj = adjudications()
    out: dict = {"files": {}, "gold": "the file's `answer` (MATH gold), else `gt`",
                 "configs": configs}
    disagreements = []
    t0 = time.perf_counter()
    with VerifierPool(workers=args.workers, timeout=args.timeout) as pool:
        for key, (rel, reader, extra) in files.items():
            items = list(reader(DATA / rel))[: args.limit]
            pairs = [(it["gold"], it["pred"]) for it in items]
            entry = {}
            default_res: list = []
            for cfg_name, cfg in configs.items():   # default first
                res = pool.verify_many(pairs, "math", {**extra, **cfg})
                entry[cfg_name] = confusion(items, res)
                if cfg_name != "default":
                    # rows this opt-in configuration alone disagrees on, by adjudicated fault
                    faults = Counter()
                    for it, r, d in zip(items, res, default_res):
                        if r.verified is not None and r.verified != it["label"] and \
                                not (d.verified is not None and d.verified != it["label"]):
                            a = adj.get(f"{key}#{it['q']}")
                            faults[a["fault"] if a else "unadjudicated"] += 1
                    entry[cfg_name]["extra_disagreements_by_fault"] = dict(faults)
                    continue
                default_res = res
                for it, r in zip(items, res):
                    if r.verified is None or r.verified == it["label"]:
                        continue
                    source = f"{key}#{it['q']}"
                    a = adj.get(source)
                    fault = ("unadjudicated" if a is None else
                             "grader" if r.verified is a["correct"] else "curate")
                    if a is not None and fault == "grader" and a.get("fault") == "data":
                        fault = "data"
                    disagreements.append({
                        "source": source, "gold": it["gold"], "gt": it["gt"],
                        "label": it["label"], "verdict": r.verified, "reason": r.reason,
                        "final_answer": r.final_answer, **(r.extra or {}),
                        "harness_pred": it["harness_pred"], "fault": fault,
                        "pred_tail": it["pred"][-400:]})
            out["files"][key] = entry
            print(key, json.dumps({c: {k: v for k, v in e.items() if "/" not in k}
                                   for c, e in entry.items()}), flush=True)
        out["restarts"] = pool.restarts
    math500 = [k for k in files if k in MATH500]
    total = Counter()
    for k in math500:
        d = out["files"][k].get("default", {})
        for f in ("n", "checkable", "disagreements"):
            total[f] += d.get(f, 0)
        total["agree"] += d.get("checkable", 0) - d.get("disagreements", 0)
    faults = Counter(d["fault"] for d in disagreements if d["source"].split("#")[0] in math500)
    out["math500_default"] = {
        "responses": total["n"], "checkable": total["checkable"],
        "agreement_checkable": round(total["agree"] / total["checkable"], 4)
        if total["checkable"] else None,
        "agreement_all": round(total["agree"] / total["n"], 4) if total["n"] else None,
        "disagreements": total["disagreements"],
        "grader_fault": faults["grader"], "data_fault": faults["data"],
        "curate_fault": faults["curate"], "unadjudicated": faults["unadjudicated"],
        # curate errors found by earlier runs and fixed since (each a test that passes now)
        "curate_faults_fixed": sum(1 for a in adj.values() if a.get("fault") == "curate"),
    }
    out["seconds"] = round(time.perf_counter() - t0, 1)
    out["disagreements"] = len(disagreements)
    OUT.mkdir(exist_ok=True)
    with open(OUT / "verifier_disagreements.jsonl", "w") as f:
        for d in disagreements:
            f.write(json.dumps(d, ensure_ascii=False) + "\n")
    write_result("verifier_agreement", out)


if __name__ == "__main__":
    main()
