"""lm-evaluation-harness as a library, for the benchmarks the papers ran through it.

curate keeps the catalog rows, the per-sample outputs, generation and the think-stripping rule;
the harness supplies each task's definition: documents (`process_docs`), prompts
(`doc_to_text`, few-shot context), generation settings (`until`), filters, per-document metrics
(`process_results` or its metric functions) and their aggregation. Task YAMLs are loaded with
lm-eval's own loader from its package (``lm_eval:headqa/headqa_en.yaml``) or from
`curate.probes.lm_eval_tasks` (``curate:olympiad.yaml``, the forks' tasks that lm-eval 0.4.13
lacks); no `TaskManager` index is built (it reads ~15k YAMLs).

Data: a local copy replaces the task's `dataset_path` / `dataset_kwargs.data_files` (every
split the task names points at the local file), so tasks run offline; otherwise the Hub
dataset is loaded at the registry's pinned revision.

Prompts: the user turn is the task's context with `apply_chat_template` on and
`fewshot_as_multiturn` off (the lm-eval 0.4.x command line of P1 and P3:
`--apply_chat_template`): few-shot examples and the question collapse into one user message,
which curate's generator renders with the model's chat template (no system prompt).

Answers: the think-stripping rule first (text after the last ``</think>``, the whole response
when there is none; or ``raw``, as P1's fork scored), then the task's `until` stop strings
cut the answer as lm-eval does after generation, then the task's filters and metrics.

Log-likelihood tasks (HeadQA, MC-TACO): lm-eval's `HFLM` wraps the already-loaded model and
tokenizer and computes the log-probabilities of each choice. A served teacher returns no
prompt log-probabilities through curate's client, so these tasks need a local model.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from curate.errors import BadInput, CurateError

TASKS_DIR = Path(__file__).with_name("lm_eval_tasks")
SPLIT_KEYS = ("training_split", "validation_split", "test_split", "fewshot_split")
LL_TYPES = ("loglikelihood", "multiple_choice", "loglikelihood_rolling")


def _require():
    try:
        import lm_eval  # noqa: F401
    except ImportError:
        raise CurateError("this benchmark is scored with lm-evaluation-harness: pip install "
                          "'curate-traces[eval]' (lm-eval==0.4.13)") from None
    from curate.probes.lm_eval_compat import install

    install()


@lru_cache(maxsize=1)
def version() -> str:
    """``lm-eval <version>`` (recorded with every harness-scored eval)."""
    _require()
    from importlib.metadata import version as v

    return f"lm-eval {v('lm_eval')}"


def task_yaml(spec: str) -> Path:
    """``lm_eval:REL`` -> lm-eval's own task file; ``curate:REL`` -> curate's."""
    kind, _, rel = spec.partition(":")
    if kind == "lm_eval":
        _require()
        import lm_eval.tasks

        path = Path(lm_eval.tasks.__file__).parent / rel
    elif kind == "curate":
        path = TASKS_DIR / rel
    else:
        raise ValueError(f"harness task spec {spec!r}: expected lm_eval:PATH or curate:PATH")
    if not path.is_file():
        raise CurateError(f"harness task {spec!r} not found at {path}")
    return path


def _builder(path: Path) -> str:
    return {".parquet": "parquet", ".csv": "csv"}.get(path.suffix.lower(), "json")


def task_config(spec: str, data: Path | None = None, revision: str | None = None,
                ) -> dict[str, Any]:
    """The task's YAML config (includes and `!function`s resolved by lm-eval's loader), with
    its data pointed at a local file, or its Hub revision pinned."""
    _require()
    import contextlib
    import sys

    from lm_eval.tasks._yaml_loader import load_yaml

    # a task's utils may print at import (IFEval's "Downloaded punkt_tab"): keep stdout clean
    # for `--json`
    with contextlib.redirect_stdout(sys.stderr):
        cfg = dict(load_yaml(task_yaml(spec), resolve_func=True))
    for key in ("tag", "group", "task_list"):
        cfg.pop(key, None)
    kwargs = dict(cfg.get("dataset_kwargs") or {})
    kwargs.pop("trust_remote_code", None)
    if data is not None:
        splits = {cfg.get(k) for k in SPLIT_KEYS if cfg.get(k)}
        cfg["dataset_path"] = _builder(data)
        cfg["dataset_name"] = None
        kwargs = {"data_files": {s: str(data) for s in splits}}
    elif revision:
        kwargs["revision"] = revision
    cfg["dataset_kwargs"] = kwargs
    return cfg


def load_task(spec: str, data: Path | None = None, revision: str | None = None):
    """An lm-eval `ConfigurableTask` for `spec` (see `task_config`)."""
    import logging

    from lm_eval.api.task import ConfigurableTask

    logging.getLogger("lm_eval").setLevel(logging.ERROR)
    import contextlib
    import sys

    try:
        with contextlib.redirect_stdout(sys.stderr):
            return ConfigurableTask(config=task_config(spec, data, revision))
    except CurateError:
        raise
    except Exception as e:  # noqa: BLE001 - datasets / jinja errors: one line naming the task
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise CurateError(f"harness task {spec}: {first}") from None


@dataclass
class HarnessDoc:
    """One document of one task: what scoring needs (`task`, `doc`, `doc_id`)."""
    task: Any
    doc: dict
    doc_id: int
    subset: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def output_type(self) -> str:
        return self.task.OUTPUT_TYPE


def docs(task, limit: int | None = None) -> list[tuple[int, dict]]:
    """(doc_id, doc) of the task's evaluation split, the first `limit`."""
    out = []
    for i, d in enumerate(task.eval_docs):
        if limit is not None and i >= limit:
            break
        out.append((i, d))
    return out


