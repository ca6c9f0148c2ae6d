"""What the content-defined version id costs: hashing the rows vs writing them.

The version id hashes the values (not the files), so it must read the data. Measured on a
long-CoT-like table (about 2.4 KB a row) in one process, best of 3 rounds each:

- plain: `pyarrow.parquet.write_table` of the table (snappy), no fsync;
- content_id: `ContentId` over the in-memory Arrow batches (what `register` adds, in its
  background thread);
- register: `Catalog.register` of the table (writes, fsyncs, hashes files and content);
- adopt: `Catalog.adopt` of 4 Parquet shards already on disk (link, decode every batch for
  the content id and stats, hash the files' bytes).

Figures are MB of Arrow data per second.

    python benchmarks/content_id.py [--rows 200000]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from _util import write_result  # noqa: E402


def build(n: int) -> pa.Table:
    rng = np.random.default_rng(0)
    letters = np.frombuffer(b"abcdefghijklmnopqrstuvwxyz     ", dtype=np.uint8)

    def text_col(length):
        buf = letters[rng.integers(0, len(letters), size=n * length)].tobytes()
        offsets = np.arange(0, (n + 1) * length, length, dtype=np.int32)
        return pa.StringArray.from_buffers(n, pa.py_buffer(offsets.tobytes()), pa.py_buffer(buf))

    ids = pa.array([f"{i:024x}" for i in range(n)])
    return pa.table({
        "id": ids, "problem_id": ids, "task": pa.array(["math"] * n),
        "prompt": text_col(200), "reasoning": text_col(2000), "answer_text": text_col(200),
        "verified": pa.array(rng.random(n) > 0.3),
        "completion_tokens": pa.array(rng.integers(100, 16000, n)),
        "finish_reason": pa.array(["stop"] * n)})


def best(fn, rounds=3):
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=200_000)
    args = ap.parse_args()
    from curate.catalog import Catalog
    from curate.catalog.content_id import content_id

    table = build(args.rows)
    mb = table.nbytes / 1e6
    work = Path(tempfile.mkdtemp(prefix="content-id-"))
    try:
        plain = best(lambda: pq.write_table(table, work / "plain.parquet"))
        batches = table.to_batches(max_chunksize=10_000)
        hashing = best(lambda: content_id(batches))
        reg_s = []
        for i in range(3):
            cat = Catalog(work / f"home{i}")
            t = time.perf_counter()
            ref = cat.register("bench", table)
            reg_s.append(time.perf_counter() - t)
        shards = work / "shards"

        def make_shards():
            shutil.rmtree(shards, ignore_errors=True)
            shards.mkdir()
            q = -(-args.rows // 4)
            for k in range(4):
                pq.write_table(table.slice(k * q, q), shards / f"{k}.parquet")
            return sorted(shards.glob("*.parquet"))

        adopt_s = []
        for i in range(3):
            files = make_shards()
            os.sync()
            cat = Catalog(work / f"adopt{i}")
            t = time.perf_counter()
            aref = cat.adopt("bench", files)
            adopt_s.append(time.perf_counter() - t)
        assert aref.version == ref.version
        write_result("content_id", {
            "rows": args.rows, "arrow_mb": round(mb, 1),
            "plain_write_mb_per_s": round(mb / plain, 1),
            "content_id_mb_per_s": round(mb / hashing, 1),
            "register_mb_per_s": round(mb / min(reg_s), 1),
            "adopt_mb_per_s": round(mb / min(adopt_s), 1),
            "content_id_vs_plain_write_time": round(hashing / plain, 3),
            "adopt_vs_plain_write_time": round(min(adopt_s) / plain, 3),
            "same_version_register_and_adopt": aref.version == ref.version,
            "load_average": os.getloadavg(),
            "note": "best of 3; the machine's 2 cores are shared with other sessions"})
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
