"""Trace filters: each drops rows for a named reason, and the counts by reason go to lineage.

Row filters (in this order; a row is counted under the first reason that drops it):
`verified_only`, `drop_finish_reasons` (default `["length"]`: truncations), token-length
bounds, `require_closed_think`, repetition / degenerate loops. Group filters over
`problem_id`: the pass-rate window (computed on all n samples *before* any row is dropped,
as open-r1 does) and rejection sampling (k rows per problem: first, shortest, longest or
random, seeded).

Dropped rows are kept as `OUTPUT-dropped` with their reason and the measure that decided it
(`drop_detail`: the verdict, finish reason, token count and bound, repetition share, pass rate,
or the rows rejection sampling kept); see `curate.curation.dropped`.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from curate.curation import dropped as dropped_rows
from curate.curation import tables
from curate.curation.executors.ops import Applied, BatchOp, Finished, dropped, split
from curate.errors import BadInput
from curate.formats.answers import think_unclosed
from curate.record import stable_json

DEFAULTS: dict[str, Any] = {
    "verified_only": False,
    "drop_finish_reasons": ["length"],
    "min_tokens": None,
    "max_tokens": None,
    "require_closed_think": False,
    "require_think": False,
    "max_repetition": None,        # e.g. 0.5: max share of repeated word n-grams
    "repetition_ngram": 10,
    "tail_loop": False,            # drop texts ending in a short chunk repeated >= 4 times
    "pass_rate_min": None,
    "pass_rate_max": None,
    "k_per_problem": None,
    "strategy": "random",          # first | shortest | longest | random
    "seed": 0,
}
STRATEGIES = ("first", "shortest", "longest", "random")


def check_params(params: dict) -> dict[str, Any]:
    """Defaults filled in; unknown keys and bad values are user errors."""
    unknown = set(params) - set(DEFAULTS)
    if unknown:
        raise BadInput(f"unknown filter option(s) {sorted(unknown)}; known: {sorted(DEFAULTS)}")
    p = {**DEFAULTS, **params}
    if p["strategy"] not in STRATEGIES:
        raise BadInput(f"strategy {p['strategy']!r} is not one of {', '.join(STRATEGIES)}")
    if p["k_per_problem"] is not None and int(p["k_per_problem"]) < 1:
        raise BadInput("k_per_problem must be >= 1")
    import math

    for k in ("max_repetition", "pass_rate_min", "pass_rate_max"):   # shares in [0, 1]
        if p[k] is not None:
            try:
                v = float(p[k])
            except (TypeError, ValueError):
                raise BadInput(f"{k} must be a number in [0, 1], got {p[k]!r}") from None
            if not (math.isfinite(v) and 0 <= v <= 1):    # NaN compared False: kept all rows
                raise BadInput(f"{k} must be a number in [0, 1], got {p[k]}")
    for a, b in (("min_tokens", "max_tokens"), ("pass_rate_min", "pass_rate_max")):
        if p[a] is not None and p[b] is not None and float(p[a]) > float(p[b]):
            raise BadInput(f"{a} ({p[a]}) is above {b} ({p[b]})")
    if isinstance(p["drop_finish_reasons"], str):
        p["drop_finish_reasons"] = [p["drop_finish_reasons"]]
    return p


# -- measures -------------------------------------------------------------------------------

def repetition_ratio(text: str | None, n: int = 10) -> float:
    """Share of word n-grams that repeat an earlier one (0 = none, near 1 = a loop)."""
    words = (text or "").split()
    if len(words) < n * 2:
        return 0.0
    grams = [hash(tuple(words[i:i + n])) for i in range(len(words) - n + 1)]
    return 1.0 - len(set(grams)) / len(grams)


def has_tail_loop(text: str | None, repeats: int = 4, max_period: int = 400,
                  min_period: int = 4) -> bool:
    """True if the text ends with one chunk repeated `repeats` times (a degenerate loop)."""
    t = (text or "").rstrip()
    for p in range(min_period, min(max_period, len(t) // repeats) + 1):
        chunk = t[-p:]
        if t.endswith(chunk * repeats):
            return True
    return False


def think_closed(reasoning: str | None, answer_text: str | None) -> bool:
    """False when the thinking never closed (reasoning with no visible answer after it)."""
    ans = answer_text or ""
    if think_unclosed(ans):
        return False
    return not (reasoning and not ans.strip())


def _length(row: dict) -> int:
    ct = row.get("completion_tokens")
    if ct is not None:
        return int(ct)
    return len((row.get("reasoning") or "").split()) + len((row.get("answer_text") or "").split())


def _rank_key(row: dict, seed: int) -> str:
    return hashlib.sha256(f"{seed}:{row.get('id')}:{row.get('_i')}".encode()).hexdigest()


# -- the filter -----------------------------------------------------------------------------

COLUMNS = ("id", "problem_id", "verified", "finish_reason", "completion_tokens",
           "reasoning", "answer_text")


KEYS_SCHEMA = pa.schema([("row", pa.int64()), ("problem_id", pa.string()),
                         ("id", pa.string()), ("verified", pa.int8()), ("length", pa.int64()),
                         ("reason", pa.string()), ("detail", pa.string()),
                         ("rank", pa.string())])


def has_group_filters(p: dict) -> bool:
    """True when some rows are decided by their whole problem (pass rate, k per problem)."""
    return (p["pass_rate_min"] is not None or p["pass_rate_max"] is not None
            or p["k_per_problem"] is not None)


def drop_reasons(rows: list[dict], p: dict) -> list[str | None]:
    """One reason per row (None = kept), filters applied in the documented order."""
    return [d[0] if d else None for d in drop_decisions(rows, p)]


def drop_decisions(rows: list[dict], p: dict) -> list[tuple[str, dict] | None]:
    """Per row: None (kept) or (reason, detail: the measure and bound that decided it)."""
    return group_decisions(group_keys(rows, p), p)


def group_keys(rows: list[dict], p: dict, row0: int = 0) -> pa.Table:
    """What the group filters need of each row (`KEYS_SCHEMA`), with its row-filter decision:
    its global index `row`, problem, id (JSON), verdict (1 / 0 / -1: true / false / none),
    length, reason and detail (JSON), and for the random strategy its rank key. Small: the
    group pass holds these for all rows, not the rows."""
    drop_fr = set(p["drop_finish_reasons"] or [])
    decisions = [_row_decision(r, p, drop_fr) for r in rows]
    k = p["k_per_problem"] is not None
    rank = [None] * len(rows)
    if k and p["strategy"] == "random":
        seed = int(p["seed"])
        rank = [_rank_key({**r, "_i": row0 + i}, seed) if decisions[i] is None else None
                for i, r in enumerate(rows)]
    need_len = k and p["strategy"] in ("shortest", "longest")
    return pa.table({
        "row": pa.array(np.arange(row0, row0 + len(rows), dtype=np.int64)),
        "problem_id": pa.array([None if r.get("problem_id") is None else str(r["problem_id"])
                                for r in rows], pa.string()),
        "id": pa.array([stable_json(r.get("id")) for r in rows], pa.string()),
        "verified": pa.array([1 if r.get("verified") is True else 0 if r.get("verified") is False
                              else -1 for r in rows], pa.int8()),
        "length": pa.array([_length(r) if need_len else 0 for r in rows], pa.int64()),
        "reason": pa.array([d[0] if d else None for d in decisions], pa.string()),
        "detail": pa.array([stable_json(d[1]) if d else None for d in decisions], pa.string()),
        "rank": pa.array(rank, pa.string())}, schema=KEYS_SCHEMA)


def group_decisions(keys: pa.Table, p: dict) -> list[tuple[str, dict] | None]:
    """Final decisions for rows whose groups are complete in `keys` (sorted by `row`).

    The pass-rate window is computed on all of a problem's samples before any row is dropped
    (open-r1) and overrides the row's own decision; then among the rows still alive, k per
    problem are kept by the strategy (ties broken by row order). Rows without a problem id are
    groups of their own. Vectorised: a few arrays over the keys, no per-group Python.
    """
    n = keys.num_rows
    details = keys.column("detail").to_pylist()
    out: list[tuple[str, dict] | None] = [
        None if r is None else (r, json.loads(d))
        for r, d in zip(keys.column("reason").to_pylist(), details)]
    if not n or not has_group_filters(p):
        return out
    enc = pc.dictionary_encode(keys.column("problem_id").combine_chunks())
    codes = enc.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    nulls = codes < 0
    codes[nulls] = len(enc.dictionary) + np.arange(int(nulls.sum()))
    if p["pass_rate_min"] is not None or p["pass_rate_max"] is not None:
        lo = float(p["pass_rate_min"]) if p["pass_rate_min"] is not None else 0.0
        hi = float(p["pass_rate_max"]) if p["pass_rate_max"] is not None else 1.0
        ver = keys.column("verified").to_numpy()
        size = np.bincount(codes)
        rate = np.bincount(codes, weights=(ver == 1)) / size
        below, above = (rate < lo)[codes], (rate > hi)[codes]
        for i in np.flatnonzero(below | above):
            g = codes[i]
            out[i] = ("pass_rate_below" if below[i] else "pass_rate_above",
                      {"pass_rate": round(float(rate[g]), 4), "samples": int(size[g]),
                       "window": [lo, hi]})
    if p["k_per_problem"] is not None:
        k, strategy = int(p["k_per_problem"]), p["strategy"]
        alive = np.flatnonzero(np.array([d is None for d in out], dtype=bool))
        if len(alive):
            cols = {"g": pa.array(codes[alive])}
            if strategy in ("shortest", "longest"):
                length = keys.column("length").to_numpy()[alive]
                cols["k"] = pa.array(length if strategy == "shortest" else -length)
            elif strategy == "random":
                cols["k"] = keys.column("rank").take(pa.array(alive))
            cols["i"] = pa.array(alive)
            order = pc.sort_indices(pa.table(cols),
                                    sort_keys=[(c, "ascending") for c in cols]).to_numpy()
            ranked = alive[order]
            g = codes[ranked]
            pos = np.arange(len(g))
            start = np.maximum.accumulate(np.where(np.r_[True, g[1:] != g[:-1]], pos, 0))
            rank = pos - start
            ids = keys.column("id")
            for s in np.unique(start[rank >= k]):       # groups with more than k alive
                e = s + int(np.searchsorted(g[s:], g[s], side="right"))
                kept = [json.loads(x) for x in ids.take(pa.array(ranked[s:s + k])).to_pylist()]
                detail = {"k": k, "strategy": strategy, "kept": kept}
                for i in ranked[s + k:e]:
                    out[i] = ("rejection_sampling", detail)
    return out


def _row_decision(r: dict, p: dict, drop_fr: set) -> tuple[str, dict] | None:
    """The first row filter that drops `r`, with its measure; None if none does."""
    v = r.get("verified")
    if p["verified_only"] and v is not True:
        return ("wrong" if v is False else "unverifiable"), {"verified": v}
    if r.get("finish_reason") in drop_fr:
        return f"finish_reason_{r.get('finish_reason')}", {"finish_reason": r.get("finish_reason")}
    if p["min_tokens"] is not None and _length(r) < int(p["min_tokens"]):
        return "too_short", {"tokens": _length(r), "min_tokens": int(p["min_tokens"])}
    if p["max_tokens"] is not None and _length(r) > int(p["max_tokens"]):
        return "too_long", {"tokens": _length(r), "max_tokens": int(p["max_tokens"])}
    if p["require_think"] and not (r.get("reasoning") or "").strip():
        return "no_think", {}
    if p["require_closed_think"] and not think_closed(r.get("reasoning"), r.get("answer_text")):
        return "unclosed_think", {"answer_chars": len((r.get("answer_text") or "").strip())}
    if p["max_repetition"] is not None:
        ratio = repetition_ratio(f"{r.get('reasoning') or ''}\n{r.get('answer_text') or ''}",
                                 int(p["repetition_ngram"]))
        if ratio > float(p["max_repetition"]):
            return "repetition", {"repetition": round(ratio, 4),
                                  "max_repetition": float(p["max_repetition"])}
    if p["tail_loop"] and (has_tail_loop(r.get("reasoning")) or has_tail_loop(r.get("answer_text"))):
        return "degenerate_loop", {}
    return None


def _need_verified(p: dict, schema: pa.Schema) -> None:
    if p["verified_only"] or p["pass_rate_min"] is not None or p["pass_rate_max"] is not None:
        if "verified" not in schema.names:
            raise BadInput("this filter needs a 'verified' column: run `curate verify` first")


def filter_split(table: pa.Table, params: dict) -> tuple[pa.Table, pa.Table, dict[str, Any]]:
    """(kept rows, dropped rows with reason and detail, counts {"in", "out", "dropped"})."""
    p = check_params(params)
    _need_verified(p, table.schema)
    cols = [c for c in COLUMNS if c in table.column_names]
    rows = table.select(cols).to_pylist()
    decisions = drop_decisions(rows, p)
    reasons = [d[0] if d else None for d in decisions]
    dropped = dropped_rows.dropped_table(table, "filter", reasons, None,
                                         [d[1] if d else None for d in decisions])
    return (tables.keep(table, [r is None for r in reasons]), dropped,
            tables.drop_counts(len(rows), reasons))


def apply_filters(table: pa.Table, params: dict) -> tuple[pa.Table, dict[str, Any]]:
    """(kept rows, counts {"in", "out", "dropped": {reason: n}})."""
    kept, _dropped, counts = filter_split(table, params)
    return kept, counts


class FilterOp(BatchOp):
    """The filter as a batch op: row filters per batch; group filters through keys."""

    step = "filter"
    drops = True

    def __init__(self, params: dict, keep_dropped: bool = True):
        self.p = check_params(params)
        self.needs_groups = has_group_filters(self.p)
        self.keep_dropped = keep_dropped

    def check(self, schema: pa.Schema, spec: str) -> None:
        _need_verified(self.p, schema)

    def key_columns(self, schema: pa.Schema) -> list[str]:
        return [c for c in COLUMNS if c in schema.names]

    def _rows(self, batch: pa.RecordBatch) -> list[dict]:
        return batch.select([c for c in COLUMNS if c in batch.schema.names]).to_pylist()

    def _split(self, batch: pa.RecordBatch, decisions) -> Applied:
        return split(batch, "filter", [d[0] if d else None for d in decisions], None,
                     [d[1] if d else None for d in decisions], self.keep_dropped)

    def apply(self, batch: pa.RecordBatch, row0: int) -> Applied:
        drop_fr = set(self.p["drop_finish_reasons"] or [])
        return self._split(batch, [_row_decision(r, self.p, drop_fr) for r in self._rows(batch)])

    def keys(self, batch: pa.RecordBatch, row0: int) -> pa.Table:
        return group_keys(self._rows(batch), self.p, row0)

    def empty_keys(self) -> pa.Table:
        return KEYS_SCHEMA.empty_table()

    def decide(self, keys: pa.Table) -> list[tuple[str, dict] | None]:
        return group_decisions(keys, self.p)

    def apply_decided(self, batch: pa.RecordBatch, decisions) -> Applied:
        return self._split(batch, list(decisions))

    def key(self) -> dict[str, Any]:
        return {"step": self.step, "params": self.p, "keep_dropped": self.keep_dropped}

    def finish(self, n_in: int, n_out: int, tallies: dict[str, int], notes: list) -> Finished:
        return Finished(self.p, {"in": n_in, "out": n_out, "dropped": dropped(tallies)})


def filter_dataset(catalog, name: str, output: str, keep_dropped: bool = True, executor=None,
                   progress: bool = False, **params):
    """Filter catalog dataset `name` into `output`, counts by reason in its lineage; dropped
    rows go to `output-dropped` unless `keep_dropped` is False.

    Streams the input (memory bounded by the batch); with `executor` (an `ExecutorSpec`) the
    same filter runs as a datatrove pipeline, group filters sharded by problem.

    `params`: the keys of `filters.DEFAULTS` (verified_only, drop_finish_reasons, min_tokens,
    max_tokens, require_closed_think, max_repetition, pass_rate_min/max, k_per_problem,
    strategy, seed). Returns the `DatasetRef` of `output`. Raises BadInput for unknown or
    inconsistent options, CurateError when no row is left (nothing registered).

    Example: ``filter_dataset(cat, "raw-verified", "clean", verified_only=True, max_tokens=16384)``.
    """
    from curate.curation.executors.run import run_op

    return run_op(catalog, name, output, FilterOp(params, keep_dropped), executor=executor,
                  progress=progress)
