"""Coverage: how close a training set comes to each benchmark in embedding space.

For every benchmark item we find its nearest training texts with FAISS (exact inner product on
normalised vectors by default) and summarise the similarities: distribution, fraction of items
with a neighbour above thresholds, centroid distance, and the closest training examples of the
most and least covered items. Near copies score ~1, unrelated tasks (Countdown vs MATH) low.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from curate.errors import CurateError

THRESHOLDS = (0.5, 0.7, 0.9)
COPY_SIMILARITY = 0.95   # an item with a training neighbour this close has a copy in training
COPY_SHARE = 0.005       # from this share of items (0.5%: 3 of MATH-500) copies are the verdict
MAX_COPY_EXAMPLES = 25
VERDICTS = ("near copies", "contains copies", "close", "related", "far")   # most severe first
QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9)
PROMPT_FIELDS = ("prompt", "problem", "question", "text", "input", "query", "instruction")
TRACE_FIELDS = ("response", "output", "solution", "completion")
FLAT_MAX = 1_000_000     # "auto" uses the exact index below this many training vectors


@dataclass
class TextSet:
    """One side of a comparison: its texts, a label per text and (once embedded) vectors."""
    name: str
    role: str                        # train | benchmark
    texts: list[str]
    labels: list[str]
    rows: int = 0
    vectors: np.ndarray | None = field(default=None, repr=False)


# -- texts ------------------------------------------------------------------------------
def _last(messages: Any, role: str) -> str | None:
    if not isinstance(messages, list):
        return None
    for m in reversed(messages):
        if isinstance(m, dict) and m.get("role") == role and m.get("content"):
            return str(m["content"])
    return None


def row_texts(row: dict[str, Any], include_traces: bool = False) -> list[tuple[str, str]]:
    """(field, text) pairs of a training row: its prompt, and its trace when asked."""
    out: list[tuple[str, str]] = []
    prompt = next((str(row[k]) for k in PROMPT_FIELDS if row.get(k) not in (None, "")), None)
    if prompt is None:
        prompt = _last(row.get("messages"), "user")
    if prompt and prompt.strip():
        out.append(("prompt", prompt))
    if include_traces:
        trace = None
        if row.get("reasoning") or row.get("answer_text"):
            trace = "\n\n".join(str(row[k]) for k in ("reasoning", "answer_text") if row.get(k))
        if trace is None:
            trace = _last(row.get("messages"), "assistant")
        if trace is None:
            trace = next((str(row[k]) for k in TRACE_FIELDS if row.get(k)), None)
        if trace and trace.strip():
            out.append(("trace", trace))
    return out


def training_set(name: str, rows: list[dict[str, Any]], include_traces: bool = False) -> TextSet:
    """Distinct texts of a training set (several traces of one problem share a prompt)."""
    seen: dict[str, str] = {}
    for i, r in enumerate(rows):
        for fld, text in row_texts(r, include_traces):
            seen.setdefault(text, f"row {i} {fld}")
    if not seen:
        what = "prompts or traces" if include_traces else "prompts"
        why = "it has no rows" if not rows else (
            f"no {what} found (looked for {', '.join(PROMPT_FIELDS)} or messages)")
        raise CurateError(f"dataset {name} is empty: {why}")
    return TextSet(name, "train", list(seen), list(seen.values()), rows=len(rows))


def benchmark_set(name: str, rows: list[dict[str, Any]]) -> TextSet:
    texts = [str(r.get("question") or r.get("problem") or "") for r in rows]
    keep = [i for i, t in enumerate(texts) if t.strip()]
    if not keep:
        raise CurateError(f"benchmark {name} has no questions")
    return TextSet(name, "benchmark", [texts[i] for i in keep],
                   [str(rows[i].get("id", i)) for i in keep], rows=len(rows))


def catalog_rows(catalog, spec: str, include_traces: bool = False) -> tuple[str, list[dict]]:
    """(name@version, rows) reading only the columns coverage needs."""
    import pyarrow.parquet as pq

    ref = catalog.resolve(spec)
    files = catalog.files(ref)
    if not files:
        return ref.spec, []
    names = set(pq.read_schema(files[0]).names)
    wanted = set(PROMPT_FIELDS) | {"messages"}
    if include_traces:
        wanted |= set(TRACE_FIELDS) | {"reasoning", "answer_text"}
    cols = [c for c in pq.read_schema(files[0]).names if c in wanted & names]
    if not cols:
        raise CurateError(f"dataset {ref.spec} has no prompt column "
                          f"(looked for {', '.join(PROMPT_FIELDS)} or messages)")
    return ref.spec, catalog.table(ref, columns=cols).to_pylist()


# -- index and search -------------------------------------------------------------------
def _gpu_available() -> bool:
    import faiss

    return hasattr(faiss, "StandardGpuResources") and faiss.get_num_gpus() > 0


def build_index(vectors: np.ndarray, kind: str = "auto", *, gpu: bool | None = None,
                nprobe: int = 16, hnsw_m: int = 32, ef_search: int = 128):
    """A FAISS inner-product index over normalised vectors.

    `flat` is exact; `ivf` (IVF-Flat, nlist ~ 4 sqrt(n)) and `hnsw` are approximate for large
    sets; `auto` is flat below FLAT_MAX vectors, ivf above. faiss-gpu is used when present.
    """
    import faiss

    x = np.ascontiguousarray(vectors, dtype=np.float32)
    n, d = x.shape
    if kind == "auto":
        kind = "flat" if n < FLAT_MAX else "ivf"
    if kind == "flat":
        index = faiss.IndexFlatIP(d)
    elif kind == "ivf":
        nlist = max(1, min(int(4 * np.sqrt(n)), n // 39 or 1))
        quant = faiss.IndexFlatIP(d)
        index = faiss.IndexIVFFlat(quant, d, nlist, faiss.METRIC_INNER_PRODUCT)
        rng = np.random.default_rng(0)
        sample = x if n <= nlist * 256 else x[rng.choice(n, nlist * 256, replace=False)]
        index.train(sample)
        index.nprobe = min(nprobe, nlist)
    elif kind == "hnsw":
        index = faiss.IndexHNSWFlat(d, hnsw_m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efSearch = ef_search
    else:
        raise CurateError(f"unknown index kind {kind!r} (auto, flat, ivf, hnsw)")
    use_gpu = _gpu_available() if gpu is None else gpu
    if use_gpu and kind != "hnsw":
        if not _gpu_available():
            raise CurateError("faiss-gpu is not available (install faiss-gpu and run on CUDA)")
        index = faiss.index_cpu_to_gpu(faiss.StandardGpuResources(), 0, index)
    index.add(x)
    return index


def search(index, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(similarities, ids) of the k nearest, best first; ids -1 where fewer exist."""
    k = max(1, min(k, index.ntotal))
    sims, ids = index.search(np.ascontiguousarray(queries, dtype=np.float32), k)
    return sims, ids


