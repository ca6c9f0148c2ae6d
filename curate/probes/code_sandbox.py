"""Run untrusted Python (a model's code solution) against test cases in a sandboxed process.

`run_tests(code, inputs, outputs, mode)` starts ``python -I -B sandbox_child.py`` in a new
session (its own process group) with a scrubbed environment, in a private temporary folder,
and reads one result per test from a pipe; expected outputs stay in this process. The child
locks itself down before running any untrusted code (see `curate.probes.sandbox_child`):
its own network namespace, resource limits (`resource.setrlimit`: RLIMIT_AS, RLIMIT_CPU,
RLIMIT_FSIZE, RLIMIT_NOFILE, RLIMIT_CORE, RLIMIT_NPROC), Landlock (writes only beneath the
temporary folder, TCP denied), a seccomp filter (no new processes, no exec, no sockets) and a
Python audit hook. What the kernel actually enforced is returned with every result
(`SandboxResult.enforced`), never assumed. A test that runs past its time limit, or a child
that stops answering, gets the whole process group killed (SIGKILL).

Test semantics are LiveCodeBench's (lcb_runner/evaluation/testing_util.py, 6 s per test):

- ``stdin``: the program reads the input on standard input; its output and the expected one
  are compared line by line after stripping (same number of lines; each line equal, or equal
  as a list of decimals);
- ``functional`` (LeetCode style): each input line is one JSON argument; the method
  ``fn_name`` of ``Solution()`` (or a top-level function of that name) is called with them and
  its result (a tuple read as a list) must equal the JSON expected output.

The first failing test ends the run, as in LiveCodeBench.
"""

from __future__ import annotations

import json
import os
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

CHILD = Path(__file__).with_name("sandbox_child.py")
MODES = ("stdin", "functional")


@dataclass(frozen=True)
class Limits:
    """Per-run limits. `timeout_s` is per test (LiveCodeBench: 6 s); `cpu_s` defaults to
    (timeout + 1) x tests + 5 seconds for the whole run; `nproc` 1 means no new process or
    thread for a non-root user (the kernel does not apply RLIMIT_NPROC to root: seccomp
    stops process creation there). The layer switches exist so tests can check each layer
    alone."""
    timeout_s: float = 6.0
    memory_mb: int = 2048
    cpu_s: float | None = None
    fsize_mb: int = 64
    nofile: int = 256
    nproc: int = 1
    output_bytes: int = 8 * 1024 * 1024
    startup_s: float = 60.0
    network_namespace: bool = True
    landlock: bool = True
    seccomp: bool = True
    audit_hook: bool = True


@dataclass
class SandboxResult:
    """`status`: passed | wrong_answer | runtime_error | timeout | compile_error |
    sandbox_error; `outcomes`: one dict per test run (index, status, detail, output)."""
    passed: bool
    status: str
    tests_total: int
    tests_passed: int
    outcomes: list[dict[str, Any]] = field(default_factory=list)
    enforced: dict[str, Any] = field(default_factory=dict)
    detail: str = ""
    wall_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def stripped_lines(text: str) -> list[str]:
    """LiveCodeBench's `get_stripped_lines`: strip the text, split on newlines, strip each."""
    return [line.strip() for line in text.strip().split("\n")]


def _decimals(line: str) -> list[Decimal] | None:
    try:
        return [Decimal(x) for x in line.split()]
    except (InvalidOperation, ValueError):
        return None


def stdout_matches(got: str, expected: str) -> bool:
    """LiveCodeBench's stdin comparison (`grade_stdio`)."""
    a, b = stripped_lines(got), stripped_lines(expected)
    if len(a) != len(b):
        return False
    for x, y in zip(a, b):
        if x == y:
            continue
        dx, dy = _decimals(x), _decimals(y)
        if dx is None or dy is None or dx != dy:
            return False
    return True


def result_matches(got_json: str, expected: str) -> bool:
    """LiveCodeBench's call-based comparison: the result equals the JSON expected output."""
    try:
        return json.loads(got_json) == json.loads(expected)
    except (TypeError, ValueError):
        return False


