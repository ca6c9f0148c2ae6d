"""Decontamination of traces against the benchmark registry: n-gram overlap, and whole-question
matching for the benchmark items too short to have an n-gram.

Texts are normalised (`problem_text.latex_forms`: NFKC, math symbols as LaTeX, LaTeX spacing,
`\\left`/`\\right` and display-style aliases dropped; then lowercased) and split into word
tokens (runs of letters, of digits, of other letters; punctuation, math symbols and backslashes
are separators), so case, spacing and LaTeX-spacing changes do not hide a copy. Word n-grams
(n = 8 or 12 presets, or any n) are hashed to 64-bit integers with numpy straight from the
UTF-8 bytes. A row is flagged for a benchmark item when the n-grams its prompt or answer
shares with the item cover at least `min_coverage` (default half) of the item's tokens. One
shared n-gram, the open-r1/s1 rule (`min_coverage=0`), flags stock competition wording: 4
MATH-500 problems against AIME 2024 (`where m and n are relatively prime positive integers`,
`is not divisible by the square of any prime`) and 7 AIME problems against MATH-500, none a
copy; with half coverage, none, while every item found in itself, whole or in part, still is.

A benchmark item with fewer than n tokens (`Compute $\\dbinom{31}{28}$.`) has no n-gram and
could never match. Each such item is matched whole instead: a row is flagged when the item's
`problem_text.canonical` form (case of prose, whitespace, LaTeX spacing, delimiters and
trailing punctuation aside; every digit, operator and command kept) occurs in the canonical
form of the row's field at word boundaries: the item on its own, inside a longer prompt, or
echoed in an answer. Candidates come from the item's whole token sequence hashed like an
n-gram (a k-gram, k < n), so the check costs one pass. In the question field (`prompt`) such an item is
also found reworded: a short text (at most `REWORDED_MAX_TOKENS` x n tokens) with the item's
math content (`problem_text.math_content`: every formula, number and question word) and no
word of the item replaced by another (`problem_text.same_question`): `Evaluate
$\\dbinom{31}{28}$.` and `Simplify: $\\sqrt{242}$.` are MATH-500 items, `Find the tens digit of
$18^6$.` (the item asks for the units digit) is not. Evidence `form` says which: `text` or
`reworded`.

Rows get `contaminated_<bench>` flags; by default flagged rows are dropped and kept as
`OUTPUT-dropped` with the benchmark item each collides with (`drop_match`
`BENCHMARK:ITEM_ID`) and the evidence (`drop_detail`: rule, field, matched n-grams or the whole
question). The report counts rows per benchmark and per rule, says how many items were shorter
than n, and shows examples with their matched n-grams.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from curate.curation import dropped as dropped_rows
from curate.curation import tables
from curate.curation.executors.ops import Applied, BatchOp, Finished, split
from curate.curation.problem_text import canonical, forms, latex_forms, same_question_loose
from curate.errors import BadInput, CurateError

PRESETS = {"8": 8, "12": 12, "s1": 8, "open-r1": 8, "strict": 12}
DEFAULT_BENCHMARKS = ("math500", "aime24", "aime25", "gpqa-diamond", "livecodebench")
SHORT_RULE = ("benchmark items with fewer than n tokens share no n-gram with anything: each is "
              "matched whole, its normalised text (case, spacing, LaTeX spacing, delimiters and "
              "trailing punctuation aside) inside the row's normalised field at word boundaries, "
              "or reworded as the row's question (the same math content, every number, formula "
              "and question word, with no word replaced by another)")
REWORDED_MAX_TOKENS = 3      # x n: a question longer than this is no rewording of a short item
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
    """`problem_text.latex_forms` (NFKC, LaTeX spacing and aliases unified), lowercased."""
    return latex_forms(text).lower()


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


def _chunk_tokens(texts: list[str | None], start: int) -> tuple[np.ndarray, np.ndarray]:
    """(token hash, row index) of every token of `texts` (rows numbered from `start`): the
    chunk is normalised, joined with separators and tokenised and hashed as one byte array."""
    part = [normalise(t) for t in texts]
    data = "\n".join(part).encode("utf-8")
    buf = np.frombuffer(data, dtype=np.uint8)
    if not len(buf):
        return np.empty(0, dtype=np.uint64), np.empty(0, dtype=np.int64)
    tok_h, tok_start = _byte_tokens(buf)
    # row of each token from the byte offsets where rows begin
    lens = np.fromiter((len(p.encode("utf-8")) + 1 for p in part), dtype=np.int64,
                       count=len(part))
    row_begin = np.cumsum(lens) - lens
    first_tok = np.searchsorted(tok_start, row_begin)          # rows are few: cheap
    per_row = np.diff(np.r_[first_tok, len(tok_start)])
    row = np.repeat(np.arange(start, start + len(part), dtype=np.int64), per_row)
    return tok_h, row


def _grams(tok_h: np.ndarray, row: np.ndarray,
           sizes: list[int]) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """{k: (k-gram hashes, row of each)} for every k in `sizes`, in one pass over the tokens.

    The hash of a k-gram is the same as `ngram_hashes(tok_h, k)` gives; k-grams that would
    cross a row boundary are left out."""
    n_tok = len(tok_h)
    top = max(sizes)
    padded = np.concatenate([tok_h, np.zeros(top, dtype=np.uint64)])
    acc = np.zeros(n_tok, dtype=np.uint64)
    out: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    with np.errstate(over="ignore"):
        for j in range(top):
            acc = acc * _MULT + padded[j:j + n_tok]
            acc ^= acc >> np.uint64(29)
            k = j + 1
            if k not in sizes:
                continue
            m = n_tok - k + 1
            if m <= 0:
                out[k] = (np.empty(0, dtype=np.uint64), np.empty(0, dtype=np.int64))
                continue
            ok = row[:m] == row[k - 1:]
            out[k] = (acc[:m][ok], row[:m][ok])
    return out


def batch_ngrams(texts: list[str | None], n: int,
                 chunk: int = 20_000) -> tuple[np.ndarray, np.ndarray]:
    """(n-gram hashes, row index of each) for many texts, vectorised over all of them."""
    all_h, all_r = [], []
    for start in range(0, len(texts), chunk):
        tok_h, row = _chunk_tokens(texts[start:start + chunk], start)
        if len(tok_h):
            h, r = _grams(tok_h, row, [n])[n]
            all_h.append(h)
            all_r.append(r)
    if not all_h:
        return np.empty(0, dtype=np.uint64), np.empty(0, dtype=np.int64)
    return np.concatenate(all_h), np.concatenate(all_r)


def _text_ngrams(text: str | None, n: int) -> tuple[list[str], np.ndarray]:
    """(tokens, n-gram hashes) of one text, hashed exactly as `batch_ngrams` does."""
    return tokens(text), batch_ngrams([text], n)[0]


MAX_SPACINGS = 64


def digit_spacings(toks: list[str]) -> list[list[str]]:
    """The token sequences a whitespace change inside math can give a short item: as is, one
    number split in two (`\\log_264` written `\\log_2 64`), two numbers joined (`10\\,080`
    written `10080`). Math ignores the space, the tokens do not; at most `MAX_SPACINGS`."""
    out = [toks]
    for i, t in enumerate(toks):
        if t.isdigit():
            out += [toks[:i] + [t[:p], t[p:]] + toks[i + 1:] for p in range(1, len(t))]
            if i + 1 < len(toks) and toks[i + 1].isdigit():
                out.append(toks[:i] + [t + toks[i + 1]] + toks[i + 2:])
    return out[:MAX_SPACINGS]


@dataclass(frozen=True)
class ShortItem:
    """A benchmark item with fewer than n tokens, matched whole (one per digit spacing)."""
    item: int            # index of the item in its benchmark
    k: int               # its number of tokens (in this spacing)
    hash: int            # the hash of its whole token sequence (a k-gram)
    text: str            # its canonical form (`problem_text.canonical`)


@dataclass
class BenchmarkIndex:
    """Per benchmark: the sorted unique n-gram hashes; every n-gram of every item as
    (hash, text, position) sorted by hash, with each text's item and token count (for the
    coverage of an item); the items shorter than n (matched whole); the items' ids and
    questions (for the report)."""
    n: int
    hashes: dict[str, np.ndarray] = field(default_factory=dict)
    grams: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=dict)
    text_item: dict[str, np.ndarray] = field(default_factory=dict)
    text_tokens: dict[str, np.ndarray] = field(default_factory=dict)
    short: dict[str, list[ShortItem]] = field(default_factory=dict)
    # per benchmark: math-content key of each short item with math content -> [(item, loose)]
    short_keys: dict[str, dict[bytes, list[tuple[int, str]]]] = field(default_factory=dict)
    item_ids: dict[str, list[str]] = field(default_factory=dict)
    questions: dict[str, list[str]] = field(default_factory=dict)
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
            idx.add(canon, rows, fields)
        return idx

    def add(self, name: str, rows: list[dict[str, Any]],
            fields: tuple[str, ...] = ("question",)) -> None:
        """Index one benchmark's rows (each with `id` and the text fields)."""
        texts = [str(r.get(f) or "") for r in rows for f in fields]
        h, r = batch_ngrams(texts, self.n)
        pos = np.arange(len(r)) - np.searchsorted(r, r)      # n-gram position in its text
        order = np.argsort(h, kind="stable")
        self.hashes[name] = np.unique(h)
        self.grams[name] = (h[order], r[order], pos[order])
        self.text_item[name] = np.arange(len(texts)) // len(fields)
        self.text_tokens[name] = np.array([len(tokens(t)) for t in texts], dtype=np.int64)
        self.item_ids[name] = [str(r.get("id", i)) for i, r in enumerate(rows)]
        self.questions[name] = [str(r.get(fields[0]) or "") for r in rows]
        short = []
        keys: dict[bytes, list[tuple[int, str]]] = {}
        for j, t in enumerate(texts):
            toks = tokens(t)
            if 0 < len(toks) < self.n:
                text = canonical(t)
                for v in digit_spacings(toks):
                    kh = batch_ngrams([" ".join(v)], len(v))[0]
                    short.append(ShortItem(j // len(fields), len(v), int(kh[0]), text))
                if any(c.isdigit() or c == "$" for c in text):    # has math to match on
                    f = forms(t)
                    keys.setdefault(f.key, []).append((j // len(fields), f.loose))
        self.short[name] = short
        self.short_keys[name] = keys

    def short_items(self, name: str) -> int:
        """How many of the benchmark's items have fewer than n tokens."""
        return len({it.item for it in self.short.get(name, [])})


    def coverage(self, name: str, rows: np.ndarray, hashes: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(row, text, share of the text's tokens covered) for every (row, benchmark text)
        pair that shares n-grams, from the rows' matching n-gram hashes."""
        gh, gtext, gpos = self.grams[name]
        lo = np.searchsorted(gh, hashes, "left")
        cnt = np.searchsorted(gh, hashes, "right") - lo
        keep = cnt > 0
        lo, cnt, rows = lo[keep], cnt[keep], rows[keep]
        if not len(lo):
            empty = np.empty(0, dtype=np.int64)
            return empty, empty, np.empty(0)
        total = int(cnt.sum())
        offs = np.arange(total) - np.repeat(np.cumsum(cnt) - cnt, cnt)
        idx = np.repeat(lo, cnt) + offs
        r, t, q = np.repeat(rows, cnt), gtext[idx], gpos[idx]
        order = np.lexsort((q, t, r))
        r, t, q = r[order], t[order], q[order]
        new = np.r_[True, (r[1:] != r[:-1]) | (t[1:] != t[:-1]) | (q[1:] != q[:-1])]
        r, t, q = r[new], t[new], q[new]
        group = np.r_[True, (r[1:] != r[:-1]) | (t[1:] != t[:-1])]
        step = np.minimum(np.diff(q, prepend=q[:1]), self.n)
        step[group] = self.n               # each group starts with one whole n-gram
        starts = np.flatnonzero(group)
        covered = np.add.reduceat(step, starts)
        tt = t[starts]
        return r[starts], tt, covered / np.maximum(self.text_tokens[name][tt], 1)


@dataclass(frozen=True)
class Hit:
    """Why a row is flagged for a benchmark: the rule, the benchmark item, the field, and the
    share of the item's tokens the row covers with shared n-grams (1.0 for a whole match)."""
    rule: str            # ngram | whole_question
    item: int
    field: int
    coverage: float = 1.0
    form: str | None = None   # whole_question: "text" (the item's text) | "reworded"


def flag_column(bench: str) -> str:
    return "contaminated_" + re.sub(r"[^0-9a-zA-Z]+", "_", bench).strip("_").lower()


def contains_whole(hay: str, needle: str) -> bool:
    """Does `needle` occur in `hay` without cutting a word or a number at either end?"""
    if not needle:
        return False
    start = hay.find(needle)
    while start != -1:
        end = start + len(needle)
        left = start == 0 or not (hay[start - 1].isalnum() and needle[0].isalnum())
        right = end == len(hay) or not (hay[end].isalnum() and needle[-1].isalnum())
        if left and right:
            return True
        start = hay.find(needle, start + 1)
    return False


_LOW24 = np.uint64(0xFFFFFF)


def _bitmap(hash_arrays) -> np.ndarray:
    """A 2^24-entry map of the low 24 bits of every hash (a cheap prefilter)."""
    bitmap = np.zeros(1 << 24, dtype=bool)
    for h in hash_arrays:
        bitmap[(h & _LOW24).astype(np.int64)] = True
    return bitmap


def find_hits(texts_per_field: list[list[str | None]], index: BenchmarkIndex,
              chunk: int = 20_000, progress=None,
              min_coverage: float = 0.5,
              question_fields: tuple[int, ...] = (0,)) -> dict[str, dict[int, Hit]]:
    """Per benchmark, {row: Hit} over all fields (memory bounded by the chunk).

    A benchmark item shorter than n is matched whole in any field, and in the
    `question_fields` (indices into `texts_per_field`; the first, the prompt, by default)
    also reworded: a text of at most `REWORDED_MAX_TOKENS` x n tokens with the item's math
    content (`problem_text.math_content`) and no word of the item replaced by another
    (`problem_text.same_question`): `Evaluate $\\dbinom{31}{28}$.` for `Compute
    $\\dbinom{31}{28}$.`, but not `Find the tens digit of $18^6$.` for `Find the units digit of
    $18^6.$`.

    A row hits an item by n-grams when the n-grams they share cover at least `min_coverage`
    of the item's tokens (0: any shared n-gram, the open-r1/s1 rule), so a stock phrase
    (`where m and n are relatively prime positive integers`) is not a copy; the item covered
    most is reported. `progress(k)` is called with the number of texts of each chunk done."""
    n_rows = len(texts_per_field[0]) if texts_per_field else 0
    hits: dict[str, dict[int, Hit]] = {b: {} for b in index.hashes}
    # Prefilter: a 2^24-bit map of every benchmark's hashes; only the rare candidates that
    # hit it are looked up exactly (binary search per benchmark).
    bitmap = _bitmap(index.hashes.values())
    short_by_k: dict[int, dict[int, list[tuple[str, ShortItem]]]] = {}
    for b, items in index.short.items():
        for it in items:
            short_by_k.setdefault(it.k, {}).setdefault(it.hash, []).append((b, it))
    short_sorted = {k: np.array(sorted(v), dtype=np.uint64) for k, v in short_by_k.items()}
    short_bitmap = _bitmap(short_sorted.values())
    sizes = sorted({index.n, *short_by_k})
    for fi, texts in enumerate(texts_per_field):
        canon: dict[int, str] = {}
        for start in range(0, n_rows, chunk):
            tok_h, row = _chunk_tokens(texts[start:start + chunk], start)
            if progress is not None:
                progress(min(chunk, n_rows - start))
            if not len(tok_h):
                continue
            grams = _grams(tok_h, row, sizes)
            hs, rows = grams[index.n]
            cand = bitmap[(hs & _LOW24).astype(np.int64)]
            hs, rows = hs[cand], rows[cand]
            for b, bh in index.hashes.items():
                if not len(bh) or not len(hs):
                    continue
                pos = np.searchsorted(bh, hs)
                pos[pos == len(bh)] = 0
                m = bh[pos] == hs
                if not m.any():
                    continue
                rr, tt, cov = index.coverage(b, rows[m], hs[m])
                ok = cov >= min_coverage - 1e-9
                for r, t, c in zip(rr[ok].tolist(), tt[ok].tolist(), cov[ok].tolist()):
                    old = hits[b].get(r)
                    if old is None or (old.rule == "ngram" and c > old.coverage):
                        hits[b][r] = Hit("ngram", int(index.text_item[b][t]), fi,
                                         round(min(c, 1.0), 4))
            for k, by_hash in short_by_k.items():
                hk, rk = grams[k]
                c = short_bitmap[(hk & _LOW24).astype(np.int64)]
                hk, rk = hk[c], rk[c]
                want = short_sorted[k]
                pos = np.minimum(np.searchsorted(want, hk), len(want) - 1)
                m = want[pos] == hk
                for h, r in zip(hk[m].tolist(), rk[m].tolist()):
                    for b, it in by_hash[h]:
                        if r in hits[b] and hits[b][r].coverage >= 1.0:
                            continue
                        if r not in canon:
                            canon[r] = canonical(texts[r])
                        if contains_whole(canon[r], it.text):
                            hits[b][r] = Hit("whole_question", it.item, fi, form="text")
            if fi in question_fields and any(index.short_keys.values()):
                _reworded_hits(texts, start, row, index, fi, hits)
    return hits


QUESTION_FIELDS = ("prompt", "problem", "question", "input", "instruction")


def question_fields(fields: list[str]) -> tuple[int, ...]:
    """Indices of the fields that hold a question (`QUESTION_FIELDS`): the reworded match
    applies there only (an answer restating a formula is no question)."""
    return tuple(i for i, f in enumerate(fields) if f in QUESTION_FIELDS)


def _reworded_hits(texts: list[str | None], start: int, row: np.ndarray, index: BenchmarkIndex,
                   fi: int, hits: dict[str, dict[int, Hit]]) -> None:
    """Short items asked in other words by the chunk's short texts (see `find_hits`)."""
    per_row = np.bincount(row - start, minlength=0)
    limit = REWORDED_MAX_TOKENS * index.n
    for off in np.flatnonzero((per_row > 0) & (per_row <= limit)).tolist():
        r = start + off
        f = None
        for b, keys in index.short_keys.items():
            if r in hits[b] and hits[b][r].coverage >= 1.0:
                continue
            f = f or forms(texts[r])
            for item, item_loose in keys.get(f.key, ()):
                if same_question_loose(item_loose, f.loose):
                    hits[b][r] = Hit("whole_question", item, fi, form="reworded")
                    break


def contamination(texts_per_field: list[list[str | None]],
                  index: BenchmarkIndex, progress=None,
                  min_coverage: float = 0.5) -> dict[str, np.ndarray]:
    """Per benchmark, a boolean array over rows: does any field hit it (n-gram or whole)?
    (`progress(k)`: k texts hashed.)"""
    n_rows = len(texts_per_field[0]) if texts_per_field else 0
    flags = {}
    for b, h in find_hits(texts_per_field, index, progress=progress,
                          min_coverage=min_coverage).items():
        f = np.zeros(n_rows, dtype=bool)
        f[list(h)] = True
        flags[b] = f
    return flags


def matched_ngrams(text: str | None, bench_hashes: np.ndarray, n: int, limit: int = 5) -> list[str]:
    """The n-grams of `text` found in a benchmark's sorted hashes (for the report)."""
    toks, h = _text_ngrams(text, n)
    if not len(h) or not len(bench_hashes):
        return []
    pos = np.minimum(np.searchsorted(bench_hashes, h), len(bench_hashes) - 1)
    hit = bench_hashes[pos] == h                       # bench_hashes is sorted
    return [" ".join(toks[i:i + n]) for i in np.flatnonzero(hit)[:limit]]


DEFAULTS: dict[str, Any] = {
    "benchmarks": list(DEFAULT_BENCHMARKS),
    "n": 8,
    "fields": ["prompt", "answer_text"],
    "drop": True,
    "skip_missing": False,
    "examples": 3,
    "min_coverage": 0.5,   # share of an item's tokens the shared n-grams must cover (0: any)
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
    try:
        p["min_coverage"] = float(p["min_coverage"])
    except (TypeError, ValueError):
        raise BadInput(f"min_coverage must be a number in [0, 1], got {p['min_coverage']!r}") \
            from None
    if not 0.0 <= p["min_coverage"] <= 1.0:
        raise BadInput(f"min_coverage must be in [0, 1], got {p['min_coverage']}")
    return p


def decontaminate_split(table: pa.Table, params: dict, index: BenchmarkIndex | None = None,
                        progress: bool = False
                        ) -> tuple[pa.Table, pa.Table | None, dict[str, Any]]:
    """(kept rows, or all rows with `contaminated_<bench>` flags when `drop` is off; the
    dropped rows with the benchmark item each collides with, or None; the report).
    `progress`: a bar (terminal) or interval lines (log) over the texts hashed."""
    p = check_params(params)
    fields = [f for f in p["fields"] if f in table.column_names]
    if not fields:
        raise BadInput(f"none of the fields {p['fields']} is a column of the dataset")
    index = index or BenchmarkIndex.build(p["benchmarks"], p["n"], skip_missing=p["skip_missing"])
    texts = [tables.column(table, f) for f in fields]
    from curate.progress import progress_bar

    with progress_bar(enabled=progress) as bar:
        task = bar.add_task("decontaminate", total=table.num_rows * len(fields))
        hits = find_hits(texts, index, progress=lambda k: bar.advance(task, k),
                         min_coverage=p["min_coverage"],
                         question_fields=question_fields(fields))
    n_rows = table.num_rows
    report: dict[str, Any] = {
        "n": index.n, "fields": fields, "min_coverage": p["min_coverage"],
        "rule": (f"A row is flagged when the {index.n}-grams its {' or '.join(fields)} shares "
                 f"with a benchmark item cover at least {p['min_coverage']:.0%} of the item's "
                 "tokens" + (" (any shared n-gram)." if not p["min_coverage"] else ".")),
        "per_benchmark": {}, "per_rule": {}, "examples": {},
        "unavailable": index.missing,
        "shorter_than_n": {b: index.short_items(b) for b in index.hashes},
        "short_rule": SHORT_RULE}
    ids = tables.column(table, "id")
    first: dict[int, tuple[str, Hit]] = {}          # row -> the first benchmark it hits
    also: dict[int, list[str]] = {}
    for b, h in hits.items():
        report["per_benchmark"][b] = len(h)
        rules = [x.rule for x in h.values()]
        report["per_rule"][b] = {"ngram": rules.count("ngram"),
                                 "whole_question": rules.count("whole_question")}
        for r in sorted(h):
            if r in first:
                also.setdefault(r, []).append(b)
            else:
                first[r] = (b, h[r])
        report["examples"][b] = [_evidence(texts, fields, index, b, h[r], r, ids[r])
                                 for r in sorted(h)[: p["examples"]]]
    report["flagged"] = len(first)
    report["short_items"] = short_items_line(report)
    if not p["drop"]:
        out = table
        for b, h in hits.items():
            f = np.zeros(n_rows, dtype=bool)
            f[list(h)] = True
            out = tables.set_column(out, flag_column(b), f.tolist(), pa.bool_())
        return out, None, report
    reasons: list[str | None] = [None] * n_rows
    matches: list[str | None] = [None] * n_rows
    details: list[dict | None] = [None] * n_rows
    for r, (b, hit) in first.items():
        ev = _evidence(texts, fields, index, b, hit, r, ids[r])
        reasons[r] = "contaminated"
        matches[r] = f"{b}:{ev['item_id']}"
        details[r] = {**{k: v for k, v in ev.items() if k not in ("row", "id", "text")},
                      "benchmark": b, "also": also.get(r, [])}
    kept = tables.keep(table, [x is None for x in reasons])
    return kept, dropped_rows.dropped_table(table, "decontaminate", reasons, matches,
                                            details), report


def _evidence(texts, fields, index: BenchmarkIndex, b: str, hit: Hit, r: int,
              row_id) -> dict[str, Any]:
    """What a flagged row collides with: the item, the rule, the field, the matched text."""
    if hit.rule == "ngram":
        gh, gtext, _ = index.grams[b]
        own = np.unique(gh[index.text_item[b][gtext] == hit.item])
        matched = matched_ngrams(texts[hit.field][r], own, index.n, limit=3)
    else:
        matched = [canonical(index.questions[b][hit.item])]
    form = {"form": hit.form} if hit.form else {}
    return {"row": r, "id": row_id, "text": (texts[0][r] or "")[:200], "rule": hit.rule,
            "coverage": hit.coverage, **form,
            "field": fields[hit.field], "item_id": index.item_ids[b][hit.item],
            "benchmark_text": index.questions[b][hit.item][:300],
            "matched": [f"{fields[hit.field]}: {m}" for m in matched]}


def decontaminate_table(table: pa.Table, params: dict, index: BenchmarkIndex | None = None,
                        progress: bool = False) -> tuple[pa.Table, dict[str, Any]]:
    """(table with flags, or with flagged rows dropped; report with counts and examples)."""
    out, _dropped, report = decontaminate_split(table, params, index, progress)
    return out, report


def short_items_line(report: dict[str, Any]) -> str:
    """How benchmark items shorter than n were checked, in one sentence."""
    short = report.get("shorter_than_n") or {}
    whole = {b: c.get("whole_question", 0) for b, c in (report.get("per_rule") or {}).items()}
    per = ", ".join(f"{b}: {k} items, {whole.get(b, 0)} rows flagged" for b, k in short.items())
    return (f"Items shorter than {report['n']} tokens ({per or 'none'}) were matched whole: "
            f"{SHORT_RULE.split(': ', 1)[1]}.")


def report_card(report: dict[str, Any]) -> str:
    """Markdown summary: counts per benchmark and rule, the short-item rule, examples."""
    lines = [f"## Decontamination ({report['n']}-grams of {', '.join(report['fields'])})", "",
             "| benchmark | rows flagged | by n-gram | by whole question |", "|---|---|---|---|"]
    for b, c in report["per_benchmark"].items():
        r = (report.get("per_rule") or {}).get(b, {})
        lines.append(f"| {b} | {c} | {r.get('ngram', '')} | {r.get('whole_question', '')} |")
    for b, why in report.get("unavailable", {}).items():
        lines.append(f"| {b} | not checked: {why} | | |")
    lines += ["", report.get("rule", ""), "", report.get("short_items") or short_items_line(report)]
    for b, exs in report["examples"].items():
        for e in exs:
            lines.append(f"\n- **{b}** row {e['row']}: {e['text'][:120]!r} matched "
                         + "; ".join(f"`{m}`" for m in e["matched"]))
    return "\n".join(lines) + "\n"


class DecontaminateOp(BatchOp):
    """Decontamination as a batch op: hits per batch (rows are independent), the report
    summed from per-benchmark tallies and the examples of every batch (the first rows win).
    The benchmark index is built once, by the driver or the first `open`, and travels with
    the op to executor tasks."""

    step = "decontaminate"

    def __init__(self, params: dict, keep_dropped: bool = True,
                 index: BenchmarkIndex | None = None):
        self.p = check_params(params)
        self.drops = True       # (with drop off, lineage says no dropped version was kept)
        self.keep_dropped = keep_dropped and bool(self.p["drop"])
        self.index = index
        self.present: list[str] = []

    def ensure_index(self) -> BenchmarkIndex:
        if self.index is None:
            self.index = BenchmarkIndex.build(self.p["benchmarks"], self.p["n"],
                                              skip_missing=self.p["skip_missing"])
        return self.index

    def check(self, schema: pa.Schema, spec: str) -> None:
        self.present = [f for f in self.p["fields"] if f in schema.names]
        if not self.present:
            raise BadInput(f"none of the fields {self.p['fields']} is a column of the dataset")
        self.ensure_index()

    def output_schema(self, schema: pa.Schema) -> pa.Schema:
        if self.p["drop"]:
            return schema
        for b in self.ensure_index().hashes:
            f = pa.field(flag_column(b), pa.bool_())
            i = schema.get_field_index(f.name)
            schema = schema.set(i, f) if i >= 0 else schema.append(f)
        return schema

    def open(self) -> None:
        self.ensure_index()

    def apply(self, batch: pa.RecordBatch, row0: int) -> Applied:
        index, fields = self.ensure_index(), self.present
        texts = [batch.column(f).to_pylist() for f in fields]
        hits = find_hits(texts, index, min_coverage=self.p["min_coverage"],
                         question_fields=question_fields(fields))
        ids = batch.column("id").to_pylist() if "id" in batch.schema.names \
            else [None] * batch.num_rows
        tallies: dict[str, int] = {}
        examples: dict[str, list] = {}
        first: dict[int, tuple[str, Hit]] = {}
        also: dict[int, list[str]] = {}
        for j, (b, h) in enumerate(hits.items()):
            rules = [x.rule for x in h.values()]
            tallies[f"hits:{j}"] = len(h)
            tallies[f"ngram:{j}"] = rules.count("ngram")
            tallies[f"whole:{j}"] = rules.count("whole_question")
            for r in sorted(h):
                if r in first:
                    also.setdefault(r, []).append(b)
                else:
                    first[r] = (b, h[r])
            ex = [{**_evidence(texts, fields, index, b, h[r], r, ids[r]), "row": row0 + r}
                  for r in sorted(h)[: self.p["examples"]]]
            if ex:
                examples[b] = ex
        tallies["flagged"] = len(first)
        notes = examples or None
        if not self.p["drop"]:
            schema = self.output_schema(batch.schema)
            cols = {}
            for b, h in hits.items():
                f = np.zeros(batch.num_rows, dtype=bool)
                f[list(h)] = True
                cols[flag_column(b)] = pa.array(f, pa.bool_())
            out = pa.RecordBatch.from_arrays(
                [cols[f.name] if f.name in cols else batch.column(f.name) for f in schema],
                schema=schema)
            return Applied(out, tallies, notes)
        reasons: list[str | None] = [None] * batch.num_rows
        matches: list[str | None] = [None] * batch.num_rows
        details: list[dict | None] = [None] * batch.num_rows
        for r, (b, hit) in first.items():
            ev = _evidence(texts, fields, index, b, hit, r, ids[r])
            reasons[r] = "contaminated"
            matches[r] = f"{b}:{ev['item_id']}"
            details[r] = {**{k: v for k, v in ev.items() if k not in ("row", "id", "text")},
                          "benchmark": b, "also": also.get(r, [])}
        res = split(batch, "decontaminate", reasons, matches, details, self.keep_dropped)
        return Applied(res.batch, {**tallies, **res.tallies}, notes, res.dropped)

    def key(self) -> dict[str, Any]:
        return {"step": self.step, "params": self.p, "keep_dropped": self.keep_dropped}

    def report(self, tallies: dict[str, int], notes: list) -> dict[str, Any]:
        index = self.ensure_index()
        names = list(index.hashes)
        merged: dict[str, list] = {b: [] for b in names}
        for note in notes:
            for b, ex in note.items():
                merged[b].extend(ex)
        fields, cov = self.present, self.p["min_coverage"]
        report: dict[str, Any] = {
            "n": index.n, "fields": fields, "min_coverage": cov,
            "rule": (f"A row is flagged when the {index.n}-grams its {' or '.join(fields)} "
                     f"shares with a benchmark item cover at least {cov:.0%} of the item's "
                     "tokens" + (" (any shared n-gram)." if not cov else ".")),
            "per_benchmark": {b: tallies.get(f"hits:{j}", 0) for j, b in enumerate(names)},
            "per_rule": {b: {"ngram": tallies.get(f"ngram:{j}", 0),
                             "whole_question": tallies.get(f"whole:{j}", 0)}
                         for j, b in enumerate(names)},
            "examples": {b: sorted(ex, key=lambda e: e["row"])[: self.p["examples"]]
                         for b, ex in merged.items()},
            "unavailable": index.missing,
            "shorter_than_n": {b: index.short_items(b) for b in names},
            "short_rule": SHORT_RULE, "flagged": tallies.get("flagged", 0)}
        report["short_items"] = short_items_line(report)
        return report

    def finish(self, n_in: int, n_out: int, tallies: dict[str, int], notes: list) -> Finished:
        report = self.report(tallies, notes)
        counts = {"in": n_in, "out": n_out,
                  "dropped": {"contaminated": report["flagged"]} if self.p["drop"] else {},
                  "per_benchmark": report["per_benchmark"], "per_rule": report["per_rule"],
                  "shorter_than_n": report["shorter_than_n"], "short_rule": SHORT_RULE,
                  "short_items": report["short_items"], "rule": report["rule"]}
        return Finished(self.p, counts, report_card(report), {"decontamination": report})


def decontaminate_dataset(catalog, name: str, output: str, keep_dropped: bool = True,
                          progress: bool = True, executor=None, **params):
    """Decontaminate catalog dataset `name` into `output`; the report goes to counts and card,
    the dropped rows (when `drop`) to `output-dropped` unless `keep_dropped` is False.

    Streams the input batch by batch (memory bounded by the batch); `progress`: a bar
    (terminal) or interval lines (log) over the rows; with `executor` (an `ExecutorSpec`) the
    same op runs as a datatrove pipeline.

    Returns the `DatasetRef` of `output`. Raises BadInput for unknown options or fields,
    NotFound / CurateError for a benchmark with no local copy and no Hub access (unless
    `skip_missing`), CurateError when no row is left.

    Example: ``decontaminate_dataset(cat, "clean-dedup", "clean-decon", benchmarks="math500,aime24")``.
    """
    from curate.curation.executors.run import run_op

    return run_op(catalog, name, output, DecontaminateOp(params, keep_dropped),
                  executor=executor, progress=progress)
