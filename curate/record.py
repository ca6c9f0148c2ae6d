"""The trace record: one row per trace, shared by every step (see ARCHITECTURE.md)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pyarrow as pa

# Fields of a trace row. JSON-valued fields (sampling, verify_detail, metadata) are stored as
# strings so that rows from different teachers or tasks always share one Parquet schema.
TRACE_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("problem_id", pa.string()),
        ("task", pa.string()),
        ("source", pa.string()),
        ("prompt", pa.string()),
        ("reasoning", pa.string()),
        ("answer_text", pa.string()),
        ("final_answer", pa.string()),
        ("reference", pa.string()),
        ("verified", pa.bool_()),
        ("verify_detail", pa.string()),
        ("teacher", pa.string()),
        ("sampling", pa.string()),
        ("sample_index", pa.int64()),
        ("finish_reason", pa.string()),
        ("prompt_tokens", pa.int64()),
        ("completion_tokens", pa.int64()),
        ("metadata", pa.string()),
        (
            "messages",
            pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())])),
        ),
    ]
)

TRACE_FIELDS = [f.name for f in TRACE_SCHEMA]

THINK_OPEN, THINK_CLOSE = "<think>", "</think>"
# Sky-T1 / OpenThoughts / Bespoke-Stratos markers (the solution block is the visible answer)
THOUGHT_OPEN, THOUGHT_CLOSE = "<|begin_of_thought|>", "<|end_of_thought|>"
SOLUTION_OPEN, SOLUTION_CLOSE = "<|begin_of_solution|>", "<|end_of_solution|>"
# Every spelling of an inline think block: `<think>` (R1, QwQ, Qwen3), `<thinking>` (Claude-style
# and Reflection distills), `[THINK]` (Magistral), `<seed:think>` (Seed-OSS), `◁think▷` (Kimi).
THINK_PAIRS = ((THINK_OPEN, THINK_CLOSE), ("<thinking>", "</thinking>"), ("[THINK]", "[/THINK]"),
               ("<seed:think>", "</seed:think>"), ("\u25c1think\u25b7", "\u25c1/think\u25b7"))
THINK_MARKERS = tuple(m for pair in THINK_PAIRS for m in pair) + (
    THOUGHT_OPEN, THOUGHT_CLOSE, SOLUTION_OPEN, SOLUTION_CLOSE)


def stable_json(obj: Any) -> str:
    """Canonical JSON, so hashes and stored strings do not depend on dict order."""
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def jsonable(v: Any) -> Any:
    """`v` with dict keys as strings, tuples as lists and any non-JSON leaf as its `str`:
    metadata from arbitrary source columns, ready for `stable_json`."""
    if isinstance(v, dict):
        return {str(k): jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [jsonable(x) for x in v]
    if v is None or isinstance(v, (str, int, float, bool)):
        return v
    return str(v)


def trace_id(problem_id: str, teacher: str, sampling: dict | str, sample_index: int) -> str:
    """Stable id of a trace: hash of (problem id, teacher, sampling, sample index)."""
    s = sampling if isinstance(sampling, str) else stable_json(sampling)
    h = hashlib.sha256(stable_json([problem_id, teacher, s, sample_index]).encode())
    return h.hexdigest()[:24]


def problem_id_for(text: str, source: str = "") -> str:
    """A problem id derived from its content when the source gives none."""
    return hashlib.sha256(f"{source}\x00{text}".encode()).hexdigest()[:16]


def messages_for(prompt: str, reasoning: str | None, answer_text: str | None,
                 variant: str = "cot", system: str | None = None) -> list[dict[str, str]]:
    """TRL conversational messages for a variant: `cot` keeps the think block, `nocot` drops it
    (also one written inline in `answer_text`, which leaves an empty answer when it never
    closed)."""
    msgs: list[dict[str, str]] = []
    if system:
        msgs.append({"role": "system", "content": system})
    msgs.append({"role": "user", "content": prompt})
    answer = (answer_text or "").strip()
    if variant == "nocot" and has_think_markers(answer):   # an inline think block: never kept
        answer = split_think(answer)[1]
    if variant == "cot" and reasoning:
        content = f"{THINK_OPEN}\n{reasoning.strip()}\n{THINK_CLOSE}\n\n{answer}"
    elif variant in ("cot", "nocot", "short"):
        content = answer
    else:
        raise ValueError(f"unknown variant {variant!r} (cot, nocot, short)")
    msgs.append({"role": "assistant", "content": content})
    return msgs


def has_think_markers(text: str | None) -> bool:
    """True when `text` holds any thinking or solution marker (`<think>`, `</think>`, Sky-T1's
    `<|begin_of_thought|>` ... `<|end_of_solution|>`): a visible answer must hold none."""
    t = text or ""
    return any(m in t for m in THINK_MARKERS)


def split_think(text: str, prefilled: bool = False) -> tuple[str | None, str, bool]:
    """Split a completion into (reasoning, answer, think_closed).

    Two marker styles: an inline think block (`<think>...</think>` of R1, QwQ, Qwen3, or another
    spelling of `THINK_PAIRS`: `<thinking>`, `[THINK]`, `<seed:think>`, `◁think▷`), and Sky-T1 /
    OpenThoughts' `<|begin_of_thought|>...<|end_of_thought|>` followed by
    `<|begin_of_solution|>...<|end_of_solution|>` (the answer is the solution block). A
    completion may start inside the block (templates that prefill the opener): text before a
    closer is reasoning. An opened block that never closes is all reasoning, with an empty
    answer and `think_closed` False. With `prefilled` (the template opened the block for the
    model), text with no marker at all is unclosed reasoning too; without it, it is the answer.
    """
    t = text or ""
    if any(m in t for m in (THOUGHT_OPEN, THOUGHT_CLOSE, SOLUTION_OPEN)):
        return _split_thought(t)
    opener, closer = next(((o, c) for o, c in THINK_PAIRS if o in t or c in t), THINK_PAIRS[0])
    open_at = t.find(opener)
    close_at = t.find(closer)
    if close_at == -1:
        if open_at == -1:
            return (t.strip(), "", False) if prefilled and t.strip() else (None, t.strip(), True)
        return t[open_at + len(opener):].strip(), "", False
    start = open_at + len(opener) if 0 <= open_at < close_at else 0
    return t[start:close_at].strip(), t[close_at + len(closer):].strip(), True


def _split_thought(t: str) -> tuple[str | None, str, bool]:
    open_at, close_at, sol_at = t.find(THOUGHT_OPEN), t.find(THOUGHT_CLOSE), t.find(SOLUTION_OPEN)
    end = close_at if close_at != -1 else sol_at
    if end == -1:                                   # opened, never closed: all reasoning
        return t[open_at + len(THOUGHT_OPEN):].strip(), "", False
    start = open_at + len(THOUGHT_OPEN) if 0 <= open_at < end else 0
    reasoning = t[start:end].strip()
    rest = t[close_at + len(THOUGHT_CLOSE):] if close_at != -1 else t[sol_at:]
    s = rest.find(SOLUTION_OPEN)
    if s != -1:
        rest = rest[s + len(SOLUTION_OPEN):]
        e = rest.find(SOLUTION_CLOSE)
        rest = rest[:e] if e != -1 else rest
    else:
        rest = rest.replace(SOLUTION_CLOSE, "")
    return (reasoning if reasoning or close_at != -1 else None), rest.strip(), True


def empty_trace(**fields: Any) -> dict[str, Any]:
    """A row with every trace field present (None where unknown)."""
    row = dict.fromkeys(TRACE_FIELDS)
    unknown = set(fields) - set(TRACE_FIELDS)
    if unknown:
        raise KeyError(f"unknown trace fields: {sorted(unknown)}")
    row.update(fields)
    return row
