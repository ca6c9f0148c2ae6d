"""The result every verifier returns, so rows record which verifier ruled and why."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from curate.record import stable_json


@dataclass(frozen=True)
class VerifyResult:
    verified: bool | None          # None: not checkable (no answer, no gold, timeout)
    reason: str                    # short machine-friendly reason ("ok", "wrong_value", ...)
    verifier: str                  # e.g. "countdown-ast/1", "math-verify/0.9.0"
    final_answer: str | None = None
    note: str | None = None        # what exactly was wrong, e.g. which reference field

    def detail(self) -> str:
        """The `verify_detail` JSON string stored on a row (`note` only when set)."""
        d = asdict(self)
        d.pop("verified")
        d.pop("final_answer")
        if d["note"] is None:
            d.pop("note")
        return stable_json(d)
