"""Dedup of 1M prompts through datatrove's MinHash stages (`curate dedup --executor local`),
side by side with the single-process dedup on a 100k subset: wall time and peak RSS (the
driver's own peak, and the peak of the whole process tree: driver + datatrove workers, sampled
every 0.2 s), drops by reason, recall on planted copies and false drops on distinct problems.

Prompts: variants of the MATH-500, AIME 2024 and GSM8K questions (../shared/data) and of the
Countdown prompt, every number redrawn at random, each text distinct: distinct problems that
share their wording, the hard case for near-duplicate detection. 5% of rows are planted copies
of an earlier row (benchmarks/dedup.py `copy_of`: prose edits, spacing, delimiters; the same
problem). One row per problem.

    .venv/bin/python benchmarks/dedup_scale.py [--rows 1000000] [--subset 100000] \
        [--workers 2] [--tasks 8]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._util import write_result  # noqa: E402

NUM = re.compile(r"\d+")
COPY_RATE = 0.05


def _redraw(text: str, rng: random.Random) -> str:
    def one(m: re.Match) -> str:
        d = len(m.group(0))
        return str(rng.randint(10 ** (d - 1) if d > 1 else 0, 10 ** d - 1))
    return NUM.sub(one, text)


def generate(n: int, seed: int = 0):
    """Yield n rows {id, problem_id, prompt}: distinct variants (`d…`) and copies (`c…`)."""
    from benchmarks.dedup import copy_of, distinct_prompts
    from curate.curation.countdown_teacher import countdown_prompt

    rng = random.Random(seed)
    bases = [b for b in distinct_prompts(countdown=0) if NUM.search(b)]
    seen: set[bytes] = set()
    recent: list[str] = []
    for i in range(n):
        if recent and rng.random() < COPY_RATE:
            text, kind = copy_of(rng.choice(recent), rng), "c"
        else:
            while True:
                if rng.random() < 0.25:
                    nums = [rng.randint(1, 99) for _ in range(rng.randint(3, 5))]
                    text = countdown_prompt(nums, rng.randint(10, 999))
                else:
                    text = _redraw(rng.choice(bases), rng)
                h = hashlib.blake2b(text.encode(), digest_size=8).digest()
                if h not in seen:
                    seen.add(h)
                    break
            kind = "d"
            if len(recent) < 20_000:
                recent.append(text)
            else:
                recent[rng.randrange(len(recent))] = text
        yield {"id": f"{kind}{i}", "problem_id": f"{kind}{i}", "prompt": text}


def make(home: str, rows: int, subset: int) -> None:
    import pyarrow as pa

    from curate.catalog import Catalog

    cat = Catalog(home)

    def batches(limit: int):
        buf = []
        for r in generate(limit):
            buf.append(r)
            if len(buf) == 50_000:
                yield pa.RecordBatch.from_pylist(buf)
                buf = []
        if buf:
            yield pa.RecordBatch.from_pylist(buf)

    cat.register("prompts-all", batches(rows), kind="problems")
    cat.register("prompts-subset", batches(subset), kind="problems")


def run_one(home: str, engine: str, dataset: str, tasks: int, workers: int) -> None:
    """One dedup in this (fresh) process; prints its figures as JSON on the last line."""
    import resource

    from curate.catalog import Catalog
    from curate.curation.dedup import dedup_dataset

    cat = Catalog(home)
    out = f"{dataset}-{engine}"
    t0 = time.perf_counter()
    if engine == "datatrove":
        ref = dedup_dataset(cat, dataset, out, executor="local", tasks=tasks, workers=workers)
    else:
        ref = dedup_dataset(cat, dataset, out)
    wall = time.perf_counter() - t0
    counts = cat.lineage(ref)[0]["counts"]
    ids = cat.table(counts["dropped_version"], columns=["id"]).column("id").to_pylist() \
        if counts.get("dropped_version") else []
    all_ids = cat.table(dataset, columns=["id"]).column("id").to_pylist()
    copies = sum(i.startswith("c") for i in all_ids)
    res = {"engine": engine, "dataset": dataset, "rows": len(all_ids), "seconds": round(wall, 1),
           "driver_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
           "dropped": counts.get("dropped"), "planted_copies": copies,
           "recall": round(sum(i.startswith("c") for i in ids) / max(1, copies), 4),
           "false_drops_of_distinct": sum(i.startswith("d") for i in ids),
           "version": ref.version, "dropped_ids_sha": hashlib.sha256(
               "\n".join(sorted(ids)).encode()).hexdigest()[:16]}
    if engine == "datatrove":
        res["tasks"], res["workers"] = tasks, workers
    print(json.dumps(res))


def _tree_rss(proc, cpu: dict[int, float]) -> tuple[int, int]:
    """(sum, max) RSS over the process tree; `cpu` gets each process's latest CPU seconds."""
    import psutil

    try:
        ps = [proc] + proc.children(recursive=True)
    except psutil.NoSuchProcess:
        return 0, 0
    rss = []
    for p in ps:
        try:
            rss.append(p.memory_info().rss)
            t = p.cpu_times()
            cpu[p.pid] = t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return sum(rss), max(rss, default=0)


