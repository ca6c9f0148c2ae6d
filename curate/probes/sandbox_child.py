"""The sandboxed side of `curate.probes.code_sandbox`: locks itself down, then runs untrusted
Python against test inputs. Standard library only; started as ``python -I -B THIS_FILE JOB``.

The job (JSON, written by the parent into the run's private temporary folder) holds the code,
the mode (``stdin`` or ``functional``), the function name, the number of tests and the limits.
Test inputs are files ``in_<i>.txt`` beside it. Results go, one JSON line per event, to the
file descriptor named in the job (a pipe the parent reads): ``{"setup": {...}}`` once, with
what was enforced, then ``{"start": i}`` and ``{"i": i, "status": ..., ...}`` per test. The
parent compares outputs (expected outputs never reach this process) and kills the whole
process group on a timeout.

Lock-down, in order (each layer recorded in ``setup``; one that the kernel refuses is
reported, never silently assumed):

1. a network namespace of its own (``unshare(CLONE_NEWNET)``; ``CLONE_NEWUSER`` too when not
   root): no interface but a down loopback, so no connection can be made;
2. resource limits: address space, CPU seconds, file size, open files, no core dumps, and
   ``RLIMIT_NPROC`` (which the kernel does not apply to root);
3. Landlock (Linux >= 5.13): writes, creations and removals only beneath the temporary
   folder; TCP bind/connect denied (ABI >= 4); signals to processes outside (ABI >= 6);
4. seccomp (x86_64 and aarch64): ``fork``, ``vfork``, ``clone`` of a new process (threads
   are allowed), ``clone3``, ``execve``, ``execveat`` and ``socket`` fail with an error;
5. a Python audit hook: sockets, subprocesses, ``os.system`` / ``exec`` / ``spawn`` /
   ``fork`` / ``kill``, ``ctypes`` loading, and writes outside the temporary folder raise
   ``PermissionError``.
"""

from __future__ import annotations

import builtins
import ctypes
import io
import json
import os
import platform
import resource
import signal
import sys

# What LiveCodeBench's runner imports before a solution (lcb_runner/evaluation/testing_util.py
# `import_string`): solutions may use these names without importing them.
PRELUDE = (
    "from string import *\nfrom re import *\nfrom datetime import *\nfrom collections import *\n"
    "from heapq import *\nfrom bisect import *\nfrom copy import *\nfrom math import *\n"
    "from random import *\nfrom statistics import *\nfrom itertools import *\n"
    "from functools import *\nfrom operator import *\nfrom io import *\nfrom sys import *\n"
    "from json import *\nfrom builtins import *\nfrom typing import *\nimport string\nimport re\n"
    "import datetime\nimport collections\nimport heapq\nimport bisect\nimport copy\nimport math\n"
    "import random\nimport statistics\nimport itertools\nimport functools\nimport operator\n"
    "import io\nimport sys\nimport json\nsys.setrecursionlimit(50000)\n")

_LIBC = None


def _libc():
    global _LIBC
    if _LIBC is None:
        _LIBC = ctypes.CDLL(None, use_errno=True)
    return _LIBC


def _errno() -> str:
    return os.strerror(ctypes.get_errno())


# -- 1. network namespace ----------------------------------------------------------------------

def _unshare_net() -> str:
    CLONE_NEWUSER, CLONE_NEWNET = 0x10000000, 0x40000000
    flags = CLONE_NEWNET if os.geteuid() == 0 else CLONE_NEWUSER | CLONE_NEWNET
    if _libc().unshare(flags) != 0:
        return f"refused: {_errno()}"
    return "own network namespace (no interface up)"


# -- 2. resource limits ------------------------------------------------------------------------

