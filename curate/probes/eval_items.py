"""Benchmark rows -> evaluation items (question, gold, kind, options in a fixed order).

Rows come from the benchmark registry (`curate.corpora.benchmarks.load_benchmark`) or, for a
local suite, from a file. Multiple-choice options are shuffled with a seeded hash of the
question id (never Python's process-salted `hash()`), so the order is the same on every run.
"""

from __future__ import annotations

import hashlib
import os
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from curate.errors import BadInput, CurateError
from curate.probes.suites import BenchSetting

LETTERS = "ABCDEFGHIJ"


class NoLocalData(CurateError):
    """A benchmark with no local copy while the hub cannot be reached."""


@dataclass
class EvalItem:
    id: str
    problem: str
    reference: str              # math: gold answer; mcq: letter; countdown: JSON numbers/target
    kind: str                   # math | mcq | countdown | harness | code | reward | judge
    options: list[str] | None = None
    meta: dict = field(default_factory=dict, repr=False)   # scorer inputs, never written


OPTION_ORDERS = ("seeded", "p1-fixed", "p3-hash")


def option_order(item_id: str, n: int, seed: int, mode: str = "seeded",
                 question: str | None = None) -> list[int]:
    """A permutation of n options: option `order[j]` is shown as letter j.

    - ``seeded`` (curate's default): ``random.Random(sha256(f"{seed}:{id}")[:8])``, the same
      in every process and on every machine.
    - ``p1-fixed``: P1's EvalChemy GPQA order, ``random.Random(42).shuffle([correct, wrong1,
      wrong2, wrong3])`` for every question (P1-code ``GPQADiamond/eval_instruct.py``):
      deterministic, reproduced exactly.
    - ``p3-hash``: P3's order, ``random.Random(42 + hash(question) % 10000)`` (P3-code
      ``GPQADiamond/eval_instruct.py``). Python salts ``hash()`` per process, so P3's own order
      is not reproducible; this mode reproduces what their code does under a fixed
      ``PYTHONHASHSEED`` and refuses to run without one (run ``PYTHONHASHSEED=0 curate eval
      ...``; the value is recorded in the eval's config).
    """
    if mode == "p1-fixed":
        rnd = random.Random(42)
    elif mode == "p3-hash":
        if os.environ.get("PYTHONHASHSEED") in (None, "", "random"):
            raise BadInput("option order p3-hash uses Python's salted hash(): set "
                           "PYTHONHASHSEED (e.g. PYTHONHASHSEED=0) so the order is "
                           "reproducible, or use the stable `seeded` order")
        rnd = random.Random(42 + hash(question or "") % 10000)
    elif mode == "seeded":
        h = hashlib.sha256(f"{seed}:{item_id}".encode()).digest()
        rnd = random.Random(int.from_bytes(h[:8], "big"))
    else:
        raise BadInput(f"unknown option order {mode!r} ({', '.join(OPTION_ORDERS)})")
    order = list(range(n))
    rnd.shuffle(order)
    return order


def letter_list(n: int, oxford: bool = True) -> str:
    """The letters of n options as a prompt names them: "A, B, C, or D" (the papers' GPQA
    wording for four); ``oxford=False`` gives "A, B, ..., I or J" (P3's MMLU-Pro wording)."""
    if not 1 <= n <= len(LETTERS):
        raise BadInput(f"multiple choice needs 1 to {len(LETTERS)} options, got {n}")
    if n == 1:
        return "A"
    head = ", ".join(LETTERS[:n - 1])
    return f"{head}{',' if oxford and n > 2 else ''} or {LETTERS[n - 1]}"


def _first(row: dict[str, Any], *keys: str) -> Any:
    for k in keys:
        if row.get(k) not in (None, ""):
            return row[k]
    return None


def row_to_item(row: dict[str, Any], index: int, setting: BenchSetting,
                source: str | None = None) -> EvalItem:
    """One benchmark row in any common shape -> EvalItem (MCQ options shuffled if asked)."""
    item_id = str(_first(row, "id", "unique_id", "problem_id", "Record ID") or index)
    kind = setting.kind
    if kind == "auto":
        kind = str(row.get("task") or row.get("kind") or "")
        if kind not in ("math", "mcq", "countdown"):
            kind = "countdown" if "numbers" in row and "target" in row else (
                "mcq" if _first(row, "options", "choices", "Correct Answer") else "math")
    problem = _first(row, "problem", "question", "Question", "prompt")
    if problem is None:
        raise BadInput("row has no problem/question/prompt", file=source, row=index)
    if kind == "countdown":
        ref = row.get("reference")
        if "numbers" in row and "target" in row:
            nums = row["numbers"]
            ref = {"numbers": list(nums) if isinstance(nums, (list, tuple)) else nums,
                   "target": row["target"]}
            if row.get("semantics") is not None:
                ref["semantics"] = row["semantics"]
        if not ref:
            raise BadInput("countdown row needs numbers and target", file=source, row=index)
        return EvalItem(item_id, str(problem), _countdown_reference(ref, source, index),
                        "countdown")
    if kind == "mcq":
        return _mcq_item(row, item_id, str(problem), setting, index, source)
    gold = _first(row, "answer", "reference", "final_answer", "gold")
    if gold is None:
        raise BadInput("row has no answer/reference", file=source, row=index)
    return EvalItem(item_id, str(problem), str(gold), "math")


def _countdown_reference(ref: Any, source: str | None, index: int) -> str:
    """The checked reference string (numbers, target, semantics); a malformed one is a
    one-line error naming the row, before anything is generated."""
    from curate.curation.verify_countdown import BadReference, make_reference, parse_reference

    try:
        r = parse_reference(ref)
    except BadReference as e:
        raise BadInput(f"bad countdown reference: {e}", file=source, row=index,
                       field="reference") from None
    return make_reference(r.numbers, r.target, r.semantics)


