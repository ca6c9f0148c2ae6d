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

from curate.curation.executors.ops import Applied, BatchOp, Finished
from curate.curation.verify_result import VerifyResult
from curate.errors import BadInput
from curate.record import THINK_CLOSE, THINK_OPEN, stable_json

MCQ_TASKS = ("mcq", "multiple_choice", "gpqa", "mmlu-pro", "choice")
DEFAULT_TIMEOUT = 5.0


MATH_TASKS = ("math", "maths", "mathematics", "gsm8k", "aime", "amc", "math500", "math-500",
              "olympiad", "olympiadbench", "numina", "competition_math", "deepscaler")
NOT_VERIFIED = "unknown_task"     # the reason a row with a task no verifier knows gets


def task_kind(task: str | None) -> str:
    """Which verifier a row's task goes to: math (no task, or a math task name), countdown,
    mcq, or "unknown" (a task no verifier here checks, e.g. code or chat: its rows get
    `verified=None, reason="unknown_task"`, never a math verdict on a non-math answer)."""
    t = (task or "math").strip().lower()
    if t == "countdown":
        return "countdown"
    if t in MCQ_TASKS:
        return "mcq"
    if t in MATH_TASKS:
        return "math"
    return "unknown"


def unknown_task(task: Any) -> VerifyResult:
    """The verdict of a row whose task no verifier knows: not checkable, naming the task."""
    return VerifyResult(None, NOT_VERIFIED, "none",
                        note=f"task {task!r} has no verifier (math: {', '.join(MATH_TASKS[:3])}"
                             f", ...; countdown; multiple choice: {', '.join(MCQ_TASKS)})")


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
    if kind == "unknown":
        return unknown_task(task)
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
                cache=None, progress: bool = False, pool=None) -> list[VerifyResult]:
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
        elif kind == "unknown":
            results[i] = unknown_task(r.get("task"))
        else:
            math_idx.append(i)
    if math_idx:
        from curate.curation.verify_pool import verify_pairs

        pairs = [(rows[i].get("reference"), row_prediction(rows[i])) for i in math_idx]
        if pool is not None:       # an open pool, reused batch after batch
            got = pool.verify_many(pairs, "math", math_options)
        else:
            got = verify_pairs(pairs, "math", math_options, workers=workers, timeout=timeout,
                               cache=cache, progress=progress)
        for i, res in zip(math_idx, got):
            results[i] = res
    return results  # type: ignore[return-value]


ROW_COLUMNS = ("task", "reference", "reasoning", "answer_text", "final_answer",
               "verify_detail", "metadata")
VERDICT_FIELDS = [pa.field("verified", pa.bool_()), pa.field("final_answer", pa.string()),
                  pa.field("verify_detail", pa.string())]


class VerifyOp(BatchOp):
    """Verification as a batch op: each batch's verdicts are computed and (with a cache)
    committed before the next batch, so a kill loses at most one batch of work."""

    step = "verify"

    def __init__(self, *, workers: int | None = None, timeout: float = DEFAULT_TIMEOUT,
                 math_options: dict | None = None, cache_path: str | None = None):
        check_math_options(math_options)
        self.workers, self.timeout = workers, float(timeout)
        self.opts = dict(math_options or {})
        self.cache_path = cache_path
        self._pool = None

    def check(self, schema: pa.Schema, spec: str) -> None:
        if "reference" not in schema.names:
            raise BadInput(f"dataset {spec} has no column(s) reference")
        if "answer_text" not in schema.names:
            raise BadInput(f"dataset {spec} has no answer_text column: nothing to verify")

    def output_schema(self, schema: pa.Schema) -> pa.Schema:
        for f in VERDICT_FIELDS:
            i = schema.get_field_index(f.name)
            schema = schema.set(i, f) if i >= 0 else schema.append(f)
        return schema

    def open(self) -> None:
        from curate.curation.verify_pool import VerifierPool, VerifyCache

        cache = VerifyCache(self.cache_path) if self.cache_path else None
        self._pool = VerifierPool(workers=self.workers, timeout=self.timeout, cache=cache)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    def apply(self, batch: pa.RecordBatch, row0: int) -> Applied:
        cols = [c for c in ROW_COLUMNS if c in batch.schema.names]
        results = verify_rows(batch.select(cols).to_pylist(), timeout=self.timeout,
                              math_options=self.opts, pool=self._pool)
        extra = {"options": self.opts} if self.opts else {}
        values = {
            "verified": pa.array([r.verified for r in results], pa.bool_()),
            "final_answer": pa.array([r.final_answer for r in results], pa.string()),
            "verify_detail": pa.array([stable_json({**json.loads(r.detail()), **extra})
                                       for r in results], pa.string())}
        schema = self.output_schema(batch.schema)
        arrays = [values[f.name] if f.name in values else batch.column(f.name) for f in schema]
        tallies = Counter(f"reason:{r.reason}" for r in results)
        tallies.update(f"verifier:{r.verifier}" for r in results)
        tallies.update("verified" if r.verified is True else "wrong" if r.verified is False
                       else "unverifiable" for r in results)
        return Applied(pa.RecordBatch.from_arrays(arrays, schema=schema), dict(tallies))

    def key(self) -> dict[str, Any]:
        return {"step": self.step, "timeout": self.timeout, "math_options": self.opts}

    def finish(self, n_in: int, n_out: int, tallies: dict[str, int], notes: list) -> Finished:
        def pick(prefix: str) -> dict[str, int]:
            return {k[len(prefix):]: v for k, v in tallies.items() if k.startswith(prefix)}

        counts = {"in": n_in, "out": n_out, "verified": tallies.get("verified", 0),
                  "wrong": tallies.get("wrong", 0),
                  "unverifiable": tallies.get("unverifiable", 0),
                  "reasons": dict(sorted(pick("reason:").items()))}
        params = {"timeout": self.timeout, "math_options": self.opts,
                  "verifiers": sorted(pick("verifier:"))}
        return Finished(params, counts)


def verify_dataset(catalog, name: str, output: str, *, workers: int | None = None,
                   timeout: float = DEFAULT_TIMEOUT, math_options: dict | None = None,
                   use_cache: bool = True, progress: bool = True, executor=None):
    """Verify every row of catalog dataset `name`; register `output` with the results.

    `math_options`: `unanchored`, `last_number_fallback`, `unclosed` (`no-answer` |
    `whole-response`), `rule` (a name in `verify_math.MATH_RULES`); BadInput otherwise.
    Streams batch by batch (memory bounded by the batch); with the cache on, each batch's
    verdicts are committed as it finishes, so a rerun after a kill redoes at most one batch.
    With `executor` (an `ExecutorSpec`) the same op runs as a datatrove pipeline (the cache is
    used by the local executor only: SQLite is not for shared cluster filesystems).

    Returns the `DatasetRef` of `output` (same rows, `verified` and `verify_detail` set; counts
    by reason in lineage). Raises BadInput for unknown options, NotFound for `name`.

    Example: ``verify_dataset(cat, "raw", "raw-verified", workers=4, timeout=5.0)``.
    """
    from curate.curation.executors.run import run_op

    cache = None
    if use_cache and (executor is None or executor.kind == "local"):
        cache = str(catalog.cache_dir("verify") / "results.sqlite")
    op = VerifyOp(workers=workers if executor is None else 1, timeout=timeout,
                  math_options=math_options, cache_path=cache)
    return run_op(catalog, name, output, op, executor=executor, progress=progress)
