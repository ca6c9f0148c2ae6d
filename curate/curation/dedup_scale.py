"""Dedup past one process: datatrove's MinHash stages on curate's problem text, one document
per problem, with the same rule as `curate.curation.dedup` (a pair is a duplicate only if its
math content agrees).

Driver and stages (each stage a datatrove pipeline run by an executor; only the driver touches
the catalog):

0. driver: the input version's `problem_id` column gives each row its problem (first
   appearance order); the first row of each problem becomes a document (id = problem ordinal,
   text = the field) in `tasks` Parquet shards of consecutive ordinals.
1. `ProblemSignature` (a `MinhashDedupSignature`, `tasks` tasks): `problem_text.forms` of each
   document; the signature is MinHash over curate's character (or word) shingles of the loose
   text, with every band hash shifted by a value derived from the document's math-content key,
   so two problems land in one bucket only if their math content is equal too (distinct
   problems in one template never even become a pair). The canonical-form hash and the
   content key of each document go to `keys/RANK.keys`.
2. `MinhashDedupBuckets` as datatrove has it (`num_buckets` tasks): pairs sharing a band.
3. `ContentCluster` (1 task): exact duplicates (equal canonical form) point at their first
   occurrence; a MinHash pair joins two problems only if their content keys are equal (checked
   again here) and no word of one is replaced by another in the other
   (`problem_text.same_question`, on the texts of the pairs' documents, read back from the
   shards); each cluster keeps its first problem. Writes datatrove's `RANK.remove` and
   `RANK.clusters` (document, ordinal of the problem it duplicates).
4. `MinhashDedupFilter` as datatrove has it (`tasks` tasks): the kept problem documents to
   `kept/`, the dropped ones, each with the ordinal it duplicates, to `dropped/`.
5. driver: the rows, streamed batch by batch, split by their problem's fate into Parquet shards
   adopted as OUTPUT and OUTPUT-dropped (with `drop_reason`, `drop_match` = id of the first row
   of the problem duplicated, `drop_detail`).

Differences from the in-process `dedup`: the LSH has no Jaccard re-check (`num_buckets` x
`hashes_per_bucket` set the S-curve: 20 x 6 puts its midpoint near 0.6, in-process's threshold);
clusters are transitive (A~B and B~C drop C even if A and C are further apart; all three have
the same math content); there is no template stripping (with the content key in the bands, a
shared template no longer makes distinct problems collide).

Memory on the driver: a few 8-byte arrays per row and per problem; on workers: one shard.
Every stage resumes from datatrove's completion markers in the staging folder.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import struct
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from datatrove.data import Document
from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.dedup.minhash import (
    MinhashConfig,
    MinhashDedupBuckets,
    MinhashDedupFilter,
    MinhashDedupSignature,
)
from datatrove.utils.binaryio import read_tuples_from_file
from datatrove.utils.word_tokenizers import WordTokenizer

from curate.curation import dropped as dropped_rows
from curate.curation.dedup import check_params, shingles
from curate.curation.problem_text import forms, loose, same_question_loose
from curate.errors import BadInput

_MERSENNE = (1 << 61) - 1
KEY_RECORD = struct.Struct("<Q16s")          # canonical-form hash, content key
SCALE_DEFAULTS: dict[str, Any] = {"num_buckets": 20, "hashes_per_bucket": 6}
REASONS = {1: "exact_duplicate", 2: "near_duplicate"}

StageRunner = Callable[[list, int, str, str], Any]
"""`run(pipeline, tasks, logging_dir, name)`: run a datatrove pipeline to completion."""


def local_runner(workers: int = 1) -> StageRunner:
    """Stages on datatrove's LocalPipelineExecutor with at most `workers` processes."""
    def run(pipeline: list, tasks: int, logging_dir: str, name: str) -> Any:
        from datatrove.executor import LocalPipelineExecutor

        ex = LocalPipelineExecutor(pipeline=pipeline, tasks=tasks,
                                   workers=max(1, min(workers, tasks)),
                                   logging_dir=logging_dir)
        return ex.run()
    return run


