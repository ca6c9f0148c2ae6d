"""`curate eval`: score a model, a checkpoint or every checkpoint of a run on a suite.

Generation samples k responses per problem with the suite's decoding; the verifiers score
them; per-sample outputs go to Parquet under ``$CURATE_HOME/evals/<run>/``; the figures
(accuracy = avg@k, pass@1, unbiased pass@k, maj@k, mean response tokens, truncation rate) go
to the catalog's ``evals`` table. Over a run's checkpoints, score and response length are
plotted against step so a dip and recovery is visible.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from curate.errors import BadInput, NotFound
from curate.probes import eval_items, eval_metrics, scoring
from curate.probes.eval_items import NoLocalData
from curate.probes.generation import Completion, Sampling, generate_local, teacher_backend
from curate.probes.suites import BenchSetting, get_suite


def model_name(spec: str) -> str:
    """The name a model is recorded under in evals: an absolute path for local folders."""
    p = Path(spec)
    return str(p.resolve()) if p.exists() else spec


def resolve_target(catalog, spec: str) -> dict[str, Any]:
    """What MODEL_OR_RUN names: {'kind': 'model'|'run', ...}."""
    if Path(spec).exists():
        return {"kind": "model", "path": str(Path(spec).resolve()), "name": model_name(spec)}
    ck = catalog.sql("SELECT id, path, step, run_id FROM checkpoints WHERE id = ?", [spec])
    if ck:
        return {"kind": "model", "path": ck[0]["path"], "name": model_name(ck[0]["path"]),
                "checkpoint_id": ck[0]["id"], "step": ck[0]["step"]}
    cks = catalog.sql("SELECT id, path, step, model FROM checkpoints WHERE run_id = ? "
                      "ORDER BY step, created", [spec])
    if cks:
        return {"kind": "run", "run_id": spec, "checkpoints": cks}
    if catalog.sql("SELECT id FROM runs WHERE id = ?", [spec]):
        raise NotFound(f"run {spec!r} has no checkpoints in the catalog")
    return {"kind": "model", "path": spec, "name": spec}


def prepare(suite: str, samples: int | None = None, limit: int | None = None,
            max_new_tokens: int | None = None, temperature: float | None = None,
            skip: list[str] | None = None, think: str | None = None,
            ) -> list[tuple[BenchSetting, list[eval_items.EvalItem], str]]:
    """Every suite entry with its items and group, loaded before any model (fail fast).
    `skip` leaves benchmarks out by name; `think` (strip | raw) overrides how harness tasks
    see the thinking."""
    if think not in (None, "strip", "raw"):
        raise BadInput(f"--think must be strip or raw, got {think!r}")
    skipped = set()
    if skip:
        from curate.corpora.benchmarks import get_benchmark

        for name in skip:
            skipped.add(get_benchmark(name).name if not name.startswith("file:") else name)
    for name, val in (("--limit", limit), ("--max-new-tokens", max_new_tokens)):
        if val is not None and val < 1:
            raise BadInput(f"{name} must be at least 1")
    if temperature is not None and temperature < 0:
        raise BadInput("--temperature must be 0 or more")
    out, missing = [], []
    for s in get_suite(suite):
        if s.benchmark in skipped:
            continue
        s = s.replace(k=samples, max_new_tokens=max_new_tokens, temperature=temperature,
                      think=think)
        if s.k < 1:
            raise BadInput("--samples must be at least 1")
        try:
            items, group = eval_items.load_items(s, limit)
        except NoLocalData as e:
            missing.append((s.benchmark, str(e)))
            continue
        if group is None:
            group = "math" if all(i.kind == "math" for i in items) else "other"
        out.append((s, items, group))
    if missing:
        if len(missing) == 1:
            raise NoLocalData(f"suite {suite!r}: {missing[0][1]}")
        names = ", ".join(n for n, _ in missing)
        raise NoLocalData(f"suite {suite!r}: no local data for {names} (first: {missing[0][1]})")
    return out


def _write_parquet(rows: list[dict[str, Any]], path: Path) -> str:
    """Per-sample outputs, written to a temporary file then renamed (never half-written)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".parquet.tmp")
    pq.write_table(pa.Table.from_pylist(rows), tmp)
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return str(path)