def _capture(messages, add_generation_prompt: bool = True) -> str:
    return json.dumps(messages)


def user_prompt(task, doc: dict) -> str:
    """The user turn lm-eval would send with `--apply_chat_template` (few-shot collapsed into
    one message); a system part (the task's description) is put before it."""
    n = task.config.num_fewshot or 0
    msgs = json.loads(task.fewshot_context(doc, n, apply_chat_template=True,
                                           fewshot_as_multiturn=False, chat_template=_capture))
    system = "\n\n".join(m["content"] for m in msgs if m["role"] == "system")
    user = "".join(m["content"] for m in msgs if m["role"] == "user")
    return f"{system}\n\n{user}" if system else user


def plain_context(task, doc: dict) -> str:
    """The task's context without a chat template (base-model style)."""
    return task.fewshot_context(doc, task.config.num_fewshot or 0)


def generation_kwargs(task) -> dict[str, Any]:
    """The task's own generation settings (`until`, `max_gen_toks`, `do_sample`, ...)."""
    return dict(task.config.generation_kwargs or {})


def stops(task) -> list[str]:
    until = generation_kwargs(task).get("until") or []
    return [until] if isinstance(until, str) else [u for u in until if u]


def answer_text(task, text: str, think: str = "strip") -> str:
    """The answer the task scores: thinking removed (``strip``: after the last ``</think>``,
    the whole text when there is none; ``raw``: untouched), then cut at the first of the
    task's `until` strings, as lm-eval cuts a generation."""
    from curate.probes.scoring import answer_part_whole

    t = answer_part_whole(text) if think == "strip" else (text or "")
    for s in stops(task):
        t = t.split(s)[0]
    return t


def _filters(task) -> list:
    return list(getattr(task, "_filters", None) or [])


def score_generations(task, items: Sequence[tuple[int, dict]], answers: Sequence[Sequence[str]],
                      ) -> list[list[dict[str, Any]]]:
    """Per document, per sample: {filter: {metric: value}, "_filtered": {filter: response}}
    from the task's filters and `process_results` on the answers (already think-stripped
    and cut, see `answer_text`)."""
    from lm_eval.api.instance import Instance

    k = max((len(a) for a in answers), default=0)
    out: list[list[dict[str, Any]]] = [[{} for _ in a] for a in answers]
    name = task.config.task
    for s in range(k):
        batch = []
        for j, ((doc_id, doc), a) in enumerate(zip(items, answers)):
            if s < len(a):
                inst = Instance("generate_until", doc, ("", generation_kwargs(task)), 0,
                                (name, doc_id, 1))
                inst.resps = [a[s]]
                batch.append((j, inst))
        if not batch:
            continue
        for f in _filters(task):
            f.apply([inst for _, inst in batch])
        for j, inst in batch:
            res: dict[str, Any] = {"_filtered": dict(inst.filtered_resps)}
            for key, resp in inst.filtered_resps.items():
                res[key] = task.process_results(inst.doc, [resp])
            out[j][s] = res
    return out