class _NoWords(WordTokenizer):
    """Stands in for the spaCy/NLTK tokenizer MinhashDedupSignature loads by default; curate's
    shingles never call it."""

    def word_tokenize(self, text: str) -> list[str]:
        return text.split()

    def sent_tokenize(self, text: str) -> list[str]:
        return [text]

    def span_tokenize(self, text: str) -> list[tuple[int, int]]:
        return [(0, len(text))]


def _u64(b: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(b, digest_size=8).digest(), "little")


class ProblemSignature(MinhashDedupSignature):
    """MinhashDedupSignature over curate's problem text: shingles of `problem_text.loose`,
    band hashes shifted by the math-content key, canonical hash and key kept per document."""

    name = "curate problem signature"

    def __init__(self, output_folder: str, keys_folder: str, config: MinhashConfig,
                 shingle: int = 5, unit: str = "char"):
        super().__init__(output_folder, config=config, language=_NoWords())
        self.keys_folder = keys_folder
        self.shingle = shingle
        self.unit = unit
        self._shift = np.zeros(config.num_buckets, dtype=np.uint64)

    def get_shingles(self, text: str) -> np.ndarray:
        grams = shingles(text, self.shingle, self.unit, normalised=True)
        return np.fromiter((self._hash_func(g) for g in grams),
                           dtype=np.uint64, count=len(grams)).reshape((-1, 1))

    def get_signature(self, shingles_: np.ndarray) -> list[list[int]]:
        """datatrove's signature (min of the permuted shingle hashes), each band shifted
        modulo the hash range by the document's content-key value for that band."""
        a, b = self.parameters
        phv = (shingles_ * a + b) % np.uint64(_MERSENNE)
        cfg = self.config
        top = _MERSENNE if cfg.hash_config.precision == 64 else int(cfg.hash_config.max)
        if cfg.hash_config.precision == 32:
            phv = np.bitwise_and(phv, cfg.hash_config.max)
        mins = np.min(phv, axis=0).reshape(cfg.num_buckets, cfg.hashes_per_bucket)
        shift = (self._shift % np.uint64(top)).reshape(-1, 1)
        return ((mins + shift) % np.uint64(top)).tolist()

    def run(self, data, rank: int = 0, world_size: int = 1):
        folder = Path(self.keys_folder)
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f"{rank:05d}.keys.tmp"

        def keyed():
            with tmp.open("wb") as out:
                for doc in data:
                    f = forms(doc.text)
                    out.write(KEY_RECORD.pack(_u64(f.canonical.encode("utf-8", "replace")),
                                              f.key))
                    self._shift = np.frombuffer(
                        hashlib.shake_128(f.key).digest(8 * self.config.num_buckets),
                        dtype="<u8")
                    yield Document(text=f.loose, id=doc.id)

        super().run(keyed(), rank, world_size)
        tmp.replace(folder / f"{rank:05d}.keys")


def read_keys(keys_folder: str | Path, shards: int) -> tuple[np.ndarray, np.ndarray]:
    """(canonical hash per problem, content key per problem as 16-byte rows), in ordinal order."""
    canon, keys = [], []
    for r in range(shards):
        raw = (Path(keys_folder) / f"{r:05d}.keys").read_bytes()
        rec = np.frombuffer(raw, dtype=np.dtype([("c", "<u8"), ("k", "V16")]))
        canon.append(rec["c"])
        keys.append(rec["k"])
    return np.concatenate(canon), np.concatenate(keys)


