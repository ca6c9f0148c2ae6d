"""An append-only request cache: one JSON line per finished request, keyed by content hash.

A result is appended (one `write` on an O_APPEND descriptor) the moment it arrives, so a run
killed at any point, SIGKILL included, keeps every answer it received; the OS has the bytes
even if the process dies before the periodic fsync. A torn last line is skipped on load, and
the same key twice keeps the first answer, so concurrent or repeated runs never duplicate rows.

Memory holds an index, not the answers: per finished key its line's offset, length and whether
it is an answer; `get` reads that line back. So a cache of 100k long traces (gigabytes of JSON)
costs tens of megabytes open, and registration streams the answers from disk in request order.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from pathlib import Path
from typing import Any

from curate.errors import CurateError
from curate.redact import scrub, scrub_values

FSYNC_EVERY_S = 2.0


class RequestCache:
    """`key -> record` for one generation job; holds an exclusive lock while open."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd: int | None = None
        self._read_fd: int | None = None
        self._lock_fd: int | None = None
        self._last_sync = 0.0
        self._size = 0
        self._index: dict[str, tuple[int, int, bool]] = {}   # key -> (offset, length, ok)
        self._transient: dict[str, dict[str, Any]] = {}       # retryable failures (memory only)
        self.torn_lines = 0

    def __enter__(self) -> RequestCache:
        self._lock_fd = os.open(str(self.path) + ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._lock_fd)
            self._lock_fd = None
            raise CurateError(f"another run is writing this generation job ({self.path.name}); "
                              "wait for it or stop it") from None
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._read_fd = os.open(self.path, os.O_RDONLY)
        self._index = self._load()
        self._size = os.fstat(self._fd).st_size
        if self._size and not self._ends_with_newline():
            os.write(self._fd, b"\n")            # close a torn last line before appending
            self._size += 1
        return self

    def __exit__(self, *exc) -> None:
        if self._fd is not None:
            os.fsync(self._fd)
            os.close(self._fd)
            self._fd = None
        if self._read_fd is not None:
            os.close(self._read_fd)
            self._read_fd = None
        if self._lock_fd is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None

    def _ends_with_newline(self) -> bool:
        return os.pread(self._read_fd, 1, self._size - 1) == b"\n"

    def _load(self) -> dict[str, tuple[int, int, bool]]:
        out: dict[str, tuple[int, int, bool]] = {}
        offset = 0
        with self.path.open("rb") as f:
            for line in f:
                start, offset = offset, offset + len(line)
                if not line.strip():
                    continue
                try:
                    rec = json.loads(line)
                    key = rec["key"]
                except (ValueError, KeyError, TypeError):
                    self.torn_lines += 1
                    continue
                if key not in out and (rec.get("ok") or rec.get("final")):
                    out[key] = (start, len(line), bool(rec.get("ok")))
        return out

    def done(self, key: str) -> bool:
        """Finished for good: an answer, or a failure that a retry would not change."""
        return key in self._index

    def ok(self, key: str) -> bool:
        """An answer is cached for `key` (without reading it)."""
        hit = self._index.get(key)
        return bool(hit and hit[2])

    def get(self, key: str) -> dict[str, Any] | None:
        """The record of `key`, read back from the file (a retryable failure from memory)."""
        hit = self._index.get(key)
        if hit is None:
            return self._transient.get(key)
        return json.loads(os.pread(self._read_fd, hit[1], hit[0]))

    def __len__(self) -> int:
        return len(self._index)

    def append(self, record: dict[str, Any]) -> None:
        """Record a result now; failures that may succeed later are kept only in memory."""
        key = record["key"]
        if self.done(key):
            return
        if record.get("error"):
            record["error"] = scrub(record["error"])
        if not (record.get("ok") or record.get("final")):
            self._transient[key] = record
            return
        self._transient.pop(key, None)
        # a misbehaving endpoint may echo a key anywhere in what it returns
        line = scrub_values(json.dumps(record, ensure_ascii=False, separators=(",", ":"))) + "\n"
        data = line.encode()
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view):]
        self._index[key] = (self._size, len(data), bool(record.get("ok")))
        self._size += len(data)
        now = time.monotonic()
        if now - self._last_sync > FSYNC_EVERY_S:
            os.fsync(self._fd)
            self._last_sync = now
