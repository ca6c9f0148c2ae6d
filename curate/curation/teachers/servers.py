"""Launch `vllm serve`, SGLang or `transformers serve` for a run, wait for health, shut down.

The server runs under a guard process (`curate/guard.py`) that leads its process group, so
the server and everything it spawns stop within a few seconds when curate stops: at the end
of the block, on SIGINT / SIGTERM (handled here: the servers are told to stop at once and
what is stopped is said on stderr), and when curate dies any other way, SIGKILL included
(the guard's parent-death signal). The log goes to a file whose tail is shown if it dies.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from curate.curation.teachers.reasoning import parser_args
from curate.curation.teachers.spec import TeacherSpec
from curate.errors import CurateError
from curate.progress import Status


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


VLLM_MAX_NUM_SEQS = 256     # sequences per vLLM replica when --server-arg does not set them


def server_flag(args: list[str] | tuple[str, ...], flag: str) -> str | None:
    """The value of `--flag V` or `--flag=V` among server arguments (None when absent)."""
    args = list(args)
    for i, a in enumerate(args):
        if a == flag and i + 1 < len(args):
            return args[i + 1]
        if a.startswith(flag + "="):
            return a.split("=", 1)[1]
    return None


def seq_limit(spec: TeacherSpec) -> int | None:
    """Sequences one replica of a launched server runs at once, as curate launches it:
    vLLM's `--max-num-seqs` (set to VLLM_MAX_NUM_SEQS unless given), SGLang's
    `--max-running-requests` when given (else the server reports it)."""
    if spec.kind == "vllm":
        v = server_flag(spec.server_args, "--max-num-seqs")
        return int(v) if v else VLLM_MAX_NUM_SEQS
    if spec.kind == "sglang":
        v = server_flag(spec.server_args, "--max-running-requests")
        return int(v) if v else None
    return None


def server_command(spec: TeacherSpec, port: int) -> list[str]:
    """The command line that serves `spec` on 127.0.0.1:port.

    vLLM gets `--generation-config vllm` (unless given): sampling fields a request leaves out
    take vLLM's neutral defaults, not the model's generation_config.json, so the sampling
    recorded with every row is the sampling applied. And `--max-num-seqs` (unless given), so
    `--concurrency auto` knows how many sequences each replica runs."""
    extra = list(spec.server_args)
    if spec.kind == "vllm":
        exe = _bin("vllm")
        cmd = [exe, "serve", spec.target, "--host", "127.0.0.1", "--port", str(port),
               "--tensor-parallel-size", str(spec.tensor_parallel),
               "--data-parallel-size", str(spec.data_parallel)]
        if spec.max_model_len:
            cmd += ["--max-model-len", str(spec.max_model_len)]
        if server_flag(extra, "--generation-config") is None:
            cmd += ["--generation-config", "vllm"]
        if server_flag(extra, "--max-num-seqs") is None:
            cmd += ["--max-num-seqs", str(VLLM_MAX_NUM_SEQS)]
        return cmd + parser_args("vllm", spec.target, extra) + extra
    if spec.kind == "sglang":
        cmd = [sys.executable, "-m", "sglang.launch_server", "--model-path", spec.target,
               "--host", "127.0.0.1", "--port", str(port), "--tp-size", str(spec.tensor_parallel),
               "--dp-size", str(spec.data_parallel)]
        if spec.max_model_len:
            cmd += ["--context-length", str(spec.max_model_len)]
        return cmd + parser_args("sglang", spec.target, extra) + extra
    if spec.kind == "transformers":
        exe = _bin("transformers")
        return [exe, "serve", spec.target, "--host", "127.0.0.1", "--port", str(port),
                "--log-level", "warning"] + extra
    raise CurateError(f"{spec} does not launch a server")


def _bin(name: str) -> str:
    """This environment's console script (installation is checked before launch)."""
    path = Path(sys.executable).parent / name
    return str(path) if path.exists() else (shutil.which(name) or str(path))


def _check_installed(spec: TeacherSpec) -> None:
    import importlib.util

    module = {"vllm": "vllm", "sglang": "sglang", "transformers": "fastapi"}[spec.kind]
    if importlib.util.find_spec(module) is None:
        hint = {"vllm": "pip install 'curate-traces[gpu]'", "sglang": "pip install sglang",
                "transformers": "pip install 'transformers[serving]'"}[spec.kind]
        raise CurateError(f"teacher {spec}: {module} is not installed ({hint})")
    if spec.kind == "transformers" and not Path(spec.target).exists():
        _hub_cached_or_fail(spec.target)


def _hub_cached_or_fail(model: str) -> None:
    if os.environ.get("HF_HUB_OFFLINE", "0") not in ("1", "true", "True"):
        return
    try:
        from huggingface_hub import snapshot_download

        snapshot_download(model, local_files_only=True)
    except Exception:
        raise CurateError(f"teacher model {model!r} is neither a local folder nor in the Hub "
                          "cache (offline)") from None


STOP_GRACE_S = 2.0      # SIGTERM, then SIGKILL: in-flight requests are not waited for
_LIVE: dict[int, str] = {}          # guard pid -> what it serves, for the signal handlers
_PREVIOUS: dict[int, object] = {}   # signal -> handler to chain to


def _note(msg: str) -> None:
    sys.stderr.write(msg + "\n")
    sys.stderr.flush()


