"""The result every verifier returns, so rows record which verifier ruled and why."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from curate.record import stable_json


@dataclass(frozen=True)
class VerifyResult:
    verified: bool | None          # None: not checkable (no answer, no gold, timeout)
    reason: str                    # short machine-friendly reason ("ok", "wrong_value", ...)
    verifier: str                  # e.g. "countdown-ast/1", "math-verify/0.9.0"
    final_answer: str | None = None
    note: str | None = None        # what exactly was wrong, e.g. which reference field
    # What else the verify_detail records (JSON-able): for math and mcq, the region rule
    # ("after-think", "unclosed-whole-response", ...) and where the answer came from
    # (`answer_from`: "boxed", "anchor", "bare", "final_answer", ...).
    extra: dict[str, Any] | None = None

    def detail(self) -> str:
        """The `verify_detail` JSON string stored on a row: reason, verifier, `note` when set,
        and `extra`."""
        d = {**(self.extra or {}), "reason": self.reason, "verifier": self.verifier}
        if self.note is not None:
            d["note"] = self.note
        return stable_json(d)

    def to_json(self) -> str:
        """Every field, for caches (`from_json` reads it back)."""
        return stable_json([self.verified, self.reason, self.verifier, self.final_answer,
                            self.note, self.extra])

    @classmethod
    def from_json(cls, s: str) -> VerifyResult:
        return cls(*json.loads(s))
