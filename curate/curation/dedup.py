"""Prompt deduplication: exact (after normalisation) and MinHash near-duplicates (datasketch).

Duplicates are judged between *problems*: all samples of one `problem_id` stay together, and
a problem whose prompt repeats (or nearly repeats) an earlier problem's prompt is dropped with
all its samples. The first occurrence is kept, so results are deterministic.
"""

from __future__ import annotations

import os
import re
import unicodedata
from typing import Any

import pyarrow as pa

from curate.curation import tables
from curate.errors import BadInput

_WS = re.compile(r"\s+")
_PUNCT = re.compile(r"[^\w\s]", re.UNICODE)

DEFAULTS: dict[str, Any] = {
    "field": "prompt",
    "exact": True,
    "minhash": True,
    "threshold": 0.6,       # estimated Jaccard at or above which two prompts are duplicates
    "num_perm": 128,
    "shingle": 5,           # n-gram size of the shingles
    "unit": "char",         # char | word: shingles of characters (robust on short prompts) or words
    "seed": 1,
    "strip_template": True,  # drop the prefix and suffix every prompt shares before MinHash
}


def normalise(text: str | None) -> str:
    """Lowercase, NFKC, punctuation dropped, whitespace collapsed."""
    t = unicodedata.normalize("NFKC", text or "").lower()
    t = _PUNCT.sub(" ", t)
    return _WS.sub(" ", t).strip()


def shingles(text: str, n: int, unit: str = "char", normalised: bool = False) -> set[bytes]:
    """The shingle set of a normalised text: character or word n-grams."""
    t = text if normalised else normalise(text)
    if unit == "char":
        if len(t) < n:
            return {t.encode()}
        return {t[i:i + n].encode() for i in range(len(t) - n + 1)}
    words = t.split()
    if len(words) < n:
        return {" ".join(words).encode()} if words else {b""}
    return {" ".join(words[i:i + n]).encode() for i in range(len(words) - n + 1)}


def strip_shared(norm: list[str]) -> list[str]:
    """Remove the prefix and suffix all (normalised) texts share, a prompt template, keeping
    what varies.

    A template of instructions around short problems makes them look alike to MinHash: two
    different one-line problems inside the same 70-character template share most shingles.
    """
    if len(norm) < 2:
        return norm
    prefix = len(os.path.commonprefix(norm))
    suffix = len(os.path.commonprefix([t[::-1] for t in norm]))
    if prefix + suffix < 8:
        return norm
    out = []
    for t in norm:
        core = t[prefix:len(t) - suffix] if len(t) > prefix + suffix else ""
        out.append(core or t)
    return out


def duplicate_flags(texts: list[str], *, exact: bool = True, minhash: bool = True,
                    threshold: float = 0.6, num_perm: int = 128, shingle: int = 5,
                    unit: str = "char", seed: int = 1,
                    strip_template: bool = True, progress=None) -> list[str | None]:
    """Per text: None (kept), "exact_duplicate" or "near_duplicate" of an earlier text.
    `progress(k)` is called as texts are hashed and compared (k texts at a time)."""
    from datasketch import MinHash, MinHashLSH

    out: list[str | None] = [None] * len(texts)
    norm = [normalise(t) for t in texts]
    seen: set[str] = set()
    if exact:
        for i, key in enumerate(norm):
            if key in seen:
                out[i] = "exact_duplicate"
            seen.add(key)
    if minhash:
        if not 0.0 < threshold <= 1.0:
            raise BadInput(f"threshold must be in (0, 1], got {threshold}")
        lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
        todo = [i for i in range(len(texts)) if out[i] is None]
        cores = [norm[i] for i in todo]
        if strip_template:
            cores = strip_shared(cores)
        hashes = MinHash.bulk([shingles(c, shingle, unit, normalised=True) for c in cores],
                              num_perm=num_perm,
                              seed=seed)
        if progress is not None:
            progress(len(texts) - len(todo))   # exact duplicates: nothing left to compare
        kept: dict[int, Any] = {}
        for j, (i, m) in enumerate(zip(todo, hashes)):
            if progress is not None and j % 1000 == 999:
                progress(1000)
            cands = lsh.query(m)
            if any(kept[c].jaccard(m) >= threshold for c in cands):
                out[i] = "near_duplicate"
                continue
            lsh.insert(i, m)
            kept[i] = m
        if progress is not None:
            progress(len(todo) % 1000)
    elif progress is not None:
        progress(len(texts))
    return out


def check_params(params: dict) -> dict[str, Any]:
    unknown = set(params) - set(DEFAULTS)
    if unknown:
        raise BadInput(f"unknown dedup option(s) {sorted(unknown)}; known: {sorted(DEFAULTS)}")
    return {**DEFAULTS, **params}


def dedup_table(table: pa.Table, params: dict,
                progress: bool = False) -> tuple[pa.Table, dict[str, Any]]:
    """(kept rows, counts) with duplicates judged per problem (first row of each problem_id)."""
    p = check_params(params)
    field = p.pop("field")
    if field not in table.column_names:
        raise BadInput(f"no column {field!r} to deduplicate on")
    texts = tables.column(table, field)
    pids = tables.column(table, "problem_id")
    first: dict[Any, int] = {}
    for i, pid in enumerate(pids):
        first.setdefault(pid if pid is not None else ("\0", i), i)
    reps = list(first.values())
    from curate.progress import progress_bar

    with progress_bar(enabled=progress) as bar:
        task = bar.add_task("dedup", total=len(reps))
        flags = duplicate_flags([texts[i] or "" for i in reps], **p,
                                progress=lambda k: bar.advance(task, k))
    flag_of = {(pids[i] if pids[i] is not None else ("\0", i)): f for i, f in zip(reps, flags)}
    reasons = [flag_of[pid if pid is not None else ("\0", i)] for i, pid in enumerate(pids)]
    counts = tables.drop_counts(len(reasons), reasons)
    counts["problems_in"] = len(reps)
    counts["problems_out"] = sum(f is None for f in flags)
    return tables.keep(table, [r is None for r in reasons]), counts


def dedup_dataset(catalog, name: str, output: str, progress: bool = False, **params):
    """Deduplicate catalog dataset `name` into `output` (counts by reason in lineage).
    `progress`: a bar (terminal) or interval lines (log) over the problems compared."""
    spec = catalog.resolve(name).spec
    p = check_params(params)
    kept, counts = dedup_table(tables.read(catalog, spec), p, progress=progress)
    return tables.register(catalog, output, kept, parents=[spec], step="dedup", params=p,
                           counts=counts)