def _rlimits(lim: dict) -> dict:
    done = {}
    mb = 1024 * 1024
    for name, res, val in (("RLIMIT_AS", resource.RLIMIT_AS, lim["memory_mb"] * mb),
                           ("RLIMIT_CPU", resource.RLIMIT_CPU, int(lim["cpu_s"])),
                           ("RLIMIT_FSIZE", resource.RLIMIT_FSIZE, lim["fsize_mb"] * mb),
                           ("RLIMIT_NOFILE", resource.RLIMIT_NOFILE, lim["nofile"]),
                           ("RLIMIT_CORE", resource.RLIMIT_CORE, 0),
                           ("RLIMIT_NPROC", resource.RLIMIT_NPROC, lim["nproc"])):
        try:
            resource.setrlimit(res, (val, val))
            done[name] = val
        except (ValueError, OSError) as e:
            done[name] = f"refused: {e}"
    if os.geteuid() == 0:
        done["RLIMIT_NPROC"] = f"{done['RLIMIT_NPROC']} (not applied by the kernel to root)"
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)   # an over-long write fails, no kill
    return done


# -- 3. Landlock -------------------------------------------------------------------------------

_SYS_LANDLOCK = (444, 445, 446)   # create_ruleset, add_rule, restrict_self (x86_64, aarch64)


def _landlock(tmp: str) -> dict:
    libc = _libc()
    libc.syscall.restype = ctypes.c_long
    abi = libc.syscall(_SYS_LANDLOCK[0], None, ctypes.c_size_t(0), ctypes.c_uint32(1))
    if abi < 1:
        return {"landlock": f"unavailable: {_errno()}"}
    fs = (1 << 1) | (1 << 4) | (1 << 5) | (1 << 6) | (1 << 7) | (1 << 8) | (1 << 9) \
        | (1 << 10) | (1 << 11) | (1 << 12)          # WRITE_FILE, REMOVE_*, MAKE_*
    if abi >= 2:
        fs |= 1 << 13                                 # REFER
    if abi >= 3:
        fs |= 1 << 14                                 # TRUNCATE
    net = 0b11 if abi >= 4 else 0                     # BIND_TCP, CONNECT_TCP
    scoped = 0b11 if abi >= 6 else 0                  # abstract unix sockets, signals
    attr = (ctypes.c_uint64 * 3)(fs, net, scoped)
    size = 24 if abi >= 6 else 16 if abi >= 4 else 8
    rfd = libc.syscall(_SYS_LANDLOCK[0], ctypes.byref(attr), ctypes.c_size_t(size),
                       ctypes.c_uint32(0))
    if rfd < 0:
        return {"landlock": f"refused: {_errno()}"}

    class PathBeneath(ctypes.Structure):
        _pack_ = 1
        _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]

    def allow(path: str, access: int) -> None:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
        try:
            rule = PathBeneath(access, fd)
            if libc.syscall(_SYS_LANDLOCK[1], rfd, 1, ctypes.byref(rule), 0) != 0:
                raise OSError(_errno())
        finally:
            os.close(fd)

    try:
        allow(tmp, fs)
        allow("/dev/null", (1 << 1) | ((1 << 14) if abi >= 3 else 0))
        if libc.prctl(38, 1, 0, 0, 0) != 0:           # PR_SET_NO_NEW_PRIVS
            raise OSError(_errno())
        if libc.syscall(_SYS_LANDLOCK[2], rfd, 0) != 0:
            raise OSError(_errno())
    except OSError as e:
        return {"landlock": f"refused: {e}"}
    finally:
        os.close(rfd)
    out = {"landlock": f"ABI {abi}: writes only beneath the temporary folder"}
    if net:
        out["landlock_net"] = "TCP bind and connect denied"
    if scoped:
        out["landlock_scope"] = "no signals or abstract sockets outside the sandbox"
    return out


# -- 4. seccomp --------------------------------------------------------------------------------

_ARCH = {"x86_64": (0xC000003E, {"fork": 57, "vfork": 58, "clone": 56, "clone3": 435,
                                 "execve": 59, "execveat": 322, "socket": 41}),
         "aarch64": (0xC00000B7, {"clone": 220, "clone3": 435, "execve": 221,
                                  "execveat": 281, "socket": 198})}


