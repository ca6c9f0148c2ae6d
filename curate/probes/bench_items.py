"""Evaluation items of benchmarks scored by something other than an answer match: tasks of
lm-evaluation-harness (`harness`), LiveCodeBench (`code`), AlpacaEval (`reward`), HEx-PHI and
TruthfulQA (`judge`).

Each item's `meta` holds what its scorer needs (never written to the outputs): the harness
task and document, the code problem's tests, the judge's question.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from curate.errors import BadInput, CurateError
from curate.probes.eval_items import EvalItem, NoLocalData
from curate.probes.suites import BenchSetting

TRUTHFULQA_PROMPT = "\n\nQ: {question}"       # P3's truthfulqa_gen doc_to_text


def _registry(setting: BenchSetting):
    from curate.corpora.benchmarks import get_benchmark

    return get_benchmark(setting.benchmark)


def _source_rows(name: str) -> tuple[list[dict[str, Any]], str]:
    from curate.corpora.benchmarks import source_rows

    try:
        return source_rows(name)
    except BadInput:
        raise
    except CurateError as e:
        raise NoLocalData(str(e) if name in str(e) else f"benchmark {name!r}: {e}") from None


def harness_specs(setting: BenchSetting, b) -> tuple[tuple[str, str], ...]:
    """(subset, task spec) pairs: the setting's own (`extra["harness"]`) or the registry's."""
    own = setting.extra.get("harness")
    return tuple(tuple(x) for x in own) if own else b.harness


def harness_items(setting: BenchSetting, limit: int | None) -> list[EvalItem]:
    """One item per task document (the first `limit` of each subset); the user turn is the
    task's own context as lm-eval renders it with `--apply_chat_template`."""
    from curate.probes import harness

    b = _registry(setting)
    local = b.local_files() or {}
    tmp_data = None
    if not local and b.derived_from:          # e.g. mmlu-pro-1k cut from a local mmlu-pro
        rows, _ = _source_rows(b.name)
        tmp_data = _materialise(rows)
    items: list[EvalItem] = []
    for subset, spec in harness_specs(setting, b):
        data = local.get(subset) or local.get("") or tmp_data
        if data is None and _offline():
            from curate.corpora.benchmarks import expected_local

            raise NoLocalData(f"benchmark {b.name!r} has no local copy and the hub is offline "
                              "(HF_HUB_OFFLINE=1); offline, put a copy at "
                              f"$CURATE_BENCHMARK_DIR/{expected_local(b)}")
        task = harness.load_task(spec, Path(data) if data else None, b.revision)
        harness.check_output_type(task, spec)
        for doc_id, doc in harness.docs(task, limit):
            hd = harness.HarnessDoc(task, doc, doc_id, subset)
            own = str(doc.get("id", doc_id)) if b.derived_from else str(doc_id)
            iid = f"{subset}/{own}" if subset else own
            prompt = harness.user_prompt(task, doc) \
                if task.OUTPUT_TYPE == "generate_until" else harness.plain_context(task, doc)
            target = task.doc_to_target(doc)
            items.append(EvalItem(iid, prompt, str(target), "harness", None,
                                  meta={"harness": hd, "spec": spec}))
    return items


def _offline() -> bool:
    import os

    return os.environ.get("HF_HUB_OFFLINE") == "1" or os.environ.get("HF_DATASETS_OFFLINE") == "1"


def _materialise(rows: list[dict[str, Any]]) -> str:
    """Rows written to a temporary Parquet file for lm-eval's `parquet` loader."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    d = tempfile.mkdtemp(prefix="curate-bench-")
    path = Path(d) / "test.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path)
    return str(path)


def code_items(setting: BenchSetting, limit: int | None) -> list[EvalItem]:
    """LiveCodeBench problems with EvalChemy's prompt; the tests stay in `meta`."""
    from curate.probes import livecodebench as lcb

    rows, where = _source_rows(setting.benchmark)
    rows = rows[:limit] if limit is not None else rows
    items = []
    for i, r in enumerate(rows):
        prob = lcb.problem_from_row(r, where, i + 1)
        items.append(EvalItem(prob.question_id, lcb.prompt_for(r), prob.question_id, "code",
                              meta={"code": prob, "difficulty": r.get("difficulty")}))
    return items


def prompt_items(setting: BenchSetting, limit: int | None, kind: str) -> list[EvalItem]:
    """AlpacaEval / HEx-PHI / TruthfulQA: the instruction (or question) is the user turn."""
    rows, where = _source_rows(setting.benchmark)
    rows = rows[:limit] if limit is not None else rows
    b = _registry(setting)
    items = []
    for i, r in enumerate(rows):
        if b.name == "truthfulqa":
            q = str(r.get("question") or "").strip()
            if not q:
                raise BadInput("no question", file=where, row=i + 1, field="question")
            items.append(EvalItem(str(r.get("id", i)), TRUTHFULQA_PROMPT.format(question=q),
                                  str(r.get("best_answer") or ""), kind,
                                  meta={"question": q}))
            continue
        text = r.get("instruction") or r.get("prompt") or r.get("Behavior")
        if not isinstance(text, str) or not text.strip():
            raise BadInput("no instruction", file=where, row=i + 1, field="instruction")
        items.append(EvalItem(str(r.get("id", i)), text, "", kind,
                              meta={"category": r.get("category") or r.get("dataset")}))
    return items


def load_special(setting: BenchSetting, limit: int | None) -> list[EvalItem] | None:
    """Items of a registry benchmark scored by a harness, a sandbox, a reward model or a
    judge; None for the answer-matching kinds (math, mcq, countdown)."""
    if setting.path:
        return None
    try:
        b = _registry(setting)
    except CurateError:
        return None
    if b.kind == "harness":
        return harness_items(setting, limit)
    if b.kind == "code":
        return code_items(setting, limit)
    if b.kind in ("reward", "judge"):
        return prompt_items(setting, limit, b.kind)
    return None
