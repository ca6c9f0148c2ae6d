"""N-gram decontamination of traces against the benchmark registry.

Texts are normalised (NFKC, lowercase, LaTeX spacing commands and `\\left`/`\\right` dropped)
and split into word tokens (runs of letters, of digits, of other letters; punctuation, math
symbols and backslashes are separators), so case, spacing and LaTeX-spacing changes do not hide a copy. Word
n-grams (n = 8 or 12 presets, or any n) are hashed to 64-bit integers with numpy straight from the UTF-8 bytes, and a
row is flagged for a benchmark if any n-gram of its prompt or answer is among that
benchmark's n-grams (as open-r1/s1 do, on both fields). Rows get `contaminated_<bench>`
flags; by default flagged rows are dropped. The report counts rows per benchmark and shows
examples with their matched n-grams.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from curate.curation import tables
from curate.errors import BadInput, CurateError

PRESETS = {"8": 8, "12": 12, "s1": 8, "open-r1": 8, "strict": 12}
DEFAULT_BENCHMARKS = ("math500", "aime24", "aime25", "gpqa-diamond", "livecodebench")
_LATEX_SPACING = re.compile(r"\\(?:[,;:!> ]|quad|qquad|thinspace|medspace|thickspace|enspace|"
                            r"hspace\*?\{[^}]*\}|left|right|bigl|bigr|Bigl|Bigr|big|Big)"
                            r"(?![a-zA-Z])|~|\\\\")
_TOKEN = re.compile(r"[a-z]+|[0-9]+|[^\x00-\x7f]+")
_MULT = np.uint64(0x9E3779B97F4A7C15)


def n_of(n: int | str) -> int:
    """An n-gram size from a preset name or a number."""
    if isinstance(n, int) and not isinstance(n, bool):
        size = n
    elif str(n) in PRESETS:
        size = PRESETS[str(n)]
    elif str(n).isdigit():
        size = int(n)
    else:
        raise BadInput(f"n-gram size {n!r}: use a number or one of {sorted(PRESETS)}")
    if size < 3:
        raise BadInput("n-gram size must be at least 3")
    return size


def normalise(text: str | None) -> str:
    """NFKC, LaTeX spacing commands and \\left/\\right dropped, lowercased."""
    t = text or ""
    if not t.isascii():
        t = unicodedata.normalize("NFKC", t)
    if "\\" in t or "~" in t:
        t = _LATEX_SPACING.sub(" ", t)
    return t.lower()


def tokens(text: str | None) -> list[str]:
    """Normalised word tokens: runs of ASCII letters, of digits, or of other letters.

    Everything else (spaces, punctuation, `$`, braces, backslashes, operators) separates
    tokens, so case, spacing and LaTeX spacing do not matter. `batch_ngrams` computes the
    same tokens with numpy over bytes.
    """
    return _TOKEN.findall(normalise(text))


def ngram_hashes(tok_hashes: np.ndarray, n: int) -> np.ndarray:
    """64-bit hashes of all n-grams of a token-hash array (order-sensitive, wraps mod 2^64)."""
    m = len(tok_hashes) - n + 1
    if m <= 0:
        return np.empty(0, dtype=np.uint64)
    acc = np.zeros(m, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(n):
            acc = acc * _MULT + tok_hashes[j:j + m]
            acc ^= acc >> np.uint64(29)
    return acc


_POW_CACHE: dict[int, np.ndarray] = {}
_CLASS = np.zeros(256, dtype=np.int8)       # byte -> token class (see _byte_tokens)
_CLASS[97:123] = 1
_CLASS[48:58] = 2
_CLASS[128:] = 3


def _powers(n: int) -> np.ndarray:
    """P**k mod 2^64 for k < n (a fixed odd multiplier)."""
    n = max(n, 1)
    if n not in _POW_CACHE:
        p = np.empty(n, dtype=np.uint64)
        acc = 1
        for k in range(n):
            p[k] = acc
            acc = (acc * 0x100000001B3) % (1 << 64)
        _POW_CACHE.clear()
        _POW_CACHE[n] = p
    return _POW_CACHE[n]


def _byte_tokens(buf: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(token hash, start offset) of every token in a byte buffer, fully vectorised.

    Classes: 1 = a-z, 2 = 0-9, 3 = non-ASCII byte, 0 = separator; a token is a maximal run
    of one class (the same tokens as `tokens()`).
    """
    cls = _CLASS[buf]
    prev = np.empty_like(cls)
    prev[0] = 0
    prev[1:] = cls[:-1]
    is_tok = cls > 0
    start = is_tok & (cls != prev)
    starts = np.flatnonzero(start)
    if not len(starts):
        return np.empty(0, dtype=np.uint64), starts
    tok_pos = np.flatnonzero(is_tok)
    seg = np.cumsum(start[tok_pos]) - 1                   # token index of each token byte
    pos_in = tok_pos - starts[seg]
    pw = _powers(int(pos_in.max()) + 1)
    with np.errstate(over="ignore"):
        vals = (buf[tok_pos].astype(np.uint64) + np.uint64(1)) * pw[pos_in]
        seg_first = np.flatnonzero(np.r_[True, seg[1:] != seg[:-1]])
        h = np.add.reduceat(vals, seg_first)
        h ^= h >> np.uint64(31)
        h *= _MULT
        h ^= h >> np.uint64(29)
    return h, starts


