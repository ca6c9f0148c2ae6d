"""Prompt sources for teacher generation: catalog datasets, local files, Hub datasets.

Every source becomes the same rows: `problem_id`, `prompt`, `reference` (gold answer, may be
None), `source`, plus the untouched original fields in `metadata`. Field names differ between
the datasets the papers use, so a mapping picks them: explicit names first, then the known
names (OpenR1-Math-220k and NuminaMath use `problem`/`answer`, MATH has only a `solution`
whose last `\\boxed{}` is the answer).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from curate.errors import BadInput, CurateError
from curate.formats.boxed import last_boxed
from curate.formats.rows import read_objects
from curate.record import jsonable, problem_id_for, stable_json

PROMPT_FIELDS = ("prompt", "problem", "question", "query", "input", "instruction")
REFERENCE_FIELDS = ("reference", "answer", "final_answer", "gold", "expected_answer", "target")
SOLUTION_FIELDS = ("solution", "output")            # boxed answer extracted when no answer field
ID_FIELDS = ("problem_id", "id", "uuid", "unique_id", "idx")


@dataclass
class PromptSet:
    """Prompt rows plus where they came from (for lineage and the dataset card)."""

    rows: list[dict[str, Any]]
    source: str                                    # as given by the user
    parents: list[str] = field(default_factory=list)   # catalog specs the rows came from
    info: dict[str, Any] = field(default_factory=dict)  # revision, fields, sampling


def _pick(row: dict, explicit: str | None, candidates: tuple[str, ...]) -> str | None:
    if explicit:
        return explicit
    return next((c for c in candidates if c in row and row[c] not in (None, "")), None)


def normalise_rows(raw: list[dict[str, Any]], source: str, *, prompt_field: str | None = None,
                   reference_field: str | None = None, id_field: str | None = None,
                   file: str | None = None) -> list[dict[str, Any]]:
    """Map source rows to prompt rows; a row without a usable prompt is a one-line error."""
    out = []
    for i, row in enumerate(raw, start=1):
        if not isinstance(row, dict):
            raise BadInput(f"row is {type(row).__name__}, not an object", file=file or source, row=i)
        pf = _pick(row, prompt_field, PROMPT_FIELDS)
        prompt = row.get(pf) if pf else None
        if not isinstance(prompt, str) or not prompt.strip():
            want = prompt_field or "/".join(PROMPT_FIELDS[:3])
            what = "missing" if prompt in (None, "") else f"not text ({type(prompt).__name__})"
            raise BadInput(f"prompt {what}", file=file or source, row=i, field=want)
        rf = _pick(row, reference_field, REFERENCE_FIELDS)
        ref = row.get(rf) if rf else None
        if ref is None and not reference_field:
            sf = _pick(row, None, SOLUTION_FIELDS)
            ref = last_boxed(str(row[sf])) if sf else None
        if ref is not None and not isinstance(ref, str):
            ref = stable_json(ref) if isinstance(ref, (dict, list)) else str(ref)
        idf = _pick(row, id_field, ID_FIELDS)
        pid = row.get(idf) if idf else None
        pid = str(pid) if pid not in (None, "") else problem_id_for(prompt, source)
        extra = {k: v for k, v in row.items() if k not in {pf, rf, idf}}
        out.append({"problem_id": pid, "prompt": prompt, "reference": ref,
                    "source": row.get("source") if isinstance(row.get("source"), str) else source,
                    "metadata": stable_json(jsonable(extra))})
    seen: dict[str, int] = {}
    for i, r in enumerate(out, start=1):
        if r["problem_id"] in seen:
            raise BadInput(f"duplicate problem id {r['problem_id']!r} (also row {seen[r['problem_id']]})",
                           file=file or source, row=i, field=idf or "problem_id")
        seen[r["problem_id"]] = i
    return out


def load_prompts(source: str, catalog=None, *, n: int | None = None, seed: int = 0,
                 prompt_field: str | None = None, reference_field: str | None = None,
                 id_field: str | None = None, subset: dict[str, Any] | None = None,
                 ) -> PromptSet:
    """Rows of a prompt source: a catalog dataset, a JSONL/JSON/Parquet/CSV file or `hf:...`.

    `subset` keeps rows whose original fields equal the given values (e.g. {"source":
    "olympiads"}); `n` then draws that many rows with `seed` (the same seed, the same rows).

    Returns a `PromptSet(rows, source, parents, info)`; rows are
    `{problem_id, prompt, reference, source, metadata}`. Raises BadInput (no prompt field
    found, a bad row naming file, row and field), NotFound (an unknown dataset or file).

    Example: ``load_prompts("hf:HuggingFaceH4/MATH-500:default:test", cat, n=100, seed=0)``.
    """
    from curate.corpora.hub import cache_for, is_hf_spec, load_hf, parse_hf_spec

    parents: list[str] = []
    info: dict[str, Any] = {}
    file = None
    if is_hf_spec(source):
        hs = parse_hf_spec(source)
        ds = load_hf(hs, cache_dir=cache_for(catalog, hs))
        raw = ds.to_list()
        info = {"hub": hs.repo, "config": hs.config, "split": hs.split or "train",
                "revision": hs.revision or _dataset_revision(ds), "fingerprint": ds._fingerprint}
        name = hs.repo
    elif catalog is not None and _is_catalog_name(catalog, source):
        ref = catalog.resolve(source)
        raw = catalog.table(ref).to_pylist()
        parents = [ref.spec]
        info = {"dataset": ref.spec}
        name = ref.name
    else:
        path = Path(source).expanduser()
        if not path.exists() and not path.is_symlink():
            raise BadInput(f"prompt source {source!r} is not a catalog dataset, a file or hf:ORG/NAME")
        raw = read_prompt_file(path)
        file = str(path)
        info = {"file": str(path.resolve()), "sha256": _file_hash(path)}
        name = path.stem
    if subset:
        raw = [r for r in raw if all(r.get(k) == v or str(r.get(k)) == str(v)
                                     for k, v in subset.items())]
        if not raw:
            raise CurateError(f"{source}: no rows match subset {subset}")
    rows = normalise_rows(raw, name, prompt_field=prompt_field, reference_field=reference_field,
                          id_field=id_field, file=file)
    if n is not None and n < len(rows):
        idx = sorted(random.Random(seed).sample(range(len(rows)), n))
        rows = [rows[i] for i in idx]
    info.update({"rows": len(rows), "n": n, "seed": seed, "subset": subset,
                 "fields": {"prompt": prompt_field, "reference": reference_field, "id": id_field}})
    return PromptSet(rows, source, parents, info)


def _is_catalog_name(catalog, source: str) -> bool:
    if "/" in source or source.endswith((".jsonl", ".json", ".parquet", ".csv", ".ndjson")):
        return False
    return catalog.exists(source)


def read_prompt_file(path: Path) -> list[dict[str, Any]]:
    """Rows of a local file: the shared readers (a directory, a malformed line, JSON nested too
    deep or an integer outside int64 is a one-line error naming file, row and field); the
    field checks are left to `normalise_rows`, which knows which field is the prompt."""
    rows = read_objects(path)
    if not rows:
        raise BadInput("no rows in file", file=str(path))
    return rows


def _file_hash(path: Path) -> str:
    import hashlib

    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]


def _dataset_revision(ds) -> str | None:
    """The Hub commit a loaded dataset came from, when `datasets` recorded it."""
    for f in (ds.cache_files or []):
        parts = Path(f.get("filename", "")).parts
        for i, p in enumerate(parts):
            if len(p) == 40 and all(c in "0123456789abcdef" for c in p):
                return p
            if p == "snapshots" and i + 1 < len(parts):
                return parts[i + 1]
    return None
