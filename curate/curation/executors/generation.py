"""Generation on a datatrove executor: one task per node, registered once.

The driver writes the prompt rows to the staging folder and splits them, by problem, into one
contiguous slice per task. Each task (`GenerateTask`, on its Slurm node or Ray worker) serves
the teacher for itself (`vllm:MODEL --data-parallel 8` fills an 8-GPU node; `openai:URL,...`
shares endpoints), sends its slice's requests through its own request cache
(`$CURATE_HOME/cache/requests/NAME.task-R-of-T.jsonl`, kept for reruns), and writes its rows
and failures as Parquet shards plus a summary. Only the driver touches the catalog: it adopts
the shards in task order as NAME (and NAME-failures) with the summaries merged. A killed run
reruns only the unfinished tasks, and each of those sends only what its cache lacks.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections import Counter
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from datatrove.pipeline.base import PipelineStep

from curate.curation.executors.dtsteps import _fsync, _record_error
from curate.errors import CurateError
from curate.record import TRACE_SCHEMA, stable_json

FAILURE_SCHEMA = pa.schema([
    ("problem_id", pa.string()), ("sample_index", pa.int64()), ("prompt", pa.string()),
    ("reason", pa.string()), ("error", pa.string()), ("status", pa.int64()),
    ("attempts", pa.int64()), ("final", pa.bool_()), ("request_key", pa.string())])


def task_slices(n_rows: int, tasks: int) -> list[tuple[int, int]]:
    """Contiguous prompt-row ranges, one per task (a problem's samples stay together)."""
    return [(r * n_rows // tasks, (r + 1) * n_rows // tasks) for r in range(tasks)]


def task_cache(catalog_home: Path, name: str, rank: int, tasks: int) -> Path:
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", name)
    return Path(catalog_home) / "cache" / "requests" / f"{safe}.task-{rank:05d}-of-{tasks:05d}.jsonl"


class GenerateTask(PipelineStep):
    """Task `rank`: generate its slice of the prompts and write rows, failures and summary."""

    name = "curate generate"
    type = "🤖 - GENERATE"

    def __init__(self, spec, cfg, task: str, prompts_path: str, slices: list[tuple[int, int]],
                 home: str, name_: str, stage: str, api_key_env: str, startup_timeout: float):
        super().__init__()
        self.spec, self.cfg, self.task = spec, cfg, task
        self.prompts_path, self.slices = prompts_path, slices
        self.home, self.out_name, self.stage = home, name_, stage
        self.api_key_env, self.startup_timeout = api_key_env, startup_timeout

    def _prompt_rows(self, rank: int) -> list[dict[str, Any]]:
        lo, hi = self.slices[rank]
        rows = []
        with open(self.prompts_path, encoding="utf-8") as f:
            for i, line in enumerate(f):
                if i >= hi:
                    break
                if i >= lo:
                    rows.append(json.loads(line))
        return rows

    def run(self, data=None, rank: int = 0, world_size: int = 1):
        from curate.curation import generate as G
        from curate.curation.teachers.cache import RequestCache
        from curate.curation.teachers.servers import serving

        stage = Path(self.stage)
        try:
            rows = self._prompt_rows(rank)
            out = stage / "out"
            out.mkdir(parents=True, exist_ok=True)
            cache_file = task_cache(Path(self.home), self.out_name, rank, world_size)
            cache_file.parent.mkdir(parents=True, exist_ok=True)
            t0 = time.monotonic()
            reqs = G.build_requests(rows, self.cfg) if rows else []
            ep, transient, stats = None, {}, {"sent": 0, "cached": 0}
            if reqs:
                api_key = os.environ.get(self.api_key_env) if self.spec.kind == "openai" else None
                cached = G._all_cached(self.spec, reqs, self.cfg, cache_file)
                if cached is not None:
                    ep, transient, stats = cached
                else:
                    with serving(self.spec, Path(self.home) / "cache" / "servers",
                                 self.startup_timeout) as (url, engine, ver):
                        ep, transient, stats = G._run_requests(
                            url, self.spec, reqs, self.cfg, cache_file, api_key, False, engine,
                            ver)
            boundary = G.reasoning_boundary(self.spec, ep, self.cfg, reqs[0].messages) \
                if reqs else None
            acc = G._Summary()
            with RequestCache(cache_file) as cache:
                _, failures = G.failures_of(cache, reqs, transient)
                rows_tmp = out / f".task-{rank:05d}.parquet.tmp"
                with pq.ParquetWriter(rows_tmp, TRACE_SCHEMA) as w:
                    if ep is not None:
                        for b in G.row_batches(cache, reqs, ep, self.task, self.cfg, boundary,
                                               acc):
                            w.write_batch(b)
            fail_tmp = out / f".failures-{rank:05d}.parquet.tmp"
            pq.write_table(pa.Table.from_pylist(failures, schema=FAILURE_SCHEMA), fail_tmp)
            summary = {"requests": len(reqs), "rows": acc.rows,
                       "failures": dict(Counter(f["reason"] for f in failures)),
                       "finish_reasons": dict(acc.finish), "prompt_tokens": acc.prompt_tokens,
                       "completion_tokens": acc.completion_tokens, "unclosed": acc.unclosed,
                       "recovered": acc.recovered, "empty": acc.empty,
                       "wall_s": round(time.monotonic() - t0, 3), "run_stats": stats,
                       "endpoint": None if ep is None else {**asdict(ep), "info": {}},
                       "boundary": boundary}
            (out / f"task-{rank:05d}.json").write_text(json.dumps(summary, default=str))
            for tmp in (fail_tmp, rows_tmp):
                _fsync(tmp)
            os.replace(fail_tmp, out / f"failures-{rank:05d}.parquet")
            os.replace(rows_tmp, out / f"task-{rank:05d}.parquet")     # the task's last act
            self.stat_update("requests", value=len(reqs))
            self.stat_update("rows_out", value=acc.rows)
        except BaseException as e:
            _record_error(str(stage / "errors"), rank, e)
            raise
        return
        yield  # a generator: datatrove iterates the last step


def staging_key(name: str, spec, cfg, ps, tasks: int) -> str:
    from curate.catalog.catalog import code_version

    raw = stable_json({"name": name, "teacher": str(spec), "server_args": list(spec.server_args),
                       "tp": spec.tensor_parallel, "dp": spec.data_parallel,
                       "cfg": asdict(cfg), "prompts": ps.source, "info": ps.info,
                       "rows": len(ps.rows), "tasks": tasks, "code": code_version()})
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


def generate_on_executor(catalog, name: str, task: str, ps, spec, cfg, params: dict, run: str,
                         ex, api_key_env: str, startup_timeout: float, t0: float):
    """Run the generation as one datatrove task per slice of prompts and register it once."""
    import shutil

    from curate.curation import generate as G
    from curate.curation.executors.driver import Stage, launch_stages
    from curate.curation.teachers.endpoint import Endpoint

    workers = ex.default_workers()
    tasks = int(ex.tasks or 1)
    if tasks > len(ps.rows):
        tasks = len(ps.rows)
    stage = catalog.home / "staging" / f"generate-{staging_key(name, spec, cfg, ps, tasks)}"
    stage.mkdir(parents=True, exist_ok=True)
    prompts_path = stage / "prompts.jsonl"
    if not prompts_path.is_file():
        tmp = prompts_path.with_suffix(".tmp")
        with tmp.open("w", encoding="utf-8") as f:
            for r in ps.rows:
                f.write(json.dumps(r, ensure_ascii=False, default=str) + "\n")
        os.replace(tmp, prompts_path)
    shutil.rmtree(stage / "errors", ignore_errors=True)
    out = stage / "out"
    step = GenerateTask(spec, cfg, task, str(prompts_path), task_slices(len(ps.rows), tasks),
                        str(catalog.home), name, str(stage), api_key_env, startup_timeout)
    st = Stage("generate", [step], {r: [out / f"task-{r:05d}.parquet"] for r in range(tasks)})
    dry = launch_stages([st], ex, stage, tasks, workers, f"curate-generate-{name}")
    if dry is not None:
        return dry
    sums = [json.loads((out / f"task-{r:05d}.json").read_text()) for r in range(tasks)]
    eps = [s["endpoint"] for s in sums if s["endpoint"]]
    if not eps:
        raise CurateError(f"no rows generated: {len(ps.rows)} prompts, no task reached a teacher")
    ep_d = dict(eps[0])
    ep_d.pop("info", None)
    ep = Endpoint(**{k: v for k, v in ep_d.items() if k in Endpoint.__dataclass_fields__})
    if len({(e["model"], e["revision"]) for e in eps}) > 1:
        raise CurateError("the tasks' teachers serve different models: " + "; ".join(
            sorted({f"{e['model']}@{e['revision']}" for e in eps})))
    boundary = next((s["boundary"] for s in sums if s["boundary"]), None)
    reasons: Counter = Counter()
    finish: Counter = Counter()
    for s in sums:
        reasons.update(s["failures"])
        finish.update(s["finish_reasons"])
    n_req = sum(s["requests"] for s in sums)
    n_rows = sum(s["rows"] for s in sums)
    if not n_rows:
        raise CurateError(f"no rows generated: all {n_req} requests failed ({dict(reasons)})")
    run_stats = {"sent": sum(s["run_stats"].get("sent", 0) for s in sums),
                 "cached": sum(s["run_stats"].get("cached", 0) for s in sums),
                 "tasks": tasks, "executor": ex.kind,
                 "task_wall_s": [s["wall_s"] for s in sums]}
    summary = {"requests": n_req, "rows": n_rows, "failures": dict(reasons),
               "finish_reasons": dict(finish), "truncated": finish.get("length", 0),
               "prompt_tokens": sum(s["prompt_tokens"] for s in sums),
               "completion_tokens": sum(s["completion_tokens"] for s in sums),
               "wall_s": round(time.monotonic() - t0, 3), **run_stats, "teacher": ep.teacher,
               "engine": ep.engine, "engine_version": ep.engine_version,
               "reasoning_parser": (boundary or {}).get("reasoning_parser"),
               "think_prefilled": (boundary or {}).get("think_prefilled"),
               "unclosed_think": sum(s["unclosed"] for s in sums),
               "answer_recovered": sum(s["recovered"] for s in sums),
               "empty_answer": sum(s["empty"] for s in sums)}
    lparams = G.run_params(params, ep, boundary)
    fref = None
    if reasons:
        fref = catalog.adopt(f"{name}-failures",
                             [out / f"failures-{r:05d}.parquet" for r in range(tasks)],
                             kind="rejects", parents=ps.parents, step="generate-failures",
                             params=lparams, counts={"in": n_req, "out": sum(reasons.values())},
                             run_id=run, keep_source=True)
    ref = catalog.adopt(name, [out / f"task-{r:05d}.parquet" for r in range(tasks)],
                        kind="traces", parents=ps.parents, step="generate", params=lparams,
                        counts={"in": n_req, "out": n_rows, "dropped": dict(reasons)},
                        stats={"generate": summary}, run_id=run, keep_source=True)
    shutil.rmtree(stage, ignore_errors=True)
    return G.GenerateResult(ref, fref, summary)
