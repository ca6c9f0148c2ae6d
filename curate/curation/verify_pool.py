"""A pool of verifier worker processes with a kill per item, and a result cache.

math-verify can hang (huge powers) or exhaust memory on some inputs, and its signal-based
timeouts do not work off the main thread, so each item runs in a worker process that the
parent kills when the item's budget is spent; the worker is replaced and the item gets
`verified=None, reason="timeout"`. Results are cached by (task, options, gold, prediction) in
SQLite so re-verifying a dataset costs nothing.

The budget is CPU time, not wall-clock time: an input that hangs burns CPU, while a worker on a
busy machine (many processes on few cores) waits for it. A wall-clock deadline turned correct
answers into timeouts (scored wrong) whenever the machine was loaded: a fresh worker's first
item costs ~0.5 s of CPU (math-verify's parsers warming up), over 5 s of wall time at a load
of 10 per core. So an item is killed once its worker has used `timeout` CPU seconds on it, or,
as a backstop for a worker that never gets the CPU (stopped, swapping), after `wall_timeout`.
The parent warms math-verify up once before forking, so workers start warm.
"""

from __future__ import annotations

import hashlib
import multiprocessing as mp
import os
import sqlite3
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from multiprocessing.connection import wait
from pathlib import Path
from typing import Any

from curate.curation.verify_result import VerifyResult
from curate.record import stable_json

_CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
_WARMED = False


def process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds a process has used (Linux /proc, else psutil); None when it
    cannot be read (the pool then falls back to wall-clock time)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            data = f.read()
        fields = data[data.rfind(")") + 2:].split()   # fields from `state` (the 3rd) on
        return (int(fields[11]) + int(fields[12])) / _CLK_TCK   # utime (14th), stime (15th)
    except (OSError, ValueError, IndexError):
        pass
    try:
        import psutil

        t = psutil.Process(pid).cpu_times()
        return float(t.user + t.system)
    except Exception:  # no psutil, or the process is gone
        return None


def _warm_up() -> None:
    """One verification in this process before workers fork from it: math-verify builds its
    parsers lazily (~0.5 s of CPU), and forked workers inherit them ready."""
    global _WARMED
    if _WARMED:
        return
    _WARMED = True
    try:
        from curate.curation.verify_math import verify_math

        verify_math("1/2", r"so \boxed{\frac{1}{2}}")
    except Exception:  # a warm-up is an optimisation, never a failure
        pass

Pair = tuple[Any, Any]     # (gold, prediction): a completion, or a mapping of per-item arguments


def _run_one(kind: str, gold: Any, pred: Any, options: dict) -> VerifyResult:
    """One verification. `pred` is the completion text, or a dict of per-item arguments
    (`{"text": ..., "closed": False, "final_answer": ...}`) merged with `options`."""
    item = dict(pred) if isinstance(pred, dict) else {"text": pred}
    text = item.pop("text", None)
    if kind == "math":
        from curate.curation.verify_math import verify_math

        return verify_math(gold, text, **{**options, **item})
    if kind == "mcq":
        from curate.curation.verify_choice import verify_choice

        return verify_choice(gold, text, **{**options, **item})
    if kind == "countdown":
        from curate.curation.verify import verify_countdown_row

        return verify_countdown_row(text, gold, options)
    raise ValueError(f"unknown verification kind {kind!r}")


def _exit_with_parent(interval: float = 0.5) -> None:
    """Leave when the parent dies, SIGKILL included: a forked worker holds a copy of the
    parent's end of its own pipe (and of the writer's staging lock), so `recv` never sees EOF
    and the worker would sleep forever as an orphan, keeping the lock. Polls getppid (the
    parent-death signal fires when the forking *thread* exits, too early for a pool made in
    a thread)."""
    import threading
    import time

    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(interval)
        os._exit(0)

    threading.Thread(target=watch, name="curate-parent-watch", daemon=True).start()