class ContentCluster(PipelineStep):
    """Clusters from datatrove's duplicate pairs, joined only when the math content agrees
    and (with `docs_folder`, the documents' text) no word of one problem is replaced by
    another in the other (`problem_text.same_question`);
    exact duplicates (equal canonical form) point at their first occurrence; each cluster keeps
    its first problem. Writes `RANK.remove` and `RANK.clusters` as MinhashDedupFilter reads
    them (`minhash_cluster_id` = ordinal of the problem duplicated)."""

    type = "🫂 - DEDUP"
    name = "curate content cluster"

    def __init__(self, dups_folder: str, keys_folder: str, output_folder: str,
                 starts: list[int], exact: bool = True, near: bool = True,
                 docs_folder: str | None = None):
        super().__init__()
        self.docs_folder = docs_folder
        self.dups_folder = dups_folder
        self.keys_folder = keys_folder
        self.output_folder = output_folder
        self.starts = starts
        self.exact = exact
        self.near = near

    def run(self, data=None, rank: int = 0, world_size: int = 1):
        starts = np.asarray(self.starts, dtype=np.int64)
        with self.track_time():
            canon, keys = read_keys(self.keys_folder, len(starts) - 1)
            n = len(canon)
            first = np.arange(n)
            if self.exact:
                _, idx, inv = np.unique(canon, return_index=True, return_inverse=True)
                first = idx[inv]                      # first ordinal with the same form
            parent = list(range(n))

            def find(x: int) -> int:
                while parent[x] != x:
                    parent[x] = parent[parent[x]]
                    x = parent[x]
                return x

            same_content = []
            for path in sorted(Path(self.dups_folder).glob("*.dups")) if self.near else []:
                with path.open("rb") as f:
                    for f1, d1, f2, d2 in read_tuples_from_file(f, "4I", lines_to_buffer=4096):
                        a = int(first[starts[f1] + d1])
                        b = int(first[starts[f2] + d2])
                        if a == b or keys[a] != keys[b]:
                            self.stat_update("pairs_other_content" if a != b else "pairs_exact")
                            continue
                        same_content.append((a, b))
            texts = (_loose_texts(Path(self.docs_folder), {o for ab in same_content for o in ab})
                     if self.docs_folder and same_content else None)
            for a, b in same_content:
                if texts is not None and not same_question_loose(texts[a], texts[b]):
                    self.stat_update("pairs_other_question")
                    continue
                self.stat_update("pairs_joined")
                ra, rb = find(a), find(b)
                if ra != rb:
                    parent[max(ra, rb)] = min(ra, rb)
            match = np.full(n, -1, dtype=np.int64)
            reason = np.zeros(n, dtype=np.int8)
            for o in range(n):
                if first[o] != o:
                    match[o], reason[o] = first[o], 1
                elif self.near:
                    root = find(o)
                    if root != o:
                        match[o], reason[o] = root, 2
            out = Path(self.output_folder)
            out.mkdir(parents=True, exist_ok=True)
            np.save(out / "reason.npy", reason)
            for r in range(len(starts) - 1):
                lo, hi = int(starts[r]), int(starts[r + 1])
                gone = np.flatnonzero(match[lo:hi] >= 0)
                (out / f"{r:06d}.remove").write_bytes(gone.astype("<u4").tobytes())
                pairs = np.stack([gone, match[lo:hi][gone]], axis=1).astype("<u4")
                (out / f"{r:06d}.clusters").write_bytes(pairs.tobytes())
            self.stat_update("exact_duplicate", value=int((reason == 1).sum()))
            self.stat_update("near_duplicate", value=int((reason == 2).sum()))


def _problem_codes(table_pids: pa.ChunkedArray) -> np.ndarray:
    """Problem ordinal per row (order of first appearance); a null problem_id is its own."""
    enc = pc.dictionary_encode(table_pids.combine_chunks())
    codes = enc.indices.to_numpy(zero_copy_only=False).astype(np.int64, copy=True)
    nulls = np.asarray(table_pids.is_null().to_numpy(zero_copy_only=False))
    if nulls.any():
        # a null problem_id stands alone: give each its own code, then renumber by appearance
        codes[nulls] = len(enc.dictionary) + np.arange(int(nulls.sum()))
        _, first, inv = np.unique(codes, return_index=True, return_inverse=True)
        order = np.argsort(np.argsort(first))
        codes = order[inv]
    return codes