def _on_signal(signum: int, frame) -> None:
    """SIGINT / SIGTERM while servers run: tell each to stop now, say so, then unwind
    (KeyboardInterrupt for SIGINT, SystemExit(128 + n) for SIGTERM) so the run is recorded
    as failed and `stop_server` waits for the guards."""
    name = signal.Signals(signum).name
    for pid, what in list(_LIVE.items()):
        _note(f"{name}: stopping {what} (pid {pid})")
        _LIVE.pop(pid, None)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGTERM)
    prev = _PREVIOUS.get(signum)
    if signum == signal.SIGINT and callable(prev):
        prev(signum, frame)
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise SystemExit(128 + signum)


@contextlib.contextmanager
def _signals_stop_servers():
    """Install `_on_signal` for SIGINT and SIGTERM while a server runs (main thread only;
    elsewhere the guard's parent-death handling still applies)."""
    import threading

    if threading.current_thread() is not threading.main_thread() or _PREVIOUS:
        yield
        return
    for sig in (signal.SIGINT, signal.SIGTERM):
        _PREVIOUS[sig] = signal.getsignal(sig)
        signal.signal(sig, _on_signal)
    try:
        yield
    finally:
        for sig, prev in list(_PREVIOUS.items()):
            signal.signal(sig, prev if prev is not None else signal.SIG_DFL)
        _PREVIOUS.clear()


def guarded_command(cmd: list[str], grace: float = STOP_GRACE_S) -> list[str]:
    """`cmd` run under `curate/guard.py`, tied to this process (see the module docstring).
    The guard needs only the standard library, so it runs isolated (`-I`) by file path:
    nothing depends on how curate itself was put on the path."""
    from curate import guard

    return [sys.executable, "-I", os.path.abspath(guard.__file__), str(os.getpid()),
            f"{grace:g}", "--", *cmd]


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def last_log_line(path: Path, limit: int = 120) -> str:
    """The last non-empty line of a server log (ANSI colours and tqdm carriage returns
    resolved), cut to `limit` characters: what the server says it is doing."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 8192))
            tail = f.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    for line in reversed(tail.replace("\r", "\n").splitlines()):
        line = _ANSI.sub("", line).strip()
        if line:
            return line if len(line) <= limit else line[: limit - 1] + "…"
    return ""


def _tail(path: Path, n: int = 15) -> str:
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join(lines[-n:])


@contextlib.contextmanager
def launched_server(spec: TeacherSpec, log_dir: Path, startup_timeout: float = 1800.0,
                    progress=None) -> Iterator[str]:
    """Serve `spec`, yield its OpenAI base URL (`http://127.0.0.1:PORT/v1`), stop it after."""
    _check_installed(spec)
    port = spec.port or free_port()
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / f"{spec.kind}-{port}.log"
    cmd = server_command(spec, port)
    what = f"{spec.kind} server for {spec.served_model or spec.target} on port {port}"
    stack = contextlib.ExitStack()
    stack.enter_context(_signals_stop_servers())
    with log.open("wb") as out:
        proc = subprocess.Popen(guarded_command(cmd), stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    _LIVE[proc.pid] = what
    try:
        deadline = time.monotonic() + startup_timeout
        health = f"http://127.0.0.1:{port}/health"
        with Status(f"starting {what} (log {log})") as status:
            last_look = 0.0
            while not _healthy(health):
                if proc.poll() is not None:
                    raise CurateError(f"teacher server {spec} exited with code "
                                      f"{proc.returncode} before it was ready; log {log}:\n"
                                      f"{_tail(log)}")
                if time.monotonic() > deadline:
                    raise CurateError(f"teacher server {spec} not ready after "
                                      f"{startup_timeout:g} s; log {log}:\n{_tail(log)}")
                if time.monotonic() - last_look > 2:
                    last_look = time.monotonic()
                    doing = last_log_line(log)
                    if doing:
                        status.update(f"starting {what}: {doing}")
                time.sleep(0.5)
            status.update(f"{spec.kind} server ready on port {port}")
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        try:
            stop_server(proc)
        finally:
            stack.close()


def stop_server(proc: subprocess.Popen, grace: float = STOP_GRACE_S) -> None:
    """Stop a guarded server and its whole process group: SIGTERM, then the guard's SIGKILL
    after `grace` seconds; our own SIGKILL to the group if the guard does not finish."""
    what = _LIVE.pop(proc.pid, None)
    if proc.poll() is None:
        if what and sys.exc_info()[0] is not None:
            _note(f"stopping {what} (pid {proc.pid})")
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(grace + 2)
        except subprocess.TimeoutExpired:
            pass
    # the guard's group may outlive it only if the guard itself was killed: finish it
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(5)


def engine_of(spec: TeacherSpec) -> tuple[str | None, str | None]:
    """(engine, installed version) a launched spec serves with; (None, None) for `openai:`."""
    if not spec.launches_server:
        return None, None
    from importlib.metadata import PackageNotFoundError, version

    pkg = {"vllm": "vllm", "sglang": "sglang", "transformers": "transformers"}[spec.kind]
    try:
        ver = version(pkg)
    except PackageNotFoundError:
        ver = None
    return ("transformers-serve" if spec.kind == "transformers" else spec.kind), ver


@contextlib.contextmanager
def serving(spec: TeacherSpec, log_dir: Path, startup_timeout: float = 1800.0):
    """(base_url, engine, engine version) for any spec: an `openai:` URL as given, or a server
    launched for the duration of the block."""
    if not spec.launches_server:
        yield spec.target.rstrip("/"), None, None
        return
    engine, ver = engine_of(spec)
    with launched_server(spec, log_dir, startup_timeout) as url:
        yield url, engine, ver
