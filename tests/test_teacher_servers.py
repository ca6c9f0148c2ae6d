"""Servers stop when curate stops: SIGTERM, SIGINT and SIGKILL of a running `curate generate
--teacher transformers:PATH` leave no server process behind within 5 s; the guard survives
the exit of the thread that started it; a fully cached rerun starts no server at all."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path

import psutil
import pytest

STOP_WITHIN_S = 5.0
GUARD = str(Path(__file__).resolve().parents[1] / "curate" / "guard.py")


def alive(pids: set[int]) -> set[int]:
    out = set()
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                out.add(pid)
        except psutil.NoSuchProcess:
            pass
    return out


def group_members(pgid: int) -> set[int]:
    out = set()
    for p in psutil.process_iter():
        try:
            if os.getpgid(p.pid) == pgid and p.status() != psutil.STATUS_ZOMBIE:
                out.add(p.pid)
        except (ProcessLookupError, psutil.NoSuchProcess):
            pass
    return out


def wait_gone(pids: set[int], pgid: int, limit: float) -> float:
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit + 30:
        if not alive(pids) and not group_members(pgid):
            return time.monotonic() - t0
        time.sleep(0.05)
    raise AssertionError(f"still running: {alive(pids) | group_members(pgid)}")


# -- the guard on its own (no model: a shell that spawns children) --------------------------
STARTER = textwrap.dedent("""
    import subprocess, sys, threading, time
    from curate.curation.teachers.servers import guarded_command
    cmd = ["sh", "-c", "sleep 300 & sleep 300 & wait"]
    box = {}
    def start():
        box["p"] = subprocess.Popen(guarded_command(cmd), start_new_session=True)
    t = threading.Thread(target=start)        # the forking thread exits at once
    t.start(); t.join()
    print(box["p"].pid, flush=True)
    time.sleep(300)
""")


def test_guard_outlives_its_thread_and_dies_with_its_process():
    parent = subprocess.Popen([sys.executable, "-c", STARTER], stdout=subprocess.PIPE, text=True)
    try:
        guard = int(parent.stdout.readline())
        deadline = time.monotonic() + 30
        while len(group_members(guard)) < 4 and time.monotonic() < deadline:   # guard, sh, 2x sleep
            time.sleep(0.1)
        members = group_members(guard)
        assert len(members) == 4, members
        time.sleep(1.5)                           # the thread is long gone: nothing stopped
        assert group_members(guard) == members
        parent.kill()
        took = wait_gone(members, guard, STOP_WITHIN_S)
        assert took < STOP_WITHIN_S, took
    finally:
        parent.kill()
        parent.wait()


# -- a real `transformers serve` under `curate generate` --------------------------------------
@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from curate.training.tiny import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("servers") / "tiny", max_positions=512)


def _prompts(path: Path, n: int) -> Path:
    path.write_text("".join(json.dumps({"prompt": f"What is {i} + {i}?", "problem_id": f"q{i}",
                                        "reference": str(2 * i)}) + "\n" for i in range(n)))
    return path


def _generate(tmp_path: Path, home: Path, tiny: Path, n: int, max_tokens: int, **kw):
    env = {**os.environ, "CURATE_HOME": str(home)}
    cmd = [sys.executable, "-m", "curate.cli", "generate", "--task", "math", "--prompts",
           str(_prompts(tmp_path / "p.jsonl", n)), "--teacher", f"transformers:{tiny}",
           "--name", "g", "--max-tokens", str(max_tokens), "--temperature", "1.0"]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True, **kw)


def _serving(proc: subprocess.Popen, timeout: float = 300) -> tuple[int, int]:
    """(guard pid, server pid) once the server answers /health and requests are in flight."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        kids = [c for c in psutil.Process(proc.pid).children()
                if GUARD in " ".join(c.cmdline())]
        if kids and kids[0].children():
            guard, server = kids[0], kids[0].children()[0]
            args = server.cmdline()
            port = args[args.index("--port") + 1]
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1):
                    time.sleep(2)                 # let the client send its requests
                    return guard.pid, server.pid
            except OSError:
                pass
        time.sleep(0.3)
    raise AssertionError("the server never came up")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL])
def test_server_stops_with_curate(tmp_path, tiny, sig):
    home = tmp_path / "home"
    proc = _generate(tmp_path, home, tiny, n=40, max_tokens=400)
    try:
        guard, server = _serving(proc)
        os.kill(proc.pid, sig)
        took = wait_gone({guard, server}, guard, STOP_WITHIN_S)
        assert took < STOP_WITHIN_S, f"{sig.name}: server still there after {took:.1f} s"
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if sig == signal.SIGKILL:
        assert proc.returncode == -signal.SIGKILL
        log = next((home / "cache" / "servers").glob("*.log")).read_text(errors="replace")
        assert f"curate (pid {proc.pid}) exited: stopping the server" in log
        return
    assert proc.returncode == 128 + sig, err[-2000:]
    assert f"{sig.name}: stopping transformers server for {tiny}" in err, err[-2000:]
    assert "Traceback" not in err
    import duckdb

    con = duckdb.connect(str(home / "catalog.duckdb"), read_only=True)
    assert con.execute("SELECT status FROM runs").fetchall() == [("failed",)]
    con.close()


def test_fully_cached_rerun_starts_no_server(tmp_path, tiny):
    home = tmp_path / "home"
    first = _generate(tmp_path, home, tiny, n=2, max_tokens=4)
    out, err = first.communicate(timeout=600)
    assert first.returncode == 0, err[-3000:]
    logs = sorted((home / "cache" / "servers").glob("*.log"))
    assert len(logs) == 1
    again = _generate(tmp_path, home, tiny, n=2, max_tokens=4)
    seen_guard = False
    while again.poll() is None:
        try:
            seen_guard |= any(GUARD in " ".join(c.cmdline())
                              for c in psutil.Process(again.pid).children())
        except psutil.NoSuchProcess:
            break
        time.sleep(0.05)
    out, err = again.communicate(timeout=60)
    assert again.returncode == 0, err[-3000:]
    assert not seen_guard and sorted((home / "cache" / "servers").glob("*.log")) == logs
    assert "not started" in err
    from curate.catalog import Catalog

    cat = Catalog(home)
    assert len(cat.ls("g")) == 1                  # the same rows, the same version
    runs = cat.sql("SELECT status, metrics FROM runs ORDER BY started")
    assert [r["status"] for r in runs] == ["ok", "ok"]
    assert json.loads(runs[1]["metrics"])["server_started"] is False