def _worker(conn, memory_limit_mb: int | None) -> None:
    """Worker loop: receive (kind, options, [(gold, pred), ...]); send one result per item.
    Exits when the parent process dies (`_exit_with_parent`)."""
    _exit_with_parent()
    if memory_limit_mb:
        try:
            import resource

            # A forked worker inherits the parent's address space (torch alone maps GBs), so
            # the cap is what it already has plus memory_limit_mb for the verification.
            with open("/proc/self/statm") as f:
                have = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
            lim = have + memory_limit_mb * 1024 * 1024
            resource.setrlimit(resource.RLIMIT_AS, (lim, lim))
        except (ImportError, ValueError, OSError):
            pass
    import logging

    logging.getLogger("math_verify").setLevel(logging.CRITICAL)
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg is None:
            return
        kind, options, items = msg
        for gold, pred in items:   # one result per item, sent as soon as it is ready
            try:
                out = _run_one(kind, gold, pred, options)
            except MemoryError:
                out = VerifyResult(None, "memory", kind)
            except Exception as e:  # a verifier bug on one input must not stop the run
                out = VerifyResult(None, f"error:{type(e).__name__}", kind)
            try:
                conn.send(out)
            except (BrokenPipeError, OSError):
                return


class VerifyCache:
    """SQLite cache of verification results keyed by a hash of everything they depend on."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(str(self.path), timeout=30)
        self.db.execute("PRAGMA journal_mode=WAL")
        # One JSON verdict per key (VerifyResult.to_json); `verdicts` replaced the 5-column
        # `results` table when results gained `extra` (an old cache file is simply not read).
        self.db.execute("CREATE TABLE IF NOT EXISTS verdicts (key TEXT PRIMARY KEY, result TEXT)")
        self.db.commit()

    @staticmethod
    def key(kind: str, options: dict, gold: Any, pred: Any, version: str) -> str:
        raw = stable_json([kind, options, version, gold, pred])
        return hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()

    def get_many(self, keys: Sequence[str]) -> dict[str, VerifyResult]:
        out: dict[str, VerifyResult] = {}
        uniq = list(dict.fromkeys(keys))
        for i in range(0, len(uniq), 500):
            chunk = uniq[i:i + 500]
            q = f"SELECT key, result FROM verdicts WHERE key IN ({','.join('?' * len(chunk))})"
            for k, result in self.db.execute(q, chunk):
                out[k] = VerifyResult.from_json(result)
        return out

    def put_many(self, items: Iterable[tuple[str, VerifyResult]]) -> None:
        self.db.executemany("INSERT OR REPLACE INTO verdicts VALUES (?,?)",
                            [(k, r.to_json()) for k, r in items])
        self.db.commit()

    def close(self) -> None:
        self.db.close()


def _version_tag(kind: str, options: dict | None = None) -> str:
    """What a cached verdict depends on besides its inputs: the rule's version, and for
    math/mcq the version of curate's extraction rules (`EXTRACTION_VERSION`)."""
    if kind == "math":
        from curate.curation.verify_math import EXTRACTION_VERSION, verifier_name

        return f"{verifier_name((options or {}).get('rule'))}+{EXTRACTION_VERSION}"
    if kind == "mcq":
        from curate.curation.verify_choice import VERIFIER

        return VERIFIER
    return f"{kind}/1"


def _verifier_label(kind: str, options: dict | None = None) -> str:
    """The `verifier` of a result the pool makes itself (a timeout)."""
    if kind == "math":
        from curate.curation.verify_math import verifier_name

        return verifier_name((options or {}).get("rule"))
    return _version_tag(kind, options)