class _Generator:
    """A loaded local model, or a serving teacher, behind one `__call__`."""

    def __init__(self, path: str, teacher: str | None, device: str | None, dtype: str | None,
                 batch_size: int):
        self.path, self.teacher_spec, self.batch_size = path, teacher, batch_size
        if teacher:
            self.teacher = teacher_backend(teacher)
            self.model = self.tokenizer = None
        else:
            from curate.probes.models import load_model, load_tokenizer

            self.tokenizer = load_tokenizer(path)
            self.model = load_model(path, device, dtype)
            self.teacher = None

    def __call__(self, prompts: list[str], setting: BenchSetting, progress) -> list[list[Completion]]:
        sampling = Sampling(setting.k, setting.temperature, setting.top_p, setting.max_new_tokens,
                            setting.seed)
        if self.teacher is None:
            return generate_local(self.model, self.tokenizer, prompts, sampling,
                                  setting.chat_template, self.batch_size, progress)
        gen = getattr(self.teacher, "complete_many", None) or self.teacher.generate
        res = gen(prompts, n=sampling.n, temperature=sampling.temperature, top_p=sampling.top_p,
                  max_tokens=sampling.max_new_tokens, seed=sampling.seed)
        out = []
        for per_prompt in res:
            out.append([Completion(getattr(c, "text", None) or c["text"],
                                   getattr(c, "finish_reason", None) or c.get("finish_reason"),
                                   getattr(c, "completion_tokens", None) or c.get(
                                       "completion_tokens") or 0) for c in per_prompt])
            if progress is not None:
                progress(1)
        return out


def _progress_bar(total: int, enabled: bool, description: str = "eval"):
    """(Progress, advance(n)) over `total` prompts, or (None, None) when disabled."""
    if not enabled:
        return None, None
    from curate.progress import progress_bar

    prog = progress_bar(transient=False)
    task = prog.add_task(description, total=total)
    return prog, lambda n: prog.advance(task, n)


