"""MinHash near-duplicate detection on prompts (datasketch MinHash + MinHashLSH): recall on
planted near-duplicates and false-positive rate on distinct prompts, with the exact shingle
Jaccard of each planted pair (what MinHash estimates) for reference.

Distinct prompts: MATH-500, AIME24 and GSM8K questions from ../shared/data; each planted copy
has 1-3 small edits (case, an inserted word, a deleted word, punctuation).

    .venv/bin/python benchmarks/dedup.py [--copies 2000]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._util import write_result  # noqa: E402
from curate.curation.dedup import DEFAULTS, duplicate_flags, shingles  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def distinct_prompts() -> list[str]:
    out = [json.loads(x)["problem"] for x in (DATA / "math500/math500_test.jsonl").open()]
    out += [json.loads(x)["problem"] for x in (DATA / "aime24/aime24_test.jsonl").open()]
    out += [json.loads(x)["question"] for x in
            (DATA / "graded-gsm8k-openai/example_model_solutions.jsonl").open()]
    seen, uniq = set(), []
    for t in out:
        if t not in seen:
            seen.add(t)
            uniq.append(t)
    return uniq


TEMPLATE = "\nPlease reason step by step, and put your final answer within \\boxed{}."


def perturb(t: str, rng: random.Random) -> str:
    w = t.split()
    for _ in range(rng.randint(1, 3)):
        i = rng.randrange(len(w))
        op = rng.random()
        if op < 0.3:
            w[i] = w[i].upper()
        elif op < 0.6:
            w.insert(i, rng.choice(["the", "please", "now", "then"]))
        elif op < 0.8 and len(w) > 5:
            del w[i]
        else:
            w[i] += ","
    return "  ".join(w)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--copies", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    base = distinct_prompts()
    src = rng.sample(range(len(base)), min(args.copies, len(base)))
    copies = [perturb(base[i], rng) for i in src]
    texts = base + copies
    t0 = time.perf_counter()
    flags = duplicate_flags(texts)
    secs = time.perf_counter() - t0
    fp = sum(f is not None for f in flags[: len(base)])
    rec = sum(f is not None for f in flags[len(base):])
    # the same prompts inside the math recipe's instruction template, as a teacher saw them
    wrapped = [t + TEMPLATE for t in texts]
    templated = {}
    for strip in (True, False):
        f = duplicate_flags(wrapped, strip_template=strip)
        templated["strip_template" if strip else "no_strip"] = {
            "recall": round(sum(x is not None for x in f[len(base):]) / len(copies), 4),
            "false_positive_rate": round(sum(x is not None for x in f[: len(base)]) / len(base), 5)}
    # exact Jaccard of each planted copy vs its original (what MinHash estimates)
    th = DEFAULTS["threshold"]
    jac = []
    for i, c in zip(src, copies):
        a, b = shingles(base[i], DEFAULTS["shingle"]), shingles(c, DEFAULTS["shingle"])
        jac.append(len(a & b) / len(a | b))
    write_result("dedup", {
        "distinct_prompts": len(base), "planted_near_duplicates": len(copies),
        "params": DEFAULTS, "seconds": round(secs, 2),
        "prompts_per_s": round(len(texts) / secs),
        "recall": round(rec / len(copies), 4),
        "false_positive_rate": round(fp / len(base), 5), "false_positives": fp,
        "planted_with_true_jaccard_above_threshold": round(sum(j >= th for j in jac) / len(jac), 4),
        "templated_prompts": {"template": TEMPLATE, **templated},
    })


if __name__ == "__main__":
    main()
