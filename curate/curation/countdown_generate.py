"""Generate Countdown-CoT traces with the search teacher, in parallel, deterministically.

Work is cut into fixed chunks, each seeded from (seed, chunk index), so the dataset is the
same whatever the number of worker processes; same seed, same Parquet bytes, same version.
A problem the search teacher does not solve within its budget (`max_nodes`) is dropped, as
rejection sampling drops a teacher's wrong answers, and another is drawn until `n` rows are
made; the lineage counts say how many problems were drawn and why each dropped one went
(`teacher_unsolved`, `duplicate_problem`).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import multiprocessing as mp
import os
import random
from dataclasses import asdict
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from curate.corpora.countdown import CountdownConfig, draw_instance, heldout_targets
from curate.curation.countdown_teacher import SearchOptions, countdown_prompt, solve_with_trace
from curate.curation.verify_countdown import make_reference, verify_countdown
from curate.errors import CurateError
from curate.record import THINK_CLOSE, THINK_OPEN, TRACE_SCHEMA, messages_for, stable_json, trace_id

CHUNK = 256
TEACHER = "search"


def _chunk_seed(seed: int, index: int) -> int:
    return int.from_bytes(hashlib.sha256(f"countdown:{seed}:{index}".encode()).digest()[:8],
                          "big")


@functools.lru_cache(maxsize=64)
def _sampling(opts: SearchOptions, seed: int) -> str:
    """The row's `sampling` JSON (the same for every row of a run)."""
    return stable_json({**asdict(opts), "seed": seed})


def make_row(numbers: list[int], target: int, split: str, solutions: int, reachable: int,
             opts: SearchOptions, rng: random.Random, seed: int,
             with_messages: bool = True) -> dict[str, Any] | None:
    """One trace row in the record's shape, or None when the search teacher does not solve
    the problem within its budget; raises if a found answer does not verify.
    `with_messages=False` leaves `messages` to `add_cot_messages` (built column-wise after
    the batch crosses the process boundary: half the bytes to send)."""
    res = solve_with_trace(numbers, target, opts, rng, unsolved_trace=False)
    if not res.solved:
        return None
    check = verify_countdown(res.equation, numbers, target, opts.semantics)
    if not check.verified:  # the search checks every value exactly: a bug, never data
        raise RuntimeError(f"search teacher produced an unverified answer {res.equation!r} "
                           f"for {numbers} -> {target}: {check.reason}")
    prompt = countdown_prompt(numbers, target, opts.answer_tag)
    problem_id = "cd-" + hashlib.sha256(
        stable_json([sorted(numbers), target, opts.semantics]).encode()).hexdigest()[:16]
    sampling = _sampling(opts, seed)
    return {
        "id": trace_id(problem_id, TEACHER, sampling, 0),
        "problem_id": problem_id,
        "task": "countdown",
        "source": "countdown",
        "prompt": prompt,
        "reasoning": res.reasoning,
        "answer_text": res.answer_text,
        "final_answer": res.equation,
        "reference": make_reference(numbers, target, opts.semantics),
        "verified": True,
        "verify_detail": check.detail(),
        "teacher": TEACHER,
        "sampling": sampling,
        "sample_index": 0,
        "finish_reason": "stop",
        "prompt_tokens": None,
        "completion_tokens": None,
        "metadata": stable_json({
            "split": split, "numbers": numbers, "target": target, "solutions": solutions,
            "reachable_targets": reachable, "search_nodes": res.nodes, "backtracks": res.backtracks,
            "dead_ends": res.dead_ends, "fallback": res.fallback, "strategy": res.strategy,
            "heuristic": res.heuristic, "reasoning_chars": len(res.reasoning)}),
        "messages": messages_for(prompt, res.reasoning, res.answer_text, "cot")
        if with_messages else None,
    }


