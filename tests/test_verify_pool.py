"""The verifier pool: a kill per item once its CPU budget is spent (never for waiting on a busy
machine), worker replacement, cache, order."""

from __future__ import annotations

import os
import signal
import sqlite3
import threading
import time

import pytest

from curate.curation.verify_math import verify_math
from curate.curation.verify_pool import VerifierPool, VerifyCache

HANG = r"\boxed{\dfrac{5^{5^{5^{5^5}}}-5}{16}}"   # math-verify issue #65: hangs past its own timeout
PAIRS = [(r"\frac{1}{2}", r"so \boxed{0.5}"), ("3", r"\boxed{4}"), ("7", "no answer"),
         ("x=2", r"\boxed{2}")]


@pytest.fixture
def pool():
    with VerifierPool(workers=2, timeout=1.0) as p:
        p.verify_many([("1", r"\boxed{1}")])   # warm the workers
        yield p


def test_results_match_in_process_and_keep_order(pool):
    pool.timeout = 30.0     # a loaded machine must not turn a slow item into a timeout here
    got = pool.verify_many(PAIRS)
    want = [verify_math(g, p) for g, p in PAIRS]
    assert [(r.verified, r.reason, r.final_answer) for r in got] == \
        [(r.verified, r.reason, r.final_answer) for r in want]


def test_hanging_input_is_killed_once_its_cpu_budget_is_spent(pool):
    t0 = time.monotonic()
    got = pool.verify_many([("5", HANG)] + PAIRS)
    elapsed = time.monotonic() - t0
    assert got[0].verified is None and got[0].reason == "timeout"
    assert [r.verified for r in got[1:]] == [True, False, None, True]
    assert pool.restarts == 1
    assert elapsed < 60    # killed on its CPU budget, long before the wall-clock backstop
    # the replacement worker serves later items
    assert pool.verify_many([("2", r"\boxed{2}")])[0].verified is True


def _stop_for(pid: int, seconds: float | None) -> threading.Timer | None:
    """SIGSTOP a worker (a machine so busy it never gets the CPU); SIGCONT after `seconds`."""
    os.kill(pid, signal.SIGSTOP)
    if seconds is None:
        return None
    t = threading.Timer(seconds, os.kill, (pid, signal.SIGCONT))
    t.start()
    return t


def test_a_worker_waiting_for_the_cpu_is_not_timed_out():
    """The load bug: with a wall-clock deadline, a correct answer whose worker could not get
    the CPU for `timeout` seconds came back `timeout` (scored wrong in evals). The budget is
    the worker's CPU time, so waiting costs nothing: stopped for 4x the timeout, every answer
    is still verified, no worker is replaced, and a wrong answer stays wrong."""
    with VerifierPool(workers=1, timeout=0.5) as p:
        p.verify_many([("1", r"\boxed{1}")])     # the worker is up
        ((proc, _),) = p.workers
        t = _stop_for(proc.pid, 2.0)
        try:
            got = p.verify_many(PAIRS + [("12", r"so \boxed{12}")])
        finally:
            t.join()
            os.kill(proc.pid, signal.SIGCONT)
        assert [r.verified for r in got] == [True, False, None, True, True]
        assert [r.reason for r in got] == [verify_math(g, a).reason for g, a in PAIRS] + ["ok"]
        assert p.restarts == 0


def test_a_worker_that_never_gets_the_cpu_hits_the_wall_clock_backstop():
    with VerifierPool(workers=1, timeout=0.5, wall_timeout=1.5) as p:
        p.verify_many([("1", r"\boxed{1}")])
        ((proc, _),) = p.workers
        _stop_for(proc.pid, None)            # killed and replaced by the pool
        got = p.verify_many([("2", r"\boxed{2}"), ("3", r"\boxed{3}")])
        assert got[0].verified is None and got[0].reason == "timeout"
        assert got[1].verified is True and p.restarts == 1


def test_worker_cpu_clock():
    from curate.curation.verify_pool import process_cpu_seconds

    t = process_cpu_seconds(os.getpid())
    assert t is not None and t > 0
    assert process_cpu_seconds(2 ** 22 + 12345) is None   # no such process


