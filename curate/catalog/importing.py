"""`curate import`: a local file or a Hub dataset split registered as a new dataset version;
bad rows stop it, or with `skip_bad` go to `NAME-rejects` with their reasons. Reading and row
checks live in `curate.formats.rows`."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from curate.catalog.catalog import check_names
from curate.errors import BadInput
from curate.formats.rows import (  # noqa: F401  (re-exported: the importer's public readers)
    KINDS,
    MAX_ROW_BYTES,
    ImportResult,
    Rejected,
    UniqueIds,
    _table_rows,
    collect,
    file_rows,
    read_rows,
)
from curate.formats.traces import mapped_rows, parse_map, trace_rows
from curate.record import TRACE_FIELDS, TRACE_SCHEMA


def output_names(name: str, skip_bad: bool) -> list[str]:
    """Every dataset an import writes: NAME, and NAME-rejects when bad rows may be set aside."""
    return [name, f"{name}-rejects"] if skip_bad else [name]


def unique_ids(kind: str, name: str) -> UniqueIds:
    """The row check for duplicate ids: a trace's `id`; a problem's `problem_id` or `id`, else
    the id derived from its prompt (so the same prompt twice is a duplicate, as in
    `generate --prompts`)."""
    from curate.record import problem_id_for

    if kind == "traces":
        return UniqueIds(("id",))
    return UniqueIds(("problem_id", "id"), derive=lambda r: problem_id_for(r["prompt"], name),
                     what="prompt")


def _planned(source, kind: str, name: str, mapping, layout):
    """The rows of `source` as the kind reads them: traces through their layout / mapping
    (`curate.formats.traces`), problems and benchmarks through `mapping` only."""
    if kind not in KINDS:
        raise BadInput(f"unknown kind {kind!r} (one of {', '.join(KINDS)})")
    if kind == "traces":
        return trace_rows(source, name, mapping, layout)
    if layout not in (None, "", "auto", "none"):
        raise BadInput("--layout is for --kind traces (problems take --map prompt=FIELD,...)")
    return mapped_rows(source, mapping), None


def import_file(catalog, path: str | Path, name: str, kind: str = "problems",
                skip_bad: bool = False, max_row_bytes: int = MAX_ROW_BYTES,
                mapping: dict[str, str] | str | None = None, layout: str | None = None):
    """Import a local file as a new dataset version; rejected rows go to `NAME-rejects`.

    Traces (`kind="traces"`) need a prompt and reasoning and/or answer_text; `mapping`
    (`{"reasoning": "FIELD", ...}` or "reasoning=FIELD,...") and `layout` (a name in
    `curate.formats.traces.LAYOUTS`, "auto" or None to detect one, "none") say where they are.
    Returns (ref, rejects ref or None, counts).

    Raises BadInput naming the file, line and field of the first bad row (unless `skip_bad`),
    for an unknown kind, mapping or layout; nothing is registered then.

    Example::

        ref, rejects, counts = import_file(cat, "traces.jsonl", "raw", kind="traces",
                                           mapping="reasoning=thinking,answer_text=solution")
    """
    if kind not in KINDS:
        raise BadInput(f"unknown kind {kind!r} (one of {', '.join(KINDS)})")
    check_names(*output_names(name, skip_bad))
    path = Path(path)
    source, plan = _planned(file_rows(path, max_row_bytes), kind, name, mapping, layout)
    res = collect(source, str(path), kind, skip_bad, unique_ids(kind, name))
    params = {"file": str(path.resolve()), "kind": kind, "skip_bad": skip_bad,
              **_plan_params(plan, mapping)}
    return _register(catalog, res, name, kind, params, str(path), plan=plan)


def _plan_params(plan, mapping) -> dict:
    if plan is None:
        return {"map": parse_map(mapping)} if mapping else {}
    return {"layout": plan.layout, "layout_detected": plan.detected, "map": plan.mapping}


def import_hf(catalog, spec: str, name: str, kind: str = "problems", skip_bad: bool = False,
              mapping: dict[str, str] | str | None = None, layout: str | None = None):
    """Import one split of a Hub dataset (or an exported folder): `hf:ORG/NAME[@REV][:config]
    [:split]`. Column types are kept (a traces export comes back as the same schema); traces
    take `mapping` and `layout` as in `import_file`.

    Returns (ref, rejects ref or None, counts). Raises BadInput (bad rows, unknown kind),
    NotFound / CurateError (the dataset, config or split does not exist, or no network while
    offline).

    Example: ``import_hf(cat, "hf:ORG/cd-cot:nocot", "cd-back", kind="traces")``.
    """
    from curate.corpora.hub import cache_for, load_hf, parse_hf_spec

    if kind not in KINDS:
        raise BadInput(f"unknown kind {kind!r} (one of {', '.join(KINDS)})")
    check_names(*output_names(name, skip_bad))
    hs = parse_hf_spec(spec)
    table = load_hf(hs, cache_dir=cache_for(catalog, hs)).with_format("arrow")[:]
    source, plan = _planned(_table_rows(table), kind, name, mapping, layout)
    res = collect(source, str(hs), kind, skip_bad, unique_ids(kind, name))
    schema = None
    if kind != "traces":
        schema = table.schema
        for i, f in enumerate(schema):      # numbers read as text (a gold 12 is "12")
            if f.name in res.as_text:
                schema = schema.set(i, pa.field(f.name, pa.string()))
        for f in (res.rows[0] if res.rows else {}):   # mapped or aliased fields
            if f not in schema.names:
                schema = schema.append(pa.field(f, pa.string()))
    params = {"hf": str(hs), "repo": hs.repo, "config": hs.config, "split": hs.split or "train",
              "revision": hs.revision, "kind": kind, "skip_bad": skip_bad,
              **_plan_params(plan, mapping)}
    return _register(catalog, res, name, kind, params, str(hs), schema, plan=plan)


def trace_table(rows: list[dict]) -> pa.Table:
    """Traces with every trace field typed as `TRACE_SCHEMA` (None where a file has none),
    the source's other fields after them with their inferred types."""
    extra = [k for k in dict.fromkeys(k for r in rows for k in r) if k not in TRACE_FIELDS]
    inferred = pa.Table.from_pylist([{k: r.get(k) for k in extra} for r in rows]).schema \
        if extra else pa.schema([])
    schema = pa.schema(list(TRACE_SCHEMA) + list(inferred))
    return pa.Table.from_pylist(rows, schema=schema)