def evaluate_model(catalog, spec: str, suite: str, *, samples: int | None = None,
                   limit: int | None = None, max_new_tokens: int | None = None,
                   temperature: float | None = None, teacher: str | None = None,
                   name: str | None = None, checkpoint_id: str | None = None,
                   step: int | None = None, train_run: str | None = None,
                   device: str | None = None, dtype: str | None = None,
                   batch_size: int = 8, progress: bool = True, prepared=None,
                   tags: dict[str, Any] | None = None,
                   scorers: dict[str, Any] | None = None, skip: list[str] | None = None,
                   think: str | None = None) -> dict[str, Any]:
    """Evaluate one model on a suite; figures recorded in `evals`, outputs in Parquet.

    `prepared` (from `prepare`) may hold a subset of the suite; `tags` go into each row's
    config (an experiment records its name, arm and eval key there)."""
    target = resolve_target(catalog, spec)
    if target["kind"] == "run":
        raise BadInput(f"{spec!r} is a run: use evaluate_run")
    checkpoint_id = checkpoint_id or target.get("checkpoint_id")
    step = step if step is not None else target.get("step")
    record_name = name or target["name"]
    entries = prepared or prepare(suite, samples, limit, max_new_tokens, temperature, skip,
                                  think)
    from curate.probes.judges import check_scorers

    check_scorers(entries, scorers or {})
    config = {"suite": suite, "samples": samples, "limit": limit, "max_new_tokens": max_new_tokens,
              "temperature": temperature, "teacher": teacher, "model_path": target["path"]}
    run_id = catalog.start_run("eval", config=config, inputs=[target["path"]], name=record_name)
    out_dir = Path(catalog.home) / "evals" / run_id
    results: dict[str, Any] = {}
    try:
        gen = _Generator(target["path"], teacher, device, dtype, batch_size)
        cache = _verify_cache(catalog)
        total = sum(len(items) for _, items, _ in entries)
        prog, advance = _progress_bar(total, progress)
        if prog is not None:
            prog.start()
        try:
            for setting, items, group in entries:
                prompts = [eval_items.format_prompt(it, setting) for it in items]
                rows, extra, headline, k = _score_setting(setting, items, prompts, gen,
                                                          record_name, cache, advance,
                                                          scorers or {})
                figs = eval_metrics.benchmark_figures(rows, k)
                if headline is not None:      # the harness's own aggregation of its metric
                    figs["accuracy"] = figs[f"avg@{k}"] = headline
                path = _write_parquet(rows, out_dir / f"{setting.benchmark}.parquet")
                bench_cfg = {"k": k, "temperature": setting.temperature,
                             "top_p": setting.top_p, "max_new_tokens": setting.max_new_tokens,
                             "seed": setting.seed, "shuffle_options": setting.shuffle_options,
                             "option_order": setting.option_order, "rule": setting.rule,
                             "unclosed": setting.unclosed, "think": setting.think,
                             "chat_template": setting.chat_template,
                             "suite": suite, "prompt": setting.prompt,
                             "verifier_failures": figs.get("verifier_failures", 0),
                             **_scoring_info(setting, items),
                             **_scorer_info(setting, scorers or {}),
                             "train_run": train_run, **({"tags": tags} if tags else {})}
                names = eval_metrics.metric_names(k)
                values = {m: figs[m] for m in names}
                values.update({m: v for m, v in extra.items() if m not in values})
                for metric, value in values.items():
                    catalog.insert("evals", {
                        "run_id": run_id, "model": record_name, "checkpoint_id": checkpoint_id,
                        "step": step, "benchmark": setting.benchmark, "domain": group,
                        "metric": metric, "value": value, "n_samples": figs["samples"],
                        "k": k, "mean_response_tokens": figs["mean_response_tokens"],
                        "truncation_rate": figs["truncation_rate"], "outputs_path": path,
                        "config": bench_cfg})
                results[setting.benchmark] = {**figs, **{f"metric:{m}": v for m, v in
                                                         extra.items()},
                                              "group": group, "outputs": path,
                                              "higher_is_better": bench_cfg["higher_is_better"],
                                              "scale": bench_cfg["scale"]}
        finally:
            if prog is not None:
                prog.stop()
    except BaseException as e:
        catalog.finish_run(run_id, "failed", error=str(e).splitlines()[0] if str(e) else repr(e))
        raise
    catalog.finish_run(run_id, "ok", outputs=[str(out_dir)],
                       metrics={b: r["accuracy"] for b, r in results.items()})
    return {"model": record_name, "suite": suite, "run_id": run_id, "step": step,
            "checkpoint_id": checkpoint_id, "benchmarks": results}


def _scoring_info(setting: BenchSetting, items) -> dict[str, Any]:
    """How the benchmark is scored, recorded in each evals row's config: its headline metric
    and direction (TI reads `higher_is_better` and `scale`), the harness version."""
    info: dict[str, Any] = {"metric": "accuracy", "higher_is_better": True, "scale": "fraction"}
    try:
        from curate.corpora.benchmarks import get_benchmark

        b = get_benchmark(setting.benchmark) if not setting.path else None
    except Exception:  # noqa: BLE001 - a local suite's file: not in the registry
        b = None
    if b is not None:
        info.update(metric=b.metric, higher_is_better=b.higher_is_better, scale=b.scale)
    if items and items[0].kind == "harness":
        from curate.probes import harness

        info["harness"] = harness.version()
        info["harness_tasks"] = sorted({it.meta["spec"] for it in items})
    return info


def _scorer_info(setting: BenchSetting, scorers: dict[str, Any]) -> dict[str, Any]:
    """{"scorers": {...}} for a judged or reward-scored benchmark (the judge, reward model and
    judge budget that scored it), {} otherwise."""
    if setting.path:
        return {}
    from curate.corpora.benchmarks import get_benchmark
    from curate.probes.judges import scorer_config

    try:
        name = get_benchmark(setting.benchmark).name
    except Exception:  # noqa: BLE001 - not in the registry
        return {}
    got = scorer_config(name, scorers)
    return {"scorers": got} if got else {}


