"""Prompt deduplication: exact (content-preserving normal form) and near-duplicates (MinHash
proposes, the math content decides).

Duplicates are judged between *problems*: all samples of one `problem_id` stay together, and
a problem whose prompt repeats (or nearly repeats) an earlier problem's prompt is dropped with
all its samples. The first occurrence is kept, so results are deterministic.

The rule (two problems are the same problem only when what they ask agrees):

- **exact**: equal `problem_text.canonical` forms: whitespace, prose case, LaTeX spacing,
  `\\left`/`\\right`, math delimiters and trailing punctuation do not count; digits,
  operators, relations, variable names and LaTeX commands do (`Compute $2+3$.` and
  `Compute $2-3$.` are different problems).
- **near**: datasketch MinHash-LSH over character (or word) shingles of the loose text proposes
  pairs whose estimated Jaccard is at or above `threshold`; a proposed pair is a duplicate only
  if its math content (`problem_text.math_content`: the math segments, numbers, number words,
  operators and question words, in order) is equal as well, and no word of one is replaced
  by a different word in the other (`problem_text.same_question`: `in a row` / `in a
  circle`, `mean` / `median`; inserted or deleted words are rewording). Problems that differ in their
  numbers or their expressions are never near-duplicates, however alike their wording
  (Countdown instances in one template, `x^9 + 1` divided by `x - 1` vs `x^6 - 3` divided by
  `x + 1`). Prompts with no math content at all fall back to text similarity alone.

Each dropped problem records the row it duplicates (see `curate.curation.dropped`).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from curate.curation import dropped as dropped_rows
from curate.curation import tables
from curate.curation.problem_text import canonical, forms, loose, same_question_loose
from curate.errors import BadInput

DEFAULTS: dict[str, Any] = {
    "field": "prompt",
    "exact": True,
    "minhash": True,
    "threshold": 0.6,       # estimated Jaccard at or above which two prompts are candidates
    "num_perm": 128,
    "shingle": 5,           # n-gram size of the shingles
    "unit": "char",         # char | word: shingles of characters (robust on short prompts) or words
    "seed": 1,
    "strip_template": True,  # drop the prefix and suffix every prompt shares before MinHash
    "content_check": True,   # a MinHash pair is a duplicate only if its math content agrees
}


TEMPLATE_MIN_TEXTS = 10
_MAX32 = np.uint64(0xFFFFFFFF)


@dataclass(frozen=True)
class Duplicate:
    """Text `of` (an index) is the kept text this one duplicates."""
    reason: str          # exact_duplicate | near_duplicate
    of: int
    similarity: float    # 1.0 for exact; MinHash-estimated Jaccard for near


def normalise(text: str | None) -> str:
    """The exact-dedup key: `problem_text.canonical` (content kept, formatting dropped)."""
    return canonical(text)


def shingles(text: str, n: int, unit: str = "char", normalised: bool = False) -> set[bytes]:
    """The shingle set of a (loose, see `problem_text.loose`) text: char or word n-grams."""
    t = text if normalised else loose(text)
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
    Under `TEMPLATE_MIN_TEXTS` texts, or when one text is all shared part, what they share is
    the problem, not a template, and nothing is stripped.
    """
    if len(norm) < TEMPLATE_MIN_TEXTS:
        return norm
    prefix = len(os.path.commonprefix(norm))
    suffix = len(os.path.commonprefix([t[::-1] for t in norm]))
    if prefix + suffix < 8:
        return norm
    out = []
    for t in norm:
        core = t[prefix:len(t) - suffix] if len(t) > prefix + suffix else ""
        if not core.strip():
            return norm        # a whole text is the shared part: it is no template
        out.append(core)
    return out