def loglikelihood_requests(task, items: Sequence[tuple[int, dict]],
                           chat_template: Callable | None = None) -> list[list[Any]]:
    """Per document, lm-eval's requests (`Instance`s of (context, continuation)); with
    `chat_template` the context is rendered as lm-eval renders it with
    `--apply_chat_template` (few-shot collapsed into one user turn)."""
    name = task.config.task
    out = []
    for doc_id, doc in items:
        ctx = task.fewshot_context(doc, task.config.num_fewshot or 0,
                                   apply_chat_template=chat_template is not None,
                                   fewshot_as_multiturn=False, chat_template=chat_template)
        reqs = task.construct_requests(doc=doc, ctx=ctx, metadata=(name, doc_id, 1))
        out.append(reqs if isinstance(reqs, list) else [reqs])
    return out


def score_loglikelihoods(task, items: Sequence[tuple[int, dict]], requests: list[list[Any]],
                         results: list[list[tuple[float, bool]]]) -> list[dict[str, Any]]:
    """Per document: {filter: {metric: value}} from the task's `process_results` on the
    (log-likelihood, is-greedy) of each request."""
    out = []
    for (_doc_id, doc), reqs, res in zip(items, requests, results):
        for inst, r in zip(reqs, res):
            inst.resps = [r]
        for f in _filters(task):
            f.apply(reqs)
        key = next(iter(reqs[0].filtered_resps), "none") if reqs else "none"
        got = task.process_results(doc, [inst.filtered_resps.get(key, inst.resps[0])
                                         for inst in reqs])
        out.append({key: got, "_loglikelihoods": [list(map(float, r[:1])) + [bool(r[1])]
                                                  for r in res]})
    return out


def hf_loglikelihood(model, tokenizer, requests: list[Any], batch_size: int = 8,
                     ) -> list[tuple[float, bool]]:
    """lm-eval's `HFLM.loglikelihood` on an already-loaded transformers model."""
    _require()
    from lm_eval.models.huggingface import HFLM

    lm = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=batch_size,
              device=str(next(model.parameters()).device))
    return [tuple(x) for x in lm.loglikelihood(requests, disable_tqdm=True)]


def hf_chat_template(tokenizer) -> Callable | None:
    """The renderer lm-eval's HFLM uses for `--apply_chat_template` (None without a
    template)."""
    if not getattr(tokenizer, "chat_template", None):
        return None

    def render(history, add_generation_prompt: bool = True) -> str:
        return tokenizer.apply_chat_template(history, tokenize=False,
                                             add_generation_prompt=add_generation_prompt,
                                             continue_final_message=not add_generation_prompt)

    return render


def metric_keys(task) -> list[str]:
    """The task's metrics in config order."""
    return list(task.aggregation())


def aggregate(task, per_sample: Sequence[dict[str, Any]]) -> dict[str, float]:
    """The task's own aggregation of each metric over samples ({metric: value}, the first
    filter's), e.g. `mean`, IFEval's instruction-level mean, MC-TACO's F1."""
    aggs = task.aggregation()
    out: dict[str, float] = {}
    if not per_sample:
        return out
    key = next((k for k in per_sample[0] if not k.startswith("_")), None)
    if key is None:
        return out
    for m, fn in aggs.items():
        vals = [r[key][m] for r in per_sample if key in r and m in r[key]]
        if vals:
            out[m] = float(fn(vals))
    return out


def check_output_type(task, spec: str) -> str:
    t = task.OUTPUT_TYPE
    if t not in ("generate_until", *LL_TYPES):
        raise BadInput(f"harness task {spec}: output type {t!r} is not supported")
    return t
