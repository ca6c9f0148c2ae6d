"""Per-sample rows and benchmark figures for the kinds `curate.probes.bench_items` builds:
lm-evaluation-harness tasks, LiveCodeBench code, reward-model and judge scored benchmarks.

Every row has the columns of the answer-matching kinds (`evaluation._score_rows`) plus
`score` (the sample's value of the benchmark's headline metric: 1/0 for accuracies, an F1, a
raw reward, 1 for a judged-harmful answer) and `subset`. `extra` holds benchmark-level
metrics computed the harness's way (its aggregation functions), written to `evals` beside
`accuracy`; `headline` replaces the mean of `score` where the aggregation is not a mean.
"""

from __future__ import annotations

import json
import math
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from curate.errors import BadInput
from curate.probes.suites import BenchSetting


def _jsonable(v: Any) -> Any:
    if isinstance(v, (bool, int, str)) or v is None:
        return v
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    return str(v)


def _as_score(v: Any) -> float | None:
    if isinstance(v, bool):
        return float(v)
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, (list, tuple)) and v and all(isinstance(x, bool) for x in v):
        return sum(v) / len(v)        # IFEval's instruction-level list
    return None


def _row(model, setting, it, prompt, si, c, *, correct, score, final, detail, response=None):
    return {"model": model, "benchmark": setting.benchmark, "problem_id": it.id,
            "sample_index": si, "prompt": prompt,
            "response": c.text if response is None else response,
            "final_answer": None if final is None else str(final)[:20000],
            "reference": it.reference, "correct": bool(correct), "verified": bool(correct),
            "verify_detail": json.dumps(_jsonable(detail), sort_keys=True,
                                        separators=(",", ":")),
            "finish_reason": getattr(c, "finish_reason", None),
            "completion_tokens": getattr(c, "completion_tokens", None),
            "options": None, "score": score,
            "subset": (it.meta.get("harness").subset if it.meta.get("harness") else None)}


# -- lm-evaluation-harness ---------------------------------------------------------------------

def _groups(items) -> list[tuple[Any, list[int]]]:
    order: dict[int, tuple[Any, list[int]]] = {}
    for i, it in enumerate(items):
        task = it.meta["harness"].task
        order.setdefault(id(task), (task, []))[1].append(i)
    return list(order.values())


def harness_rows(setting: BenchSetting, items, prompts, comps, model: str, metric: str,
                 think: str = "strip") -> tuple[list[dict], dict[str, float], float | None]:
    """Rows for generate-until harness tasks, scored by each task's filters and metrics."""
    from curate.probes import harness

    rows: list[dict] = []
    per_task_metrics: list[tuple[int, dict[str, float]]] = []
    version = harness.version()
    for task, idx in _groups(items):
        docs = [(items[i].meta["harness"].doc_id, items[i].meta["harness"].doc) for i in idx]
        answers = [[harness.answer_text(task, c.text, think) for c in comps[i]] for i in idx]
        res = harness.score_generations(task, docs, answers)
        flat = []
        for i, per in zip(idx, res):
            for si, r in enumerate(per):
                key = next((k for k in r if not k.startswith("_")), None)
                metrics = r.get(key, {}) if key else {}
                val = _as_score(metrics.get(metric))
                c = comps[i][si]
                detail = {"scorer": version, "task": task.config.task, "filter": key,
                          "metric": metric, "metrics": metrics, "think": think,
                          "spec": items[i].meta.get("spec")}
                rows.append(_row(model, setting, items[i], prompts[i], si, c,
                                 correct=val == 1.0, score=val,
                                 final=r.get("_filtered", {}).get(key), detail=detail))
                flat.append(r)
        per_task_metrics.append((len(flat), harness.aggregate(task, flat)))
    extra = _weighted(per_task_metrics)
    return rows, extra, extra.get(metric)


