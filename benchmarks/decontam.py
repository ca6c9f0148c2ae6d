"""Decontaminating 100,000 traces (prompt + answer) against every benchmark with a local copy,
for each preset (8- and 12-grams): curate's hashed n-grams (numpy uint64, vectorised) vs the
usual script (open-r1/s1: a Python set of n-gram strings per benchmark, lowercased,
whitespace-split), side by side on the same rows.

Traces are real GSM8K questions and model solutions (../shared/data) cycled to 100k rows with
a row number added, plus planted MATH-500/AIME24 problems.

    .venv/bin/python benchmarks/decontam.py [--rows 100000]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pyarrow as pa  # noqa: E402

from benchmarks._util import write_result  # noqa: E402
from curate.corpora.benchmarks import list_benchmarks, load_benchmark  # noqa: E402
from curate.curation.decontaminate import BenchmarkIndex, decontaminate_table  # noqa: E402
from curate.errors import CurateError  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def make_traces(rows: int, seed: int = 0) -> tuple[list[str], list[str], int]:
    rng = random.Random(seed)
    base = []
    for line in (DATA / "graded-gsm8k-openai/example_model_solutions.jsonl").open():
        r = json.loads(line)
        for s in ("6b_finetuning", "175b_verification"):
            base.append((r["question"], r[s]["solution"]))
    math500 = [json.loads(x)["problem"] for x in (DATA / "math500/math500_test.jsonl").open()]
    prompts, answers = [], []
    for i in range(rows):
        q, a = base[i % len(base)]
        prompts.append(f"Problem {i}. {q}")
        answers.append(a)
    planted = rng.sample(range(rows), 200)
    for j, i in enumerate(planted):
        prompts[i] = math500[j % len(math500)]
    return prompts, answers, len(planted)


def plain_set_decontam(prompts, answers, bench_texts: dict[str, list[str]], n: int):
    """The usual script: sets of n-gram strings; any shared n-gram flags the row."""
    def grams(text: str) -> set[str]:
        w = " ".join(text.lower().strip().split()).split()
        return {" ".join(w[i:i + n]) for i in range(len(w) - n + 1)}

    sets = {b: set().union(*(grams(t) for t in texts)) for b, texts in bench_texts.items()}
    flagged = {b: 0 for b in sets}
    for p, a in zip(prompts, answers):
        g = grams(p) | grams(a)
        for b, s in sets.items():
            if not g.isdisjoint(s):
                flagged[b] += 1
    return flagged


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=100_000)
    args = ap.parse_args()
    prompts, answers, planted = make_traces(args.rows)
    table = pa.table({"id": [str(i) for i in range(len(prompts))], "prompt": prompts,
                      "answer_text": answers})
    benches, missing = {}, {}
    for b in list_benchmarks():
        try:
            benches[b] = [r["question"] for r in load_benchmark(b)]
        except CurateError as e:
            missing[b] = str(e)[:120]
    out = {"rows": len(prompts), "planted": planted, "benchmarks": sorted(benches),
           "unavailable_offline": sorted(missing), "presets": {}}
    for n in (8, 12):
        t0 = time.perf_counter()
        idx = BenchmarkIndex.build(sorted(benches), n)
        _, rep = decontaminate_table(table, {"benchmarks": sorted(benches), "n": n,
                                             "examples": 1}, index=idx)
        t_ours = time.perf_counter() - t0
        t0 = time.perf_counter()
        plain = plain_set_decontam(prompts, answers, benches, n)
        t_plain = time.perf_counter() - t0
        out["presets"][str(n)] = {
            "curate_seconds": round(t_ours, 2), "plain_set_seconds": round(t_plain, 2),
            "speedup_vs_plain_set": round(t_plain / t_ours, 2),
            "curate_rows_per_s": round(len(prompts) / t_ours),
            "curate_flagged": rep["per_benchmark"], "plain_set_flagged": plain}
        print(n, json.dumps(out["presets"][str(n)]), flush=True)
    out["seconds_total_both_presets_curate"] = round(
        sum(p["curate_seconds"] for p in out["presets"].values()), 2)
    out["seconds_total_both_presets_plain"] = round(
        sum(p["plain_set_seconds"] for p in out["presets"].values()), 2)
    write_result("decontam", out)


if __name__ == "__main__":
    main()