def find_duplicates(texts: list[str], *, exact: bool = True, minhash: bool = True,
                    threshold: float = 0.6, num_perm: int = 128, shingle: int = 5,
                    unit: str = "char", seed: int = 1, strip_template: bool = True,
                    content_check: bool = True, progress=None) -> list[Duplicate | None]:
    """Per text: None (kept) or the `Duplicate` naming the earlier kept text it repeats.
    `progress(k)` is called as texts are hashed and compared (k texts at a time)."""
    from datasketch import MinHash, MinHashLSH

    if minhash and not 0.0 < threshold <= 1.0:
        raise BadInput(f"threshold must be in (0, 1], got {threshold}")
    if unit not in ("char", "word"):
        raise BadInput(f"unit must be char or word, got {unit!r}")
    out: list[Duplicate | None] = [None] * len(texts)
    fs = [forms(t) for t in texts]
    if exact:
        first: dict[str, int] = {}
        for i, f in enumerate(fs):
            j = first.setdefault(f.canonical, i)
            if j != i:
                out[i] = Duplicate("exact_duplicate", j, 1.0)
    if minhash:
        lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
        todo = [i for i in range(len(texts)) if out[i] is None]
        cores = [fs[i].loose for i in todo]
        if strip_template:
            cores = strip_shared(cores)
        hashes = MinHash.bulk([shingles(c, shingle, unit, normalised=True) for c in cores],
                              num_perm=num_perm, seed=seed)
        if content_check:
            for i, m in zip(todo, hashes):
                _key_minhash(m, fs[i].key)
        if progress is not None:
            progress(len(texts) - len(todo))   # exact duplicates: nothing left to compare
        kept: dict[int, Any] = {}
        for j, (i, m) in enumerate(zip(todo, hashes)):
            if progress is not None and j % 1000 == 999:
                progress(1000)
            best = None
            for c in sorted(lsh.query(m)):
                if content_check and (fs[c].key != fs[i].key
                                      or not same_question_loose(fs[c].loose, fs[i].loose)):
                    continue
                sim = kept[c].jaccard(m)
                if sim >= threshold:
                    best = Duplicate("near_duplicate", c, round(float(sim), 4))
                    break
            if best is not None:
                out[i] = best
                continue
            lsh.insert(i, m)
            kept[i] = m
        if progress is not None:
            progress(len(todo) % 1000)
    elif progress is not None:
        progress(len(texts))
    return out


def _key_minhash(m, key: bytes) -> None:
    """Shift every hash value of MinHash `m` by a value drawn from the math-content `key`
    (modulo datasketch's 32-bit hash range): two MinHashes with the same key keep their
    Jaccard estimate, two with different keys share (almost) no value, so the LSH never
    proposes problems whose math differs: on prompts from one template (Countdown, numbers
    redrawn) it stops comparing every problem with all its look-alikes."""
    n = len(m.hashvalues)
    shift = np.frombuffer(hashlib.shake_128(key).digest(8 * n), dtype="<u8")
    hv = m.hashvalues
    m.hashvalues = ((hv.astype(np.uint64) + (shift & _MAX32)) & _MAX32).astype(hv.dtype)


def duplicate_flags(texts: list[str], **params) -> list[str | None]:
    """Per text: None (kept), "exact_duplicate" or "near_duplicate" of an earlier text."""
    return [d.reason if d else None for d in find_duplicates(texts, **params)]


def check_params(params: dict) -> dict[str, Any]:
    unknown = set(params) - set(DEFAULTS)
    if unknown:
        raise BadInput(f"unknown dedup option(s) {sorted(unknown)}; known: {sorted(DEFAULTS)}")
    return {**DEFAULTS, **params}


def _problem_keys(pids: list[Any]) -> list[Any]:
    return [pid if pid is not None else ("\0", i) for i, pid in enumerate(pids)]


def dedup_split(table: pa.Table, params: dict,
                progress: bool = False) -> tuple[pa.Table, pa.Table, dict[str, Any]]:
    """(kept rows, dropped rows with their reason and match, counts); duplicates are judged
    per problem (the first row of each problem_id stands for it). `progress`: a bar
    (terminal) or interval lines (log) over the problems compared."""
    p = check_params(params)
    field = p.pop("field")
    if field not in table.column_names:
        raise BadInput(f"no column {field!r} to deduplicate on")
    texts = tables.column(table, field)
    keys = _problem_keys(tables.column(table, "problem_id"))
    ids = tables.column(table, "id")
    first: dict[Any, int] = {}
    for i, k in enumerate(keys):
        first.setdefault(k, i)
    reps = list(first.values())
    from curate.progress import progress_bar

    with progress_bar(enabled=progress) as bar:
        task = bar.add_task("dedup", total=len(reps))
        found = find_duplicates([texts[i] or "" for i in reps], **p,
                                progress=lambda k: bar.advance(task, k))
    dup_of = {keys[r]: (d, reps[d.of]) for r, d in zip(reps, found) if d is not None}
    reasons: list[str | None] = [None] * len(keys)
    matches: list[str | None] = [None] * len(keys)
    details: list[dict | None] = [None] * len(keys)
    for i, k in enumerate(keys):
        if k not in dup_of:
            continue
        d, j = dup_of[k]
        reasons[i] = d.reason
        matches[i] = ids[j] if ids[j] is not None else f"row {j}"
        details[i] = {"field": field, "similarity": d.similarity,
                      "problem_id": keys[j] if not isinstance(keys[j], tuple) else None,
                      "kept_text": (texts[j] or "")[:300]}
    counts = tables.drop_counts(len(reasons), reasons)
    counts["problems_in"] = len(reps)
    counts["problems_out"] = sum(d is None for d in found)
    kept = tables.keep(table, [r is None for r in reasons])
    return kept, dropped_rows.dropped_table(table, "dedup", reasons, matches, details), counts


