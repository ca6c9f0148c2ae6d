"""Benchmark figures from per-sample verdicts: avg@k, pass@1, unbiased pass@k, maj@k, lengths."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from math import comb
from typing import Any


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k from n samples with c correct: 1 − C(n−c, k) / C(n, k) (Chen et al. 2021)."""
    if k > n:
        raise ValueError(f"pass@{k} needs at least {k} samples, got {n}")
    if n - c < k:
        return 1.0
    return 1.0 - comb(n - c, k) / comb(n, k)


VERIFIER_FAILURES = ("timeout", "worker_died", "memory")


def benchmark_figures(samples: Sequence[dict[str, Any]], k: int) -> dict[str, Any]:
    """Figures over rows (problem_id, sample_index, correct, final_answer, completion_tokens,
    finish_reason, verify_reason) of one benchmark with k samples per problem.

    `verifier_failures` counts the samples the verifier could not decide (its CPU budget spent,
    its worker died or ran out of memory): scored wrong, as lm-eval scores them, but counted
    so a figure that rests on them is seen."""
    per: dict[str, list[dict[str, Any]]] = {}
    for s in samples:
        per.setdefault(s["problem_id"], []).append(s)
    if not per:
        return {"problems": 0}
    avg, first, passk, maj = [], [], [], []
    for rows in per.values():
        rows = sorted(rows, key=lambda r: r["sample_index"])
        c = sum(1 for r in rows if r["correct"])
        n = len(rows)
        scores = [r.get("score") for r in rows]
        if any(v is not None for v in scores):   # graded kinds: F1, reward, judged harm
            avg.append(sum(float(v or 0.0) for v in scores) / n)
        else:
            avg.append(c / n)
        first.append(1.0 if rows[0]["correct"] else 0.0)
        passk.append(pass_at_k(n, c, min(k, n)))
        votes = Counter(r["final_answer"] for r in rows if r["final_answer"] not in (None, ""))
        if votes:
            top = votes.most_common(1)[0][0]
            maj.append(1.0 if any(r["correct"] for r in rows if r["final_answer"] == top) else 0.0)
        else:
            maj.append(0.0)
    toks = [s["completion_tokens"] for s in samples if s.get("completion_tokens") is not None]
    trunc = [s["finish_reason"] == "length" for s in samples]
    fails = sum(1 for s in samples if s.get("verify_reason") in VERIFIER_FAILURES)
    n_p = len(per)
    return {
        "problems": n_p, "samples": len(samples), "k": k,
        "accuracy": sum(avg) / n_p, f"avg@{k}": sum(avg) / n_p,
        "pass@1": sum(first) / n_p, f"pass@{k}": sum(passk) / n_p, f"maj@{k}": sum(maj) / n_p,
        "mean_response_tokens": (sum(toks) / len(toks)) if toks else None,
        "truncation_rate": sum(trunc) / len(trunc) if trunc else None,
        "verifier_failures": fails,
    }


METRIC_KEYS = ("accuracy", "avg@{k}", "pass@1", "pass@{k}", "maj@{k}")


def metric_names(k: int) -> list[str]:
    """Metric names stored in the evals table (deduplicated when k = 1)."""
    return list(dict.fromkeys(m.format(k=k) for m in METRIC_KEYS))