class VerifierPool:
    """Worker processes that verify (gold, prediction) pairs, each under a CPU-time budget.

    `timeout` is per item in CPU seconds of its worker (wall-clock where the worker's CPU time
    cannot be read); an item past it, or past `wall_timeout` wall seconds (default: 20 x
    `timeout`, at least 60 s), has its worker killed and replaced, and gets
    `VerifyResult(None, "timeout", ...)`. A worker that dies (memory limit, crash) costs its
    item only (`reason="worker_died"`).
    """

    def __init__(self, workers: int | None = None, timeout: float = 5.0,
                 cache: VerifyCache | str | Path | None = None,
                 memory_limit_mb: int | None = 2048, start_method: str | None = None,
                 batch: int = 8, wall_timeout: float | None = None):
        import math

        from curate.errors import BadInput

        if not (math.isfinite(float(timeout)) and timeout > 0):   # -1 waited forever
            raise BadInput(f"--timeout must be a number of seconds > 0, got {timeout}")
        if wall_timeout is not None and not (math.isfinite(wall_timeout) and wall_timeout > 0):
            raise BadInput(f"wall_timeout must be a number of seconds > 0, got {wall_timeout}")
        self.n = max(1, workers or min(os.cpu_count() or 1, 8))
        self.timeout = float(timeout)
        self.wall_timeout = wall_timeout
        self.memory_limit_mb = memory_limit_mb
        self.batch = max(1, int(batch))
        self.cache = VerifyCache(cache) if isinstance(cache, (str, Path)) else cache
        # fork: workers inherit the already imported math-verify/sympy (a replacement starts
        # in milliseconds) and no __main__ re-import is needed, unlike spawn/forkserver.
        method = start_method or ("fork" if "fork" in mp.get_all_start_methods() else "spawn")
        self.ctx = mp.get_context(method)
        if method == "fork":
            import math_verify  # noqa: F401  (preload for the children)
            import sympy  # noqa: F401

            import curate.curation.verify_math  # noqa: F401

            _warm_up()
        self.workers: list[list[Any]] = []   # [process, conn]
        self.restarts = 0

    # -- worker management -------------------------------------------------------------
    def _spawn(self) -> list[Any]:
        parent, child = self.ctx.Pipe(duplex=True)
        p = self.ctx.Process(target=_worker, args=(child, self.memory_limit_mb), daemon=True)
        p.start()
        child.close()
        return [p, parent]

    def _ensure(self) -> None:
        while len(self.workers) < self.n:
            self.workers.append(self._spawn())

    def _kill(self, w: list[Any]) -> None:
        p, conn = w
        try:
            p.kill()
            p.join(2)
        finally:
            conn.close()

    def close(self) -> None:
        for _p, conn in self.workers:
            try:
                conn.send(None)
            except (BrokenPipeError, OSError):
                pass
        for w in self.workers:
            w[0].join(1)
            if w[0].is_alive():
                self._kill(w)
            else:
                w[1].close()
        self.workers = []
        if self.cache is not None:
            self.cache.close()

    def __enter__(self) -> VerifierPool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- running -----------------------------------------------------------------------
    def verify_many(self, pairs: Sequence[Pair], kind: str = "math",
                    options: dict | None = None,
                    on_done: Callable[[int], None] | None = None) -> list[VerifyResult]:
        """Results in the order of `pairs`; identical pairs are verified once."""
        options = dict(options or {})
        version = _version_tag(kind, options)
        keys = [VerifyCache.key(kind, options, g, p, version) for g, p in pairs]
        results: dict[str, VerifyResult] = self.cache.get_many(keys) if self.cache else {}
        todo: deque[tuple[str, Any, Any]] = deque()
        seen = set(results)
        for k, (g, p) in zip(keys, pairs):
            if k not in seen:
                seen.add(k)
                todo.append((k, g, p))
        # Same gold together: each worker parses a gold once (its caches are its own).
        todo = deque(sorted(todo, key=lambda t: str(t[1])))
        done_count = len(pairs) - len(todo)
        if on_done and done_count:
            on_done(done_count)
        fresh = self._run(todo, kind, options, on_done)
        if self.cache is not None:
            self.cache.put_many((k, r) for k, r in fresh.items()
                                if r.reason not in ("timeout", "worker_died", "memory"))
        results.update(fresh)
        return [results[k] for k in keys]

    def _run(self, todo: deque, kind: str, options: dict,
             on_done: Callable[[int], None] | None) -> dict[str, VerifyResult]:
        """Stream small batches to the workers; each item has its own budget.

        A worker gets a few items at once (so it never idles waiting for the parent) and
        sends each result when ready; the item at the head of its batch starts at the previous
        result (or at the dispatch) and may use `timeout` CPU seconds of its worker. When that
        much wall time has passed, the worker's CPU time is read: a worker that was waiting
        for the CPU gets the rest of its budget; one that spent it (or any item past
        `wall_timeout`) is killed and replaced, that item times out, and the rest of its batch
        is queued again.
        """
        out: dict[str, VerifyResult] = {}
        if not todo:
            return out
        self._ensure()
        flight: dict[int, deque] = {}       # worker index -> keys in flight (head = running)
        deadline: dict[int, float] = {}
        start: dict[int, tuple[float, float | None]] = {}   # head item: (wall, worker CPU)
        items: dict[str, tuple[Any, Any]] = {}
        wall_cap = (self.wall_timeout if self.wall_timeout is not None
                    else max(60.0, 20.0 * self.timeout))

        def begin(i: int) -> None:
            now = time.monotonic()
            start[i] = (now, process_cpu_seconds(self.workers[i][0].pid))
            deadline[i] = now + self.timeout

        def requeue(i: int) -> None:
            for k in reversed(list(flight.pop(i, ()))):
                todo.appendleft((k, *items.pop(k)))
            deadline.pop(i, None)
            start.pop(i, None)

        def finish(i: int, result: VerifyResult) -> None:
            k = flight[i].popleft()
            items.pop(k, None)
            out[k] = result
            if flight[i]:
                begin(i)
            else:
                flight.pop(i)
                deadline.pop(i)
                start.pop(i, None)

        def spent(i: int, now: float) -> bool:
            """Whether worker i's head item used its budget; else its deadline moves on."""
            wall0, cpu0 = start[i]
            if now - wall0 >= wall_cap:
                return True
            cpu = process_cpu_seconds(self.workers[i][0].pid)
            if cpu is None or cpu0 is None:
                return True          # no CPU clock: the wall clock decides
            left = self.timeout - (cpu - cpu0)
            if left <= 0:
                return True
            deadline[i] = min(now + max(left, 0.05), wall0 + wall_cap)
            return False

        while todo or flight:
            for i, w in enumerate(self.workers):
                if i in flight or not todo:
                    continue
                size = max(1, min(self.batch, len(todo) // len(self.workers)))
                batch = [todo.popleft() for _ in range(min(size, len(todo)))]
                try:
                    w[1].send((kind, options, [(g, p) for _, g, p in batch]))
                except (BrokenPipeError, OSError):
                    todo.extendleft(reversed(batch))
                    self._replace(i)
                    continue
                flight[i] = deque(k for k, _, _ in batch)
                items.update({k: (g, p) for k, g, p in batch})
                begin(i)
            if not flight:
                continue
            wait_for = max(0.0, min(deadline.values()) - time.monotonic())
            conns = {self.workers[i][1]: i for i in flight}
            sentinels = {self.workers[i][0].sentinel: i for i in flight}
            ready = wait(list(conns) + list(sentinels), timeout=wait_for)
            done_before = len(out)
            for obj in ready:
                i = conns.get(obj)
                if i is None or i not in flight:
                    continue
                try:
                    while i in flight and obj.poll():
                        finish(i, obj.recv())
                except (EOFError, OSError):
                    if i in flight:
                        finish(i, VerifyResult(None, "worker_died", kind))
                        requeue(i)
                    self._replace(i)
            for obj in ready:
                i = sentinels.get(obj)
                if i is not None and i in flight and not self.workers[i][0].is_alive():
                    finish(i, VerifyResult(None, "worker_died", kind))
                    requeue(i)
                    self._replace(i)
            now = time.monotonic()
            for i in [i for i, d in deadline.items() if now >= d and spent(i, now)]:
                finish(i, VerifyResult(None, "timeout", _verifier_label(kind, options)))
                requeue(i)
                self._replace(i)
            if on_done and len(out) > done_before:
                on_done(len(out) - done_before)
        return out

    def _replace(self, i: int) -> None:
        self._kill(self.workers[i])
        self.workers[i] = self._spawn()
        self.restarts += 1


def verify_pairs(pairs: Sequence[Pair], kind: str = "math", options: dict | None = None,
                 workers: int | None = None, timeout: float = 5.0,
                 cache: VerifyCache | str | Path | None = None,
                 progress: bool = False) -> list[VerifyResult]:
    """Verify many pairs in a fresh pool (with a progress bar if asked)."""
    with VerifierPool(workers=workers, timeout=timeout, cache=cache) as pool:
        if not progress:
            return pool.verify_many(pairs, kind, options)
        from curate.progress import progress_bar

        with progress_bar() as prog:
            task = prog.add_task("verify", total=len(pairs))
            return pool.verify_many(pairs, kind, options,
                                    on_done=lambda n: prog.advance(task, n))