def dedup_table(table: pa.Table, params: dict,
                progress: bool = True) -> tuple[pa.Table, dict[str, Any]]:
    """(kept rows, counts) with duplicates judged per problem (first row of each problem_id)."""
    kept, _dropped, counts = dedup_split(table, params, progress)
    return kept, counts


def dedup_dataset(catalog, name: str, output: str, keep_dropped: bool = True,
                  progress: bool = True, executor: Any = None, tasks: int | None = None,
                  workers: int | None = None, **params):
    """Deduplicate catalog dataset `name` into `output` (counts by reason in lineage); the
    dropped problems' rows go to `output-dropped` unless `keep_dropped` is False.
    `progress`: a bar (terminal) or interval lines (log) over the problems compared.

    `executor` "local" | "slurm" | "ray" (or an `ExecutorSpec`) runs the datatrove MinHash
    stages instead (`curate.curation.dedup_scale`, memory bounded by the shard); `tasks`
    shards (default 2 per worker), `workers` processes (default 1 locally). A Slurm dry run
    returns the driver's `DryRun` (the sbatch scripts), registering nothing.

    Returns the `DatasetRef` of `output`. Raises BadInput for unknown options or a missing
    `field` column, CurateError when no row is left.

    Example: ``dedup_dataset(cat, "clean", "clean-dedup", threshold=0.6)``.
    """
    if executor is not None:
        return _dedup_on_executor(catalog, name, output, keep_dropped, executor, tasks,
                                  workers, params)
    dropped_rows.check_names(output, keep_dropped)
    src = catalog.resolve(name)
    p = check_params(params)
    kept, dropped, counts = dedup_split(tables.read(catalog, src.spec), p, progress)
    return dropped_rows.register_split(catalog, output, kept, dropped, parents=[src.spec],
                                       step="dedup", params=p, counts=counts,
                                       keep_dropped=keep_dropped, kind=src.kind)


def _dedup_on_executor(catalog, name, output, keep_dropped, executor, tasks, workers, params):
    """The MinHash stages on `executor`: "local" | "slurm" | "ray" or an `ExecutorSpec`
    (from `--executor` or a recipe run with one). Workers default to 1 locally (the stages
    are memory-bound, not CPU-bound), tasks to 2 per worker (8 on a cluster)."""
    from curate.curation.executors.run import ExecutorSpec, executor_spec

    ex = executor if isinstance(executor, ExecutorSpec) else executor_spec(str(executor))
    workers = int(workers or ex.workers or (1 if ex.kind == "local" else 0)) or None
    tasks = int(tasks or ex.tasks or (2 * workers if workers else 8))
    ex = ExecutorSpec(**{**ex.to_dict(), "tasks": tasks, "workers": workers})
    thr = params.get("threshold")
    if thr is not None and abs(float(thr) - DEFAULTS["threshold"]) > 1e-9:
        raise BadInput(f"dedup threshold {thr} is for the in-process dedup; on an executor the "
                       "MinHash bands (num_buckets x hashes_per_bucket, 20 x 6: midpoint near "
                       "0.6) set it")
    try:
        from curate.curation.dedup_scale import dedup_dataset_scaled
    except ModuleNotFoundError as e:
        raise BadInput(f"dedup --executor needs datatrove ({e}): pip install "
                       "'curate-traces[dev]'") from None

    unused = {"threshold", "num_perm", "strip_template"} & set(params)
    params = {k: v for k, v in params.items() if k not in unused}
    return dedup_dataset_scaled(catalog, name, output, tasks=tasks, executor=ex,
                                keep_dropped=keep_dropped, **params)
