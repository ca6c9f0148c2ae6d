"""Registering a large traces dataset vs a plain `pyarrow.parquet.write_table`, side by side.

Each side runs in its own fresh process that first builds the same table (about 2 KB a row),
then times only the write. Peak memory is the process's peak RSS minus its RSS once the
table is built, i.e. what the write itself added.

    python benchmarks/catalog_register.py            # 1,000,000 rows (the issue's size)
    python benchmarks/catalog_register.py --rows 100000
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _util import write_result  # noqa: E402

CHILD = r"""
import json, resource, sys, time
import numpy as np, pyarrow as pa, pyarrow.parquet as pq

def status_kb(key):
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1])

def build(n):
    rng = np.random.default_rng(0)
    letters = np.frombuffer(b"abcdefghijklmnopqrstuvwxyz     ", dtype=np.uint8)
    def text_col(length):
        buf = letters[rng.integers(0, len(letters), size=n * length)].tobytes()
        offsets = pa.array(np.arange(0, (n + 1) * length, length, dtype=np.int32))
        return pa.StringArray.from_buffers(n, pa.py_buffer(offsets.buffers()[1]), pa.py_buffer(buf))
    ids = pa.array([f"{i:024x}" for i in range(n)])
    return pa.table({
        "id": ids, "problem_id": ids, "task": pa.array(["math"] * n),
        "prompt": text_col(200), "reasoning": text_col(1600), "answer_text": text_col(200),
        "final_answer": pa.array([str(i % 997) for i in range(n)]),
        "verified": pa.array(rng.random(n) > 0.3),
        "completion_tokens": pa.array(rng.integers(100, 16000, n)),
        "finish_reason": pa.array(["stop"] * n),
    })

mode, n, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
table = build(n)
from curate.catalog import Catalog  # imports are not part of the write
import gc; gc.collect()
base = status_kb("VmRSS")
open("/proc/self/clear_refs", "w").write("5")  # reset the peak (VmHWM) to the current RSS
t = time.perf_counter()
if mode == "plain":
    pq.write_table(table, out + "/plain.parquet")
elif mode == "plain_fsync":  # the same write made durable, as registration must be
    import os
    pq.write_table(table, out + "/plain.parquet")
    fd = os.open(out + "/plain.parquet", os.O_RDONLY)
    os.fsync(fd)
    os.close(fd)
else:
    Catalog(out).register("bench", table, kind="traces")
elapsed = time.perf_counter() - t
peak = status_kb("VmHWM")
print(json.dumps({"mode": mode, "seconds": elapsed, "table_bytes": table.nbytes,
                  "rss_after_build_mb": base / 1024, "peak_rss_mb": peak / 1024,
                  "write_added_mb": (peak - base) / 1024}))
"""


def run(mode: str, rows: int) -> dict:
    with tempfile.TemporaryDirectory(dir=".") as d:
        r = subprocess.run([sys.executable, "-c", CHILD, mode, str(rows), d],
                           capture_output=True, text=True, check=True)
        res = json.loads(r.stdout.strip().splitlines()[-1])
        res["disk_bytes"] = sum(p.stat().st_size for p in Path(d).rglob("*.parquet"))
        return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    plain, durable, curate = [], [], []
    for _ in range(args.repeats):  # interleaved, so drift hits all sides alike
        plain.append(run("plain", args.rows))
        durable.append(run("plain_fsync", args.rows))
        curate.append(run("curate", args.rows))
    best_p = min(plain, key=lambda r: r["seconds"])
    best_d = min(durable, key=lambda r: r["seconds"])
    best_c = min(curate, key=lambda r: r["seconds"])
    write_result("catalog_register", {
        "rows": args.rows,
        "table_gb": round(best_p["table_bytes"] / 1e9, 3),
        "plain_write_table_s": round(best_p["seconds"], 2),
        "curate_register_s": round(best_c["seconds"], 2),
        "time_ratio": round(best_c["seconds"] / best_p["seconds"], 3),
        "plain_write_table_plus_fsync_s": round(best_d["seconds"], 2),
        "time_ratio_vs_durable_plain": round(best_c["seconds"] / best_d["seconds"], 3),
        "plain_added_peak_mb": round(best_p["write_added_mb"], 1),
        "curate_added_peak_mb": round(best_c["write_added_mb"], 1),
        "memory_ratio": round(best_c["write_added_mb"] / max(best_p["write_added_mb"], 1), 3),
        "aim": "time_ratio < 1.5, memory bounded (no second in-RAM copy)",
        "runs": {"plain": plain, "plain_fsync": durable, "curate": curate},
        "command": f"python benchmarks/catalog_register.py --rows {args.rows}",
    })


if __name__ == "__main__":
    main()
