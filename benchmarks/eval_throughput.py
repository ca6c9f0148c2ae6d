"""`curate eval` generation throughput on real MATH-500 prompts with a tiny local model.

Batched local generation (left padding, `--batch-size` prompts per `generate`, k samples per
prompt in one call) against the plain loop measured side by side (one prompt per call), on the
same problems, decoding and model. Also checks that greedy answers agree between the two
(padding must not change what the model says) and scores everything with the verifiers.

    .venv/bin/python benchmarks/eval_throughput.py [--n 32] [--k 3] [--max-new-tokens 64]
        [--batch-size 16] [--full]

Writes benchmarks/results/eval_throughput.json. `--full` uses all 500 problems.
"""

from __future__ import annotations

import argparse
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=32, help="MATH-500 problems")
    ap.add_argument("--k", type=int, default=3, help="samples per problem (MATH-500 avg@3)")
    ap.add_argument("--max-new-tokens", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--full", action="store_true", help="all 500 problems")
    args = ap.parse_args()
    import torch
    from tiny_lm import build_tiny

    from curate.probes import eval_items, eval_metrics, scoring
    from curate.probes.generation import Sampling, generate_local
    from curate.probes.models import load_model, load_tokenizer
    from curate.probes.suites import get_suite

    torch.set_num_threads(max(1, os.cpu_count() or 1))
    setting = get_suite("p3")[0].replace(k=args.k, max_new_tokens=args.max_new_tokens)
    items, group = eval_items.load_items(setting, None if args.full else args.n)
    prompts = [eval_items.format_prompt(it, setting) for it in items]
    root = Path(tempfile.mkdtemp(prefix="curate-evalbench-"))
    path = build_tiny(root / "tiny")
    model, tok = load_model(str(path), "cpu"), load_tokenizer(str(path))

    def run(batch: int, sampling: Sampling):
        t0 = time.perf_counter()
        out = generate_local(model, tok, prompts, sampling, True, batch)
        return out, time.perf_counter() - t0

    sampled = Sampling(args.k, 0.6, 0.95, args.max_new_tokens, 1234)
    base_out, base_s = run(1, sampled)
    fast_out, fast_s = run(args.batch_size, sampled)
    greedy = Sampling(1, 0.0, 1.0, args.max_new_tokens, 1234)
    g1, _ = run(1, greedy)
    gb, _ = run(args.batch_size, greedy)
    agree = sum(a[0].text == b[0].text for a, b in zip(g1, gb)) / len(g1)
    t0 = time.perf_counter()
    rows = []
    for it, comps in zip(items, fast_out):
        for si, c in enumerate(comps):
            v = scoring.score(it.kind, it.reference, c.text)
            rows.append({"problem_id": it.id, "sample_index": si, "correct": v.verified is True,
                         "final_answer": v.final_answer, "completion_tokens": c.completion_tokens,
                         "finish_reason": c.finish_reason})
    score_s = time.perf_counter() - t0
    figs = eval_metrics.benchmark_figures(rows, args.k)
    tokens = sum(c.completion_tokens for per in fast_out for c in per)
    result = {
        "problems": len(items), "k": args.k, "max_new_tokens": args.max_new_tokens,
        "batch_size": args.batch_size, "threads": torch.get_num_threads(),
        "baseline_one_prompt_per_call_s": round(base_s, 2),
        "batched_s": round(fast_s, 2),
        "speedup_vs_baseline": round(base_s / fast_s, 2),
        "batched_prompts_per_s": round(len(items) / fast_s, 2),
        "batched_tokens_per_s": round(tokens / fast_s, 1),
        "greedy_answer_agreement_batched_vs_single": round(agree, 3),
        "scoring_s": round(score_s, 2),
        "scoring_samples_per_s": round(len(rows) / max(score_s, 1e-9), 1),
        "avg@k (tiny untrained model, expected ~0)": figs[f"avg@{args.k}"],
        "truncation_rate": figs["truncation_rate"],
    }
    out = REPO / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "eval_throughput.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
