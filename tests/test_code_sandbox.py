"""The code sandbox: LiveCodeBench's test semantics, and containment of hostile code."""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path

import pytest

from curate.probes.code_sandbox import Limits, run_tests, stdout_matches

DOUBLE = "n = int(input())\nprint(n * 2)\n"
TWO_SUM = ("class Solution:\n    def twoSum(self, nums: List[int], target: int) -> List[int]:\n"
           "        seen = {}\n        for i, x in enumerate(nums):\n"
           "            if target - x in seen:\n                return [seen[target - x], i]\n"
           "            seen[x] = i\n")
ONLY = {  # one kernel layer at a time (the audit hook off too)
    "network_namespace": dict(landlock=False, seccomp=False, audit_hook=False),
    "landlock": dict(network_namespace=False, seccomp=False, audit_hook=False),
    "seccomp": dict(network_namespace=False, landlock=False, audit_hook=False),
}


def _active(res, key: str) -> bool:
    v = res.enforced.get(key)
    return v is not None and not str(v).startswith(("refused", "unavailable"))


def _sandbox_processes() -> list[str]:
    out = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                cmd = (p / "cmdline").read_bytes()
            except OSError:
                continue
            if b"sandbox_child.py" in cmd and p.name != str(os.getpid()):
                out.append(p.name)
    return out


def test_correct_and_wrong_stdin():
    ok = run_tests(DOUBLE, ["3\n", "21\n"], ["6\n", "42"], "stdin")
    assert ok.passed and ok.status == "passed" and ok.tests_passed == 2
    assert _active(ok, "rlimits") and ok.enforced["rlimits"]["RLIMIT_AS"] == 2048 * 2**20
    bad = run_tests("print(7)", ["3\n", "21\n"], ["6", "42"], "stdin")
    assert not bad.passed and bad.status == "wrong_answer" and bad.tests_passed == 0
    assert len(bad.outcomes) == 1          # the first failure ends the run


def test_functional_leetcode_style():
    res = run_tests(TWO_SUM, ["[2,7,11,15]\n9", "[3,2,4]\n6"], ["[0, 1]", "[1, 2]"],
                    "functional", "twoSum")
    assert res.passed, res.outcomes
    wrong = TWO_SUM.replace("[seen[target - x], i]", "[i, seen[target - x]]")
    assert run_tests(wrong, ["[2,7,11,15]\n9"], ["[0, 1]"], "functional", "twoSum").status \
        == "wrong_answer"
    # a tuple counts as a list (LiveCodeBench); a missing method is an error
    tup = "class Solution:\n    def f(self, a):\n        return (a, a)\n"
    assert run_tests(tup, ["1"], ["[1, 1]"], "functional", "f").passed
    assert run_tests(tup, ["1"], ["[1, 1]"], "functional", "g").status == "compile_error"
    assert run_tests("def f(:\n", ["1"], ["1"], "functional", "f").status == "compile_error"


def test_lcb_stdout_comparison():
    assert stdout_matches("1 2\n3\n\n", "1 2\n3")
    assert stdout_matches("0.50 1", "0.5 1.0")           # decimals compare by value
    assert not stdout_matches("1 2", "1 2\n3")
    assert not stdout_matches("abc", "abd")


def test_runtime_error_and_stdin_forms():
    assert run_tests("raise ValueError('x')", ["1"], ["1"]).status == "runtime_error"
    code = "import sys\nprint(sum(map(int, sys.stdin.buffer.read().split())))\n"
    assert run_tests(code, ["1 2 3\n"], ["6"]).passed
    assert run_tests("print(sum(map(int, open(0).read().split())))", ["4 5"], ["9"]).passed
    main = "def main():\n    print(input()[::-1])\nif __name__ == '__main__':\n    main()\n"
    assert run_tests(main, ["abc"], ["cba"]).passed


def test_infinite_loop_is_killed():
    res = run_tests("while True:\n    pass\n", ["1", "2"], ["1", "2"], limits=Limits(timeout_s=1))
    assert res.status == "timeout" and not res.passed
    assert res.wall_s < 1 + 30        # killed at the limit, not left running
    assert _sandbox_processes() == []