def _headline_metric(setting: BenchSetting) -> str:
    from curate.corpora.benchmarks import get_benchmark

    return get_benchmark(setting.benchmark).metric


def _score_setting(setting: BenchSetting, items, prompts, gen, model: str, cache, advance,
                   scorers: dict[str, Any]):
    """(rows, extra metrics, headline or None, k) of one suite entry, by its items' kind."""
    from curate.probes import bench_scoring, harness

    kind = items[0].kind if items else "math"
    if kind == "harness" and items[0].meta["harness"].output_type in harness.LL_TYPES:
        rows, extra, head = bench_scoring.loglikelihood_rows(
            setting, items, gen.model, gen.tokenizer, model, _headline_metric(setting),
            gen.batch_size)
        if advance is not None:
            advance(len(items))
        return rows, extra, head, 1
    comps = gen(prompts, setting, advance)
    if kind == "harness":
        rows, extra, head = bench_scoring.harness_rows(setting, items, prompts, comps, model,
                                                       _headline_metric(setting), setting.think)
    elif kind == "code":
        rows, extra, head = bench_scoring.code_rows(setting, items, prompts, comps, model)
    elif kind in ("reward", "judge"):
        from curate.probes import judges

        rows, extra, head = judges.score_rows(setting, items, prompts, comps, model, scorers)
    else:
        rows, extra, head = _score_rows(items, prompts, comps, setting, model, cache), {}, None
    return rows, extra, head, setting.k


def _score_rows(items, prompts, comps, setting: BenchSetting, model: str,
                cache=None) -> list[dict[str, Any]]:
    flat = [(it, prompt, si, c) for it, prompt, per in zip(items, prompts, comps)
            for si, c in enumerate(per)]
    verdicts = scoring.score_many([f[0].kind for f in flat], [f[0].reference for f in flat],
                                  [f[3].text for f in flat], cache=cache,
                                  unclosed=setting.unclosed, rule=setting.rule)
    rows = []
    for (it, prompt, si, c), v in zip(flat, verdicts):
        rows.append({
            "model": model, "benchmark": setting.benchmark, "problem_id": it.id,
            "sample_index": si, "prompt": prompt, "response": c.text,
            "final_answer": v.final_answer, "reference": it.reference,
            "correct": v.verified is True, "verified": v.verified, "verify_reason": v.reason,
            "verify_detail": v.detail(),
            "finish_reason": c.finish_reason, "completion_tokens": c.completion_tokens,
            "options": "\n".join(it.options) if it.options else None,
        })
    return rows


def _verify_cache(catalog) -> Path:
    """The catalog's verification cache file (shared with `curate verify`); each verifier pool
    opens and closes it itself."""
    return catalog.cache_dir("verify") / "results.sqlite"


