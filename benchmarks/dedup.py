"""Near-duplicate detection on prompts (datasketch MinHash-LSH proposes, the math content
decides): recall on planted copies and false positives on distinct prompts, with the content
check (curate's rule) and without it (MinHash alone, the rule before), side by side.

Distinct prompts: MATH-500, AIME24 and GSM8K questions from ../shared/data, plus 400 distinct
Countdown problems from curate's own generator. Each planted copy is the same problem with 1-3
edits of prose words that carry no math content (case, an inserted filler word, a deleted
word, a comma), doubled spacing, and sometimes `\\( \\)` delimiters or LaTeX spacing.
`any_edit` repeats the earlier benchmark's copies, whose edits may also hit a number, a
keyword or a math segment: those copies ask a different question, and the figures say how many.

    .venv/bin/python benchmarks/dedup.py [--copies 2000]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._util import write_result  # noqa: E402
from curate.curation.dedup import DEFAULTS, duplicate_flags, shingles  # noqa: E402
from curate.curation.problem_text import KEY_WORDS, NUMBER_WORDS, math_content  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def countdown_prompts(n: int = 400) -> list[str]:
    from curate.curation.countdown_generate import iter_countdown_rows

    return [r["prompt"] for r in iter_countdown_rows(n, seed=0, workers=1)]


def distinct_prompts(countdown: int = 400) -> list[str]:
    out = countdown_prompts(countdown) if countdown else []
    out += [json.loads(x)["problem"] for x in (DATA / "math500/math500_test.jsonl").open()]
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


def _prose_words(words: list[str]) -> list[int]:
    """Indices of words outside math that carry no math content (safe to edit)."""
    out, in_math = [], False
    for i, w in enumerate(words):
        core = w.rstrip(".,;:?!")
        if (not in_math and core.isalpha() and len(core) > 1 and "$" not in w
                and core.lower() not in NUMBER_WORDS and core.lower() not in KEY_WORDS):
            out.append(i)
        dollars = w.replace("\\$", "").count("$")
        if dollars % 2 or "\\(" in w or "\\)" in w or "\\[" in w or "\\]" in w:
            in_math = not in_math if dollars % 2 else ("\\(" in w or "\\[" in w)
    return out


def copy_of(t: str, rng: random.Random) -> str:
    """The same problem: 1-3 edits of content-free prose words, doubled spacing, and
    sometimes `\\( \\)` delimiters or LaTeX spacing in the math."""
    w = t.split()
    for _ in range(rng.randint(1, 3)):
        ok = _prose_words(w)
        if not ok:
            break
        i = rng.choice(ok)
        op = rng.random()
        if op < 0.3:
            w[i] = w[i].upper()
        elif op < 0.6:
            w.insert(i, rng.choice(["the", "please", "now", "then"]))
        elif op < 0.8 and len(w) > 5:
            del w[i]
        else:
            w[i] += ","
    out = "  ".join(w)
    r = rng.random()
    if r < 0.2 and out.count("$") == 2 and "$$" not in out:
        a = out.index("$")
        b = out.index("$", a + 1)
        if not re.search(r"[A-Za-z]{2,}\s|^\d", out[a + 1:b]):     # math, not two prices
            out = out[:a] + "\\( " + out[a + 1:b] + " \\)" + out[b + 1:]
    elif r < 0.4 and "=" in out and out.count("$") >= 2:
        out = out.replace("=", "\\, = \\,", 1)
    return out


def perturb(t: str, rng: random.Random) -> str:
    """The earlier benchmark's copy: 1-3 edits of any word (a number or a math token too)."""
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


def _rates(flags: list, n_base: int, n_copies: int) -> dict:
    return {"recall": round(sum(f is not None for f in flags[n_base:]) / n_copies, 4),
            "false_positives": sum(f is not None for f in flags[:n_base]),
            "false_positive_rate": round(sum(f is not None for f in flags[:n_base]) / n_base, 5)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--copies", type=int, default=2000)
    ap.add_argument("--countdown", type=int, default=400)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    base = distinct_prompts(args.countdown)
    src = rng.sample(range(len(base)), min(args.copies, len(base)))
    copies = [copy_of(base[i], rng) for i in src]
    assert all(math_content(base[i]) == math_content(c) for i, c in zip(src, copies))
    texts = base + copies
    t0 = time.perf_counter()
    flags = duplicate_flags(texts)
    secs = time.perf_counter() - t0
    before = duplicate_flags(texts, content_check=False)
    # the earlier benchmark's copies: edits anywhere, some of which change the question
    legacy = [perturb(base[i], rng) for i in src]
    changed = [math_content(base[i]) != math_content(c) for i, c in zip(src, legacy)]
    any_edit = {}
    for name, cc in (("after", True), ("before", False)):
        f = duplicate_flags(base + legacy, content_check=cc)[len(base):]
        any_edit[name] = {
            "recall_same_content": round(sum(x is not None for x, ch in zip(f, changed)
                                             if not ch) / max(1, changed.count(False)), 4),
            "dropped_changed_content": sum(x is not None for x, ch in zip(f, changed) if ch)}
    # the same prompts inside the math recipe's instruction template, as a teacher saw them
    wrapped = [t + TEMPLATE for t in texts]
    templated = {}
    for strip in (True, False):
        templated["strip_template" if strip else "no_strip"] = _rates(
            duplicate_flags(wrapped, strip_template=strip), len(base), len(copies))
    # exact Jaccard of each planted copy vs its original (what MinHash estimates)
    th = DEFAULTS["threshold"]
    jac = []
    for i, c in zip(src, copies):
        a, b = shingles(base[i], DEFAULTS["shingle"]), shingles(c, DEFAULTS["shingle"])
        jac.append(len(a & b) / len(a | b))
    cd = duplicate_flags(base[:args.countdown])
    write_result("dedup", {
        "distinct_prompts": len(base), "of_which_countdown": args.countdown,
        "planted_copies": len(copies), "params": DEFAULTS, "seconds": round(secs, 2),
        "prompts_per_s": round(len(texts) / secs),
        **_rates(flags, len(base), len(copies)),
        "before_content_check": _rates(before, len(base), len(copies)),
        "countdown_drops": sum(f is not None for f in cd),
        "planted_with_true_jaccard_above_threshold": round(sum(j >= th for j in jac) / len(jac), 4),
        "any_edit_copies": {"copies": len(legacy), "changed_math_content": sum(changed),
                            **any_edit},
        "templated_prompts": {"template": TEMPLATE, **templated},
    })


if __name__ == "__main__":
    main()
