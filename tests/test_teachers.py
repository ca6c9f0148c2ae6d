"""Teacher generation against a real `transformers serve` on loopback (tiny model built here).

Covers: a normal run and its rerun (nothing re-sent), a server killed and restarted mid-run,
SIGKILL of the client and resume (no answered request sent again), a server answering 500s for
a while, a 400 that is final, a prompt too long for the context, and the CLI shape.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from teacher_server import Proxy, free_port, start_serve, stop

from curate.curation.generate import GenerateConfig, cache_path, generate_traces
from curate.errors import CurateError

pytestmark = pytest.mark.timeout(300)


def _prompts(path: Path, n: int, long_index: int | None = None) -> Path:
    rows = []
    for i in range(n):
        text = f"What is {i} + {i + 1}?"
        if i == long_index:
            text = "word " * 400 + text
        rows.append({"prompt": text, "reference": str(2 * i + 1), "problem_id": f"q{i}"})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from curate.training.tiny import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("teacher") / "tiny", max_positions=256)


@pytest.fixture(scope="module")
def server(tiny, tmp_path_factory):
    port = free_port()
    proc = start_serve(tiny, port, tmp_path_factory.mktemp("logs") / "serve.log")
    yield f"http://127.0.0.1:{port}"
    stop(proc)


@pytest.fixture
def proxy(server):
    return Proxy(server)


CFG = GenerateConfig(samples=2, max_tokens=8, concurrency=4)


def test_generate_and_rerun_sends_nothing(catalog, tmp_path, proxy):
    src = _prompts(tmp_path / "p.jsonl", 3)
    res = generate_traces(catalog, "gen", str(src), f"openai:{proxy.url}", CFG, progress=False)
    rows = catalog.table(res.ref).to_pylist()
    assert len(rows) == 6 and len({r["id"] for r in rows}) == 6
    assert sum(proxy.answered.values()) == 6
    r = rows[0]
    assert r["task"] == "math" and r["reference"] and r["teacher"].startswith("/")
    assert r["finish_reason"] in ("stop", "length") and r["completion_tokens"] >= 1
    meta = json.loads(r["metadata"])
    assert meta["engine"] == "transformers-serve" and meta["revision"].startswith("local-")
    sampling = json.loads(r["sampling"])
    assert sampling["temperature"] == 0.6 and sampling["top_k"] == 20 and sampling["max_tokens"] == 8
    assert r["messages"][0] == {"role": "user", "content": r["prompt"]}
    again = generate_traces(catalog, "gen", str(src), f"openai:{proxy.url}", CFG, progress=False)
    assert again.ref.spec == res.ref.spec and again.summary["sent"] == 0
    assert sum(proxy.answered.values()) == 6
    # one more sample per prompt: only the new requests go out
    more = generate_traces(catalog, "gen", str(src), f"openai:{proxy.url}",
                           GenerateConfig(samples=3, max_tokens=8, concurrency=4), progress=False)
    assert more.summary["sent"] == 3 and more.ref.rows == 9


def test_500s_for_a_while_are_retried(catalog, tmp_path, proxy):
    proxy.fail_500_first = 5
    src = _prompts(tmp_path / "p.jsonl", 3)
    cfg = GenerateConfig(samples=2, max_tokens=8, concurrency=2, max_retries=8)
    res = generate_traces(catalog, "g500", str(src), f"openai:{proxy.url}", cfg, progress=False)
    assert res.ref.rows == 6 and res.failures is None
    assert proxy.received >= 11 and sum(proxy.answered.values()) == 6
    attempts = [json.loads(r["metadata"])["attempts"] for r in catalog.table(res.ref).to_pylist()]
    assert max(attempts) > 1


def test_final_4xx_is_recorded_not_retried(catalog, tmp_path, proxy):
    proxy.fail_400_marker = "What is 1 + 2?"
    src = _prompts(tmp_path / "p.jsonl", 3)
    cfg = GenerateConfig(samples=1, max_tokens=8, concurrency=2)
    res = generate_traces(catalog, "g400", str(src), f"openai:{proxy.url}", cfg, progress=False)
    assert res.ref.rows == 2 and res.summary["failures"] == {"http_400": 1}
    fails = catalog.table(res.failures).to_pylist()
    assert fails[0]["problem_id"] == "q1" and fails[0]["final"] and fails[0]["attempts"] == 1
    received = proxy.received
    generate_traces(catalog, "g400", str(src), f"openai:{proxy.url}", cfg, progress=False)
    assert proxy.received == received          # final failures are not sent again


def test_prompt_too_long_for_the_context(catalog, tmp_path, proxy):
    src = _prompts(tmp_path / "p.jsonl", 3, long_index=2)
    cfg = GenerateConfig(samples=1, max_tokens=8, concurrency=2)
    res = generate_traces(catalog, "glong", str(src), f"openai:{proxy.url}", cfg, progress=False)
    assert res.ref.rows == 2 and res.summary["failures"] == {"prompt_too_long": 1}
    fail = catalog.table(res.failures).to_pylist()[0]
    assert fail["problem_id"] == "q2" and "context is 256" in fail["error"]
    assert proxy.received == 2                 # never sent


def test_server_restarted_mid_run(catalog, tmp_path, tiny):
    port = free_port()
    log = tmp_path / "serve.log"
    proc = start_serve(tiny, port, log)
    src = _prompts(tmp_path / "p.jsonl", 12)
    cfg = GenerateConfig(samples=1, max_tokens=48, concurrency=2, max_retries=10)
    out: dict = {}

    def run() -> None:
        try:
            out["res"] = generate_traces(catalog, "grestart", str(src),
                                         f"openai:http://127.0.0.1:{port}/v1", cfg, progress=False)
        except BaseException as e:  # noqa: BLE001 - reported below
            out["err"] = e

    t = threading.Thread(target=run)
    t.start()
    cache = cache_path(catalog, "grestart")
    deadline = time.monotonic() + 120
    while (not cache.exists() or len(cache.read_text().splitlines()) < 3) and time.monotonic() < deadline:
        time.sleep(0.05)
    stop(proc, signal.SIGKILL)
    time.sleep(1.0)
    proc = start_serve(tiny, port, log)
    t.join(240)
    stop(proc)
    assert "err" not in out, out.get("err")
    res = out["res"]
    assert res.ref.rows == 12 and res.failures is None
    assert len({r["problem_id"] for r in catalog.table(res.ref).to_pylist()}) == 12


def test_sigkill_client_and_resume(catalog, tmp_path, proxy):
    src = _prompts(tmp_path / "p.jsonl", 16)
    cmd = [sys.executable, "-m", "curate.cli", "generate", "--task", "math", "--prompts", str(src),
           "--teacher", f"openai:{proxy.url}", "--samples", "1", "--max-tokens", "48",
           "--concurrency", "2", "--name", "gkill", "--json"]
    env = {**os.environ, "CURATE_HOME": str(catalog.home)}
    cache = cache_path(catalog, "gkill")
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while (not cache.exists() or len(cache.read_text().splitlines()) < 5) and time.monotonic() < deadline:
        time.sleep(0.02)
    p.send_signal(signal.SIGKILL)
    p.wait()
    before = {json.loads(line)["key"] for line in cache.read_text().splitlines() if line.strip()}
    assert 5 <= len(before) < 16
    answered_before = sum(proxy.answered.values())
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["rows"] == 16 and out["summary"]["cached"] >= len(before)
    rows = catalog.table(f"gkill@{out['version']}").to_pylist()
    assert len(rows) == 16 and len({x["id"] for x in rows}) == 16
    seed_of = {json.loads(x["metadata"])["request_key"]: json.loads(x["metadata"])["request_seed"]
               for x in rows}
    # every request whose answer was recorded before the kill was never sent again
    assert all(proxy.answered[seed_of[k]] == 1 for k in before)
    # at most the requests in flight at the kill were answered twice
    assert sum(proxy.answered.values()) - 16 <= 2
    assert sum(proxy.answered.values()) >= answered_before


def test_cli_errors_are_one_line(catalog, tmp_path):
    from typer.testing import CliRunner

    from curate.cli import app

    src = _prompts(tmp_path / "p.jsonl", 2)
    cases = [
        (["--prompts", str(src), "--teacher", "nonsense"], "bad teacher"),
        (["--prompts", str(src), "--teacher", "openai:ftp://x"], "http(s) URL"),
        (["--teacher", "openai:http://127.0.0.1:9/v1"], "needs --prompts"),
        (["--prompts", str(tmp_path / "missing.jsonl"), "--teacher", "openai:http://127.0.0.1:9/v1"],
         "not a catalog dataset"),
        (["--prompts", str(src), "--teacher", "openai:http://127.0.0.1:9/v1", "--max-retries", "0"],
         "not answering"),
        (["--prompts", str(src), "--teacher", f"transformers:{tmp_path / 'nope'}"],
         "neither a local folder"),
    ]
    for args, msg in cases:
        r = CliRunner().invoke(app, ["generate", "--task", "math", "--name", "x", *args])
        assert isinstance(r.exception, CurateError), (args, r.output, r.exception)
        assert msg in str(r.exception) and "\n" not in str(r.exception), (args, r.exception)
    assert not catalog.exists("x")
    # through the real entry point: one line on stderr, exit 2
    r = subprocess.run([sys.executable, "-m", "curate.cli", "generate", "--task", "math",
                        "--name", "x", "--prompts", str(src), "--teacher", "nonsense"],
                       capture_output=True, text=True, env={**os.environ,
                                                            "CURATE_HOME": str(catalog.home)})
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "bad teacher" in r.stderr


def test_teacher_spec_and_cache_units(tmp_path):
    from curate.curation.generate import render_prompt, request_seed
    from curate.curation.teachers import RequestCache, parse_teacher

    s = parse_teacher("vllm:Qwen/Qwen3-32B", tensor_parallel=4, data_parallel=2)
    assert (s.kind, s.target, s.tensor_parallel, s.data_parallel) == ("vllm", "Qwen/Qwen3-32B", 4, 2)
    with pytest.raises(CurateError):
        parse_teacher("vllm:M", tensor_parallel=0)
    assert render_prompt("{problem}\nBox it.", {"prompt": "1+1?"}) == "1+1?\nBox it."
    assert render_prompt("{problem} {}", {"prompt": "{x}"}) == "{x} {}"   # data never formatted
    with pytest.raises(CurateError):
        render_prompt("{nope}", {"prompt": "a"})
    assert request_seed(0, "p", 1) == request_seed(0, "p", 1) != request_seed(0, "p", 2)
    path = tmp_path / "c.jsonl"
    with RequestCache(path) as c:
        c.append({"key": "a", "ok": True, "response": {"x": 1}})
        c.append({"key": "b", "ok": False, "reason": "timeout"})          # retryable: memory only
        c.append({"key": "a", "ok": True, "response": {"x": 2}})          # first answer wins
        with pytest.raises(CurateError, match="another run"), RequestCache(path):
            pass
    with path.open("ab") as f:
        f.write(b'{"key": "c", "ok": tr')                                 # torn by a kill
    with RequestCache(path) as c:
        assert c.done("a") and not c.done("b") and not c.done("c") and c.torn_lines == 1
        assert c.get("a")["response"] == {"x": 1}
        c.append({"key": "d", "ok": True, "response": {}})
    with RequestCache(path) as c:
        assert c.done("d") and c.torn_lines == 1


@pytest.mark.gpu
def test_vllm_launcher_generates(catalog, tmp_path):
    """`vllm:` launches `vllm serve`, generates and shuts it down (GPU machines only)."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("vllm")
    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    model = os.environ.get("CURATE_TEST_VLLM_MODEL", "Qwen/Qwen2.5-0.5B-Instruct")
    src = _prompts(tmp_path / "p.jsonl", 4)
    res = generate_traces(catalog, "gv", str(src), f"vllm:{model}",
                          GenerateConfig(samples=2, max_tokens=32), progress=False)
    assert res.ref.rows == 8
    meta = json.loads(catalog.table(res.ref).to_pylist()[0]["metadata"])
    assert meta["engine"] == "vllm" and meta["engine_version"]


