"""User-facing errors: the CLI prints these as one line and exits 2, never a traceback."""

from __future__ import annotations


class CurateError(Exception):
    """An error caused by the user's input or environment, with a one-line message."""


class BadInput(CurateError):
    """Malformed input data; names the file, row and field where known."""

    def __init__(self, message: str, *, file: str | None = None, row: int | None = None,
                 field: str | None = None):
        where = ":".join(str(p) for p in (file, row) if p is not None)
        prefix = f"{where}: " if where else ""
        suffix = f" (field {field!r})" if field else ""
        super().__init__(f"{prefix}{message}{suffix}")
        self.file, self.row, self.field = file, row, field


class NotFound(CurateError):
    """A dataset, version, benchmark or model that does not exist."""


class IntegrityError(CurateError):
    """A stored file is missing or altered."""