def batch_ngrams(texts: list[str | None], n: int, chunk: int = 20_000,
                 progress=None) -> tuple[np.ndarray, np.ndarray]:
    """(n-gram hashes, row index of each) for many texts, vectorised over all of them.

    Each chunk of rows is normalised, joined with separators and tokenised and hashed as one
    byte array; n-grams that would cross a row boundary are masked out. `progress(k)` is
    called with the number of rows of each chunk done.
    """
    all_h, all_r = [], []
    for start in range(0, len(texts), chunk):
        part = [normalise(t) for t in texts[start:start + chunk]]
        if progress is not None:
            progress(len(part))
        data = "\n".join(part).encode("utf-8")
        buf = np.frombuffer(data, dtype=np.uint8)
        if not len(buf):
            continue
        tok_h, tok_start = _byte_tokens(buf)
        # row of each token from the byte offsets where rows begin
        lens = np.fromiter((len(p.encode("utf-8")) + 1 for p in part), dtype=np.int64,
                           count=len(part))
        row_begin = np.cumsum(lens) - lens
        first_tok = np.searchsorted(tok_start, row_begin)      # rows are few: cheap
        per_row = np.diff(np.r_[first_tok, len(tok_start)])
        row = np.repeat(np.arange(start, start + len(part), dtype=np.int64), per_row)
        h = ngram_hashes(tok_h, n)
        if not len(h):
            continue
        ok = row[: len(h)] == row[n - 1:]
        all_h.append(h[ok])
        all_r.append(row[: len(h)][ok])
    if not all_h:
        return np.empty(0, dtype=np.uint64), np.empty(0, dtype=np.int64)
    return np.concatenate(all_h), np.concatenate(all_r)


def _text_ngrams(text: str | None, n: int) -> tuple[list[str], np.ndarray]:
    """(tokens, n-gram hashes) of one text, hashed exactly as `batch_ngrams` does."""
    return tokens(text), batch_ngrams([text], n)[0]


@dataclass
class BenchmarkIndex:
    """The sorted n-gram hashes of each benchmark, for one n."""
    n: int
    hashes: dict[str, np.ndarray] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)

    @classmethod
    def build(cls, benchmarks: list[str], n: int, fields: tuple[str, ...] = ("question",),
              skip_missing: bool = False) -> BenchmarkIndex:
        from curate.corpora.benchmarks import get_benchmark, load_benchmark

        idx = cls(n)
        for name in benchmarks:
            canon = get_benchmark(name).name
            try:
                rows = load_benchmark(name)
            except CurateError as e:
                if not skip_missing:
                    raise
                idx.missing[canon] = str(e)
                continue
            texts = [str(r.get(f) or "") for r in rows for f in fields]
            idx.hashes[canon] = np.unique(batch_ngrams(texts, n)[0])
        return idx


def flag_column(bench: str) -> str:
    return "contaminated_" + re.sub(r"[^0-9a-zA-Z]+", "_", bench).strip("_").lower()


def contamination(texts_per_field: list[list[str | None]],
                  index: BenchmarkIndex, progress=None) -> dict[str, np.ndarray]:
    """Per benchmark, a boolean array over rows: does any field's n-gram hit it?
    (`progress(k)`: k texts hashed.)"""
    n_rows = len(texts_per_field[0]) if texts_per_field else 0
    all_h, owner = [], []
    for texts in texts_per_field:
        h, r = batch_ngrams(texts, index.n, progress=progress)
        all_h.append(h)
        owner.append(r)
    flags = {}
    if not sum(map(len, all_h)):
        return {b: np.zeros(n_rows, dtype=bool) for b in index.hashes}
    hs, rows = np.concatenate(all_h), np.concatenate(owner)
    # Prefilter: a 2^24-bit map of every benchmark's hashes; only the rare candidates that
    # hit it are looked up exactly (binary search per benchmark).
    bitmap = np.zeros(1 << 24, dtype=bool)
    for bh in index.hashes.values():
        bitmap[(bh & np.uint64(0xFFFFFF)).astype(np.int64)] = True
    cand = np.flatnonzero(bitmap[(hs & np.uint64(0xFFFFFF)).astype(np.int64)])
    hs, rows = hs[cand], rows[cand]
    for b, bh in index.hashes.items():
        f = np.zeros(n_rows, dtype=bool)
        if len(bh) and len(hs):
            pos = np.searchsorted(bh, hs)
            pos[pos == len(bh)] = 0
            f[rows[bh[pos] == hs]] = True
        flags[b] = f
    return flags