def add_cot_messages(batch: pa.RecordBatch) -> pa.RecordBatch:
    """Fill `messages` column-wise with what `messages_for(prompt, reasoning, answer_text,
    "cot")` gives row by row: [user: prompt, assistant: <think>reasoning</think> answer]."""
    n = batch.num_rows
    trim = pc.utf8_trim_whitespace
    assistant = pc.binary_join_element_wise(
        f"{THINK_OPEN}\n", trim(batch.column("reasoning")), f"\n{THINK_CLOSE}\n\n",
        trim(pc.fill_null(batch.column("answer_text"), "")), "")
    contents = pa.concat_arrays([batch.column("prompt").cast(pa.string()),
                                 assistant.cast(pa.string())])
    order = pa.array([i // 2 + (i % 2) * n for i in range(2 * n)], pa.int64())
    roles = pa.array(["user", "assistant"] * n, pa.string())
    structs = pa.StructArray.from_arrays([roles, contents.take(order)], ["role", "content"])
    offsets = pa.array(range(0, 2 * n + 1, 2), pa.int32())
    msgs = pa.ListArray.from_arrays(offsets, structs).cast(TRACE_SCHEMA.field("messages").type)
    idx = batch.schema.get_field_index("messages")
    return batch.set_column(idx, TRACE_SCHEMA.field("messages"), msgs) \
        if hasattr(batch, "set_column") else pa.RecordBatch.from_arrays(
            [msgs if i == idx else c for i, c in enumerate(batch.columns)],
            schema=batch.schema)


def generate_chunk(args: tuple) -> tuple[pa.RecordBatch, list[int]]:
    """One chunk of `size` drawn problems: (rows of the solved ones as an Arrow batch without
    `messages`, filled in by `add_cot_messages` on the receiving side; for each drawn
    problem in order, its row index in the batch or -1 when the teacher left it unsolved).
    A pure function of its arguments."""
    index, size, seed, split, cfg, opts = args
    rng = random.Random(_chunk_seed(seed, index))
    held = heldout_targets(cfg)
    rows, order = [], []
    for _ in range(size):
        inst = draw_instance(rng, cfg, split, held)
        row = make_row(inst.numbers, inst.target, split, inst.solutions, inst.reachable,
                       opts, rng, seed, with_messages=False)
        order.append(-1 if row is None else len(rows))
        if row is not None:
            rows.append(row)
    return pa.RecordBatch.from_pylist(rows, schema=TRACE_SCHEMA), order


def iter_countdown_rows(n: int, seed: int = 0, split: str = "train",
                        cfg: CountdownConfig = CountdownConfig(),
                        opts: SearchOptions = SearchOptions(), workers: int | None = None,
                        progress=None, tally: dict | None = None):
    """Yield `n` rows (dicts) with distinct (numbers, target) instances, in a fixed order."""
    for batch in iter_countdown_batches(n, seed, split, cfg, opts, workers, progress, tally):
        yield from batch.to_pylist()


MIN_SOLVED_SHARE = 0.01   # below this, after a few chunks, the budget is too small


def iter_countdown_batches(n: int, seed: int = 0, split: str = "train",
                           cfg: CountdownConfig = CountdownConfig(),
                           opts: SearchOptions = SearchOptions(), workers: int | None = None,
                           progress=None, tally: dict | None = None):
    """Yield Arrow batches totalling `n` rows with distinct instances, in a fixed order.

    `tally`, when given, is updated in place as rows are taken: `drawn` (problems considered
    up to the n-th row), `teacher_unsolved` and `duplicate_problem` (dropped problems).
    Raises CurateError when the teacher solves under 1% of the first problems (raise
    `max_nodes`) or the range has too few distinct problems."""
    if split not in ("train", "test"):
        raise CurateError("split must be train or test")
    if n < 0:
        raise CurateError("n must be >= 0")
    if cfg.semantics != opts.semantics:
        raise CurateError(f"the problems are drawn under {cfg.semantics} semantics but the "
                          f"search teacher uses {opts.semantics}: give one semantics")
    workers = workers or os.cpu_count() or 1
    tally = tally if tally is not None else {}
    tally.update(drawn=0, teacher_unsolved=0, duplicate_problem=0)
    seen: set[str] = set()
    produced = 0
    index = 0
    ctx = mp.get_context("fork") if hasattr(os, "fork") else mp.get_context()
    pool = ctx.Pool(workers) if workers > 1 and n > CHUNK else None
    try:
        while produced < n:
            need = n - produced
            chunks = max(1, min(-(-need // CHUNK) + 1, 4 * workers))
            args = [(index + k, CHUNK, seed, split, cfg, opts) for k in range(chunks)]
            index += chunks
            results = pool.imap(generate_chunk, args) if pool else map(generate_chunk, args)
            for batch, order in results:
                if produced >= n:
                    break  # (without a pool the remaining chunks are never computed)
                pids = batch.column("problem_id").to_pylist()
                keep = []
                for i in order:
                    if produced + len(keep) >= n:
                        break
                    tally["drawn"] += 1
                    if i < 0:
                        tally["teacher_unsolved"] += 1
                    elif pids[i] in seen:
                        tally["duplicate_problem"] += 1
                    else:
                        seen.add(pids[i])
                        keep.append(i)
                if not keep:
                    continue
                produced += len(keep)
                if progress:
                    progress(len(keep))
                if len(keep) != batch.num_rows:
                    batch = batch.take(pa.array(keep))
                yield add_cot_messages(batch)
            if tally["drawn"] >= 4 * CHUNK and \
                    tally["teacher_unsolved"] > (1 - MIN_SOLVED_SHARE) * tally["drawn"]:
                raise CurateError(
                    f"the search teacher solved {tally['drawn'] - tally['teacher_unsolved']} "
                    f"of {tally['drawn']} problems within max_nodes={opts.max_nodes}: raise "
                    "--max-nodes (or use fewer numbers)")
            if index > 50 * (n // CHUNK + 10):
                raise CurateError("too few distinct instances in this number/target range")
    finally:
        if pool:
            pool.terminate()


def generate_countdown(catalog, name: str, n: int, numbers: int = 4, seed: int = 0,
                       split: str = "train", workers: int | None = None,
                       cfg: CountdownConfig | None = None, progress: bool = True,
                       **teacher_opts) -> Any:
    """Generate `n` Countdown-CoT traces and register them as a traces dataset.

    Returns the `DatasetRef`. Raises BadInput for impossible settings (numbers, targets, a
    bad name).

    Example: ``generate_countdown(cat, "cd-cot", 1000, numbers=4, seed=0)``.
    """
    try:
        cfg = cfg or CountdownConfig(numbers=numbers, semantics=teacher_opts.get(
            "semantics", "integer"))
        opts = SearchOptions(**{"semantics": cfg.semantics, **teacher_opts})
    except (TypeError, ValueError) as e:
        raise CurateError(str(e)) from None
    if cfg.semantics != opts.semantics:
        raise CurateError(f"the problems are drawn under {cfg.semantics} semantics but the "
                          f"search teacher uses {opts.semantics}: give one semantics")
    params = {"task": "countdown", "teacher": TEACHER, "n": n, "seed": seed, "split": split,
              "config": asdict(cfg), "search": asdict(opts)}
    tally: dict = {}
    run = catalog.start_run("generate", config=params, name=name)
    try:
        from curate.progress import progress_bar  # noqa: PLC0415

        with progress_bar() if progress else contextlib.nullcontext() as bar:
            advance = None
            if bar is not None:
                task = bar.add_task(f"countdown {split}", total=n)
                advance = functools.partial(bar.advance, task)
            rows = iter_countdown_batches(n, seed, split, cfg, opts, workers, advance, tally)
            ref = catalog.register(name, rows, kind="traces", step="generate", params=params,
                                   schema=TRACE_SCHEMA, run_id=run,
                                   finish=lambda _written: {"counts": _counts(n, tally)})
    except BaseException as e:
        catalog.finish_run(run, "failed", error=f"{type(e).__name__}: {e}")
        raise
    catalog.finish_run(run, "ok", outputs=[ref.spec],
                       metrics={"rows": ref.rows, "problems_drawn": tally["drawn"],
                                "teacher_unsolved": tally["teacher_unsolved"]})
    return ref


def _counts(n: int, tally: dict) -> dict:
    """The lineage counts once every row is written: problems drawn, rows, drops by reason."""
    return {"in": tally["drawn"], "out": n,
            "dropped": {k: tally[k] for k in ("teacher_unsolved", "duplicate_problem")
                        if tally[k]}}