def test_a_worker_killed_from_outside_costs_only_its_item(pool):
    def kill_busy():
        time.sleep(0.3)
        for p, _ in pool.workers:
            os.kill(p.pid, signal.SIGKILL)

    pool.timeout = 5.0
    t = threading.Thread(target=kill_busy)
    t.start()
    got = pool.verify_many([("5", HANG)])
    t.join()
    assert got[0].verified is None and got[0].reason == "worker_died"
    assert pool.verify_many(PAIRS[:1])[0].verified is True


def test_cache_by_gold_and_prediction(tmp_path):
    path = tmp_path / "verify.sqlite"
    with VerifierPool(workers=1, timeout=2.0, cache=path) as p:
        first = p.verify_many(PAIRS + PAIRS)   # duplicates verified once
    n = sqlite3.connect(path).execute("SELECT count(*) FROM verdicts").fetchone()[0]
    assert n == len(PAIRS)
    cache = VerifyCache(path)
    with VerifierPool(workers=1, timeout=2.0, cache=cache) as p:
        again = p.verify_many(PAIRS)
        assert p.workers == []          # everything came from the cache: no worker started
    assert again == first[:len(PAIRS)]


def test_timeouts_are_not_cached(tmp_path):
    path = tmp_path / "v.sqlite"
    with VerifierPool(workers=1, timeout=0.5, cache=path) as p:
        assert p.verify_many([("5", HANG)])[0].reason == "timeout"
    assert sqlite3.connect(path).execute("SELECT count(*) FROM verdicts").fetchone()[0] == 0


def test_per_item_arguments_and_extra_survive_the_pool_and_the_cache(tmp_path):
    """A prediction may carry per-item arguments; the result's `extra` (region, answer_from)
    comes back through the worker pipe and the cache unchanged."""
    pairs = [("5", {"text": "<think>cut \\boxed{5}", "closed": False}),
             ("7", {"text": "no answer", "final_answer": "7"}), ("5", "<think>cut \\boxed{5}")]
    want = [verify_math(g, p["text"], **{k: v for k, v in p.items() if k != "text"})
            if isinstance(p, dict) else verify_math(g, p) for g, p in pairs]
    with VerifierPool(workers=1, timeout=5.0, cache=tmp_path / "c.sqlite") as p:
        got = p.verify_many(pairs)
    with VerifierPool(workers=1, timeout=5.0, cache=tmp_path / "c.sqlite") as p:
        cached = p.verify_many(pairs)
    assert got == want == cached
    assert got[1].extra["answer_from"] == "final_answer"
    assert got[2].extra["region"] == "unclosed-no-answer"


def test_memory_cap_is_relative_to_what_the_worker_already_maps():
    """A parent that already maps a lot (torch, big datasets) must not starve its workers."""
    ballast = bytearray(600 * 1024 * 1024)   # the parent maps 600 MB more than usual
    with VerifierPool(workers=1, timeout=5.0, memory_limit_mb=256) as p:
        assert p.verify_many(PAIRS[:1])[0].verified is True
    del ballast


def test_workers_leave_when_curate_is_killed(tmp_path):
    """kill -9 of a process running verification left its forked workers asleep forever
    (each holds a copy of the parent's end of its own pipe, so recv never sees EOF), keeping
    the writer's staging lock and the store files open."""
    import subprocess
    import sys

    code = ("from curate.curation.verify_pool import VerifierPool\n"
            "p = VerifierPool(workers=2, timeout=5)\n"
            "p.verify_many([('2', '\\\\boxed{2}'), ('3', '\\\\boxed{3}')])\n"
            "print(*[w[0].pid for w in p.workers], flush=True)\n"
            "import time; time.sleep(600)\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    pids = [int(x) for x in proc.stdout.readline().split()]
    assert len(pids) == 2 and all(_alive(p) for p in pids)
    proc.kill()
    proc.wait()
    deadline = time.time() + 15
    while time.time() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.1)
    assert not any(_alive(p) for p in pids)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.parametrize("timeout", [-1, 0, float("nan"), float("inf")])
def test_a_timeout_that_is_no_time_is_refused(timeout):
    """verify --timeout -1 waited forever (killed at 90 s); NaN and 0 are no budget either."""
    from curate.errors import BadInput

    with pytest.raises(BadInput, match="--timeout must be a number of seconds > 0"):
        VerifierPool(workers=1, timeout=timeout)