def _trace_counts(rows: list[dict]) -> dict:
    """How the imported traces were read: marker format, and how many end inside thinking."""
    import json

    fmt: dict[str, int] = {}
    unclosed = 0
    for r in rows:
        meta = json.loads(r["metadata"]) if isinstance(r.get("metadata"), str) else {}
        k = meta.get("think_format") or "fields"
        fmt[k] = fmt.get(k, 0) + 1
        unclosed += meta.get("think_closed") is False
    return {"think_format": fmt, "unclosed_think": unclosed}


def _register(catalog, res: ImportResult, name: str, kind: str, params: dict, where: str,
              schema: pa.Schema | None = None, plan=None):
    """Register good rows as `name` (and rejected ones as `name-rejects`) with counts."""
    from curate.record import problem_id_for

    for row in res.rows:
        if kind in ("problems", "benchmark") and row.get("problem_id") is None:
            row["problem_id"] = str(row["id"]) if row.get("id") is not None \
                else problem_id_for(row["prompt"], name)
    if schema is not None and "problem_id" not in schema.names and res.rows \
            and "problem_id" in res.rows[0]:
        schema = schema.append(pa.field("problem_id", pa.string()))
    if kind == "traces":
        data = trace_table(res.rows)
    else:
        data = pa.Table.from_pylist(res.rows, schema=schema) if schema is not None else res.rows
    dropped: dict[str, int] = {}
    for r in res.rejected:
        key = r.reason.split(" (")[0]
        dropped[key] = dropped.get(key, 0) + 1
    counts = {"in": res.total, "out": len(res.rows), "dropped": dropped}
    if kind == "traces":
        counts["traces"] = _trace_counts(res.rows)
    if plan is not None:
        counts["layout"] = plan.describe()
    ref = catalog.register(name, data, kind=kind, step="import", params=params, counts=counts)
    rejects_ref = None
    if res.rejected:
        rejects_ref = catalog.register(
            f"{name}-rejects",
            [{"file": where, "line": r.line, "reason": r.reason, "field": r.field,
              "raw": r.raw} for r in res.rejected],
            kind="rejects", step="import-rejects", params=params, counts=counts)
    return ref, rejects_ref, counts
