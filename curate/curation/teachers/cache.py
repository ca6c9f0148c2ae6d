"""An append-only request cache: one JSON line per finished request, keyed by content hash.

A result is appended (one `write` on an O_APPEND descriptor) the moment it arrives, so a run
killed at any point, SIGKILL included, keeps every answer it received; the OS has the bytes
even if the process dies before the periodic fsync. A torn last line is skipped on load, and
the same key twice keeps the first answer, so concurrent or repeated runs never duplicate rows.
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
        self._lock_fd: int | None = None
        self._last_sync = 0.0
        self.records: dict[str, dict[str, Any]] = {}
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
        self.records = self._load()
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        if self.path.stat().st_size and not self._ends_with_newline():
            os.write(self._fd, b"\n")            # close a torn last line before appending
        return self

    def __exit__(self, *exc) -> None:
        if self._fd is not None:
            os.fsync(self._fd)
            os.close(self._fd)
            self._fd = None
        if self._lock_fd is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None

    def _ends_with_newline(self) -> bool:
        with self.path.open("rb") as f:
            f.seek(-1, os.SEEK_END)
            return f.read(1) == b"\n"

    def _load(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        if not self.path.exists():
            return out
        with self.path.open("rb") as f:
            for line in f:
                if not line.strip():
                    continue
                try:
                    rec = json.loads(line)
                    key = rec["key"]
                except (ValueError, KeyError, TypeError):
                    self.torn_lines += 1
                    continue
                out.setdefault(key, rec)
        return out

    def done(self, key: str) -> bool:
        """Finished for good: an answer, or a failure that a retry would not change."""
        rec = self.records.get(key)
        return rec is not None and (rec.get("ok") or rec.get("final", False))

    def get(self, key: str) -> dict[str, Any] | None:
        return self.records.get(key)

    def append(self, record: dict[str, Any]) -> None:
        """Record a result now; failures that may succeed later are kept only in memory."""
        key = record["key"]
        if self.done(key):
            return
        if record.get("error"):
            record["error"] = scrub(record["error"])
        self.records[key] = record
        if not (record.get("ok") or record.get("final")):
            return
        # a misbehaving endpoint may echo a key anywhere in what it returns
        line = scrub_values(json.dumps(record, ensure_ascii=False, separators=(",", ":"))) + "\n"
        data = memoryview(line.encode())
        while data:
            data = data[os.write(self._fd, data):]
        now = time.monotonic()
        if now - self._last_sync > FSYNC_EVERY_S:
            os.fsync(self._fd)
            self._last_sync = now
