"""Long-CoT-like trace rows at any size, generated batch by batch (never all in memory).

Each row is a trace in curate's schema: 4 samples per problem (contiguous), 80% math with an
integer reference and a boxed answer (right for 60% of samples), 20% Countdown with a JSON
reference and an equation. The reasoning is a slice of a fixed pool of random words (so
10-grams do not repeat within a row), mean about `reasoning_bytes`, with a long tail
(1 row in 20 is 4x longer). Some rows are planted for the filters and decontamination:
2% never close their thinking (no answer), 1% are truncated (`finish_reason=length`), 1%
loop (a phrase repeated), and 1 problem in 400 is a MATH-500 problem (a copy).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa

from curate.record import TRACE_SCHEMA, stable_json

SAMPLES = 4
DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def _vocab(rng: np.random.Generator, n: int = 4000) -> list[bytes]:
    letters = np.frombuffer(b"abcdefghijklmnopqrstuvwxyz", dtype=np.uint8)
    lens = rng.integers(2, 10, n)
    return [letters[rng.integers(0, 26, k)].tobytes() for k in lens]


def _pool(rng: np.random.Generator, size: int) -> np.ndarray:
    """A buffer of random words separated by spaces (and an occasional formula)."""
    vocab = _vocab(rng)
    words = rng.integers(0, len(vocab), size // 5)
    text = b" ".join(vocab[i] for i in words)
    return np.frombuffer(text[:size], dtype=np.uint8)


def _math500() -> list[str]:
    path = DATA / "math500" / "math500_test.jsonl"
    if not path.is_file():
        return []
    return [json.loads(x)["problem"] for x in path.open()]


def _strings(parts: list[bytes]) -> pa.Array:
    lens = np.fromiter((len(p) for p in parts), dtype=np.int64, count=len(parts))
    offsets = np.zeros(len(parts) + 1, dtype=np.int64)
    np.cumsum(lens, out=offsets[1:])
    return pa.LargeStringArray.from_buffers(
        len(parts), pa.py_buffer(offsets.tobytes()), pa.py_buffer(b"".join(parts))).cast(
        pa.string())


def batches(rows: int, batch_rows: int = 8192, reasoning_bytes: int = 3000,
            seed: int = 0) -> Iterator[pa.RecordBatch]:
    rng = np.random.default_rng(seed)
    pool = _pool(rng, 8 << 20)
    math500 = _math500()
    loop = b" and then we check it again and again" * 60
    for start in range(0, rows, batch_rows):
        n = min(batch_rows, rows - start)
        idx = np.arange(start, start + n)
        prob = idx // SAMPLES
        sample = idx % SAMPLES
        is_cd = (prob % 5) == 4
        long_tail = rng.random(n) < 0.05
        lens = rng.integers(reasoning_bytes // 2, reasoning_bytes * 3 // 2, n)
        lens[long_tail] *= 4
        offs = rng.integers(0, len(pool) - lens.max() - 1, n)
        reasoning, answer, prompt, ref, task, finish, meta = [], [], [], [], [], [], []
        u = rng.random(n)
        right = rng.random(n) < 0.6
        for j in range(n):
            p = int(prob[j])
            r = pool[offs[j]:offs[j] + lens[j]].tobytes()
            if u[j] < 0.01:
                r = r[:200] + loop
            if is_cd[j]:
                a, b, c = p % 90 + 2, 3, 7
                target = a * b + c
                prompt.append(f"Using the numbers {a}, {b}, {c}, make {target}. Problem {p}.")
                ref.append(stable_json({"numbers": [a, b, c], "target": target}))
                ans = f"{a} * {b} + {c}" if right[j] else f"{a} + {b} + {c}"
                task.append("countdown")
            else:
                q = (math500[p % len(math500)] if math500 and p % 400 == 7
                     else f"Problem {p}: compute the value of the expression with {p} items.")
                prompt.append(q)
                ref.append(str(p % 1000))
                ans = f"So the final answer is $\\boxed{{{p % 1000 + (0 if right[j] else 1)}}}$."
                task.append("math")
            fr = "stop"
            if 0.01 <= u[j] < 0.03:
                ans = ""                                   # thinking never closed
            elif 0.03 <= u[j] < 0.04:
                ans, fr = "", "length"
            reasoning.append(r)
            answer.append(ans)
            finish.append(fr)
            meta.append(None)
        cols = {
            "id": pa.array([f"t{i:09d}" for i in idx]),
            "problem_id": pa.array([f"p{q:08d}" for q in prob]),
            "task": pa.array(task), "source": pa.array(["synthetic"] * n),
            "prompt": pa.array(prompt), "reasoning": _strings(reasoning),
            "answer_text": pa.array(answer), "final_answer": pa.nulls(n, pa.string()),
            "reference": pa.array(ref), "verified": pa.nulls(n, pa.bool_()),
            "verify_detail": pa.nulls(n, pa.string()), "teacher": pa.array(["synthetic"] * n),
            "sampling": pa.array(['{"temperature":0.6}'] * n),
            "sample_index": pa.array(sample, pa.int64()), "finish_reason": pa.array(finish),
            "prompt_tokens": pa.array(rng.integers(20, 200, n)),
            "completion_tokens": pa.array((lens // 4).astype(np.int64)),
            "metadata": pa.array(meta, pa.string()),
            "messages": pa.nulls(n, TRACE_SCHEMA.field("messages").type)}
        yield pa.RecordBatch.from_pydict(cols, schema=TRACE_SCHEMA)


if __name__ == "__main__":      # python benchmarks/_longcot.py HOME ROWS [NAME]: register rows
    import sys

    from curate.catalog import Catalog

    home, rows = sys.argv[1], int(sys.argv[2])
    name = sys.argv[3] if len(sys.argv) > 3 else "in"
    ref = Catalog(home).register(name, batches(rows), kind="traces", step="synthetic",
                                 params={"rows": rows, "generator": "benchmarks/_longcot.py"})
    print(ref.spec)
