"""Generation that fills a node: several endpoints (spread, failover), --concurrency auto, and
one generation task per node on a real datatrove executor with per-task request caches.
The teachers are real HTTP servers on loopback (tests/echo_teacher.py) that answer from the
request alone, so which endpoint served a row never changes it."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from curate.curation.executors.run import ExecutorSpec

HERE = Path(__file__).resolve().parent


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(*args) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    p = subprocess.Popen([sys.executable, str(HERE / "echo_teacher.py"), str(port), *args],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            urllib.request.urlopen(url + "/health", timeout=1)
            return p, url + "/v1"
        except OSError:
            time.sleep(0.1)
    p.kill()
    raise RuntimeError("echo teacher did not start")


@pytest.fixture
def teachers():
    procs = []

    def start(*args):
        p, url = _start(*args)
        procs.append(p)
        return p, url

    yield start
    for p in procs:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()


@pytest.fixture
def prompts(tmp_path):
    path = tmp_path / "prompts.jsonl"
    with path.open("w") as f:
        for i in range(30):
            f.write(json.dumps({"problem_id": f"q{i}", "prompt": f"What is {i} + {i}?",
                                "reference": str(2 * i)}) + "\n")
    return path


def _rows(catalog, ref):
    """Rows without what depends on the run (latency, attempts, endpoint's response id)."""
    out = []
    for r in catalog.table(ref).to_pylist():
        m = json.loads(r["metadata"])
        for k in ("latency_s", "attempts"):
            m.pop(k, None)
        out.append({**r, "metadata": m})
    return out


def _gen(catalog, name, prompts, teacher, **kw):
    from curate.curation.generate import GenerateConfig, generate_traces

    cfg = GenerateConfig(samples=2, max_tokens=64, concurrency=kw.pop("concurrency", "auto"))
    return generate_traces(catalog, name, str(prompts), teacher, cfg, progress=False, **kw)


def test_two_endpoints_share_the_work_and_give_one_endpoints_rows(catalog, prompts, teachers):
    _, a = teachers("--max-running", "16", "--dp", "2")
    _, b = teachers("--max-running", "16", "--dp", "2")
    both = _gen(catalog, "both", prompts, f"openai:{a},{b}")
    s = both.summary
    assert s["rows"] == 60 and s["failures"] == {}
    assert s["concurrency"] == 64 and s["concurrency_auto"]["replicas"] == 4
    assert s["concurrency_auto"]["source"] == "server info"
    served = s["served_by"]
    assert set(served) == {a, b} and min(served.values()) > 0 and sum(served.values()) == 60
    one = _gen(catalog, "one", prompts, f"openai:{a}", concurrency=8)
    assert _rows(catalog, both.ref) == _rows(catalog, one.ref)
    assert one.summary["concurrency"] == 8 and "served_by" not in one.summary
    params = catalog.lineage(both.ref)[0]["params"]
    assert params["concurrency"] == "auto" and params["teacher"] == f"openai:{a},{b}"


def test_a_dead_endpoint_fails_over(catalog, prompts, teachers, tmp_path):
    _, a = teachers("--delay", "0.02")
    pb, b = teachers("--delay", "0.02")
    dead = f"http://127.0.0.1:{_free_port()}/v1"          # nothing listens there
    src = tmp_path / "many.jsonl"
    with src.open("w") as f:
        for i in range(150):
            f.write(json.dumps({"problem_id": f"m{i}", "prompt": f"Compute {i}.",
                                "reference": str(i)}) + "\n")
    env = {**os.environ, "CURATE_HOME": str(catalog.home)}
    cmd = [sys.executable, "-m", "curate.cli", "generate", "--task", "math", "--name", "fo",
           "--prompts", str(src), "--teacher", f"openai:{dead},{a},{b}", "--samples", "2",
           "--max-tokens", "64", "--concurrency", "8", "--json"]
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    cache = catalog.home / "cache" / "requests" / "fo.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and p.poll() is None and not (
            cache.is_file() and cache.read_bytes().count(b"\n") >= 40):
        time.sleep(0.05)
    os.killpg(pb.pid, signal.SIGKILL)          # one more endpoint dies in the middle
    out, err = p.communicate(timeout=300)
    assert p.returncode == 0, err
    res = json.loads(out)
    s = res["summary"]
    assert s["rows"] == 300 and s["failures"] == {} and s["served_by"][dead] == 0
    assert s["served_by"][a] > s["served_by"][b] > 0
    ids = catalog.table(f"fo@{res['version']}").column("id").to_pylist()
    assert len(set(ids)) == 300


