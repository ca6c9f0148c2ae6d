"""The benchmark registry: name -> where its rows live, what kind of answer it has, and its
domain group (math / other / non), shared by decontamination, coverage and evaluation.

`load_benchmark(name)` returns plain rows with at least `id`, `question`, `answer` (plus
`problem`, the same text, and the source's own fields). A local copy (``$CURATE_BENCHMARK_DIR``
or ``../shared/data`` beside the repo) is used when present so tests work offline; otherwise the
pinned Hub dataset is loaded with `datasets`. ``file:PATH[:field]`` loads any local
JSONL / JSON / Parquet / CSV file as a benchmark.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from curate.errors import BadInput, CurateError, NotFound

REPO = Path(__file__).resolve().parents[2]
QUESTION_FIELDS = ("question", "problem", "Question", "prompt", "question_content", "input")
ANSWER_FIELDS = ("answer", "Correct Answer", "reference", "gold", "final_answer", "solution")


@dataclass(frozen=True)
class Benchmark:
    """One registry entry. `local` are file names tried under the local data folders."""
    name: str
    hub_id: str | None
    config: str | None
    split: str
    question_field: str
    answer_field: str | None
    kind: str                      # math | mcq | code
    group: str                     # math | other | non
    local: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    revision: str | None = None
    load_kwargs: dict = field(default_factory=dict)

    def info(self) -> dict[str, Any]:
        return {"name": self.name, "hub_id": self.hub_id, "config": self.config,
                "split": self.split, "question_field": self.question_field,
                "answer_field": self.answer_field, "kind": self.kind, "group": self.group,
                "local": self.local_path() and str(self.local_path())}

    def local_path(self) -> Path | None:
        for root in local_roots():
            for rel in self.local:
                p = root / rel
                if p.is_file():
                    return p
        return None


REGISTRY: dict[str, Benchmark] = {b.name: b for b in [
    Benchmark("math500", "HuggingFaceH4/MATH-500", None, "test", "problem", "answer", "math",
              "math", local=("math500/math500_test.jsonl", "math500.jsonl"),
              aliases=("math-500", "MATH-500", "MATH500")),
    Benchmark("aime24", "HuggingFaceH4/aime_2024", None, "train", "problem", "answer", "math",
              "math", local=("aime24/aime24_test.jsonl", "aime24.jsonl"),
              aliases=("aime-2024", "aime_2024", "AIME24", "AIME-2024")),
    Benchmark("aime25", "yentinglin/aime_2025", None, "train", "problem", "answer", "math",
              "math", local=("aime25/aime25_test.jsonl", "aime25.jsonl"),
              aliases=("aime-2025", "aime_2025", "AIME25", "AIME-2025")),
    Benchmark("gpqa-diamond", "Idavidrein/gpqa", "gpqa_diamond", "train", "Question",
              "Correct Answer", "mcq", "other",
              local=("gpqa-diamond/gpqa_diamond.jsonl", "gpqa-diamond.jsonl"),
              aliases=("gpqa", "gpqa_diamond", "GPQA-Diamond", "GPQA-D")),
    Benchmark("livecodebench", "livecodebench/code_generation_lite", None, "test",
              "question_content", None, "code", "other",
              local=("livecodebench/livecodebench.jsonl", "livecodebench.jsonl"),
              aliases=("lcb", "LiveCodeBench", "lcb-v4-v5"),
              load_kwargs={"version_tag": "v4_v5"}),
    Benchmark("mmlu-pro", "TIGER-Lab/MMLU-Pro", None, "test", "question", "answer", "mcq",
              "other", local=("mmlu-pro/mmlu_pro.jsonl", "mmlu-pro.jsonl"),
              aliases=("mmlu_pro", "MMLU-Pro", "mmlupro")),
]}

_ALIASES = {a.lower(): b.name for b in REGISTRY.values() for a in (b.name, *b.aliases)}


def local_roots() -> list[Path]:
    """Folders searched for local benchmark copies, in order."""
    roots = []
    for env in ("CURATE_BENCHMARK_DIR", "CURATE_SHARED_DATA"):
        if os.environ.get(env):
            roots.append(Path(os.environ[env]))
    roots.append(REPO.parent / "shared" / "data")
    return roots


def list_benchmarks() -> list[str]:
    """Canonical names of the registered benchmarks."""
    return sorted(REGISTRY)


def get_benchmark(name: str) -> Benchmark:
    """The registry entry for a name or alias; a clear error listing known names otherwise."""
    if name.startswith("file:"):
        path, fld = _file_spec(name)
        return Benchmark(name, None, None, "file", fld or "question", "answer", "math", "math",
                         local=(str(path),))
    key = _ALIASES.get(name.lower())
    if key is None:
        raise NotFound(f"unknown benchmark {name!r}; known: {', '.join(list_benchmarks())} "
                       "(or file:PATH[:field])")
    return REGISTRY[key]


def _file_spec(spec: str) -> tuple[Path, str | None]:
    rest = spec[len("file:"):]
    fld = None
    p = Path(rest)
    if not p.exists() and ":" in rest:
        head, tail = rest.rsplit(":", 1)
        if Path(head).exists():
            p, fld = Path(head), tail
    if not p.exists():
        raise NotFound(f"benchmark file not found: {p}")
    return p, fld


def _read_local(path: Path) -> list[dict[str, Any]]:
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        return pq.read_table(path).to_pylist()
    if suffix == ".csv":
        import csv

        with open(path, newline="", encoding="utf-8") as f:
            return list(csv.DictReader(f))
    text = path.read_text(encoding="utf-8")
    if suffix == ".json":
        data = json.loads(text)
        if isinstance(data, dict):
            data = next((v for v in data.values() if isinstance(v, list)), [data])
        return list(data)
    rows = []
    for i, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise BadInput(f"invalid JSON: {e.msg}", file=str(path), row=i) from None
    return rows


def _load_hub(b: Benchmark) -> list[dict[str, Any]]:
    try:
        import datasets

        ds = datasets.load_dataset(b.hub_id, b.config, split=b.split, revision=b.revision,
                                   **b.load_kwargs)
    except Exception as e:  # offline, missing, gated: one clear line
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise CurateError(
            f"benchmark {b.name!r}: no local copy (looked in {', '.join(map(str, local_roots()))})"
            f" and loading {b.hub_id} from the Hub failed: {first}") from None
    return ds.to_list()


def normalise_rows(rows: list[dict[str, Any]], b: Benchmark,
                   source: str | None = None) -> list[dict[str, Any]]:
    """Rows with `id`, `question`, `problem`, `answer` filled from the source's own fields."""
    out = []
    for i, r in enumerate(rows):
        if not isinstance(r, dict):
            raise BadInput("expected a JSON object", file=source, row=i + 1)
        q = r.get(b.question_field)
        if q in (None, ""):
            q = next((r[k] for k in QUESTION_FIELDS if r.get(k) not in (None, "")), None)
        if q is None:
            raise BadInput(f"no question field ({b.question_field})", file=source, row=i + 1)
        a = r.get(b.answer_field) if b.answer_field else None
        if a is None and b.answer_field is not None:
            a = next((r[k] for k in ANSWER_FIELDS if r.get(k) is not None), None)
        rid = next((r[k] for k in ("id", "unique_id", "question_id", "Record ID", "idx")
                    if r.get(k) not in (None, "")), i)
        row = dict(r)
        row.update(id=str(rid), question=str(q), problem=str(q),
                   answer=None if a is None else str(a), benchmark=b.name)
        out.append(row)
    return out


def load_benchmark(name: str) -> list[dict[str, Any]]:
    """Rows of a benchmark (local copy first, then the Hub)."""
    b = get_benchmark(name)
    path = b.local_path()
    if path is not None:
        return normalise_rows(_read_local(path), b, str(path))
    if b.hub_id is None:
        raise NotFound(f"benchmark file not found for {name!r}")
    return normalise_rows(_load_hub(b), b, b.hub_id)