def _weighted(parts: list[tuple[int, dict[str, float]]]) -> dict[str, float]:
    """Metrics over several tasks, weighted by their number of samples (lm-eval's
    `weight_by_size` group mean; one task: its own values)."""
    keys = {k for _, m in parts for k in m}
    out = {}
    for k in sorted(keys):
        num = sum(n * m[k] for n, m in parts if k in m)
        den = sum(n for n, m in parts if k in m)
        if den:
            out[k] = num / den
    return out


def loglikelihood_rows(setting: BenchSetting, items, model_obj, tokenizer, model: str,
                       metric: str, batch_size: int = 8,
                       ) -> tuple[list[dict], dict[str, float], float | None]:
    """Rows for log-likelihood harness tasks (HeadQA, MC-TACO): lm-eval's requests, its
    `HFLM.loglikelihood` on the loaded model, its `process_results` and aggregation."""
    from curate.probes import harness
    from curate.probes.generation import Completion

    if model_obj is None:
        raise BadInput(f"{setting.benchmark} is scored by the log-probability of each choice: "
                       "evaluate a local model (a served teacher returns no prompt "
                       "log-probabilities through curate's client)")
    chat = harness.hf_chat_template(tokenizer) if setting.chat_template else None
    rows: list[dict] = []
    parts = []
    version = harness.version()
    for task, idx in _groups(items):
        docs = [(items[i].meta["harness"].doc_id, items[i].meta["harness"].doc) for i in idx]
        reqs = harness.loglikelihood_requests(task, docs, chat)
        flat = [r for rs in reqs for r in rs]
        got = harness.hf_loglikelihood(model_obj, tokenizer, flat, batch_size)
        results, pos = [], 0
        for rs in reqs:
            results.append(got[pos:pos + len(rs)])
            pos += len(rs)
        scored = harness.score_loglikelihoods(task, docs, reqs, results)
        for i, rs, res, sc in zip(idx, reqs, results, scored):
            key = next(k for k in sc if not k.startswith("_"))
            metrics = sc[key]
            val = _as_score(metrics.get(metric))
            choices = [r.arguments[1] for r in rs]
            best = max(range(len(res)), key=lambda j: res[j][0]) if res else None
            detail = {"scorer": version, "task": task.config.task, "metric": metric,
                      "metrics": metrics, "chat_template": chat is not None}
            rows.append(_row(model, setting, items[i], rs[0].arguments[0] if rs else "", 0,
                             Completion("", "loglikelihood", 0), correct=val == 1.0,
                             score=val, final=None if best is None else choices[best].strip(),
                             detail=detail,
                             response=json.dumps({"choices": choices,
                                                  "loglikelihoods": sc["_loglikelihoods"]})))
        parts.append((len(idx), harness.aggregate(task, scored)))
    extra = _weighted(parts)
    return rows, extra, extra.get(metric)


# -- LiveCodeBench -----------------------------------------------------------------------------

def code_rows(setting: BenchSetting, items, prompts, comps, model: str,
              workers: int | None = None) -> tuple[list[dict], dict[str, float], float | None]:
    """Each sample's code run in the sandbox on the problem's tests (pass@1 per sample)."""
    import os

    from curate.probes import livecodebench as lcb

    jobs = [(i, si) for i, per in enumerate(comps) for si in range(len(per))]
    n = workers or max(1, min(8, (os.cpu_count() or 2)))
    with ThreadPoolExecutor(max_workers=n) as ex:
        verdicts = list(ex.map(lambda j: lcb.score_code(items[j[0]].meta["code"],
                                                        comps[j[0]][j[1]].text), jobs))
    rows = []
    for (i, si), v in zip(jobs, verdicts):
        rows.append(_row(model, setting, items[i], prompts[i], si, comps[i][si],
                         correct=v["correct"], score=1.0 if v["correct"] else 0.0,
                         final=v["final_answer"], detail=v["detail"]))
    return rows, {}, None
