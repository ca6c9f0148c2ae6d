"""Curation at scale: memory flat in N, the Local executor's speedup, the same versions, kills.

For each size N (default 100k and 1M long-CoT-like rows, `_longcot.py`), the same three steps
run through the CLI in fresh processes, one configuration after another:

    verify (no cache) -> filter (--verified-only --closed-think --max-repetition 0.5 --k 2)
                      -> decontaminate (math500, aime24)

configurations: `inprocess` (no --executor: streamed in this process), `local1` and `local2`
(`--executor local --tasks 8 --workers 1|2`; at 1M only inprocess and local2 by default).
Each step's wall time and peak memory of its whole process tree (the CLI process, the
executor's workers, the verifier pool) are sampled every 0.25 s with psutil: RSS summed over
the tree, and PSS (which counts pages shared by forked processes once). Every configuration
must produce the same version ids.

Then, at the smallest N: `kill -9` of an executor filter run (group filter, 3 stages) at random
moments, K times, then the same command to completion: the version must equal the in-process
one, with no row lost or doubled. And generation registration: a request cache of 100k long
answers (about 12 KB each) registered by `curate generate` without a server; peak RSS.

    python benchmarks/scale.py                          # 100k and 1M (long: hours on 2 cores)
    python benchmarks/scale.py --rows 100000 --kills 5
    python benchmarks/scale.py --rows 100000 --only gen
The machine's 2 cores are shared: the load average is recorded beside every figure, and what
two plain Python processes get over one at the same moments (`achievable_2_process_speedup`)
bounds the executor's speedup (on an idle 2-core machine it is about 2).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
from _util import write_result  # noqa: E402

FILTER = ["--verified-only", "--closed-think", "--max-repetition", "0.5", "--k", "2"]
DECON = ["--benchmarks", "math500,aime24"]


class Sampler:
    """Peak RSS, PSS and anonymous RSS summed over a process and all its descendants.

    Anonymous RSS (`RssAnon`: heap and Arrow buffers) is the memory a run holds; RSS also
    counts pages of files the run maps, which the kernel drops under pressure."""

    def __init__(self, pid: int, every: float = 0.25):
        self.pid, self.every = pid, every
        self.peak_rss = self.peak_pss = self.peak_anon = 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                root = psutil.Process(self.pid)
                procs = [root] + root.children(recursive=True)
            except psutil.Error:
                procs = []
            rss = pss = anon = 0
            for p in procs:
                try:
                    m = p.memory_full_info()
                    rss += m.rss
                    pss += getattr(m, "pss", m.rss)
                    anon += _rss_anon(p.pid)
                except psutil.Error:
                    pass
            self.peak_rss, self.peak_pss = max(self.peak_rss, rss), max(self.peak_pss, pss)
            self.peak_anon = max(self.peak_anon, anon)
            self._stop.wait(self.every)

    def stop(self) -> dict:
        self._stop.set()
        self._t.join()
        return {"peak_tree_rss_mb": round(self.peak_rss / 2**20, 1),
                "peak_tree_pss_mb": round(self.peak_pss / 2**20, 1),
                "peak_tree_anon_mb": round(self.peak_anon / 2**20, 1)}


def _rss_anon(pid: int) -> int:
    """Bytes of anonymous resident memory of a process (Linux /proc; 0 where unreadable)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0


def env(home: Path) -> dict:
    return {**os.environ, "CURATE_HOME": str(home), "PYTHONPATH": str(REPO),
            "CURATE_PROGRESS": "off"}


def run_cli(home: Path, args: list[str], timeout: float = 6 * 3600) -> dict:
    t0 = time.perf_counter()
    p = subprocess.Popen([sys.executable, "-m", "curate.cli", *args, "--json"], env=env(home),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         start_new_session=True)
    s = Sampler(p.pid)
    out, err = p.communicate(timeout=timeout)
    mem = s.stop()
    if p.returncode != 0:
        raise RuntimeError(f"curate {' '.join(args)} failed ({p.returncode}): {err[-2000:]}")
    ref = json.loads(out)
    return {"wall_s": round(time.perf_counter() - t0, 1), **mem, "version": ref["version"],
            "rows": ref["rows"], "spec": f"{ref['name']}@{ref['version']}",
            "load": [round(x, 2) for x in os.getloadavg()]}


CALIBRATE = r"""
import multiprocessing as mp, sys, time
def work(_):
    s = 0
    for i in range(6_000_000):
        s += i * i % 7
if __name__ == "__main__":
    t = time.perf_counter(); work(0); work(1); serial = time.perf_counter() - t
    t = time.perf_counter()
    with mp.get_context("fork").Pool(2) as p:
        p.map(work, [0, 1])
    print(serial / (time.perf_counter() - t))
"""


def achievable_speedup() -> float:
    """What two processes get over one on this machine right now (pure Python, no I/O): the
    ceiling for any 2-worker speedup measured beside it on shared cores."""
    out = subprocess.run([sys.executable, "-c", CALIBRATE], capture_output=True, text=True,
                         check=True)
    return round(float(out.stdout.strip()), 3)


