"""Lengths for the dataset card in the unit training uses: tokens of the whole conversation
(chat template applied) with the teacher's tokenizer or a named one, and where the common
`--max-length` values cut. Without a tokenizer the card says words, and says why.

A tokenizer is only read from a local folder or the local Hugging Face cache (never
downloaded while exporting); the teacher's is found from the generate step's `teacher`
(`vllm:ORG/NAME`, `transformers:PATH`, ...) or the rows' `metadata.model`.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pyarrow as pa

MAX_LENGTHS = (2048, 4096, 8192, 16384, 32768)
SAMPLE_ROWS = 20_000     # rows measured per config (seeded sample beyond this)


def teacher_models(lineage: list[dict[str, Any]], table: pa.Table | None = None) -> list[str]:
    """Model names or folders the teacher(s) of this data ran, most likely first."""
    out: list[str] = []
    for e in lineage:
        if e.get("step") != "generate":
            continue
        t = str((e.get("params") or {}).get("teacher") or "")
        kind, _, target = t.partition(":")
        if kind in ("vllm", "sglang", "transformers") and target:
            out.append(target)
    if table is not None and "metadata" in table.column_names and len(table):
        for m in table.column("metadata").slice(0, 50).to_pylist():
            try:
                d = json.loads(m) if isinstance(m, str) and m else {}
            except ValueError:
                d = {}
            for k in ("local_path", "model"):
                if isinstance(d, dict) and d.get(k):
                    out.append(str(d[k]))
    return list(dict.fromkeys(out))


def load_tokenizer(spec: str | None, candidates: list[str]) -> tuple[Any | None, str]:
    """(tokenizer or None, what it is). `spec`: "none" (words), a model name or folder, or
    None / "teacher" (the first teacher candidate that loads locally)."""
    if spec == "none":
        return None, "no tokenizer asked for (--tokenizer none)"
    names = candidates if spec in (None, "teacher") else [spec]
    if not names:
        return None, "no teacher model to take a tokenizer from (pass --tokenizer NAME)"
    from transformers import AutoTokenizer

    for name in names:
        try:
            return AutoTokenizer.from_pretrained(name, local_files_only=True), name
        except Exception:  # noqa: BLE001 - any failure to load means: try the next, else words
            continue
    why = f"tokenizer {names[0]!r} is not available locally"
    if spec in (None, "teacher"):
        why += " (pass --tokenizer NAME)"
    return None, why


def conversation_tokens(tok, table: pa.Table, seed: int = 0) -> np.ndarray:
    """Tokens of each row's whole conversation (`messages` through the chat template, or
    the turns joined when the tokenizer has none), on a seeded sample of at most
    SAMPLE_ROWS rows."""
    n = table.num_rows
    idx = np.arange(n)
    if n > SAMPLE_ROWS:
        idx = np.sort(np.random.default_rng(seed).choice(n, SAMPLE_ROWS, replace=False))
    if "messages" not in table.column_names:
        return np.zeros(0, dtype=np.int64)
    msgs = table.column("messages").take(pa.array(idx)).to_pylist()
    texts = []
    for m in msgs:
        m = m or []
        if getattr(tok, "chat_template", None):
            try:
                texts.append(tok.apply_chat_template(m, tokenize=False))
                continue
            except Exception:  # noqa: BLE001 - a template that refuses these turns: join them
                pass
        texts.append("\n".join(str(x.get("content") or "") for x in m))
    lens = []
    for lo in range(0, len(texts), 512):
        enc = tok(texts[lo:lo + 512], add_special_tokens=False)["input_ids"]
        lens.extend(len(e) for e in enc)
    return np.asarray(lens, dtype=np.int64)


def cut_rows(lengths: dict[str, np.ndarray], limits=MAX_LENGTHS) -> list[list[Any]]:
    """Per config: rows longer than each common --max-length (count and share)."""
    out = []
    for name, v in lengths.items():
        if not len(v):
            continue
        row: list[Any] = [name, len(v)]
        for L in limits:
            over = int((v > L).sum())
            row.append(f"{over} ({100 * over / len(v):.1f}%)")
        out.append(row)
    return out
