"""Verifier pool (N workers, wall-clock kill per item) vs a plain single-process loop of
`verify_math` over the same real (gold, completion) pairs, side by side.

Pairs that hang math-verify (killed by the pool's deadline) are left out of both sides,
since the plain loop would never finish them. The timed pool runs first: its forked workers start from the parent's state before the plain loop
has warmed any math-verify cache, so neither side is helped by the other.

    .venv/bin/python benchmarks/verify_throughput.py [--n 1600] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._util import write_result  # noqa: E402
from curate.curation.verify_math import verify_math  # noqa: E402
from curate.curation.verify_pool import VerifierPool  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
FILES = ["graded-qwen25math-rm-maj/math_cot_100.jsonl",
         "graded-skythought-math500/qwen25_14b_instruct_math500.jsonl",
         "graded-skythought-math500/gemma2_27b_it_math500.jsonl"]


def _cpu() -> float:
    """CPU seconds of this process and its finished children (the pool's workers)."""
    import resource

    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def clear_caches() -> None:
    """Empty every memo in math-verify and curate's gold cache (forked workers inherit them)."""
    import math_verify.grader
    import math_verify.parser

    from curate.curation import verify_math as vm

    for mod in (math_verify.parser, math_verify.grader, vm):
        for obj in vars(mod).values():
            if hasattr(obj, "cache_clear"):
                obj.cache_clear()


def load_pairs(n: int) -> list[tuple[str, str]]:
    pairs = []
    for rel in FILES:
        for line in (DATA / rel).open():
            r = json.loads(line)
            pairs += [(r["gt"], c) for c in r["code"]]
    return (pairs * (n // len(pairs) + 1))[:n] if n > len(pairs) else pairs[:n]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1600)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=10.0)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    load_before = os.getloadavg()
    pairs = load_pairs(args.n)
    # A plain loop has no deadline: pairs that hang math-verify would stall it forever, so
    # both sides run on the pairs that finish (found by an untimed pool pass first).
    with VerifierPool(workers=args.workers, timeout=args.timeout) as pool:
        first = pool.verify_many(pairs)
    hangs = [p for p, r in zip(pairs, first) if r.reason in ("timeout", "worker_died", "memory")]
    pairs = [p for p, r in zip(pairs, first) if r.reason not in ("timeout", "worker_died", "memory")]

    t_pools, t_plains, cpu_pools, cpu_plains = [], [], [], []
    for _ in range(args.rounds):   # alternate, caches cleared: other load hits both sides
        clear_caches()
        c0 = _cpu()
        t0 = time.perf_counter()
        with VerifierPool(workers=args.workers, timeout=args.timeout) as pool:
            pooled = pool.verify_many(pairs)
            restarts = pool.restarts
        t_pools.append(time.perf_counter() - t0)
        cpu_pools.append(_cpu() - c0)
        clear_caches()
        c0 = _cpu()
        t0 = time.perf_counter()
        # the plain loop gets the pool's gold-grouped order too, so only parallelism differs
        plain = [verify_math(g, p) for g, p in sorted(pairs, key=lambda t: str(t[0]))]
        t_plains.append(time.perf_counter() - t0)
        cpu_plains.append(_cpu() - c0)
    t_pool, t_plain = min(t_pools), min(t_plains)
    ratios = [b / a for a, b in zip(t_pools, t_plains)]

    order = sorted(range(len(pairs)), key=lambda i: str(pairs[i][0]))
    plain_in_order = [None] * len(pairs)
    for j, i in enumerate(order):
        plain_in_order[i] = plain[j]
    same = sum(a.verified == b.verified for a, b in zip(pooled, plain_in_order))
    write_result("verify_throughput", {
        "pairs": len(pairs), "excluded_hanging_pairs": len(hangs), "workers": args.workers,
        "pool_seconds": round(t_pool, 2), "plain_seconds": round(t_plain, 2),
        "pool_pairs_per_s": round(len(pairs) / t_pool, 1),
        "plain_pairs_per_s": round(len(pairs) / t_plain, 1),
        "speedup_vs_plain": round(t_plain / t_pool, 2),
        "speedup_per_round": [round(r, 2) for r in ratios],
        "load_average_before": load_before,
        # CPU seconds (parent + workers) the pool spent per CPU second of the plain loop: its
        # overhead. On 2 otherwise idle cores the pool's speedup is at most 2 / this.
        "pool_cpu_seconds": round(min(cpu_pools), 2), "plain_cpu_seconds": round(min(cpu_plains), 2),
        "pool_cpu_overhead": round(min(cpu_pools) / min(cpu_plains), 3),
        "speedup_bound_on_2_idle_cores": round(2 * min(cpu_plains) / min(cpu_pools), 2),
        "pool_timeouts": sum(r.reason == "timeout" for r in pooled), "restarts": restarts,
        "verdicts_equal": same,
        "note": ("best of alternating rounds; pool time includes starting the workers; the "
                 "plain loop has no deadline at all; the machine is shared with other jobs"),
    })


if __name__ == "__main__":
    main()