def _seccomp() -> str:
    arch = _ARCH.get(platform.machine())
    if arch is None:
        return f"unavailable on {platform.machine()}"
    audit_arch, nr = arch
    EPERM, EACCES, ENOSYS = 1, 13, 38
    ALLOW = 0x7FFF0000

    def err(e):
        return 0x00050000 | e

    LD, JEQ, JSET, RET = 0x20, 0x15, 0x45, 0x06
    prog: list[tuple[int, int, int, int]] = [(LD, 0, 0, 4)]       # arch
    prog.append((JEQ, 1, 0, audit_arch))
    prog.append((RET, 0, 0, err(EPERM)))                          # another ABI: refuse
    prog.append((LD, 0, 0, 0))                                    # syscall number
    denied = [(nr[n], err(EACCES if n == "socket" else ENOSYS if n == "clone3" else EPERM))
              for n in ("fork", "vfork", "clone3", "execve", "execveat", "socket") if n in nr]
    # layout: [deny checks][clone check][ALLOW][clone: load flags, JSET THREAD][ALLOW][EPERM]
    body: list[tuple[int, int, int, int]] = []
    for num, ret in denied:
        body.append((JEQ, 0, 1, num))
        body.append((RET, 0, 0, ret))
    body.append((JEQ, 1, 0, nr["clone"]))
    body.append((RET, 0, 0, ALLOW))
    body.append((LD, 0, 0, 16))                                   # args[0] (flags), low word
    body.append((JSET, 0, 1, 0x00010000))                         # CLONE_THREAD
    body.append((RET, 0, 0, ALLOW))
    body.append((RET, 0, 0, err(EPERM)))
    prog += body

    class Filter(ctypes.Structure):
        _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8),
                    ("k", ctypes.c_uint32)]

    class Prog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(Filter))]

    arr = (Filter * len(prog))(*[Filter(*p) for p in prog])
    fprog = Prog(len(prog), ctypes.cast(arr, ctypes.POINTER(Filter)))
    libc = _libc()
    if libc.prctl(38, 1, 0, 0, 0) != 0:                            # PR_SET_NO_NEW_PRIVS
        return f"refused: {_errno()}"
    if libc.prctl(22, 2, ctypes.byref(fprog), 0, 0) != 0:          # PR_SET_SECCOMP, FILTER
        return f"refused: {_errno()}"
    return "no fork/vfork/clone of a process/clone3/execve/execveat/socket"


# -- 5. audit hook -----------------------------------------------------------------------------

_BLOCKED = ("socket.", "subprocess.", "os.system", "os.exec", "os.spawn", "os.posix_spawn",
            "os.fork", "os.forkpty", "os.kill", "os.killpg", "ctypes.dlopen", "ctypes.dlsym",
            "ctypes.cdata", "os.putenv", "pty.spawn", "_posixsubprocess")
_PATH_EVENTS = {"os.remove", "os.rename", "os.rmdir", "os.mkdir", "os.chmod", "os.chown",
                "os.link", "os.symlink", "os.truncate", "os.utime", "shutil.rmtree",
                "shutil.move", "shutil.copyfile", "os.setxattr", "os.removexattr"}


def _audit_hook(tmp: str):
    root = os.path.realpath(tmp)

    def inside(path) -> bool:
        try:
            if isinstance(path, int):
                return True
            p = os.path.realpath(os.fsdecode(path))
        except (TypeError, ValueError):
            return False
        return p == root or p.startswith(root + os.sep) or p == "/dev/null"

    def hook(event: str, args: tuple) -> None:
        if event.startswith(_BLOCKED):
            raise PermissionError(f"sandbox: {event} is not allowed")
        if event == "open":
            path, mode, flags = (tuple(args) + (None, None, None))[:3]
            writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
                isinstance(flags, int) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT
                                                    | os.O_TRUNC | os.O_APPEND))
            if writing and not inside(path):
                raise PermissionError(f"sandbox: writing {path!r} is not allowed")
        elif event in _PATH_EVENTS:
            for a in args[:2]:
                if isinstance(a, (str, bytes, os.PathLike)) and not inside(a):
                    raise PermissionError(f"sandbox: {event} on {a!r} is not allowed")

    return hook


# -- running tests -----------------------------------------------------------------------------

def _emit(fd: int, rec: dict) -> None:
    data = (json.dumps(rec) + "\n").encode()
    while data:
        n = os.write(fd, data)
        data = data[n:]