def _write_docs(catalog, spec: str, field: str, codes: np.ndarray, first_rows: np.ndarray,
                docs: Path, tasks: int, batch_rows: int) -> list[int]:
    """The first row's `field` of each problem as documents in `tasks` shards of consecutive
    ordinals; returns the shard starts (len tasks + 1)."""
    n = len(first_rows)
    starts = [round(i * n / tasks) for i in range(tasks + 1)]
    docs.mkdir(parents=True, exist_ok=True)
    is_first = np.zeros(len(codes), dtype=bool)
    is_first[first_rows] = True
    writers: dict[int, pq.ParquetWriter] = {}
    schema = pa.schema([("id", pa.string()), ("text", pa.string())])
    row = 0
    try:
        for batch in catalog.iter_batches(spec, batch_size=batch_rows, columns=[field]):
            sel = np.flatnonzero(is_first[row:row + batch.num_rows])
            if len(sel):
                ords = codes[row + sel]
                texts = batch.column(0).take(pa.array(sel)).cast(pa.string())
                texts = pc.fill_null(texts, "")
                shard = np.searchsorted(starts, ords, side="right") - 1
                for s in np.unique(shard):
                    m = shard == s
                    if s not in writers:
                        writers[s] = pq.ParquetWriter(docs / f"{s:05d}.parquet", schema)
                    writers[s].write_table(pa.table(
                        {"id": pa.array([str(o) for o in ords[m]], pa.string()),
                         "text": texts.filter(pa.array(m))}, schema=schema))
            row += batch.num_rows
    finally:
        for w in writers.values():
            w.close()
    for s in range(tasks):                 # an empty shard still needs its file
        if s not in writers:
            pq.write_table(pa.table({"id": [], "text": []}, schema=schema),
                           docs / f"{s:05d}.parquet")
    return starts