def _mcq_item(row, item_id, problem, setting, index, source) -> EvalItem:
    if row.get("Correct Answer") is not None:  # GPQA's own layout
        options = [row["Correct Answer"], row["Incorrect Answer 1"], row["Incorrect Answer 2"],
                   row["Incorrect Answer 3"]]
        correct = 0
    else:
        options = _first(row, "options", "choices")
        if not isinstance(options, list) or len(options) < 2:
            raise BadInput("multiple-choice row needs a list of options", file=source, row=index)
        ans = _first(row, "answer", "reference", "label")
        if isinstance(ans, int) or (isinstance(ans, str) and ans.isdigit()):
            correct = int(ans)
        elif isinstance(ans, str) and len(ans.strip()) == 1 and ans.strip().upper() in LETTERS:
            correct = LETTERS.index(ans.strip().upper())
        elif ans in options:
            correct = options.index(ans)
        else:
            raise BadInput(f"answer {ans!r} is not a letter, index or option", file=source,
                           row=index)
    options = [str(o).strip() for o in options]
    if len(options) > len(LETTERS):
        raise BadInput(f"{len(options)} options; at most {len(LETTERS)} are supported",
                       file=source, row=index)
    order = (option_order(item_id, len(options), setting.seed, setting.option_order, problem)
             if setting.shuffle_options else list(range(len(options))))
    shown = [options[i] for i in order]
    return EvalItem(item_id, problem, LETTERS[order.index(correct)], "mcq", shown)


def format_prompt(item: EvalItem, setting: BenchSetting) -> str:
    """The user turn: the setting's template over the problem (and lettered options)."""
    opts = ""
    if item.options:
        opts = ", ".join(f"{LETTERS[i]}) {o}" for i, o in enumerate(item.options))
    if item.kind == "math" or item.kind == "mcq":
        tmpl = setting.prompt
        if item.kind == "mcq" and "{options}" not in tmpl:
            from curate.probes.suites import P3_GPQA_PROMPT

            tmpl = P3_GPQA_PROMPT
        n = len(item.options or ())
        return tmpl.format(problem=item.problem, options=opts,
                           letters=letter_list(n) if n else "")
    return item.problem  # countdown prompts carry their own instructions


def _read_rows(path: Path) -> list[dict[str, Any]]:
    from curate.probes.texts import _read_file

    return _read_file(path)


def registry_rows(name: str) -> tuple[list[dict[str, Any]], str | None]:
    """(rows, domain group) of a registry benchmark; a clear error when it has no local data."""
    try:
        from curate.corpora import benchmarks as reg
    except ImportError:
        reg = None
    if reg is not None and hasattr(reg, "load_benchmark"):
        try:
            data = reg.load_benchmark(name)
        except CurateError as e:  # the registry's message names the benchmark and the paths
            raise NoLocalData(str(e) if name in str(e) else f"benchmark {name!r}: {e}") from None
        except (OSError, ConnectionError, ValueError) as e:
            raise NoLocalData(_offline_msg(name, str(e).splitlines()[0] if str(e) else "")) from None
        rows = data.to_list() if hasattr(data, "to_list") else list(data)
        return rows, _registry_group(reg, name)
    # No registry yet: local files only ($CURATE_BENCHMARK_DIR/<name>/*.jsonl).
    root = os.environ.get("CURATE_BENCHMARK_DIR")
    if root:
        for p in sorted(Path(root, name).glob("*.jsonl")) + sorted(Path(root).glob(f"{name}.jsonl")):
            return _read_rows(p), None
    raise NoLocalData(_offline_msg(name, "no registry and no local copy"))


def _registry_group(reg, name: str) -> str | None:
    for attr in ("get_benchmark", "benchmark_info", "get"):
        fn = getattr(reg, attr, None)
        if fn is None:
            continue
        try:
            info = fn(name)
        except Exception:  # an unknown name: the suite's own group applies
            return None
        if isinstance(info, dict):
            return info.get("group") or info.get("domain")
        return getattr(info, "group", None) or getattr(info, "domain", None)
    return None


def _offline_msg(name: str, detail: str) -> str:
    offline = os.environ.get("HF_HUB_OFFLINE") == "1" or os.environ.get("HF_DATASETS_OFFLINE") == "1"
    why = "the hub is offline (HF_HUB_OFFLINE=1)" if offline else "it could not be loaded"
    return (f"benchmark {name!r} has no local data and {why}"
            + (f": {detail}" if detail else "")
            + "; use a local suite (local:FILE) or register a local copy")


def load_items(setting: BenchSetting, limit: int | None = None,
               ) -> tuple[list[EvalItem], str | None]:
    """(items, domain group) of one suite entry; `limit` keeps the first N problems (of each
    subset, for benchmarks made of several)."""
    from curate.probes.bench_items import load_special

    special = load_special(setting, limit)
    if special is not None:
        if not special:
            raise BadInput("benchmark has no rows", file=setting.benchmark)
        from curate.corpora.benchmarks import get_benchmark

        return special, setting.group or get_benchmark(setting.benchmark).group
    if setting.path:
        rows = _read_rows(Path(setting.path))
        group = next((r.get("group") for r in rows if isinstance(r, dict) and r.get("group")),
                     None)
        source = setting.path
    else:
        rows, group = registry_rows(setting.benchmark)
        source = setting.benchmark
    if not rows:
        raise BadInput("benchmark has no rows", file=source)
    if limit is not None:
        rows = rows[:limit]
    items = [row_to_item(r, i, setting, source) for i, r in enumerate(rows)]
    return items, setting.group or group