def _env(tmp: str) -> dict[str, str]:
    return {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "HOME": tmp,
            "TMPDIR": tmp, "PYTHONHASHSEED": "0", "OMP_NUM_THREADS": "1",
            "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        pass


def run_tests(code: str, inputs: list[str], outputs: list[str], mode: str = "stdin",
              fn_name: str | None = None, limits: Limits | None = None) -> SandboxResult:
    """Run `code` on each input (in order, stopping at the first failure) and compare with
    `outputs`. Never raises for anything the code does; ValueError for a bad call."""
    lim = limits or Limits()
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    if len(inputs) != len(outputs):
        raise ValueError("inputs and outputs differ in length")
    if mode == "functional" and not fn_name:
        raise ValueError("functional tests need fn_name")
    n = len(inputs)
    if n == 0:
        return SandboxResult(False, "sandbox_error", 0, 0, detail="no test cases")
    t0 = time.monotonic()
    tmp = tempfile.mkdtemp(prefix="curate-sandbox-")
    err_file = tempfile.TemporaryFile()
    try:
        for i, inp in enumerate(inputs):
            Path(tmp, f"in_{i}.txt").write_text(inp, encoding="utf-8")
        cpu = lim.cpu_s if lim.cpu_s is not None else (lim.timeout_s + 1) * n + 5
        r, w = os.pipe()
        job = {"code": code, "mode": mode, "fn_name": fn_name, "n_tests": n, "tmp": tmp,
               "fd": w, "limits": {"memory_mb": lim.memory_mb, "cpu_s": int(cpu) + 1,
                                   "fsize_mb": lim.fsize_mb, "nofile": lim.nofile,
                                   "nproc": lim.nproc, "output_bytes": lim.output_bytes,
                                   "network_namespace": lim.network_namespace,
                                   "landlock": lim.landlock, "seccomp": lim.seccomp,
                                   "audit_hook": lim.audit_hook}}
        job_path = Path(tmp, "job.json")
        job_path.write_text(json.dumps(job), encoding="utf-8")
        try:
            proc = subprocess.Popen([sys.executable, "-I", "-B", str(CHILD), str(job_path)],
                                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                    stderr=err_file, env=_env(tmp), cwd=tmp, pass_fds=(w,),
                                    start_new_session=True, close_fds=True)
        finally:
            os.close(w)
        try:
            res = _collect(proc, r, inputs, outputs, mode, lim, n)
        finally:
            os.close(r)
            _kill_group(proc)
        if res.status == "sandbox_error":
            err_file.seek(0)
            tail = err_file.read()[-1500:].decode("utf-8", "replace").strip()
            if tail:
                res.detail = f"{res.detail}: {tail.splitlines()[-1]}" if res.detail else tail
        res.wall_s = time.monotonic() - t0
        return res
    finally:
        err_file.close()
        shutil.rmtree(tmp, ignore_errors=True)


def _collect(proc, fd, inputs, outputs, mode, lim: Limits, n: int) -> SandboxResult:
    sel = selectors.DefaultSelector()
    sel.register(fd, selectors.EVENT_READ)
    buf = b""
    enforced: dict[str, Any] = {}
    outcomes: list[dict[str, Any]] = []
    passed = 0
    deadline = time.monotonic() + lim.startup_s
    started: int | None = None
    total_deadline = time.monotonic() + lim.startup_s + (lim.timeout_s + 1) * n + 5

    def finish(status: str, detail: str = "") -> SandboxResult:
        return SandboxResult(status == "passed", status, n, passed, outcomes, enforced, detail)

    while True:
        now = time.monotonic()
        wait = min(deadline, total_deadline) - now
        if wait <= 0:
            if started is not None:
                outcomes.append({"index": started, "status": "timeout",
                                 "detail": f"no result within {lim.timeout_s:g} s"})
                return finish("timeout", f"test {started} timed out")
            return finish("sandbox_error", "the sandbox did not start in time")
        events = sel.select(timeout=wait)
        if not events:
            continue
        chunk = os.read(fd, 1 << 20)
        if not chunk:   # the child exited (or was killed by a limit)
            code = proc.poll()
            if code is None:
                try:
                    code = proc.wait(5)
                except subprocess.TimeoutExpired:
                    code = None
            why = f"exit status {code}" if code is None or code >= 0 else \
                f"killed by {signal.Signals(-code).name}"
            if started is not None:
                status = "timeout" if code == -signal.SIGXCPU or code == -signal.SIGKILL \
                    else "runtime_error"
                outcomes.append({"index": started, "status": status, "detail": why})
                return finish(status, f"test {started}: {why}")
            return finish("sandbox_error", f"the sandbox ended early ({why})")
        buf += chunk
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if "setup" in rec:
                enforced = rec["setup"]
            elif "compile_error" in rec:
                outcomes.append({"index": None, "status": "compile_error",
                                 "detail": rec["compile_error"]})
                return finish("compile_error", rec["compile_error"])
            elif "start" in rec:
                started = int(rec["start"])
                deadline = time.monotonic() + lim.timeout_s
            elif "i" in rec:
                i = int(rec["i"])
                started = None
                deadline = time.monotonic() + lim.startup_s
                out = _judge(rec, outputs[i], mode)
                out["index"] = i
                outcomes.append(out)
                if out["status"] != "passed":
                    return finish(out["status"], f"test {i}: {out.get('detail', '')}")
                passed += 1
            elif rec.get("done"):
                return finish("passed" if passed == n else "wrong_answer")


def _judge(rec: dict, expected: str, mode: str) -> dict[str, Any]:
    if rec.get("status") != "ok":
        return {"status": "runtime_error", "detail": rec.get("error", "")}
    if mode == "functional":
        got = rec.get("result", "")
        ok = result_matches(got, expected)
        return {"status": "passed" if ok else "wrong_answer", "output": got[:1000],
                "detail": "" if ok else "result differs"}
    got = rec.get("stdout", "")
    ok = not rec.get("truncated") and stdout_matches(got, expected)
    return {"status": "passed" if ok else "wrong_answer", "output": got[:1000],
            "detail": "" if ok else ("output too long" if rec.get("truncated")
                                     else "output differs")}