def executor_args(cfg: str) -> list[str]:
    if cfg == "inprocess":
        return []
    return ["--executor", "local", "--tasks", "8", "--workers", cfg[len("local"):]]


def make_input(home: Path, rows: int) -> str:
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, str(HERE / "_longcot.py"), str(home), str(rows)],
                         env=env(home), capture_output=True, text=True, check=True)
    print(f"input {rows} rows in {time.perf_counter() - t0:.0f} s", flush=True)
    return out.stdout.strip().splitlines()[-1]


def drop_version(home: Path, spec: str) -> None:
    """Free disk between configurations (the catalog row stays; figures are recorded)."""
    name, version = spec.split("@")
    for d in (home / "store" / name / version, home / "store" / f"{name}-dropped"):
        shutil.rmtree(d, ignore_errors=True)


def curation(rows: int, configs: list[str], root: Path) -> dict:
    home = root / f"home-{rows}"
    spec = make_input(home, rows)
    res: dict = {"rows": rows, "input": spec, "configs": {}}
    res["achievable_2_process_speedup"] = []
    for cfg in configs:
        ex = executor_args(cfg)
        steps = {}
        res["achievable_2_process_speedup"].append(achievable_speedup())
        print(f"[{rows}] {cfg} verify ...", flush=True)
        steps["verify"] = run_cli(home, ["verify", spec, "--name", f"v-{cfg}", "--no-cache", *ex])
        print(f"[{rows}] {cfg} filter ... ({steps['verify']})", flush=True)
        steps["filter"] = run_cli(home, ["filter", steps["verify"]["spec"], "--name",
                                         f"f-{cfg}", *FILTER, *ex])
        print(f"[{rows}] {cfg} decontaminate ... ({steps['filter']})", flush=True)
        steps["decontaminate"] = run_cli(home, ["decontaminate", steps["filter"]["spec"],
                                                "--name", f"d-{cfg}", *DECON, *ex])
        print(f"[{rows}] {cfg} done ({steps['decontaminate']})", flush=True)
        res["configs"][cfg] = {
            "steps": steps, "wall_s": round(sum(s["wall_s"] for s in steps.values()), 1),
            "peak_tree_rss_mb": max(s["peak_tree_rss_mb"] for s in steps.values()),
            "peak_tree_pss_mb": max(s["peak_tree_pss_mb"] for s in steps.values())}
        if cfg != configs[0]:
            for st in steps.values():
                drop_version(home, st["spec"])
    versions = {cfg: [c["steps"][s]["version"] for s in ("verify", "filter", "decontaminate")]
                for cfg, c in res["configs"].items()}
    res["same_versions"] = len({tuple(v) for v in versions.values()}) == 1
    res["versions"] = versions
    c = res["configs"]
    if "local1" in c and "local2" in c:
        res["local2_speedup_vs_local1"] = round(c["local1"]["wall_s"] / c["local2"]["wall_s"], 3)
        res["local2_speedup_per_step"] = {
            s: round(c["local1"]["steps"][s]["wall_s"] / c["local2"]["steps"][s]["wall_s"], 3)
            for s in c["local1"]["steps"]}
    res["achievable_2_process_speedup"].append(achievable_speedup())
    res["home"] = str(home)
    return res


def kills(res: dict, n: int, seed: int = 0) -> dict:
    """kill -9 of an executor filter run at random moments, then run it to completion."""
    home = Path(res["home"])
    src = res["configs"]["inprocess"]["steps"]["verify"]["spec"]
    want = res["configs"]["inprocess"]["steps"]["filter"]
    args = ["filter", src, "--name", "killed", *FILTER, "--executor", "local", "--tasks", "8",
            "--workers", "2", "--json"]
    typical = max(5.0, res["configs"].get("local2", res["configs"]["inprocess"])["steps"]
                  ["filter"]["wall_s"])
    rng = random.Random(seed)
    moments = []
    for _ in range(n):
        at = rng.uniform(0.05, 1.0) * typical
        p = subprocess.Popen([sys.executable, "-m", "curate.cli", *args], env=env(home),
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True)
        try:
            p.wait(timeout=at)
            moments.append({"at_s": round(at, 1), "finished_before_kill": True})
            break
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
            staged = list((home / "staging").glob("filter-*/logs/*/completions/*"))
            moments.append({"at_s": round(at, 1), "completed_tasks_then": len(staged)})
    final = run_cli(home, args[:-1])
    from curate.catalog import Catalog

    cat = Catalog(home)
    ids = cat.table(final["spec"], columns=["id"]).column("id").to_pylist()
    want_ids = cat.table(want["spec"], columns=["id"]).column("id").to_pylist()
    return {"kills": moments, "final": final, "same_version": final["version"] == want["version"],
            "rows": len(ids), "lost": len(set(want_ids) - set(ids)),
            "duplicated": len(ids) - len(set(ids)), "extra": len(set(ids) - set(want_ids))}