def test_one_generation_task_per_node_on_the_local_executor(catalog, prompts, teachers):
    _, a = teachers("--max-running", "8")
    _, b = teachers("--max-running", "8")
    ex = ExecutorSpec("local", tasks=3, workers=2)
    res = _gen(catalog, "dist", prompts, f"openai:{a},{b}", executor=ex)
    assert res.ref.rows == 60 and res.summary["tasks"] == 3 and res.summary["sent"] == 60
    caches = sorted((catalog.home / "cache" / "requests").glob("dist.task-*-of-00003.jsonl"))
    assert len(caches) == 3 and sum(1 for c in caches for _ in c.open()) == 60
    inproc = _gen(catalog, "inproc", prompts, f"openai:{a}")
    assert _rows(catalog, res.ref) == _rows(catalog, inproc.ref)
    again = _gen(catalog, "dist", prompts, f"openai:{a},{b}", executor=ex)
    assert again.summary["sent"] == 0 and again.ref.version == res.ref.version
    lin = catalog.lineage(res.ref)[0]
    assert lin["step"] == "generate" and lin["counts"] == {"in": 60, "out": 60, "dropped": {}}
    assert not list((catalog.home / "staging").glob("generate-*"))


def test_generation_tasks_on_a_ray_cluster(catalog, prompts, teachers):
    """The same generation as one task per node on a real local Ray cluster (2 CPUs): each
    task its own request cache, registered once, the in-process rows."""
    ray = pytest.importorskip("ray")
    _, a = teachers("--max-running", "8")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             object_store_memory=80 * 2**20)
    try:
        res = _gen(catalog, "on-ray", prompts, f"openai:{a}", executor=ExecutorSpec(
            "ray", tasks=2, workers=2, mem_per_cpu_gb=0.25))
    finally:
        ray.shutdown()
    assert res.ref.rows == 60 and res.summary["tasks"] == 2 and res.summary["sent"] == 60
    caches = sorted((catalog.home / "cache" / "requests").glob("on-ray.task-*-of-00002.jsonl"))
    assert len(caches) == 2
    assert _rows(catalog, res.ref) == _rows(catalog, _gen(catalog, "inproc", prompts,
                                                           f"openai:{a}").ref)


def test_concurrency_auto_for_launched_servers_and_vllm_arguments():
    from curate.curation.generate import GenerateConfig, check_concurrency, resolve_concurrency
    from curate.curation.teachers.servers import server_command
    from curate.curation.teachers.spec import parse_teacher
    from curate.errors import BadInput

    spec = parse_teacher("vllm:Qwen/Qwen3-8B", data_parallel=8)
    n, info = asyncio.run(resolve_concurrency(GenerateConfig(concurrency="auto"), spec, None))
    assert (n, info["replicas"], info["per_replica"]) == (8 * 256, 8, 256)
    cmd = server_command(spec, 8000)
    assert cmd[cmd.index("--generation-config") + 1] == "vllm"
    assert cmd[cmd.index("--max-num-seqs") + 1] == "256"
    mine = parse_teacher("vllm:Qwen/Qwen3-8B", data_parallel=2,
                         server_args=["--max-num-seqs=512", "--generation-config", "auto"])
    n, _ = asyncio.run(resolve_concurrency(GenerateConfig(concurrency="auto"), mine, None))
    assert n == 1024
    cmd = server_command(mine, 8000)
    assert cmd.count("--generation-config") == 1 and "--max-num-seqs" not in cmd
    assert check_concurrency("auto") == "auto" and check_concurrency("12") == 12
    for bad in ("0", "-3", "lots"):
        with pytest.raises(BadInput):
            check_concurrency(bad)
