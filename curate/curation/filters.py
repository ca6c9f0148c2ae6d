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
from collections import defaultdict
from typing import Any

import pyarrow as pa

from curate.curation import dropped as dropped_rows
from curate.curation import tables
from curate.errors import BadInput

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
    if "<think>" in ans and "</think>" not in ans:
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


def drop_reasons(rows: list[dict], p: dict) -> list[str | None]:
    """One reason per row (None = kept), filters applied in the documented order."""
    return [d[0] if d else None for d in drop_decisions(rows, p)]


def drop_decisions(rows: list[dict], p: dict) -> list[tuple[str, dict] | None]:
    """Per row: None (kept) or (reason, detail: the measure and bound that decided it)."""
    out: list[tuple[str, dict] | None] = [None] * len(rows)
    groups: dict[Any, list[int]] = defaultdict(list)
    for i, r in enumerate(rows):
        groups[r.get("problem_id") if r.get("problem_id") is not None else f"\0{i}"].append(i)

    if p["pass_rate_min"] is not None or p["pass_rate_max"] is not None:
        lo = float(p["pass_rate_min"]) if p["pass_rate_min"] is not None else 0.0
        hi = float(p["pass_rate_max"]) if p["pass_rate_max"] is not None else 1.0
        for idx in groups.values():
            rate = sum(rows[i].get("verified") is True for i in idx) / len(idx)
            why = "pass_rate_below" if rate < lo else "pass_rate_above" if rate > hi else None
            if why:
                for i in idx:
                    out[i] = (why, {"pass_rate": round(rate, 4), "samples": len(idx),
                                    "window": [lo, hi]})

    drop_fr = set(p["drop_finish_reasons"] or [])
    for i, r in enumerate(rows):
        if out[i] is not None:
            continue
        out[i] = _row_decision(r, p, drop_fr)

    if p["k_per_problem"] is not None:
        k, strategy, seed = int(p["k_per_problem"]), p["strategy"], int(p["seed"])
        for idx in groups.values():
            alive = [i for i in idx if out[i] is None]
            if len(alive) <= k:
                continue
            if strategy == "shortest":
                alive.sort(key=lambda i: (_length(rows[i]), i))
            elif strategy == "longest":
                alive.sort(key=lambda i: (-_length(rows[i]), i))
            elif strategy == "random":
                alive.sort(key=lambda i: _rank_key({**rows[i], "_i": i}, seed))
            kept_ids = [rows[i].get("id") for i in alive[:k]]
            for i in alive[k:]:
                out[i] = ("rejection_sampling", {"k": k, "strategy": strategy,
                                                 "kept": kept_ids})
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


def filter_split(table: pa.Table, params: dict) -> tuple[pa.Table, pa.Table, dict[str, Any]]:
    """(kept rows, dropped rows with reason and detail, counts {"in", "out", "dropped"})."""
    p = check_params(params)
    if p["verified_only"] or p["pass_rate_min"] is not None or p["pass_rate_max"] is not None:
        if "verified" not in table.column_names:
            raise BadInput("this filter needs a 'verified' column: run `curate verify` first")
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


def filter_dataset(catalog, name: str, output: str, keep_dropped: bool = True, **params):
    """Filter catalog dataset `name` into `output`, counts by reason in its lineage; dropped
    rows go to `output-dropped` unless `keep_dropped` is False."""
    dropped_rows.check_names(output, keep_dropped)
    src = catalog.resolve(name)
    p = check_params(params)
    kept, dropped, counts = filter_split(tables.read(catalog, src.spec), p)
    return dropped_rows.register_split(catalog, output, kept, dropped, parents=[src.spec],
                                       step="filter", params=p, counts=counts,
                                       keep_dropped=keep_dropped)