def matched_ngrams(text: str | None, bench_hashes: np.ndarray, n: int, limit: int = 5) -> list[str]:
    """The n-grams of `text` found in a benchmark (for the report)."""
    toks, h = _text_ngrams(text, n)
    if not len(h) or not len(bench_hashes):
        return []
    hit = np.isin(h, bench_hashes)
    return [" ".join(toks[i:i + n]) for i in np.flatnonzero(hit)[:limit]]


DEFAULTS: dict[str, Any] = {
    "benchmarks": list(DEFAULT_BENCHMARKS),
    "n": 8,
    "fields": ["prompt", "answer_text"],
    "drop": True,
    "skip_missing": False,
    "examples": 3,
}


def check_params(params: dict) -> dict[str, Any]:
    unknown = set(params) - set(DEFAULTS)
    if unknown:
        raise BadInput(f"unknown decontaminate option(s) {sorted(unknown)}; "
                       f"known: {sorted(DEFAULTS)}")
    p = {**DEFAULTS, **params}
    if isinstance(p["benchmarks"], str):
        p["benchmarks"] = [b for b in p["benchmarks"].split(",") if b]
    if isinstance(p["fields"], str):
        p["fields"] = [f for f in p["fields"].split(",") if f]
    p["n"] = n_of(p["n"])
    return p


def decontaminate_table(table: pa.Table, params: dict, index: BenchmarkIndex | None = None,
                        progress: bool = False) -> tuple[pa.Table, dict[str, Any]]:
    """(table with flags, or with flagged rows dropped; report with counts and examples)."""
    p = check_params(params)
    fields = [f for f in p["fields"] if f in table.column_names]
    if not fields:
        raise BadInput(f"none of the fields {p['fields']} is a column of the dataset")
    index = index or BenchmarkIndex.build(p["benchmarks"], p["n"], skip_missing=p["skip_missing"])
    texts = [tables.column(table, f) for f in fields]
    from curate.progress import progress_bar

    with progress_bar(enabled=progress) as bar:
        task = bar.add_task("decontaminate", total=table.num_rows * len(fields))
        flags = contamination(texts, index, progress=lambda k: bar.advance(task, k))
    any_flag = np.zeros(table.num_rows, dtype=bool)
    report: dict[str, Any] = {"n": index.n, "fields": fields, "per_benchmark": {},
                              "examples": {}, "unavailable": index.missing}
    ids = tables.column(table, "id")
    for b, f in flags.items():
        any_flag |= f
        report["per_benchmark"][b] = int(f.sum())
        ex = []
        for i in np.flatnonzero(f)[: p["examples"]]:
            m = []
            for fi, fname in enumerate(fields):
                m += [f"{fname}: {g}" for g in matched_ngrams(texts[fi][i], index.hashes[b],
                                                              index.n)]
            ex.append({"row": int(i), "id": ids[i], "text": (texts[0][i] or "")[:200],
                       "matched": m[:5]})
        report["examples"][b] = ex
    report["flagged"] = int(any_flag.sum())
    if p["drop"]:
        out = tables.keep(table, (~any_flag).tolist())
    else:
        out = table
        for b, f in flags.items():
            out = tables.set_column(out, flag_column(b), f.tolist(), pa.bool_())
    return out, report


def report_card(report: dict[str, Any]) -> str:
    """Markdown summary: counts per benchmark and examples with matched n-grams."""
    lines = [f"## Decontamination ({report['n']}-grams of {', '.join(report['fields'])})", "",
             "| benchmark | rows flagged |", "|---|---|"]
    lines += [f"| {b} | {c} |" for b, c in report["per_benchmark"].items()]
    for b, why in report.get("unavailable", {}).items():
        lines.append(f"| {b} | not checked: {why} |")
    for b, exs in report["examples"].items():
        for e in exs:
            lines.append(f"\n- **{b}** row {e['row']}: {e['text'][:120]!r} matched "
                         + "; ".join(f"`{m}`" for m in e["matched"]))
    return "\n".join(lines) + "\n"


def decontaminate_dataset(catalog, name: str, output: str, progress: bool = False, **params):
    """Decontaminate catalog dataset `name` into `output`; the report goes to counts and card.
    `progress`: a bar (terminal) or interval lines (log) over the texts hashed."""
    spec = catalog.resolve(name).spec
    p = check_params(params)
    table = tables.read(catalog, spec)
    out, report = decontaminate_table(table, p, progress=progress)
    counts = {"in": table.num_rows, "out": out.num_rows,
              "dropped": {"contaminated": report["flagged"]} if p["drop"] else {},
              "per_benchmark": report["per_benchmark"]}
    return tables.register(catalog, output, out, parents=[spec], step="decontaminate",
                           params=p, counts=counts, card=report_card(report),
                           stats={"decontamination": report})