# -- metrics ----------------------------------------------------------------------------
def centroid_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine distance between the mean vectors of two sets."""
    ca, cb = a.mean(axis=0), b.mean(axis=0)
    denom = float(np.linalg.norm(ca) * np.linalg.norm(cb)) or 1.0
    return float(1.0 - float(ca @ cb) / denom)


def verdict(median_nn: float, copy_share: float = 0.0, min_share: float = COPY_SHARE) -> str:
    """A word for the table. Copies come first: when the typical item's nearest neighbour is a
    copy (median >= 0.9) the set is "near copies"; when any share of items from `min_share`
    up has a copy (a neighbour >= COPY_SIMILARITY) it "contains copies", however low the
    median (2% of MATH-500 copied into a Countdown set is contamination, not a far set).
    Otherwise the median says how close the typical item is: close, related or far."""
    if median_nn >= 0.9:
        return "near copies"
    if copy_share >= min_share and copy_share > 0:
        return "contains copies"
    if median_nn >= 0.7:
        return "close"
    if median_nn >= 0.5:
        return "related"
    return "far"


def severity(verdict_word: str) -> int:
    """Sort key: the most severe verdict first (near copies, contains copies, ..., far)."""
    return VERDICTS.index(verdict_word) if verdict_word in VERDICTS else len(VERDICTS)


def similarity_summary(nn: np.ndarray, thresholds=THRESHOLDS) -> dict[str, float]:
    """Mean, quantiles and threshold fractions of nearest-neighbour similarities."""
    out = {"nn_mean": float(nn.mean()), "nn_std": float(nn.std()),
           "nn_min": float(nn.min()), "nn_max": float(nn.max())}
    for q in QUANTILES:
        out[f"nn_p{int(round(q * 100))}"] = float(np.quantile(nn, q))
    for t in thresholds:
        out[f"frac_ge_{t:g}"] = float((nn >= t).mean())
    return out


def _clip(text: str, n: int = 400) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


def _examples(order: np.ndarray, train: TextSet, bench: TextSet, sims: np.ndarray,
              ids: np.ndarray, k: int) -> list[dict[str, Any]]:
    out = []
    for b in order.tolist():
        neigh = [{"similarity": round(float(s), 4), "label": train.labels[i],
                  "text": _clip(train.texts[i])}
                 for s, i in zip(sims[b, :k], ids[b, :k]) if i >= 0]
        out.append({"item": bench.labels[b], "question": _clip(bench.texts[b]),
                    "nn_similarity": round(float(sims[b, 0]), 4), "neighbours": neigh})
    return out


def coverage_metrics(train: TextSet, bench: TextSet, index=None, *, thresholds=THRESHOLDS,
                     k: int = 3, n_examples: int = 3, index_kind: str = "auto") -> dict[str, Any]:
    """Coverage of one benchmark by one training set (both embedded)."""
    if train.vectors is None or bench.vectors is None:
        raise ValueError("embed both sets first")
    t0 = time.perf_counter()
    if index is None:
        index = build_index(train.vectors, index_kind)
    t1 = time.perf_counter()
    sims, ids = search(index, bench.vectors, k)
    t2 = time.perf_counter()
    nn = sims[:, 0]
    summary = similarity_summary(nn, thresholds)
    order = np.argsort(-nn, kind="stable")
    n_ex = min(n_examples, len(order))
    copies = int((nn >= COPY_SIMILARITY).sum())
    copy_share = copies / len(nn) if len(nn) else 0.0
    return {
        "dataset": train.name, "benchmark": bench.name,
        "train_texts": len(train.texts), "train_rows": train.rows,
        "benchmark_items": len(bench.texts),
        **summary,
        "centroid_distance": centroid_distance(train.vectors, bench.vectors),
        "verdict": verdict(summary["nn_p50"], copy_share),
        "copies": copies, "copy_share": copy_share, "copy_similarity": COPY_SIMILARITY,
        "copy_examples": _examples(order[:min(copies, MAX_COPY_EXAMPLES)], train, bench, sims,
                                   ids, k),
        "most_covered": _examples(order[:n_ex], train, bench, sims, ids, k),
        "least_covered": _examples(order[::-1][:n_ex], train, bench, sims, ids, k),
        "index_seconds": t1 - t0, "search_seconds": t2 - t1,
    }


# -- orchestration ----------------------------------------------------------------------
@dataclass
class CoverageReport:
    embedder: str
    embedder_version: str
    index: str
    thresholds: list[float]
    datasets: list[dict[str, Any]]
    benchmarks: list[dict[str, Any]]
    results: list[dict[str, Any]]
    embedding: dict[str, Any]
    seconds: float
    report: dict[str, str] = field(default_factory=dict)
    run_id: str | None = None
    sets: list[TextSet] = field(default_factory=list, repr=False)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("sets")
        return d


def parse_names(values: list[str] | str) -> list[str]:
    """'a,b' or ['a', 'b,c'] -> ['a', 'b', 'c'] (order kept, duplicates dropped)."""
    items = [values] if isinstance(values, str) else list(values)
    out = [p.strip() for v in items for p in str(v).split(",") if p.strip()]
    return list(dict.fromkeys(out))


def load_benchmark_set(name: str) -> TextSet:
    from curate.corpora.benchmarks import get_benchmark, load_benchmark

    b = get_benchmark(name)          # unknown name -> one line listing the known ones
    return benchmark_set(b.name if not name.startswith("file:") else name, load_benchmark(name))


def coverage_report(catalog, names: list[str] | str, against: list[str] | str,
                    embedder: str | None = None, include_traces: bool = False, *,
                    thresholds=THRESHOLDS, index: str = "auto", k: int = 3,
                    n_examples: int = 3, report_dir: str | Path | None = None,
                    use_cache: bool = True, store: bool = True, progress: bool = False,
                    device: str | None = None) -> CoverageReport:
    """Coverage of each benchmark in `against` by each catalog dataset in `names`.

    Embeddings come from (and go to) the store's cache; figures are stored in the catalog's
    `coverage` table; with `report_dir`, a PCA map PNG and an HTML report are written there.

    Returns a `CoverageReport` whose `results` hold, per (dataset, benchmark), the
    nearest-neighbour similarity summary, `copies` / `copy_share` and the `verdict` (copies
    first). Raises BadInput (no prompts, an unknown benchmark or embedder), NotFound (an
    unknown dataset).

    Example: ``coverage_report(cat, ["clean"], "math500,aime24", report_dir="reports/coverage")``.
    """
    from curate.probes.embed import EmbedStats, embed_texts, load_embedder

    t_start = time.perf_counter()
    names, against = parse_names(names), parse_names(against)
    if not names:
        raise CurateError("no dataset named")
    if not against:
        raise CurateError("no benchmark named (--against math500,aime24)")
    thresholds = tuple(sorted(float(t) for t in thresholds))
    benches = [load_benchmark_set(b) for b in against]
    trains = []
    for n in names:
        spec, rows = catalog_rows(catalog, n, include_traces)
        trains.append(training_set(spec, rows, include_traces))
    emb = load_embedder(embedder, device=device)
    cache_root = catalog.cache_dir("embeddings") if use_cache else None
    total = EmbedStats()
    per_set = {}
    for s in [*trains, *benches]:
        s.vectors, st = embed_texts(emb, s.texts, cache_root, progress=progress,
                                    desc=f"embedding {s.name}")
        total.add(st)
        per_set[s.name] = asdict(st)
    run_id = catalog.start_run("coverage", config={
        "datasets": [t.name for t in trains], "against": [b.name for b in benches],
        "embedder": emb.name, "embedder_version": emb.version, "index": index,
        "include_traces": include_traces, "thresholds": list(thresholds), "k": k},
        inputs=[t.name for t in trains]) if store else None
    try:
        results = []
        for t in trains:
            idx = build_index(t.vectors, index)
            for b in benches:
                results.append(coverage_metrics(t, b, idx, thresholds=thresholds, k=k,
                                                n_examples=n_examples))
        rep = CoverageReport(
            embedder=emb.name, embedder_version=emb.version, index=index,
            thresholds=list(thresholds),
            datasets=[{"dataset": t.name, "rows": t.rows, "texts": len(t.texts)} for t in trains],
            benchmarks=[{"benchmark": b.name, "items": len(b.texts)} for b in benches],
            results=results, embedding={**asdict(total), "per_set": per_set},
            seconds=0.0, run_id=run_id, sets=[*trains, *benches])
        if report_dir is not None:
            from curate.probes.coverage_report import write_report

            rep.report = write_report(rep, Path(report_dir))
        rep.seconds = time.perf_counter() - t_start
        if store:
            for r in results:
                catalog.insert("coverage", {
                    "run_id": run_id, "dataset": r["dataset"], "benchmark": r["benchmark"],
                    "embedder": emb.name, "embedder_version": emb.version,
                    "metrics": {**{k2: v for k2, v in r.items()
                                   if k2 not in ("dataset", "benchmark")},
                                "index": index, "include_traces": include_traces,
                                "html_report": rep.report.get("html")},
                    "report_path": rep.report.get("png")})
            catalog.finish_run(run_id, "ok", metrics={
                f"{r['dataset']}|{r['benchmark']}|nn_mean": r["nn_mean"] for r in results})
    except BaseException as e:
        if store and run_id:
            catalog.finish_run(run_id, "failed", error=str(e)[:500])
        raise
    return rep
