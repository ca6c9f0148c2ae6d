"""Verification of trace datasets: one verifier per task, the result on every row.

math -> math-verify in a killable worker pool (`verify_pool`); countdown -> the AST verifier
(`verify_countdown`); multiple choice (task `mcq` / `gpqa` / `multiple_choice`) -> letter
extraction. Each row gets `verified`, `final_answer` and `verify_detail` (verifier name and
version, reason, options).
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pyarrow as pa

from curate.curation import tables
from curate.curation.verify_result import VerifyResult
from curate.errors import BadInput
from curate.record import stable_json

MCQ_TASKS = ("mcq", "multiple_choice", "gpqa", "mmlu-pro", "choice")
DEFAULT_TIMEOUT = 5.0


def task_kind(task: str | None) -> str:
    """Which verifier a row's task goes to: math (default), countdown or mcq."""
    t = (task or "math").lower()
    if t == "countdown":
        return "countdown"
    if t in MCQ_TASKS:
        return "mcq"
    return "math"


def prediction_text(row: dict[str, Any]) -> str | None:
    """The visible answer of a trace (the part after the thinking).

    A trace whose thinking never closed has an empty answer: it is not checkable, even if a
    `\\boxed{}` appears mid-thought.
    """
    ans = row.get("answer_text")
    if ans:
        return ans
    return None


def verify_countdown_row(answer: str | None, reference: str | None,
                         options: dict | None = None) -> VerifyResult:
    """Countdown: the equation is extracted from the answer and checked against the reference
    `{"numbers": [...], "target": T, "semantics": S}` (JSON; no `semantics`: integer) under
    the reference's semantics (`options["semantics"]` may restate it; a disagreement is a
    bad reference). A malformed reference gives `verified` None, reason `bad_reference` and
    a `note` naming the field: one row's verdict, never an exception."""
    from curate.curation.verify_countdown import verify_countdown_completion

    return verify_countdown_completion(answer, reference, **(options or {}))


def verify_answer(task: str, reference: str | None, answer: str | None,
                  options: dict | None = None, timeout: float = DEFAULT_TIMEOUT,
                  cache=None) -> VerifyResult:
    """One (reference, answer) pair for a task; math runs in a one-worker pool with a deadline."""
    kind = task_kind(task)
    options = dict(options or {})
    if kind == "countdown":
        return verify_countdown_row(answer, reference, options)
    if kind == "mcq":
        from curate.curation.verify_math import verify_choice

        return verify_choice(reference or "", answer, **options)
    from curate.curation.verify_pool import VerifierPool

    with VerifierPool(workers=1, timeout=timeout, cache=cache) as pool:
        return pool.verify_many([(reference, answer)], "math", options)[0]


def verify_rows(rows: list[dict[str, Any]], *, workers: int | None = None,
                timeout: float = DEFAULT_TIMEOUT, math_options: dict | None = None,
                cache=None, progress: bool = False) -> list[VerifyResult]:
    """A result per row, dispatched on each row's `task`; math pairs go through the pool."""
    from curate.curation.verify_math import verify_choice

    results: list[VerifyResult | None] = [None] * len(rows)
    math_idx: list[int] = []
    for i, r in enumerate(rows):
        kind = task_kind(r.get("task"))
        pred = prediction_text(r)
        if kind == "countdown":
            results[i] = verify_countdown_row(pred, r.get("reference"))
        elif kind == "mcq":
            results[i] = verify_choice(r.get("reference") or "", pred)
        else:
            math_idx.append(i)
    if math_idx:
        from curate.curation.verify_pool import verify_pairs

        pairs = [(rows[i].get("reference"), prediction_text(rows[i])) for i in math_idx]
        got = verify_pairs(pairs, "math", math_options, workers=workers, timeout=timeout,
                           cache=cache, progress=progress)
        for i, res in zip(math_idx, got):
            results[i] = res
    return results  # type: ignore[return-value]


def verify_dataset(catalog, name: str, output: str, *, workers: int | None = None,
                   timeout: float = DEFAULT_TIMEOUT, math_options: dict | None = None,
                   use_cache: bool = True, progress: bool = True):
    """Verify every row of catalog dataset `name`; register `output` with the results."""
    spec = catalog.resolve(name).spec
    table = tables.read(catalog, spec)
    tables.require(table, ["reference"], spec)
    if "answer_text" not in table.column_names:
        raise BadInput(f"dataset {spec} has no answer_text column: nothing to verify")
    cols = [c for c in ("task", "reference", "answer_text") if c in table.column_names]
    rows = table.select(cols).to_pylist()
    cache = None
    if use_cache:
        from curate.curation.verify_pool import VerifyCache

        cache = VerifyCache(catalog.cache_dir("verify") / "results.sqlite")
    results = verify_rows(rows, workers=workers, timeout=timeout, math_options=math_options,
                          cache=cache, progress=progress)
    opts = dict(math_options or {})
    table = tables.set_column(table, "verified", [r.verified for r in results], pa.bool_())
    table = tables.set_column(table, "final_answer", [r.final_answer for r in results],
                              pa.string())
    table = tables.set_column(table, "verify_detail", [
        stable_json({**json.loads(r.detail()), **({"options": opts} if opts else {})})
        for r in results], pa.string())
    by_reason = Counter(r.reason for r in results)
    counts = {"in": len(rows), "out": len(rows),
              "verified": sum(r.verified is True for r in results),
              "wrong": sum(r.verified is False for r in results),
              "unverifiable": sum(r.verified is None for r in results),
              "reasons": dict(sorted(by_reason.items()))}
    params = {"timeout": timeout, "math_options": opts,
              "verifiers": sorted({r.verifier for r in results})}
    return tables.register(catalog, output, table, parents=[spec], step="verify",
                           params=params, counts=counts)