def test_parse_completion_reasoning_forms():
    from curate.curation.generate import parse_completion

    def resp(msg, finish="stop"):
        return {"id": "r", "model": "m", "choices": [{"message": msg, "finish_reason": finish}],
                "usage": {"prompt_tokens": 3, "completion_tokens": 5}}

    c = parse_completion(resp({"content": "\\boxed{2}", "reasoning_content": "think hard"}))
    assert (c["reasoning"], c["answer_text"], c["reasoning_source"]) == ("think hard", "\\boxed{2}",
                                                                         "reasoning_content")
    c = parse_completion(resp({"content": "<think>a</think>\n\\boxed{2}"}))
    assert (c["reasoning"], c["answer_text"], c["think_closed"]) == ("a", "\\boxed{2}", True)
    c = parse_completion(resp({"content": "a prefilled think</think> B"}))      # template opened it
    assert (c["reasoning"], c["answer_text"]) == ("a prefilled think", "B")
    c = parse_completion(resp({"content": "<think>never closed"}, finish="length"))
    assert c["think_closed"] is False and c["finish_reason"] == "length" and c["answer_text"] == ""
    c = parse_completion(resp({"content": None, "reasoning": "vllm>=0.10 field"}, finish="length"))
    assert c["reasoning"] == "vllm>=0.10 field" and c["think_closed"] is False