def _redirect(tmp: str, i: int) -> tuple[int, int]:
    """fd 0 <- in_i.txt, fd 1 -> out_i.txt; fresh sys.stdin / sys.stdout over them."""
    fin = os.open(os.path.join(tmp, f"in_{i}.txt"), os.O_RDONLY)
    fout = os.open(os.path.join(tmp, f"out_{i}.txt"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC,
                   0o600)
    os.dup2(fin, 0)
    os.dup2(fout, 1)
    os.close(fin)
    os.close(fout)
    sys.stdin = io.TextIOWrapper(io.FileIO(0, "r", closefd=False), encoding="utf-8")
    sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), encoding="utf-8",
                                  write_through=True)
    return 0, 1


def _read_out(tmp: str, i: int, limit: int) -> tuple[str, bool]:
    try:
        sys.stdout.flush()
    except Exception:  # noqa: BLE001 - the solution may have closed it
        pass
    with open(os.path.join(tmp, f"out_{i}.txt"), "rb") as f:
        data = f.read(limit + 1)
    return data[:limit].decode("utf-8", "replace"), len(data) > limit


def _short(e: BaseException) -> str:
    return f"{type(e).__name__}: {e}"[:500]


def run(job: dict, tmp: str, fd: int) -> None:
    code, mode, n = job["code"], job["mode"], job["n_tests"]
    out_limit = job["limits"]["output_bytes"]
    try:
        compiled = compile(PRELUDE + "\n" + code if mode == "functional" else code,
                           "<solution>", "exec")
    except (SyntaxError, ValueError, MemoryError, RecursionError) as e:
        _emit(fd, {"compile_error": _short(e)})
        return
    method = None
    if mode == "functional":
        ns = {"__name__": "tmp_sol", "__builtins__": builtins}
        try:
            _redirect(tmp, 0)
            exec(compiled, ns)   # noqa: S102 - untrusted code, inside the sandbox
            holder = ns["Solution"]() if "class Solution" in code and "Solution" in ns else None
            method = getattr(holder, job["fn_name"], None) if holder is not None \
                else ns.get(job["fn_name"])
        except BaseException as e:  # noqa: BLE001 - the solution's own failure
            _emit(fd, {"compile_error": _short(e)})
            return
        if not callable(method):
            _emit(fd, {"compile_error": f"no function {job['fn_name']!r}"})
            return
    for i in range(n):
        _emit(fd, {"start": i})
        _redirect(tmp, i)
        rec: dict = {"i": i}
        try:
            if mode == "functional":
                with open(os.path.join(tmp, f"in_{i}.txt"), encoding="utf-8") as f:
                    args = [json.loads(line) for line in f.read().split("\n")]
                result = method(*args)
                if isinstance(result, tuple):
                    result = list(result)
                try:
                    rec.update(status="ok", result=json.dumps(result))
                except (TypeError, ValueError) as e:
                    rec.update(status="error", error=f"unserializable result: {e}"[:300])
            else:
                try:
                    exec(compiled, {"__name__": "__main__", "__builtins__": builtins})  # noqa: S102
                except SystemExit:
                    pass
                out, cut = _read_out(tmp, i, out_limit)
                rec.update(status="ok", stdout=out, truncated=cut)
        except BaseException as e:  # noqa: BLE001 - a runtime error of the solution
            rec.update(status="error", error=_short(e))
        _emit(fd, rec)


def main() -> None:
    with open(sys.argv[1], encoding="utf-8") as f:
        job = json.load(f)
    tmp, fd, lim = job["tmp"], job["fd"], job["limits"]
    os.chdir(tmp)
    setup: dict = {"process_group": "own session; the parent kills the whole group",
                   "env": "scrubbed", "cwd": "private temporary folder"}
    if lim.get("network_namespace", True):
        setup["network_namespace"] = _unshare_net()
    setup["rlimits"] = _rlimits(lim)
    if lim.get("landlock", True):
        setup.update(_landlock(tmp))
    if lim.get("seccomp", True):
        setup["seccomp"] = _seccomp()
    if lim.get("audit_hook", True):
        sys.addaudithook(_audit_hook(tmp))
        setup["audit_hook"] = "sockets, subprocesses, exec, fork, kill, ctypes, outside writes"
    _emit(fd, {"setup": setup})
    run(job, tmp, fd)
    _emit(fd, {"done": True})


if __name__ == "__main__":
    main()