def measured(cmd: list[str], env: dict) -> dict:
    """Run `cmd`, sampling the RSS of its whole process tree; its last stdout line is JSON."""
    import psutil

    with tempfile.TemporaryFile("w+") as out:
        p = subprocess.Popen(cmd, stdout=out, stderr=subprocess.DEVNULL, env=env)
        proc = psutil.Process(p.pid)
        peak_sum = peak_one = 0
        cpu: dict[int, float] = {}
        while p.poll() is None:
            s, one = _tree_rss(proc, cpu)
            peak_sum, peak_one = max(peak_sum, s), max(peak_one, one)
            time.sleep(0.2)
        out.seek(0)
        lines = [x for x in out.read().splitlines() if x.startswith("{")]
    if p.returncode != 0 or not lines:
        raise SystemExit(f"{cmd} failed with {p.returncode}")
    res = json.loads(lines[-1])
    res["tree_peak_rss_mb"] = round(peak_sum / 2**20)
    res["tree_cpu_seconds"] = round(sum(cpu.values()), 1)   # sampled every 0.2 s
    res["largest_process_peak_rss_mb"] = round(peak_one / 2**20)
    return res


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--subset", type=int, default=100_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--tasks", type=int, default=8)
    ap.add_argument("--subset-only", action="store_true",
                    help="Only the subset runs (results to dedup_scale_subset.json).")
    ap.add_argument("--run", nargs=3, metavar=("HOME", "ENGINE", "DATASET"))
    args = ap.parse_args()
    if args.run:
        run_one(args.run[0], args.run[1], args.run[2], args.tasks, args.workers)
        return
    me = [sys.executable, str(Path(__file__).resolve())]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    with tempfile.TemporaryDirectory(prefix="dedup-scale-") as home:
        t0 = time.perf_counter()
        make(home, args.subset if args.subset_only else args.rows, args.subset)
        made = round(time.perf_counter() - t0, 1)
        runs = []
        plan = [("inprocess", "prompts-subset"), ("datatrove", "prompts-subset")]
        if not args.subset_only:
            plan.append(("datatrove", "prompts-all"))
        for engine, dataset in plan:
            r = measured(me + ["--tasks", str(args.tasks), "--workers", str(args.workers),
                               "--run", home, engine, dataset], env)
            print(json.dumps(r), flush=True)
            runs.append(r)
    sub = [r for r in runs if r["dataset"] == "prompts-subset"]
    write_result("dedup_scale_subset" if args.subset_only else "dedup_scale", {
        "load_average": os.getloadavg(),
        "rows": args.subset if args.subset_only else args.rows, "subset": args.subset, "copy_rate": COPY_RATE,
        "generate_and_register_seconds": made, "cpus": os.cpu_count(), "runs": runs,
        "subset_same_version": sub[0]["version"] == sub[1]["version"],
        "subset_same_dropped_rows": sub[0]["dropped_ids_sha"] == sub[1]["dropped_ids_sha"],
    })


if __name__ == "__main__":
    main()