GEN_CHILD = r"""
import json, sys
from pathlib import Path
sys.path.insert(0, sys.argv[4])
from curate.catalog import Catalog
from curate.curation.generate import GenerateConfig, build_requests, cache_path, finalize_requests
from curate.curation.teachers.cache import RequestCache
from curate.curation.teachers.endpoint import predicted_endpoint
from curate.curation.teachers.servers import engine_of
from curate.curation.teachers.spec import parse_teacher
from curate.corpora.prompts import load_prompts
home, prompts, model = sys.argv[1], sys.argv[2], sys.argv[3]
cat = Catalog(home)
cfg = GenerateConfig(samples=4)
spec = parse_teacher("transformers:" + model)
ps = load_prompts(prompts, cat, seed=cfg.seed)
reqs = build_requests(ps.rows, cfg)
ep = predicted_endpoint(spec, *engine_of(spec))
finalize_requests(reqs, ep, cfg)
words = ("let us consider the case where the value is even so we add both sides and simplify "
         "the expression before checking the remaining terms once more ").split()
with RequestCache(cache_path(cat, "gen")) as cache:
    for r in reqs:
        k = r.index
        think = " ".join(words[(k + i * 7) % len(words)] + str(i % 97) for i in range(1800))
        content = f"<think>\n{think}\n</think>\n\nThe answer is \\boxed{{{k % 1000}}}."
        cache.append({"key": r.key, "ok": True, "attempts": 1, "latency_s": 1.0, "response": {
            "id": f"r{k}", "model": ep.model, "choices": [{"index": 0, "finish_reason": "stop",
            "message": {"role": "assistant", "content": content}}],
            "usage": {"prompt_tokens": 50, "completion_tokens": 2400}}})
print(len(reqs))
"""


def generation(root: Path, requests: int = 100_000) -> dict:
    """Registration of `requests` cached long answers by `curate generate`, no server."""
    home = root / "home-gen"
    home.mkdir(parents=True, exist_ok=True)
    model = root / "fake-teacher"
    model.mkdir(exist_ok=True)
    (model / "config.json").write_text(json.dumps({"max_position_embeddings": 32768}))
    prompts = root / "prompts.jsonl"
    with prompts.open("w") as f:
        for i in range(requests // 4):
            f.write(json.dumps({"problem_id": f"q{i}", "prompt": f"Problem {i}: what is "
                                f"{i} modulo 1000?", "reference": str(i % 1000)}) + "\n")
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", GEN_CHILD, str(home), str(prompts), str(model),
                    str(REPO)], env=env(home), check=True, capture_output=True, text=True)
    cache = next((home / "cache" / "requests").glob("gen*.jsonl"))
    built = time.perf_counter() - t0
    out = run_cli(home, ["generate", "--task", "math", "--name", "gen", "--prompts", str(prompts),
                         "--teacher", f"transformers:{model}", "--samples", "4"])
    return {"requests": requests, "cache_mb": round(cache.stat().st_size / 2**20, 1),
            "cache_build_s": round(built, 1), **out}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", default="100000,1000000")
    ap.add_argument("--kills", type=int, default=5)
    ap.add_argument("--only", default="curation,kills,gen")
    ap.add_argument("--configs", default=None, help="e.g. local1,local2 (default: by size)")
    ap.add_argument("--gen-requests", type=int, default=100_000)
    ap.add_argument("--work", default=None, help="folder for the workspaces (default: a temp dir)")
    args = ap.parse_args()
    sizes = [int(x) for x in args.rows.split(",")]
    only = set(args.only.split(","))
    root = Path(args.work or tempfile.mkdtemp(prefix="curate-scale-"))
    root.mkdir(parents=True, exist_ok=True)
    figures: dict = {"load_before": os.getloadavg(), "cpus": os.cpu_count()}
    results_path = HERE / "results" / "scale.json"
    if results_path.exists():        # keep parts measured by an earlier, partial run
        old = json.loads(results_path.read_text())
        figures.update({k: v for k, v in old.items() if k in ("curation", "kills", "generation")})
    try:
        if "curation" in only:
            figures.setdefault("curation", {})
            for n in sizes:
                configs = args.configs.split(",") if args.configs else (
                    ["inprocess", "local1", "local2"] if n <= 200_000 else ["inprocess", "local2"])
                figures["curation"][str(n)] = curation(n, configs, root)
                write_result("scale", figures)
            cur = figures["curation"]
            if len(cur) > 1:
                a, b = sorted(cur, key=int)[0], sorted(cur, key=int)[-1]
                figures["memory_ratio_largest_vs_smallest"] = {
                    cfg: round(cur[b]["configs"][cfg]["peak_tree_pss_mb"]
                               / cur[a]["configs"][cfg]["peak_tree_pss_mb"], 3)
                    for cfg in cur[b]["configs"] if cfg in cur[a]["configs"]}
        if "kills" in only and args.kills and "curation" in figures:
            smallest = figures["curation"][str(min(sizes))]
            figures["kills"] = kills(smallest, args.kills)
            write_result("scale", figures)
        if "gen" in only:
            figures["generation"] = generation(root, args.gen_requests)
        figures["load_after"] = os.getloadavg()
        write_result("scale", figures)
    finally:
        if not args.work:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
