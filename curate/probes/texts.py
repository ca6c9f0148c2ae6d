"""Texts the probes run on: a catalog dataset, a local JSONL / JSON / Parquet file, or
``benchmark:NAME`` from the benchmark registry; several sources may be joined by commas.

Accepted row shapes (the first that fits wins):
- ``input`` / ``output``: the released KL format (``input`` already chat-templated);
- ``prompt`` / ``response``;
- a trace row: ``prompt`` + ``reasoning`` / ``answer_text`` (the response is rebuilt with its
  ``<think>`` block);
- ``messages``: the last user turn is the prompt, the last assistant turn the response;
- ``text``: a plain text (no prompt/response split);
- ``prompt`` (or ``messages`` with no assistant turn) alone: the KL and rank-shift probes have
  the fine-tuned model answer it first (P1 scores the model's own responses);
- ``problem`` (or ``question``) with ``solution`` / ``answer``: a benchmark row, joined with two
  spaces as the released PCA probe does (PCA shift only: there is no response to score).
A ``task`` (or ``benchmark``) field groups rows per task; otherwise the source's name is used.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from curate.errors import BadInput, NotFound
from curate.record import THINK_CLOSE, THINK_OPEN


@dataclass
class ProbeText:
    task: str
    prompt: str          # the user turn, or an already templated input when `rendered`
    response: str
    text: str            # the whole text (PCA uses it)
    rendered: bool = False


def _read_file(path: Path) -> list[dict[str, Any]]:
    """Rows of a texts file through the shared readers (`curate.formats.rows.read_objects`):
    bad UTF-8, deep nesting, NaN or a broken Parquet file is one line naming file and row."""
    from curate.formats.rows import read_objects

    if path.suffix.lower() not in (".jsonl", ".ndjson", ".json", ".parquet"):
        raise BadInput("texts must be .jsonl, .json or .parquet", file=str(path))
    return read_objects(path)


# Columns the released PCA probe joins (two spaces) per benchmark (analyse_PCA_Shift.py).
PCA_COLUMNS = {
    "math500": ("problem", "solution", "answer"),
    "aime24": ("problem", "solution"),
    "aime25": ("problem", "answer"),
    "gpqa-diamond": ("Pre-Revision Question", "Pre-Revision Correct Answer",
                     "Pre-Revision Incorrect Answer 1", "Pre-Revision Incorrect Answer 2",
                     "Pre-Revision Incorrect Answer 3", "Pre-Revision Explanation"),
    "livecodebench": ("question_content", "public_test_cases"),
}


def released_text(name: str, row: dict[str, Any]) -> str | None:
    """The released PCA text of a registry benchmark row, None when no column is known."""
    cols = [c for c in PCA_COLUMNS.get(name, ()) if c in row and row[c] is not None]
    return "  ".join(str(row[c]) for c in cols) if cols else None


def load_rows(source: str, catalog=None) -> tuple[str, list[dict[str, Any]]]:
    """(name, rows) of a local file, a catalog dataset spec or ``benchmark:NAME`` (registry)."""
    if source.startswith("benchmark:"):
        from curate.corpora.benchmarks import get_benchmark, load_benchmark

        name = source[len("benchmark:"):]
        rows = load_benchmark(name)
        canonical = get_benchmark(name).name
        out = []
        for r in rows:
            q = r.get("problem") or r.get("question")
            text = released_text(canonical, r)
            out.append({"task": canonical, "text": text} if text else
                       {"task": canonical, "problem": q, "solution": r.get("solution"),
                        "answer": r.get("answer")})
        return canonical, out
    p = Path(source)
    if p.is_file():
        return p.stem, _read_file(p)
    if p.suffix.lower() in (".jsonl", ".json", ".parquet", ".ndjson") or "/" in source:
        raise NotFound(f"texts file {source!r} not found")
    if catalog is None:
        from curate.catalog import Catalog

        catalog = Catalog()
    ref = catalog.resolve(source)  # raises NotFound with the known names
    return ref.name, catalog.table(ref).to_pylist()


def to_probe_text(row: dict[str, Any], default_task: str, index: int = 0,
                  file: str | None = None) -> ProbeText:
    """One row in any accepted shape -> ProbeText."""
    if not isinstance(row, dict):
        raise BadInput("each row must be an object", file=file, row=index)
    task = str(row.get("task") or row.get("benchmark") or default_task)
    if row.get("input") is not None and row.get("output") is not None:
        prompt, resp = str(row["input"]), str(row["output"])
        return ProbeText(task, prompt, resp, prompt + resp, rendered=True)
    if row.get("prompt") is not None and row.get("response") is not None:
        prompt, resp = str(row["prompt"]), str(row["response"])
        return ProbeText(task, prompt, resp, f"{prompt}  {resp}")
    if row.get("prompt") is not None and (row.get("reasoning") or row.get("answer_text")):
        answer = (row.get("answer_text") or "").strip()
        resp = (f"{THINK_OPEN}\n{row['reasoning'].strip()}\n{THINK_CLOSE}\n\n{answer}"
                if row.get("reasoning") else answer)
        return ProbeText(task, str(row["prompt"]), resp, f"{row['prompt']}  {resp}")
    msgs = row.get("messages")
    if msgs:
        users = [m["content"] for m in msgs if m.get("role") == "user"]
        bots = [m["content"] for m in msgs if m.get("role") == "assistant"]
        if users and bots:
            return ProbeText(task, users[-1], bots[-1], f"{users[-1]}  {bots[-1]}")
        if users:  # a prompt only: the KL / rank probes have the model answer it
            return ProbeText(task, users[-1], "", users[-1])
    if row.get("text") is not None:
        return ProbeText(task, "", str(row["text"]), str(row["text"]))
    if row.get("prompt") is not None:  # a prompt only (as above)
        return ProbeText(task, str(row["prompt"]), "", str(row["prompt"]))
    problem = row.get("problem") if row.get("problem") is not None else row.get("question")
    if problem is not None:
        # Benchmark rows: the released PCA probe joins problem, solution and answer with two
        # spaces (MATH-500 layout); no response to score.
        parts = [str(problem)] + [str(row[k]) for k in ("solution", "answer")
                                  if row.get(k) not in (None, "")]
        return ProbeText(task, str(problem), "", "  ".join(parts))
    raise BadInput("row has none of the text fields: text, prompt/response, input/output, "
                   "messages, problem", file=file, row=index)


def load_texts(source: str, catalog=None, need_response: bool = False) -> list[ProbeText]:
    """All rows of `source` (several sources joined by commas) as ProbeTexts.

    `need_response` rejects rows without a response (the KL and rank probes score responses).
    """
    out: list[ProbeText] = []
    for src in [s.strip() for s in source.split(",") if s.strip()]:
        name, rows = load_rows(src, catalog)
        if not rows:
            raise BadInput("no rows", file=src)
        out += [to_probe_text(r, name, i, src) for i, r in enumerate(rows, 1)]
    if need_response:
        out = [t for t in out if t.response]  # an empty response has no tokens to score
        if not out:
            raise BadInput("this probe scores responses: rows need prompt/response (or "
                           "input/output, messages) with a non-empty response", file=source)
    return out


def by_task(texts: list[ProbeText]) -> dict[str, list[ProbeText]]:
    """Rows grouped per task, in first-seen order."""
    groups: dict[str, list[ProbeText]] = {}
    for t in texts:
        groups.setdefault(t.task, []).append(t)
    return groups