def one_per_step(checkpoints: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One checkpoint per step, in step order: runs trained before the final model stopped
    being saved twice registered the last step both as `checkpoint-N` and as the output
    folder; the later row (the final model) is kept, so no step is evaluated twice."""
    by_step: dict[Any, dict[str, Any]] = {}
    for c in checkpoints:
        by_step[c["step"]] = c
    return sorted(by_step.values(), key=lambda c: (c["step"] is None, c["step"] or 0))


def evaluate_run(catalog, run_id: str, suite: str, *, include_base: bool = True,
                 plot: bool = True, progress: bool = True, **kw) -> dict[str, Any]:
    """Every checkpoint of a training run (and its base as step 0), then the trajectory plot."""
    target = resolve_target(catalog, run_id)
    if target["kind"] != "run":
        raise NotFound(f"{run_id!r} is not a run with checkpoints")
    entries = prepare(suite, kw.pop("samples", None), kw.pop("limit", None),
                      kw.pop("max_new_tokens", None), kw.pop("temperature", None),
                      kw.pop("skip", None), kw.pop("think", None))
    todo: list[tuple[str, int | None, str | None]] = []
    base = target["checkpoints"][0].get("model")
    if include_base and base and (Path(base).exists() or "/" in base):
        todo.append((base, 0, None))
    todo += [(c["path"], c["step"], c["id"]) for c in one_per_step(target["checkpoints"])]
    evals = []
    for path, step, ck in todo:
        if progress:
            from curate.console import err_console, esc

            err_console.print(f"[bold]step {step}[/bold]: {esc(path)}")
        evals.append(evaluate_model(catalog, path, suite, step=step, checkpoint_id=ck,
                                    train_run=run_id, prepared=entries, progress=progress,
                                    **kw))
    traj = trajectory(evals)
    plot_path = None
    if plot:
        from curate.probes.plots import plot_trajectory

        plot_path = plot_trajectory(traj, Path(catalog.home) / "evals" / f"trajectory-{run_id}.png",
                                    title=f"run {run_id}: {suite}")
    probe_id = catalog.insert("probes", {"probe": "length", "model": run_id, "base": base,
                                         "texts": suite, "params": {"suite": suite},
                                         "results": traj, "plot_path": plot_path})
    return {"run_id": run_id, "suite": suite, "evals": evals, "trajectory": traj,
            "plot_path": plot_path, "probe_id": probe_id}


def trajectory(evals: list[dict[str, Any]]) -> dict[str, Any]:
    """Per benchmark: steps, accuracy and mean response tokens, in step order."""
    out: dict[str, dict[str, list]] = {}
    for e in sorted(evals, key=lambda e: (e["step"] is None, e["step"] or 0)):
        for b, r in e["benchmarks"].items():
            t = out.setdefault(b, {"step": [], "accuracy": [], "mean_response_tokens": [],
                                   "truncation_rate": [], "group": r["group"]})
            t["step"].append(e["step"])
            t["accuracy"].append(r["accuracy"])
            t["mean_response_tokens"].append(r["mean_response_tokens"])
            t["truncation_rate"].append(r["truncation_rate"])
    for t in out.values():
        t["dip"] = dip_summary(t["step"], t["accuracy"], t["mean_response_tokens"])
    return out


def dip_summary(steps: list, scores: list, tokens: list) -> dict[str, Any]:
    """Dip and recovery of a score along training: first point (the base), lowest point, last.

    ``dip`` = first − lowest (≥ 0); ``recovery`` = last − lowest; ``recovered`` says whether the
    last checkpoint is back at or above the first; the longest mean response and its step show
    whether length surged at the dip.
    """
    pts = [(s, a, n) for s, a, n in zip(steps, scores, tokens) if a is not None]
    if not pts:
        return {}
    first, last = pts[0], pts[-1]
    low = min(pts, key=lambda p: p[1])
    longest = max(pts, key=lambda p: p[2] or 0)
    return {"first": first[1], "lowest": low[1], "lowest_step": low[0], "last": last[1],
            "dip": first[1] - low[1], "recovery": last[1] - low[1],
            "recovered": last[1] >= first[1], "longest_tokens": longest[2],
            "longest_step": longest[0]}


def evaluate(catalog, spec: str, suite: str, **kw) -> dict[str, Any]:
    """MODEL_OR_RUN: one model / checkpoint, or every checkpoint of a run.

    `suite`: p3 | p1 | math | local:FILE[,FILE]; keywords: samples, limit, max_new_tokens,
    temperature, teacher, name, device, dtype, batch_size, include_base, scorers ({judge,
    truth_judge, info_judge, reward_model}: specs for judged / reward-scored benchmarks;
    judge_max_tokens: the HEx-PHI judge's budget, default 4096; recorded in the evals rows'
    config under `scorers`),
    skip (benchmark names), think (strip | raw, for harness tasks). Returns {model,
    suite, run_id, step, benchmarks: {name: {accuracy, pass@1, pass@k, mean_response_tokens,
    truncation_rate, outputs}}} for a model, or {evals: [...], trajectory, plot_path} for a run.
    Raises NotFound (an unknown model, checkpoint or run), BadInput (a bad suite or option).

    Example: ``evaluate(cat, "runs/sft", "local:arith.jsonl", max_new_tokens=64)``.
    """
    target = resolve_target(catalog, spec)
    if target["kind"] == "run":
        return evaluate_run(catalog, spec, suite, **kw)
    kw.pop("include_base", None)
    kw.pop("plot", None)
    return evaluate_model(catalog, spec, suite, **kw)
