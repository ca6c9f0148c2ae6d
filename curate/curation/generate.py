"""Teacher generation: prompts x samples -> requests -> request cache -> a traces dataset.

Each (problem, sample index) is one request whose key hashes everything its answer depends
on (model and revision, messages, sampling, per-request seed, template kwargs, stop). Results
are appended to the job's request cache as they arrive; a rerun of the same command sends
only what is missing and registers the same rows, each exactly once. Failures are kept with
their reason in `NAME-failures`; `length` truncations are kept in the traces and marked.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from curate.corpora.prompts import PromptSet, load_prompts
from curate.curation.teachers.cache import RequestCache
from curate.curation.teachers.client import ChatClient, ClientConfig
from curate.curation.teachers.endpoint import (
    Endpoint,
    discover,
    predicted_endpoint,
    request_body,
)
from curate.curation.teachers.servers import engine_of, serving
from curate.curation.teachers.spec import TeacherSpec, parse_teacher
from curate.errors import BadInput, CurateError
from curate.record import (
    TRACE_SCHEMA,
    has_think_markers,
    messages_for,
    split_think,
    stable_json,
    trace_id,
)


@dataclass
class GenerateConfig:
    """Sampling and request options (defaults: the papers' Qwen3 thinking settings)."""

    samples: int = 1
    max_tokens: int = 16384
    temperature: float = 0.6
    top_p: float | None = 0.95
    top_k: int | None = 20
    min_p: float | None = None
    seed: int = 0
    system: str | None = None
    prompt_template: str | None = None           # e.g. "{problem}\nPut the answer in \\boxed{}."
    enable_thinking: bool | None = None
    chat_template_kwargs: dict[str, Any] = field(default_factory=dict)
    stop: list[str] | None = None
    extra_body: dict[str, Any] = field(default_factory=dict)   # engine-specific, e.g. ignore_eos
    concurrency: int | str = 64                  # or "auto": replicas x per-replica sequences
    timeout: float = 1800.0
    max_retries: int = 8

    def sampling(self) -> dict[str, Any]:
        """The sampling record stored with every row (shared by the samples of a problem)."""
        return {"temperature": self.temperature, "top_p": self.top_p, "top_k": self.top_k,
                "min_p": self.min_p, "max_tokens": self.max_tokens, "seed": self.seed,
                "stop": self.stop, "system": self.system, "prompt_template": self.prompt_template,
                "chat_template_kwargs": self.template_kwargs(),
                **({"extra_body": self.extra_body} if self.extra_body else {})}

    def template_kwargs(self) -> dict[str, Any]:
        kw = dict(self.chat_template_kwargs or {})
        if self.enable_thinking is not None:
            kw["enable_thinking"] = self.enable_thinking
        return kw


@dataclass
class Request:
    index: int
    prompt_row: dict[str, Any]
    sample_index: int
    user: str
    messages: list[dict[str, str]]
    seed: int
    body: dict[str, Any] = field(default_factory=dict)
    key: str = ""


@dataclass
class GenerateResult:
    ref: Any                       # DatasetRef of the traces
    failures: Any | None           # DatasetRef of NAME-failures, if any
    summary: dict[str, Any]


def render_prompt(template: str | None, row: dict[str, Any]) -> str:
    """Fill `{prompt}` / `{problem}` (and other source fields) without `str.format` on data."""
    if not template:
        return row["prompt"]
    values = {"prompt": row["prompt"], "problem": row["prompt"], "question": row["prompt"]}

    def sub(m: re.Match) -> str:
        k = m.group(1)
        if k not in values:
            raise CurateError(f"prompt template field {{{k}}} is unknown (use {{problem}})")
        return values[k]

    return re.sub(r"\{([A-Za-z_][A-Za-z0-9_]*)\}", sub, template)


def request_seed(seed: int, problem_id: str, sample_index: int) -> int:
    """Per-request seed: independent of order, worker count and resumption."""
    h = hashlib.sha256(f"{seed}:{problem_id}:{sample_index}".encode()).digest()
    return int.from_bytes(h[:4], "big") & 0x7FFFFFFF


def chat_messages(user: str, system: str | None = None) -> list[dict[str, str]]:
    return ([{"role": "system", "content": system}] if system else []) + \
        [{"role": "user", "content": user}]


def build_requests(prompts: list[dict[str, Any]], cfg: GenerateConfig) -> list[Request]:
    out = []
    for row in prompts:
        user = render_prompt(cfg.prompt_template, row)
        msgs = chat_messages(user, cfg.system)
        for k in range(cfg.samples):
            out.append(Request(len(out), row, k, user, msgs,
                               request_seed(cfg.seed, row["problem_id"], k)))
    return out


def finalize_requests(reqs: list[Request], ep: Endpoint, cfg: GenerateConfig) -> None:
    """Bodies and keys for this endpoint (the key hashes the model identity and the body)."""
    sampling = {k: v for k, v in asdict(cfg).items()
                if k in ("temperature", "top_p", "top_k", "min_p", "max_tokens")}
    ident = {"model": ep.model, "revision": ep.revision}
    for r in reqs:
        r.body = request_body(ep, r.messages, sampling, r.seed, cfg.template_kwargs(), cfg.stop)
        r.body.update(cfg.extra_body or {})
        r.key = hashlib.sha256(stable_json([ident, r.body, r.sample_index]).encode()).hexdigest()[:32]


def prompt_lengths(reqs: list[Request], ep: Endpoint, cfg: GenerateConfig) -> dict[int, int]:
    """Prompt tokens per request, when the teacher's tokenizer is on disk (else empty)."""
    if not (ep.local_path and ep.max_model_len):
        return {}
    try:
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(ep.local_path)
    except Exception:
        return {}
    seen: dict[str, int] = {}
    out = {}
    for r in reqs:
        k = stable_json(r.messages)
        if k not in seen:
            try:
                ids = tok.apply_chat_template(r.messages, add_generation_prompt=True, tokenize=True,
                                              **cfg.template_kwargs())
                seen[k] = len(ids["input_ids"] if hasattr(ids, "keys") else ids)
            except Exception:
                return {}
        out[r.index] = seen[k]
    return out


def cache_path(catalog, name: str):
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", name)
    return catalog.cache_dir("requests") / f"{safe}.jsonl"


def parse_completion(data: dict[str, Any], *, prefilled: bool | None = None,
                     thinking_off: bool = False) -> dict[str, Any]:
    """reasoning / answer / finish from a chat completion (reasoning_content or inline think).

    Where the thinking ends (`think_closed`, `reasoning_source`):
    - the server split it (`reasoning_content` / `reasoning`): that is the reasoning and
      `content` the answer; with thinking off (`thinking_off`) and `content` empty, the server
      parsed the whole answer as reasoning: it is recovered as the answer
      (`answer_recovered: "reasoning_content"`);
    - inline markers: `split_think`. With no marker at all, a template that opened the think
      block itself (`prefilled`) means the text is thinking; so does `finish_reason ==
      "length"` unless the template is known not to think (`prefilled` False) or thinking is
      off: a completion cut off with no `</think>` is unclosed reasoning, never the answer.
    - an empty answer is flagged (`empty_answer`), never stored silently.
    """
    choice = data["choices"][0]
    msg = choice.get("message") or {}
    content = msg.get("content") or ""
    rc = msg.get("reasoning_content") or msg.get("reasoning")
    finish = choice.get("finish_reason")
    flags: dict[str, Any] = {}
    if rc and not content.strip() and thinking_off:
        reasoning, answer, closed = split_think(rc)
        source = "reasoning_content"
        flags["answer_recovered"] = "reasoning_content"
    elif rc:
        reasoning, answer, source = rc.strip(), content.strip(), "reasoning_content"
        if has_think_markers(answer):            # the server left a think block in content
            more, answer, _ = split_think(answer)
            reasoning = "\n\n".join(x for x in (reasoning, more) if x)
        closed = bool(answer)
    else:
        unclosed = prefilled is True or (finish == "length" and prefilled is not False
                                         and not thinking_off)
        reasoning, answer, closed = split_think(content, prefilled=unclosed)
        source = "inline" if reasoning is not None else "none"
    if not answer:
        flags["empty_answer"] = True
        closed = False if reasoning else closed
    usage = data.get("usage") or {}
    return {"reasoning": reasoning, "answer_text": answer, "finish_reason": finish,
            "think_closed": closed, "reasoning_source": source, **flags,
            "prompt_tokens": usage.get("prompt_tokens"),
            "completion_tokens": usage.get("completion_tokens"),
            "response_model": data.get("model"), "response_id": data.get("id"),
            "system_fingerprint": data.get("system_fingerprint")}


def thinking_is_off(cfg: GenerateConfig) -> bool:
    """The run asked the template not to think (`enable_thinking` / `thinking` False)."""
    kw = cfg.template_kwargs()
    return kw.get("enable_thinking") is False or kw.get("thinking") is False


def reasoning_boundary(spec: TeacherSpec, ep: Endpoint, cfg: GenerateConfig,
                       messages: list[dict[str, str]]) -> dict[str, Any]:
    """What decides where a completion's thinking ends, recorded with every row: the
    server's reasoning parser (when curate launched it), whether the template opens the think
    block (read from the teacher's template, else its family) and whether thinking is off."""
    from curate.curation.teachers.reasoning import reasoning_parser, template_prefills_think

    off = thinking_is_off(cfg)
    prefilled = False if off else template_prefills_think(
        ep.local_path, messages, cfg.template_kwargs(), ep.model)
    return {"reasoning_parser": reasoning_parser(spec.kind, spec.target, spec.server_args),
            "think_prefilled": prefilled, "thinking_off": off}


async def _send_all(client: ChatClient, pending: list[Request], cache: RequestCache,
                    concurrency: int, on_done) -> None:
    it = iter(pending)

    async def worker() -> None:
        for r in it:
            out = await client.chat(r.body)
            rec = {"key": r.key, "ok": out.ok, "attempts": out.attempts,
                   "latency_s": round(out.latency_s, 3), "t": round(time.time(), 3)}
            if out.ok:
                rec["response"] = out.data
            else:
                rec.update(reason=out.reason, error=out.error, status=out.status, final=out.final)
            cache.append(rec)
            on_done(r, rec)

    tasks = [asyncio.create_task(worker()) for _ in range(min(concurrency, len(pending)))]
    try:
        await asyncio.gather(*tasks)
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


class _Progress:
    """Rows done / total, requests in flight, tokens per second, ETA (rich, on stderr)."""

    def __init__(self, enabled: bool, total: int, done: int, client: ChatClient):
        self.client = client
        self.tokens, self.start = 0, time.monotonic()
        self.bar = None
        if enabled:
            from curate.progress import progress_bar

            self.bar = progress_bar(transient=False)
            self.bar.start()
            self.task = self.bar.add_task("generate", total=total, completed=done)

    def update(self, rec: dict[str, Any]) -> None:
        usage = (rec.get("response") or {}).get("usage") or {}
        self.tokens += int(usage.get("completion_tokens") or 0)
        if self.bar is not None:
            rate = self.tokens / max(time.monotonic() - self.start, 1e-9)
            self.bar.update(self.task, advance=1, in_flight=self.client.in_flight,
                            tokens_per_s=round(rate))

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


async def discover_all(client, spec: TeacherSpec, engine_hint, engine_version) -> Endpoint:
    """`discover` on one endpoint, or on each of several (`openai:URL1,URL2`): they must serve
    the same model (name and revision), else the run stops before sending anything. An
    endpoint that does not answer at the start is rested; the others carry the run."""
    clients = getattr(client, "clients", None)
    if not clients:
        return await discover(client, spec.served_model, engine_hint, engine_version)
    found, down = [], []
    for i, c in enumerate(clients):
        try:
            found.append((c, await discover(c, spec.served_model, engine_hint, engine_version)))
        except CurateError as e:
            if "not answering" not in str(e):
                raise
            client.rest(i)
            down.append(c.base_url)
    if not found:
        raise CurateError(f"none of the teacher endpoints is answering: {', '.join(down)}")
    kinds = {(e.model, e.revision) for _, e in found}
    if len(kinds) > 1:
        raise CurateError("the teacher endpoints serve different models: " + "; ".join(
            f"{c.base_url}: {e.model}@{e.revision}" for c, e in found))
    ep = found[0][1]
    ep.base_url = client.base_url
    ep.info["endpoints"] = len(clients)
    if down:
        ep.info["down_at_start"] = down
    return ep


AUTO_CAP = 8192           # connections a client may open when --concurrency auto


def check_concurrency(value: int | str) -> int | str:
    """`auto` or a positive integer (BadInput otherwise)."""
    if isinstance(value, str) and value.strip().lower() == "auto":
        return "auto"
    try:
        n = int(value)
    except (TypeError, ValueError):
        n = 0
    if n < 1:
        raise BadInput(f"--concurrency must be a positive integer or auto, got {value!r}")
    return n


async def resolve_concurrency(cfg: GenerateConfig, spec: TeacherSpec, client
                              ) -> tuple[int, dict[str, Any]]:
    """Requests kept in flight: the number given, or for `auto` the replicas serving the model
    times the sequences each runs at once (what fills the engines without queueing a backlog
    in them): a launched server's from its launch arguments (vLLM: `--data-parallel-size` x
    `--max-num-seqs`, which curate sets), an SGLang endpoint's from `/get_server_info`
    (`dp_size` x `max_running_requests`); an endpoint that reports neither counts as one
    replica of VLLM_MAX_NUM_SEQS (said in the record)."""
    from curate.curation.teachers.servers import VLLM_MAX_NUM_SEQS, seq_limit

    if cfg.concurrency != "auto":
        return int(cfg.concurrency), {}
    clients = getattr(client, "clients", [client])
    if spec.launches_server and seq_limit(spec):
        n = spec.data_parallel * seq_limit(spec)
        return n, {"replicas": spec.data_parallel, "per_replica": seq_limit(spec),
                   "source": "launch arguments"}
    replicas, total, sources = 0, 0, set()
    for c in clients:
        info = await c.get_json("/get_server_info", root=True)
        if isinstance(info, dict):
            states = info.get("internal_states") or [{}]
            per = info.get("max_running_requests") or (states[0] or {}).get(
                "max_running_requests")
            dp = int(info.get("dp_size") or 1)
            if per:
                replicas, total = replicas + dp, total + dp * int(per)
                sources.add("server info")
                continue
        dp = spec.data_parallel if spec.launches_server else 1
        replicas, total = replicas + dp, total + dp * VLLM_MAX_NUM_SEQS
        sources.add(f"assumed {VLLM_MAX_NUM_SEQS} sequences per replica (not reported)")
    return max(1, total), {"replicas": replicas, "per_replica": round(total / max(replicas, 1)),
                           "endpoints": len(clients), "source": "; ".join(sorted(sources))}


def _run_requests(base_url: str, spec: TeacherSpec, reqs: list[Request], cfg: GenerateConfig,
                  cache_file, api_key: str | None, progress: bool, engine_hint, engine_version):
    from curate.curation.teachers.pool import make_client

    async def main():
        limit = AUTO_CAP if cfg.concurrency == "auto" else int(cfg.concurrency)
        ccfg = ClientConfig(concurrency=limit, timeout=cfg.timeout,
                            max_retries=cfg.max_retries, api_key=api_key)
        async with make_client(base_url, ccfg) as client:
            ep = await discover_all(client, spec, engine_hint, engine_version)
            concurrency, auto = await resolve_concurrency(cfg, spec, client)
            finalize_requests(reqs, ep, cfg)
            with RequestCache(cache_file) as cache:
                lengths = prompt_lengths([r for r in reqs if not cache.done(r.key)], ep, cfg)
                pending = []
                for r in reqs:
                    if cache.done(r.key):
                        continue
                    n = lengths.get(r.index)
                    if n is not None and ep.max_model_len and n >= ep.max_model_len:
                        cache.append({"key": r.key, "ok": False, "final": True, "attempts": 0,
                                      "reason": "prompt_too_long", "status": None,
                                      "error": f"prompt is {n} tokens; the teacher's context "
                                               f"is {ep.max_model_len}"})
                        continue
                    pending.append(r)
                cached = len(reqs) - len(pending)
                bar = _Progress(progress, len(reqs), cached, client)
                t0 = time.monotonic()
                try:
                    await _send_all(client, pending, cache, concurrency,
                                    lambda r, rec: bar.update(rec))
                finally:
                    bar.close()
                transient = {r.key: cache.get(r.key) for r in pending
                             if not cache.done(r.key) and cache.get(r.key) is not None}
            spread = {}
            if hasattr(client, "served"):
                spread = {"served_by": {c.base_url: n for c, n in
                                        zip(client.clients, client.served)}}
            return ep, transient, {"sent": len(pending), "cached": cached,
                                   "concurrency": concurrency,
                                   **({"concurrency_auto": auto} if auto else {}), **spread,
                                       "send_wall_s": round(time.monotonic() - t0, 3),
                                       "completion_tokens_this_run": bar.tokens}

    return run_async(main())


def _all_cached(spec: TeacherSpec, reqs: list[Request], cfg: GenerateConfig, cache_file):
    """(endpoint, records, stats) when `spec` is a server curate would launch and every request
    is already answered in the cache (keys from the predicted endpoint), else None."""
    if not spec.launches_server or not cache_file.exists():
        return None
    ep = predicted_endpoint(spec, *engine_of(spec))
    finalize_requests(reqs, ep, cfg)
    with RequestCache(cache_file) as cache:
        if not all(cache.done(r.key) for r in reqs):
            return None
    return ep, {}, {"sent": 0, "cached": len(reqs), "send_wall_s": 0.0,
                         "completion_tokens_this_run": 0, "server_started": False}


def run_async(coro):
    """Run on uvloop when installed (about 1.5x the requests/s of the default loop)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coro)


def check_sampling(cfg: GenerateConfig) -> None:
    """Sampling settings a server would reject or misread (NaN is not JSON; a negative
    temperature or a top_p outside (0, 1] is no distribution), refused before any request."""
    import math

    for k, lo, hi, lo_open in (("temperature", 0.0, None, False), ("top_p", 0.0, 1.0, True),
                               ("min_p", 0.0, 1.0, False), ("timeout", 0.0, None, True)):
        v = getattr(cfg, k, None)
        if v is None:
            continue
        bad = not math.isfinite(v) or v < lo or (lo_open and v == lo) or (hi is not None and v > hi)
        if bad:
            rng = f"{'(' if lo_open else '['}{lo:g}, {hi:g}]" if hi is not None else \
                f"{'> ' if lo_open else '>= '}{lo:g}"
            raise CurateError(f"--{k.replace('_', '-')} must be {rng}, got {v}")


def generate_traces(catalog, name: str, prompts: str | PromptSet, teacher: str | TeacherSpec,
                    cfg: GenerateConfig | None = None, *, task: str = "math",
                    n: int | None = None, prompt_field: str | None = None,
                    reference_field: str | None = None, id_field: str | None = None,
                    subset: dict[str, Any] | None = None,
                    api_key_env: str = "OPENAI_API_KEY", progress: bool = True,
                    startup_timeout: float = 1800.0, executor=None) -> GenerateResult:
    """Generate traces for `prompts` with `teacher` and register them as `name` (resumable).

    With `executor` (an `ExecutorSpec`: one task per node under Slurm or Ray), the prompts are
    split among the tasks; each serves the teacher on its node (or uses the `openai:`
    endpoints), keeps its own request cache and writes a shard; the shards are registered
    once, as one version (`curate.curation.executors.generation`).

    Returns a `GenerateResult(ref, failures, summary)`; rows that failed for good go to
    `NAME-failures`. Raises CurateError for a teacher that cannot start or answer
    (`FatalTeacherError` on 401/403/404), BadInput for bad options or prompts.

    Example::

        res = generate_traces(cat, "math-raw", "prompts.jsonl", "openai:http://127.0.0.1:8000/v1",
                              GenerateConfig(samples=4, max_tokens=16384, temperature=0.6))
        res.ref.spec, res.summary["sent"]
    """
    from curate.catalog.catalog import check_names

    check_names(name, f"{name}-failures")   # before any prompt is read or request sent
    cfg = cfg or GenerateConfig()
    cfg.concurrency = check_concurrency(cfg.concurrency)
    if cfg.samples < 1 or cfg.max_tokens < 1:
        raise CurateError("--samples, --max-tokens and --concurrency must be at least 1")
    check_sampling(cfg)
    if n is not None and n < 1:
        raise CurateError(f"-n must be at least 1 (prompts to sample), got {n}")
    spec = teacher if isinstance(teacher, TeacherSpec) else parse_teacher(teacher)
    ps = prompts if isinstance(prompts, PromptSet) else load_prompts(
        prompts, catalog, n=n, seed=cfg.seed, prompt_field=prompt_field,
        reference_field=reference_field, id_field=id_field, subset=subset)
    if not ps.rows:
        raise CurateError(f"prompt source {ps.source!r} has no rows")
    reqs = build_requests(ps.rows, cfg)
    api_key = os.environ.get(api_key_env) if spec.kind == "openai" else None
    params = {"task": task, "teacher": str(spec), "prompts": ps.source, "n": n, "subset": subset,
              "prompt_info": ps.info,
              **{k: v for k, v in asdict(cfg).items() if k not in ("chat_template_kwargs",)},
              "chat_template_kwargs": cfg.template_kwargs(),
              "tensor_parallel": spec.tensor_parallel, "data_parallel": spec.data_parallel,
              **({"server_args": list(spec.server_args)} if spec.server_args else {})}
    run = catalog.start_run("generate", config=params, inputs=ps.parents or [ps.source], name=name)
    t0 = time.monotonic()
    try:
        if executor is not None:
            from curate.curation.executors.generation import generate_on_executor

            result = generate_on_executor(catalog, name, task, ps, spec, cfg, params, run,
                                          executor, api_key_env, startup_timeout, t0)
            if not hasattr(result, "summary"):          # a Slurm dry run: nothing registered
                catalog.finish_run(run, "dry-run", error=result.spec)
                return result
            catalog.finish_run(run, "ok", outputs=[result.ref.spec] + (
                [result.failures.spec] if result.failures else []), metrics=result.summary)
            return result
        cached = _all_cached(spec, reqs, cfg, cache_path(catalog, name))
        if cached is not None:
            ep, transient, run_stats = cached
            if progress:
                print(f"all {len(reqs)} requests are answered in the cache: {spec} not started",
                      file=sys.stderr)
        else:
            with serving(spec, catalog.cache_dir("servers"), startup_timeout) as (url, engine,
                                                                                 ver):
                ep, transient, run_stats = _run_requests(
                    url, spec, reqs, cfg, cache_path(catalog, name), api_key, progress, engine,
                    ver)
        boundary = reasoning_boundary(spec, ep, cfg, reqs[0].messages)
        result = _register(catalog, name, task, ps, ep, reqs, transient,
                           cache_path(catalog, name), cfg, params, run, time.monotonic() - t0,
                           run_stats, boundary)
    except BaseException as e:
        catalog.finish_run(run, "failed", error=f"{type(e).__name__}: {e}"[:500])
        raise
    catalog.finish_run(run, "ok", outputs=[result.ref.spec] + (
        [result.failures.spec] if result.failures else []), metrics=result.summary)
    return result


def _row(r: Request, rec: dict, ep: Endpoint, task: str, sampling_json: str,
         system: str | None, boundary: dict[str, Any] | None = None) -> dict[str, Any]:
    boundary = boundary or {}
    c = parse_completion(rec["response"], prefilled=boundary.get("think_prefilled"),
                         thinking_off=bool(boundary.get("thinking_off")))
    pid = r.prompt_row["problem_id"]
    meta = {"engine": ep.engine, "engine_version": ep.engine_version, "model": ep.model,
            "revision": ep.revision, "request_seed": r.seed, "request_key": r.key,
            "response_id": c["response_id"], "response_model": c["response_model"],
            "system_fingerprint": c["system_fingerprint"], "think_closed": c["think_closed"],
            "reasoning_source": c["reasoning_source"], "attempts": rec.get("attempts"),
            "latency_s": rec.get("latency_s"), "truncated": c["finish_reason"] == "length",
            "reasoning_parser": boundary.get("reasoning_parser"),
            "think_prefilled": boundary.get("think_prefilled"),
            **{k: c[k] for k in ("answer_recovered", "empty_answer") if k in c},
            "source_fields": r.prompt_row.get("metadata")}
    return {"id": trace_id(pid, ep.teacher, sampling_json, r.sample_index), "problem_id": pid,
            "task": task, "source": r.prompt_row.get("source"), "prompt": r.user,
            "reasoning": c["reasoning"], "answer_text": c["answer_text"], "final_answer": None,
            "reference": r.prompt_row.get("reference"), "verified": None, "verify_detail": None,
            "teacher": ep.teacher, "sampling": sampling_json, "sample_index": r.sample_index,
            "finish_reason": c["finish_reason"], "prompt_tokens": c["prompt_tokens"],
            "completion_tokens": c["completion_tokens"], "metadata": stable_json(meta),
            "messages": messages_for(r.user, c["reasoning"], c["answer_text"], "cot", system)}


class _Summary:
    """The run summary, summed row by row as the traces stream into the store."""

    def __init__(self) -> None:
        self.rows = self.prompt_tokens = self.completion_tokens = 0
        self.finish: Counter = Counter()
        self.unclosed = self.recovered = self.empty = 0

    def add(self, row: dict[str, Any]) -> None:
        self.rows += 1
        self.finish[row["finish_reason"]] += 1
        self.prompt_tokens += row["prompt_tokens"] or 0
        self.completion_tokens += row["completion_tokens"] or 0
        m = json.loads(row["metadata"])
        self.unclosed += m.get("think_closed") is False
        self.recovered += bool(m.get("answer_recovered"))
        self.empty += bool(m.get("empty_answer"))

    def boundary_counts(self, boundary: dict | None) -> dict[str, Any]:
        """How many rows ended inside their thinking, had their answer recovered from
        reasoning_content, or have no answer: the run summary says so instead of hiding them."""
        return {"reasoning_parser": (boundary or {}).get("reasoning_parser"),
                "think_prefilled": (boundary or {}).get("think_prefilled"),
                "unclosed_think": self.unclosed, "answer_recovered": self.recovered,
                "empty_answer": self.empty}


ROWS_PER_BATCH = 256


def failures_of(cache: RequestCache, reqs: list[Request],
                transient: dict[str, dict]) -> tuple[int, list[dict[str, Any]]]:
    """(answered requests, one failure row per other request), without reading answers."""
    failures, answered = [], 0
    for r in reqs:
        if cache.ok(r.key):
            answered += 1
            continue
        rec = cache.get(r.key) or transient.get(r.key) or {"reason": "not_sent",
                                                             "error": "no result"}
        failures.append({"problem_id": r.prompt_row["problem_id"],
                         "sample_index": r.sample_index, "prompt": r.user,
                         "reason": rec.get("reason"), "error": rec.get("error"),
                         "status": rec.get("status"), "attempts": rec.get("attempts"),
                         "final": bool(rec.get("final")), "request_key": r.key})
    return answered, failures


def row_batches(cache: RequestCache, reqs: list[Request], ep: Endpoint, task: str,
                cfg: GenerateConfig, boundary: dict | None, acc: _Summary):
    """The answered requests as TRACE_SCHEMA batches, read back from the cache in request
    order (memory: one batch), summed into `acc` as they pass."""
    import pyarrow as pa

    sampling_json = stable_json(cfg.sampling())
    buf = []
    for r in reqs:
        if cache.ok(r.key):
            row = _row(r, cache.get(r.key), ep, task, sampling_json, cfg.system, boundary)
            acc.add(row)
            buf.append(row)
            if len(buf) >= ROWS_PER_BATCH:
                yield pa.RecordBatch.from_pylist(buf, schema=TRACE_SCHEMA)
                buf = []
    if buf:
        yield pa.RecordBatch.from_pylist(buf, schema=TRACE_SCHEMA)


def run_params(params: dict, ep: Endpoint, boundary: dict | None) -> dict[str, Any]:
    """The lineage parameters of a generation: the command's, the endpoint's and the
    reasoning boundary's; for a launched vLLM, that unset sampling fields take vLLM's
    defaults (`--generation-config vllm`), not the model's."""
    from curate.curation.teachers.servers import server_flag

    out = {**params, "teacher_model": ep.model, "teacher_revision": ep.revision,
           "engine": ep.engine, "engine_version": ep.engine_version,
           "max_model_len": ep.max_model_len, **(boundary or {})}
    if str(params.get("teacher", "")).startswith("vllm:"):
        out["server_generation_config"] = server_flag(
            params.get("server_args") or [], "--generation-config") or "vllm"
    return out


def summary_of(n_requests: int, acc: _Summary, reasons: Counter, wall: float,
               run_stats: dict, ep: Endpoint, boundary: dict | None) -> dict[str, Any]:
    return {"requests": n_requests, "rows": acc.rows, "failures": dict(reasons),
            "finish_reasons": dict(acc.finish), "truncated": acc.finish.get("length", 0),
            "prompt_tokens": acc.prompt_tokens, "completion_tokens": acc.completion_tokens,
            "wall_s": round(wall, 3), **run_stats, "teacher": ep.teacher,
            "engine": ep.engine, "engine_version": ep.engine_version,
            **acc.boundary_counts(boundary)}


def _register(catalog, name, task, ps, ep, reqs, transient, cache_file, cfg, params, run, wall,
              run_stats, boundary=None):
    """Register the answered requests as `name`, streamed from the request cache in request
    order (memory: one batch of rows, not the run), and the failed ones as `name-failures`."""
    with RequestCache(cache_file) as cache:
        answered, failures = failures_of(cache, reqs, transient)
        reasons = Counter(f["reason"] for f in failures)
        if not answered:
            first = failures[0] if failures else {}
            raise CurateError(f"no rows generated: all {len(reqs)} requests failed "
                              f"({dict(reasons)}; first: {first.get('error')})")
        params = run_params(params, ep, boundary)
        fref = None
        if failures:
            fref = catalog.register(f"{name}-failures", failures, kind="rejects",
                                    parents=ps.parents, step="generate-failures", params=params,
                                    counts={"in": len(reqs), "out": len(failures)}, run_id=run)
        acc = _Summary()
        summary: dict[str, Any] = {}

        def finish(_written) -> dict:
            summary.update(summary_of(len(reqs), acc, reasons, wall, run_stats, ep, boundary))
            return {"stats": {"generate": summary},
                    "counts": {"in": len(reqs), "out": acc.rows, "dropped": dict(reasons)}}

        ref = catalog.register(name, row_batches(cache, reqs, ep, task, cfg, boundary, acc),
                               kind="traces", parents=ps.parents, step="generate",
                               params=params, schema=TRACE_SCHEMA, run_id=run, finish=finish)
    return GenerateResult(ref, fref, summary)
