"""A guard process that ties a child's life (a teacher server and everything it spawns) to
curate's: `python -I curate/guard.py PARENT_PID GRACE_S -- COMMAND...`.

curate starts the guard in a new session, so the guard leads a process group that holds the
server and the server's own children (vLLM engine cores, SGLang schedulers, ...). The guard
stops the whole group when
- it gets SIGTERM, SIGINT or SIGHUP (curate's `stop_server`, or a signal to the group);
- curate dies in any way, SIGKILL included: the kernel's parent-death signal
  (PR_SET_PDEATHSIG, SIGUSR1 here) wakes it, and because that signal fires when the *thread*
  that forked the guard exits, the guard confirms that its parent process is gone
  (`getppid()` changed) before acting; it also polls `getppid()` every 0.2 s as a backstop.
Stopping is SIGTERM to the group, then SIGKILL to the group (the guard included) once the
server has exited or after GRACE_S seconds, so nothing is left and nothing waits long for
in-flight requests. The server gets its own parent-death SIGKILL in case the guard is killed.
When the server exits by itself the guard exits with its code. Standard library only, so it
starts in a few tens of milliseconds.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time

PR_SET_PDEATHSIG = 1
POLL_S = 0.2


def set_parent_death_signal(sig: int) -> bool:
    """Ask the kernel to send `sig` to this process when its parent thread exits (Linux)."""
    try:
        return ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _say(msg: str) -> None:
    sys.stdout.write(f"[curate guard {os.getpid()}] {msg}\n")
    sys.stdout.flush()


def run(parent: int, grace: float, cmd: list[str]) -> int:
    why: list[str] = []

    def on_stop(signum, frame) -> None:
        why.append(signal.Signals(signum).name)

    def on_parent_death(signum, frame) -> None:
        if os.getppid() != parent:
            why.append(f"curate (pid {parent}) exited")

    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(s, on_stop)
    signal.signal(signal.SIGUSR1, on_parent_death)
    set_parent_death_signal(signal.SIGUSR1)
    if os.getppid() != parent:          # curate died before the signal was armed
        return 1
    server = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                              preexec_fn=lambda: set_parent_death_signal(signal.SIGKILL))
    while not why:
        try:
            return server.wait(timeout=POLL_S)
        except subprocess.TimeoutExpired:
            pass
        if os.getppid() != parent:
            why.append(f"curate (pid {parent}) exited")
    _say(f"{why[0]}: stopping the server (pid {server.pid}) and its process group")
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        os.killpg(0, signal.SIGTERM)
    except ProcessLookupError:
        pass
    deadline = time.monotonic() + grace
    while server.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    sys.stdout.flush()
    os.killpg(0, signal.SIGKILL)        # whatever is left, this guard included
    return 1


def main(argv: list[str]) -> int:
    if len(argv) < 5 or argv[3] != "--":
        sys.stderr.write("usage: python -I guard.py PARENT_PID GRACE_S -- COMMAND...\n")
        return 2
    return run(int(argv[1]), float(argv[2]), argv[4:])


if __name__ == "__main__":
    sys.exit(main(sys.argv))
