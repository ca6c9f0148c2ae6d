"""Verification of trace datasets: one verifier per task, the result on every row.

math -> `verify_math` (math-verify) in a killable worker pool (`verify_pool`); countdown -> the
AST verifier (`verify_countdown`); multiple choice (task `mcq` / `gpqa` / `multiple_choice`)
-> `verify_choice`. Math and multiple choice read each row the way the eval scorer reads a
completion (`row_prediction`: the same region rules, `curate.formats.answers`), and an
imported `final_answer` column is used when present. Each row gets `verified`,
`final_answer` and `verify_detail`: verifier name and version, reason, the region rule
(`after-think`, `no-think`, `unclosed-no-answer`, `unclosed-whole-response`), where the
answer came from (`answer_from`: boxed, anchor, bare, final_answer, ...) and the options.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pyarrow as pa

from curate.curation import tables
from curate.curation.verify_result import VerifyResult
from curate.errors import BadInput
from curate.record import THINK_CLOSE, THINK_OPEN, stable_json

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


def row_closed(row: dict[str, Any]) -> bool | None:
    """False when the row's thinking never closed: `metadata.think_closed` is false (set by
    generation), or there is reasoning and no visible answer after it; None: the tags decide."""
    meta = row.get("metadata")
    if isinstance(meta, str):
        try:
            meta = json.loads(meta)
        except ValueError:
            meta = None
    if isinstance(meta, dict) and meta.get("think_closed") is False:
        return False
    if row.get("reasoning") and not (row.get("answer_text") or "").strip():
        return False
    return None


def imported_final_answer(row: dict[str, Any]) -> str | None:
    """A `final_answer` that came with the data. One an earlier `verify` extracted itself is
    not (its `verify_detail` names another `answer_from`): the answer is read again."""
    fa = row.get("final_answer")
    if fa is None or not str(fa).strip():
        return None
    detail = row.get("verify_detail")
    if detail:
        try:
            source = json.loads(detail).get("answer_from")
        except (ValueError, AttributeError):
            source = None
        if source != "final_answer":
            return None
    return str(fa)


def row_prediction(row: dict[str, Any]) -> dict[str, Any]:
    """What the math / multiple-choice verifier reads for a trace row: the response rebuilt
    from `reasoning` and `answer_text` (so the same region rules apply as to a raw completion,
    `curate.formats.answers`), whether its thinking closed, and an imported `final_answer`."""
    reasoning, answer = row.get("reasoning"), row.get("answer_text") or ""
    closed = row_closed(row)
    if reasoning and closed is False:
        text = f"{THINK_OPEN}\n{reasoning}\n{answer}".rstrip()
    elif reasoning:
        text = f"{THINK_OPEN}\n{reasoning}\n{THINK_CLOSE}\n\n{answer}"
    else:
        text = answer or None
    pred: dict[str, Any] = {"text": text}
    if closed is False:
        pred["closed"] = False
    fa = imported_final_answer(row)
    if fa is not None:
        pred["final_answer"] = fa
    return pred


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
    """One (reference, answer) pair for a task; `answer` is a bare answer or a whole
    completion. Math runs in a one-worker pool with a deadline."""
    kind = task_kind(task)
    options = dict(options or {})
    if kind == "countdown":
        return verify_countdown_row(answer, reference, options)
    if kind == "mcq":
        from curate.curation.verify_choice import verify_choice

        return verify_choice(reference or "", answer, **options)
    from curate.curation.verify_pool import VerifierPool

    with VerifierPool(workers=1, timeout=timeout, cache=cache) as pool:
        return pool.verify_many([(reference, answer)], "math", options)[0]


def _choice_options(math_options: dict | None) -> dict:
    """The options multiple choice shares with math: the unclosed-thinking rule."""
    return {k: v for k, v in (math_options or {}).items() if k == "unclosed"}


MATH_OPTIONS = ("unanchored", "last_number_fallback", "unclosed", "rule")


def check_math_options(options: dict | None) -> None:
    """BadInput (one line) for an unknown math option, unclosed-thinking rule or math rule."""
    from curate.curation.verify_math import MATH_RULES
    from curate.formats.answers import UNCLOSED_RULES

    opts = options or {}
    unknown = sorted(set(opts) - set(MATH_OPTIONS))
    if unknown:
        raise BadInput(f"unknown verify option(s) {', '.join(unknown)} "
                       f"(known: {', '.join(MATH_OPTIONS)})")
    if opts.get("unclosed", "no-answer") not in UNCLOSED_RULES:
        raise BadInput(f"unclosed must be one of {', '.join(UNCLOSED_RULES)}, "
                       f"got {opts['unclosed']!r}")
    if opts.get("rule", "math-verify") not in MATH_RULES:
        raise BadInput(f"rule must be one of {', '.join(MATH_RULES)}, got {opts['rule']!r}")


def verify_rows(rows: list[dict[str, Any]], *, workers: int | None = None,
                timeout: float = DEFAULT_TIMEOUT, math_options: dict | None = None,
                cache=None, progress: bool = False) -> list[VerifyResult]:
    """A result per row, dispatched on each row's `task`; math pairs go through the pool.

    Math and multiple choice read `row_prediction(row)`; Countdown reads `answer_text`.
    """
    from curate.curation.verify_choice import verify_choice

    results: list[VerifyResult | None] = [None] * len(rows)
    math_idx: list[int] = []
    for i, r in enumerate(rows):
        kind = task_kind(r.get("task"))
        if kind == "countdown":
            results[i] = verify_countdown_row(r.get("answer_text") or None, r.get("reference"))
        elif kind == "mcq":
            pred = row_prediction(r)
            text = pred.pop("text")
            pred.pop("final_answer", None)
            results[i] = verify_choice(r.get("reference") or "", text,
                                       **{**_choice_options(math_options), **pred})
        else:
            math_idx.append(i)
    if math_idx:
        from curate.curation.verify_pool import verify_pairs

        pairs = [(rows[i].get("reference"), row_prediction(rows[i])) for i in math_idx]
        got = verify_pairs(pairs, "math", math_options, workers=workers, timeout=timeout,
                           cache=cache, progress=progress)
        for i, res in zip(math_idx, got):
            results[i] = res
    return results  # type: ignore[return-value]


def verify_dataset(catalog, name: str, output: str, *, workers: int | None = None,
                   timeout: float = DEFAULT_TIMEOUT, math_options: dict | None = None,
                   use_cache: bool = True, progress: bool = True):
    """Verify every row of catalog dataset `name`; register `output` with the results.

    `math_options`: `unanchored`, `last_number_fallback`, `unclosed` (`no-answer` |
    `whole-response`), `rule` (a name in `verify_math.MATH_RULES`); BadInput otherwise.
    """
    check_math_options(math_options)
    spec = catalog.resolve(name).spec
    table = tables.read(catalog, spec)
    tables.require(table, ["reference"], spec)
    if "answer_text" not in table.column_names:
        raise BadInput(f"dataset {spec} has no answer_text column: nothing to verify")
    cols = [c for c in ("task", "reference", "reasoning", "answer_text", "final_answer",
                        "verify_detail", "metadata") if c in table.column_names]
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