def test_api_key_is_sent_but_never_stored(catalog, tmp_path, proxy, monkeypatch, capsys):
    secret = "sk-curate-test-SECRET-0123"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    src = _prompts(tmp_path / "p.jsonl", 2)
    res = generate_traces(catalog, "gkey", str(src), f"openai:{proxy.url}",
                          GenerateConfig(samples=1, max_tokens=4), progress=True)
    assert proxy.auth == {f"Bearer {secret}"}
    out = capsys.readouterr()
    assert secret not in out.out + out.err
    for f in catalog.home.rglob("*"):
        if f.is_file():
            assert secret.encode() not in f.read_bytes(), f
    assert res.ref.rows == 2


def test_launcher_command_lines():
    from curate.curation.teachers.servers import server_command
    from curate.curation.teachers.spec import parse_teacher

    spec = parse_teacher("vllm:Qwen/Qwen3-32B", tensor_parallel=4, data_parallel=2,
                         max_model_len=32768, server_args=["--reasoning-parser", "qwen3"])
    cmd = server_command(spec, 8123)
    assert cmd[1:3] == ["serve", "Qwen/Qwen3-32B"]
    s = " ".join(cmd)
    assert "--tensor-parallel-size 4" in s and "--data-parallel-size 2" in s
    assert "--max-model-len 32768" in s and s.endswith("--reasoning-parser qwen3")
    cmd = server_command(parse_teacher("sglang:M", tensor_parallel=2), 8124)
    assert cmd[1:3] == ["-m", "sglang.launch_server"] and "--tp-size" in cmd
    cmd = server_command(parse_teacher("transformers:/m"), 8125)
    assert cmd[1:3] == ["serve", "/m"] and "--port" in cmd