def _read_dropped_docs(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """(ordinal, ordinal duplicated) of every dropped problem document."""
    files = sorted(folder.glob("*.parquet"))
    if not files:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    t = pa.concat_tables([pq.read_table(f, columns=["id", "metadata"]) for f in files])
    ords = np.array([int(x) for x in t.column("id").to_pylist()], dtype=np.int64)
    meta = t.column("metadata").to_pylist()
    match = np.array([int(m["minhash_cluster_id"]) for m in meta], dtype=np.int64)
    return ords, match


def _loose_texts(folder: Path, wanted: set[int]) -> dict[int, str]:
    """The `problem_text.loose` form of the wanted problem documents, by ordinal."""
    return {o: loose(t) for o, t in _kept_texts(folder, wanted).items()}


def _kept_texts(folder: Path, wanted: set[int]) -> dict[int, str]:
    out: dict[int, str] = {}
    for f in sorted(folder.glob("*.parquet")):
        t = pq.read_table(f, columns=["id", "text"])
        for i, txt in zip(t.column("id").to_pylist(), t.column("text").to_pylist()):
            if int(i) in wanted:
                out[int(i)] = txt
    return out


def _stage_stats(logging_dir: Path) -> list[dict]:
    p = logging_dir / "stats.json"
    if not p.is_file():
        return []
    out = []
    for s in json.loads(p.read_text()):
        out.append({"name": s.get("name"), "stats": {k: (v.get("total") if isinstance(v, dict)
                                                          else v)
                                                     for k, v in (s.get("stats") or {}).items()}})
    return out


def dedup_dataset_scaled(catalog, name: str, output: str, *, tasks: int = 4,
                         runner: StageRunner | None = None, workers: int = 1,
                         executor: Any = None,
                         keep_dropped: bool = True, staging: str | Path | None = None,
                         keep_staging: bool = False, batch_rows: int = 65_536,
                         num_buckets: int = SCALE_DEFAULTS["num_buckets"],
                         hashes_per_bucket: int = SCALE_DEFAULTS["hashes_per_bucket"],
                         **params):
    """Deduplicate catalog dataset `name` into `output` through datatrove's MinHash stages
    (see the module docstring); `runner(pipeline, tasks, logging_dir, name)` runs each stage
    (default: `local_runner(workers)`). Same counts, lineage and `OUTPUT-dropped` as `dedup`.

    `executor` (an `ExecutorSpec`: local, slurm or ray) runs the four stages through the
    executor driver's `launch_stages` instead (Slurm: one job array per stage, chained by
    dependency; `dry_run` writes the sbatch scripts and returns the driver's `DryRun`, nothing
    registered; the staging folder, under `$CURATE_HOME/cache/dedup-scale`, must then be on a
    filesystem the nodes share). A rerun resumes from the stages' completion markers.

    params: `field`, `exact`, `minhash`, `shingle`, `unit`, `seed` as for `dedup`
    (`threshold`, `num_perm`, `strip_template` do not apply: the bands set the threshold).
    """
    p = check_params(params)
    dropped_rows.check_names(output, keep_dropped)
    if tasks < 1:
        raise BadInput(f"tasks must be at least 1, got {tasks}")
    if p["unit"] not in ("char", "word"):
        raise BadInput(f"unit must be char or word, got {p['unit']!r}")
    runner = runner or local_runner(workers)
    src = catalog.resolve(name)
    field = p["field"]
    cols = pq.read_schema(catalog.files(src.spec)[0]).names
    if field not in cols:
        raise BadInput(f"no column {field!r} to deduplicate on")
    run_params = {**{k: p[k] for k in ("field", "exact", "minhash", "shingle", "unit", "seed")},
                  "num_buckets": num_buckets, "hashes_per_bucket": hashes_per_bucket,
                  "tasks": tasks, "engine": "datatrove"}
    key = hashlib.sha256(json.dumps([src.spec, run_params], sort_keys=True).encode()).hexdigest()
    root = Path(staging) if staging else catalog.cache_dir("dedup-scale") / key[:16]
    root.mkdir(parents=True, exist_ok=True)

    pids = catalog.table(src.spec, columns=["problem_id"]).column("problem_id") \
        if "problem_id" in cols else pa.chunked_array([pa.nulls(src.rows, pa.string())])
    codes = _problem_codes(pids)
    del pids
    _, first_rows = np.unique(codes, return_index=True)
    n_problems = len(first_rows)
    starts_file = root / "starts.json"
    if starts_file.is_file():
        starts = json.loads(starts_file.read_text())
    else:
        starts = _write_docs(catalog, src.spec, field, codes, first_rows, root / "docs", tasks,
                             batch_rows)
        starts_file.write_text(json.dumps(starts))

    config = MinhashConfig(n_grams=p["shingle"], num_buckets=num_buckets,
                           hashes_per_bucket=hashes_per_bucket, seed=p["seed"])
    from datatrove.pipeline.readers import ParquetReader
    from datatrove.pipeline.writers import ParquetWriter

    def reader():
        return ParquetReader(str(root / "docs"), glob_pattern="*.parquet", text_key="text",
                             id_key="id")

    stages = [("1-signature", [reader(), ProblemSignature(
                  str(root / "sigs"), str(root / "keys"), config, p["shingle"], p["unit"])],
               tasks)]
    if p["minhash"]:
        stages.append(("2-buckets", [MinhashDedupBuckets(str(root / "sigs"), str(root / "dups"),
                                                         config=config)], num_buckets))
    stages.append(("3-cluster", [ContentCluster(str(root / "dups"), str(root / "keys"),
                                                str(root / "remove"), starts,
                                                exact=p["exact"], near=p["minhash"],
                                                docs_folder=str(root / "docs")
                                                if p["content_check"] else None)], 1))
    stages.append(("4-filter", [reader(), MinhashDedupFilter(
        str(root / "remove"), load_cluster_ids=True,
        exclusion_writer=ParquetWriter(str(root / "dropped-docs"))),
        ParquetWriter(str(root / "kept-docs"))], tasks))
    if executor is not None:
        from curate.curation.executors.driver import Stage, launch_stages

        dry = launch_stages([Stage(n, pipe, {}, tasks=k) for n, pipe, k in stages], executor,
                            root, tasks, executor.default_workers(), "curate-dedup")
        if dry is not None:
            return dry
    else:
        for n, pipe, k in stages:
            runner(pipe, k, str(root / "logs" / n), n.split("-", 1)[1])

    gone, match = _read_dropped_docs(root / "dropped-docs")
    reason_code = np.load(root / "remove" / "reason.npy")
    fate = np.full(n_problems, -1, dtype=np.int64)
    fate[gone] = match
    ref = _split_rows(catalog, src, output, codes, first_rows, fate, reason_code, root, field,
                      keep_dropped, batch_rows, run_params,
                      {s: _stage_stats(root / "logs" / s) for s in
                       ("1-signature", "2-buckets", "3-cluster", "4-filter")})
    if not keep_staging:
        shutil.rmtree(root, ignore_errors=True)
    return ref


def _split_rows(catalog, src, output: str, codes: np.ndarray, first_rows: np.ndarray,
                fate: np.ndarray, reason_code: np.ndarray, root: Path, field: str,
                keep_dropped: bool, batch_rows: int, run_params: dict, stage_stats: dict):
    """Stream the rows into kept and dropped Parquet shards and adopt them."""
    dropped_problem = fate >= 0
    row_gone = dropped_problem[codes]
    matched = np.unique(fate[dropped_problem])
    # the id and text of the first row of every problem some dropped problem duplicates
    want_rows = set(first_rows[matched].tolist())
    rep_id: dict[int, Any] = {}
    row = 0
    id_col = "id" if "id" in pq.read_schema(catalog.files(src.spec)[0]).names else None
    if want_rows and id_col:
        for batch in catalog.iter_batches(src.spec, batch_size=batch_rows, columns=[id_col]):
            ids = batch.column(0).to_pylist()
            for j in range(batch.num_rows):
                if row + j in want_rows:
                    rep_id[row + j] = ids[j]
            row += batch.num_rows
    texts = _kept_texts(root / "kept-docs", set(matched.tolist()))
    out_k, out_d = root / "rows" / "kept", root / "rows" / "dropped"
    for d in (out_k, out_d):
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir(parents=True)
    wk = wd = None
    reasons: Counter = Counter()
    row = 0
    try:
        for batch in catalog.iter_batches(src.spec, batch_size=batch_rows):
            gone = row_gone[row:row + batch.num_rows]
            t = pa.Table.from_batches([batch])
            kept = t.filter(pa.array(~gone))
            if kept.num_rows:
                wk = wk or pq.ParquetWriter(out_k / "part-00000.parquet", kept.schema)
                wk.write_table(kept)
            if gone.any():
                idx = np.flatnonzero(gone)
                part = t.take(pa.array(idx))
                c = codes[row + idx]
                why = [REASONS[int(reason_code[x])] for x in c]
                reasons.update(why)
                if keep_dropped:
                    m = fate[c]
                    match_ids = [rep_id.get(int(first_rows[x]), f"row {int(first_rows[x])}")
                                 for x in m]
                    details = [{"field": field, "engine": "datatrove-minhash",
                                "problem_ordinal": int(x),
                                "kept_text": (texts.get(int(x)) or "")[:300]} for x in m]
                    part = dropped_rows.dropped_table(part, "dedup", why, match_ids, details)
                    wd = wd or pq.ParquetWriter(out_d / "part-00000.parquet", part.schema)
                    wd.write_table(part)
            row += batch.num_rows
    finally:
        for w in (wk, wd):
            if w is not None:
                w.close()
    n_in = len(codes)
    n_drop = int(row_gone.sum())
    counts: dict[str, Any] = {"in": n_in, "out": n_in - n_drop,
                              "dropped": dict(sorted(reasons.items())),
                              "problems_in": len(first_rows),
                              "problems_out": int((fate < 0).sum())}
    if n_in - n_drop == 0:
        raise BadInput(f"dedup: no rows left for {output!r} out of {n_in}; nothing registered")
    stats = {"datatrove": stage_stats}
    if keep_dropped and n_drop:
        dref = catalog.adopt(dropped_rows.dropped_name(output), [out_d / "part-00000.parquet"],
                             kind=src.kind, parents=[src.spec], step="dedup-dropped",
                             params=run_params, counts={**counts, "out": n_drop,
                                                        "kept_as": output})
        counts["dropped_version"] = dref.spec
    elif not keep_dropped:
        counts["dropped_version"] = None
    return catalog.adopt(output, [out_k / "part-00000.parquet"], kind=src.kind,
                         parents=[src.spec], step="dedup", params=run_params, counts=counts,
                         stats=stats)
