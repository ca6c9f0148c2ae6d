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


def stable_json(obj: Any) -> str:
    """Canonical JSON, so hashes and stored strings do not depend on dict order."""
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


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
    """TRL conversational messages for a variant: `cot` keeps the think block, `nocot` drops it."""
    msgs: list[dict[str, str]] = []
    if system:
        msgs.append({"role": "system", "content": system})
    msgs.append({"role": "user", "content": prompt})
    answer = (answer_text or "").strip()
    if variant == "cot" and reasoning:
        content = f"{THINK_OPEN}\n{reasoning.strip()}\n{THINK_CLOSE}\n\n{answer}"
    elif variant in ("cot", "nocot", "short"):
        content = answer
    else:
        raise ValueError(f"unknown variant {variant!r} (cot, nocot, short)")
    msgs.append({"role": "assistant", "content": content})
    return msgs


def split_think(text: str) -> tuple[str | None, str, bool]:
    """Split a completion into (reasoning, answer, think_closed).

    Handles an inline `<think>...</think>` block, and a completion that starts inside the
    block (templates that prefill `<think>`). An unclosed block is all reasoning.
    """
    t = text or ""
    open_at = t.find(THINK_OPEN)
    close_at = t.find(THINK_CLOSE)
    if close_at == -1:
        if open_at == -1:
            return None, t.strip(), True
        return t[open_at + len(THINK_OPEN):].strip(), "", False
    start = open_at + len(THINK_OPEN) if 0 <= open_at < close_at else 0
    return t[start:close_at].strip(), t[close_at + len(THINK_CLOSE):].strip(), True


def empty_trace(**fields: Any) -> dict[str, Any]:
    """A row with every trace field present (None where unknown)."""
    row = dict.fromkeys(TRACE_FIELDS)
    unknown = set(fields) - set(TRACE_FIELDS)
    if unknown:
        raise KeyError(f"unknown trace fields: {sorted(unknown)}")
    row.update(fields)
    return row
