"""Teacher-client overhead: requests/s through curate against a server that answers instantly.

Side by side on one machine: (1) the server's own capacity, driven by a bare aiohttp load
generator in several processes (no JSON parsing, no cache); (2) curate's full generation path
(`generate_traces` with `openai:URL`: prompts, request keys, request cache, parsing, progress
off, registration), and its send phase alone; (3) the same requests through httpx, the usual
choice, for the record. The client must not be the bottleneck below 2,000 requests/s.

    python benchmarks/client_overhead.py --requests 20000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks._util import write_result  # noqa: E402

BODY = {"model": "instant", "messages": [{"role": "user", "content": "What is 2 + 3?"}],
        "max_tokens": 16, "temperature": 0.6, "top_p": 0.95, "seed": 1}


def _bare(url: str, n: int, conc: int, q) -> None:
    import aiohttp

    async def main():
        sem = asyncio.Semaphore(conc)
        payload = json.dumps(BODY).encode()
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=conc)) as s:
            async def one():
                async with sem, s.post(url, data=payload) as r:
                    await r.read()
            t = time.perf_counter()
            await asyncio.gather(*[one() for _ in range(n)])
            return time.perf_counter() - t
    q.put(asyncio.run(main()))


def server_capacity(url: str, n: int, conc: int, procs: int) -> float:
    q = mp.get_context("spawn").Queue()
    ps = [mp.get_context("spawn").Process(target=_bare, args=(url, n // procs, conc, q))
          for _ in range(procs)]
    t = time.perf_counter()
    for p in ps:
        p.start()
    for p in ps:
        p.join()
    return n / (time.perf_counter() - t)


def httpx_rate(url: str, n: int, conc: int) -> float:
    import httpx

    async def main():
        sem = asyncio.Semaphore(conc)
        async with httpx.AsyncClient(limits=httpx.Limits(max_connections=conc)) as c:
            async def one():
                async with sem:
                    (await c.post(url, json=BODY)).json()
            t = time.perf_counter()
            await asyncio.gather(*[one() for _ in range(n)])
            return n / (time.perf_counter() - t)
    return asyncio.run(main())


def curate_rate(base: str, n: int, conc: int) -> dict:
    from curate.catalog import Catalog
    from curate.curation.generate import GenerateConfig, generate_traces

    with tempfile.TemporaryDirectory() as d:
        src = Path(d) / "p.jsonl"
        src.write_text("".join(json.dumps({"prompt": f"What is {i} + 3?", "reference": str(i + 3)})
                               + "\n" for i in range(n)))
        cat = Catalog(Path(d) / "home")
        t = time.perf_counter()
        res = generate_traces(cat, "bench", str(src), f"openai:{base}",
                              GenerateConfig(samples=1, max_tokens=16, concurrency=conc),
                              progress=False)
        wall = time.perf_counter() - t
        assert res.ref.rows == n, res.summary
        t = time.perf_counter()
        again = generate_traces(cat, "bench", str(src), f"openai:{base}",
                                GenerateConfig(samples=1, max_tokens=16, concurrency=conc),
                                progress=False)
        rerun = time.perf_counter() - t
        assert again.summary["sent"] == 0
    s = res.summary
    return {"end_to_end_rps": n / wall, "send_phase_rps": n / s["send_wall_s"],
            "end_to_end_s": wall, "send_phase_s": s["send_wall_s"], "resume_noop_s": rerun}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=20000)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--httpx-requests", type=int, default=3000)
    a = ap.parse_args()
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = subprocess.Popen([sys.executable, str(Path(__file__).with_name("_instant_server.py")),
                            str(port)])
    base = f"http://127.0.0.1:{port}/v1"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        url = base + "/chat/completions"
        server_capacity(url, 2000, a.concurrency, 1)                         # warm up
        capacity = {p: server_capacity(url, a.requests, a.concurrency, p) for p in (1, 2, 3)}
        cur = curate_rate(base, a.requests, a.concurrency)
        hx = httpx_rate(url, a.httpx_requests, a.concurrency)
    finally:
        srv.terminate()
        srv.wait()
    cap = max(capacity.values())
    write_result("client_overhead", {
        "command": f"python benchmarks/client_overhead.py --requests {a.requests}",
        "requests": a.requests, "concurrency": a.concurrency,
        "server_capacity_rps": {f"{k}_load_procs": round(v) for k, v in capacity.items()},
        "server_capacity_max_rps": round(cap),
        "curate": {k: round(v, 3) for k, v in cur.items()},
        "curate_send_vs_capacity": round(cur["send_phase_rps"] / cap, 3),
        "curate_end_to_end_vs_capacity": round(cur["end_to_end_rps"] / cap, 3),
        "httpx_same_requests_rps": round(hx),
        "note": "2 cores shared by server, load generator and client; the instant server is "
                "one uvicorn process",
    })


if __name__ == "__main__":
    main()