def test_fork_bomb_is_contained():
    res = run_tests("import os\nwhile True:\n    os.fork()\n", ["1"], ["1"],
                    limits=Limits(timeout_s=5))
    assert not res.passed and res.status in ("runtime_error", "timeout")
    assert _sandbox_processes() == []


FORK_COUNT = ("import os, time\nn = 0\nfor _ in range(20):\n    try:\n        pid = os.fork()\n"
              "    except OSError:\n        continue\n    if pid == 0:\n        time.sleep(60)\n"
              "        os._exit(0)\n    n += 1\nprint(n)\n")


def test_fork_bomb_stopped_by_the_kernel_alone():
    """With the Python hook off, seccomp (any user) or RLIMIT_NPROC (non-root) stops forks."""
    res = run_tests(FORK_COUNT, ["1"], ["0"], limits=Limits(**ONLY["seccomp"]))
    if not _active(res, "seccomp") and os.geteuid() == 0:
        pytest.skip(f"seccomp not enforced here: {res.enforced.get('seccomp')}")
    assert res.passed, res.outcomes       # printed 0: no process could be created
    assert _sandbox_processes() == []


def test_memory_bomb_is_contained():
    res = run_tests("x = bytearray(16 * 2**30)\nprint('allocated')\n", ["1"], ["allocated"],
                    limits=Limits(memory_mb=512, **ONLY["seccomp"]))
    assert res.status == "runtime_error" and "MemoryError" in res.detail
    grow = "a = []\nwhile True:\n    a.append(' ' * 10**7)\n"
    res = run_tests(grow, ["1"], ["1"], limits=Limits(memory_mb=512, timeout_s=20))
    assert res.status in ("runtime_error", "timeout") and not res.passed


@pytest.fixture
def listener():
    """A TCP server on loopback that counts the connections it accepts."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    srv.settimeout(0.2)
    accepted = []
    stop = threading.Event()

    def loop():
        while not stop.is_set():
            try:
                c, _ = srv.accept()
                accepted.append(1)
                c.close()
            except OSError:
                continue

    t = threading.Thread(target=loop, daemon=True)
    t.start()
    yield srv.getsockname()[1], accepted
    stop.set()
    t.join(2)
    srv.close()


CONNECT = ("import socket\ntry:\n    s = socket.create_connection(('127.0.0.1', {port}), timeout=3)\n"
           "    print('connected')\nexcept OSError as e:\n    print('refused')\n")


@pytest.mark.parametrize("layers", [None, *ONLY])
def test_socket_connect_is_refused(listener, layers):
    port, accepted = listener
    lim = Limits(**ONLY[layers]) if layers else Limits()
    res = run_tests(CONNECT.format(port=port), ["1"], ["refused"], limits=lim)
    key = layers or "audit_hook"
    if layers and not _active(res, key) and not (layers == "landlock"
                                                 and _active(res, "landlock_net")):
        pytest.skip(f"{layers} not enforced here: {res.enforced.get(layers)}")
    if layers == "landlock" and not _active(res, "landlock_net"):
        pytest.skip("Landlock ABI < 4: no network rules")
    assert res.status in ("passed", "runtime_error"), res.outcomes   # refused, or the hook
    assert not any("connected" == (o.get("output") or "").strip() for o in res.outcomes)
    assert accepted == []


@pytest.mark.parametrize("layers", [None, "landlock"])
def test_writing_outside_the_temp_dir_fails(tmp_path, layers):
    target_dir = tmp_path / "open"
    target_dir.mkdir()
    target_dir.chmod(0o777)
    target = target_dir / "escape.txt"
    code = (f"try:\n    open({str(target)!r}, 'w').write('x')\n    print('wrote')\n"
            "except OSError:\n    print('denied')\nopen('inside.txt', 'w').write('ok')\n"
            "print(open('inside.txt').read())\n")
    lim = Limits(**ONLY[layers]) if layers else Limits()
    res = run_tests(code, ["1"], ["denied\nok"], limits=lim)
    if layers and not _active(res, "landlock"):
        pytest.skip(f"landlock not enforced here: {res.enforced.get('landlock')}")
    assert res.passed, res.outcomes       # denied outside, allowed in its own folder
    assert not target.exists()