def test_no_server_left_behind(catalog, tmp_path, tiny):
    """transformers:PATH launches `transformers serve`, and it is gone when the run ends."""
    import psutil

    src = _prompts(tmp_path / "p.jsonl", 2)
    before = {p.pid for p in psutil.process_iter()}
    res = generate_traces(catalog, "gl", str(src), f"transformers:{tiny}",
                          GenerateConfig(samples=1, max_tokens=4), progress=False)
    assert res.ref.rows == 2
    meta = json.loads(catalog.table(res.ref).to_pylist()[0]["metadata"])
    assert meta["engine"] == "transformers-serve" and meta["engine_version"]
    # this test's server only (other sessions may run servers of their own at the same time)
    left = [p.info for p in psutil.process_iter(["pid", "cmdline", "status"])
            if p.pid not in before and str(tiny) in " ".join(p.info["cmdline"] or [])
            and p.info["status"] != psutil.STATUS_ZOMBIE]
    assert not left


def test_generated_traces_export_with_provenance(catalog, tmp_path, proxy):
    """Teacher traces -> nocot variant -> export: the card names teacher, engine, sampling."""
    import datasets
    from huggingface_hub import DatasetCard

    from curate.catalog.export import export_dataset
    from curate.curation.variants import make_variant

    src = _prompts(tmp_path / "p.jsonl", 3)
    res = generate_traces(catalog, "gx", str(src), f"openai:{proxy.url}",
                          GenerateConfig(samples=1, max_tokens=6, system="Be brief."),
                          progress=False)
    make_variant(catalog, "gx", "nocot", "gx-nocot")
    out = export_dataset(catalog, "gx", tmp_path / "export")
    card = DatasetCard.load(out / "README.md")
    text = card.text
    assert "transformers-serve" in text and res.summary["teacher"] in text
    assert "Be brief." in text and "temperature" in text
    names = {c["config_name"] for c in card.data.to_dict()["configs"]}
    assert "nocot" in names
    ds = datasets.load_dataset(str(out), "nocot", split="train", cache_dir=str(tmp_path / "c"))
    assert len(ds) == 3


def test_unauthorized_endpoint_stops_with_one_line(catalog, tmp_path):
    """A server that wants a key we do not have: one line naming the cause, nothing registered."""
    from aiohttp import web

    from curate.curation.teachers.client import FatalTeacherError

    async def deny(request):
        return web.json_response({"error": "invalid api key"}, status=401)

    import asyncio

    port = free_port()
    ready = threading.Event()

    def serve():
        async def main():
            app = web.Application()
            app.router.add_route("*", "/{tail:.*}", deny)
            runner = web.AppRunner(app)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", port).start()
            ready.set()
            await asyncio.sleep(30)
        asyncio.run(main())

    threading.Thread(target=serve, daemon=True).start()
    ready.wait(5)
    src = _prompts(tmp_path / "p.jsonl", 2)
    with pytest.raises(FatalTeacherError, match="401.*API key"):
        generate_traces(catalog, "gdeny", str(src), f"openai:http://127.0.0.1:{port}/v1",
                        GenerateConfig(samples=1, max_tokens=4), progress=False)
    assert not catalog.exists("gdeny")
