"""Recipe steps for curation: import, verify, filter, dedup, decontaminate, variant.

Each is `fn(catalog, inputs, params, output) -> DatasetRef` and delegates to the library
function a notebook user would call.
"""

from __future__ import annotations

from pathlib import Path

from curate.curation.steps import one_input, step
from curate.errors import BadInput


def _pop_unknown(params: dict, allowed: set[str], name: str) -> None:
    unknown = set(params) - allowed
    if unknown:
        raise BadInput(f"step {name!r}: unknown parameter(s) {sorted(unknown)} "
                       f"(known: {sorted(allowed)})")


@step("import")
def import_step(catalog, inputs: list[str], params: dict, output: str):
    """Bring rows in from a local file or `hf:ORG/NAME[:config][:split]`; `kind` problems|traces."""
    _pop_unknown(params, {"path", "kind", "skip_bad", "limit", "task", "seed", "map", "layout"},
                 "import")
    src = params.get("path")
    if not src:
        raise BadInput("step 'import' needs a 'path' (a local file or hf:ID)")
    kind = params.get("kind", "problems")
    if str(src).startswith("hf:"):
        return _import_hub(catalog, str(src)[3:], output, kind, params)
    from curate.catalog.importing import import_file

    path = Path(str(src)).expanduser()
    ref, _rejects, _counts = import_file(catalog, path, output, kind=kind,
                                         skip_bad=bool(params.get("skip_bad", False)),
                                         mapping=params.get("map"), layout=params.get("layout"))
    if params.get("limit") or params.get("task"):
        ref = _post_import(catalog, ref, output, kind, params)
    return ref


def _post_import(catalog, ref, output, kind, params):
    """Apply `limit` (first N rows) and a default `task` after an import."""
    from curate.curation import tables

    table = catalog.table(ref)
    n_in = table.num_rows
    if params.get("limit"):
        table = table.slice(0, int(params["limit"]))
    if params.get("task"):
        tasks = [t or params["task"] for t in tables.column(table, "task")]
        table = tables.set_column(table, "task", tasks)
    return catalog.register(output, table, kind=kind, parents=[ref], step="import-select",
                            params={"limit": params.get("limit"), "task": params.get("task")},
                            counts={"in": n_in, "out": table.num_rows})


def _import_hub(catalog, spec: str, output: str, kind: str, params: dict):
    """`hf:ORG/NAME[@REV][:config][:split]`: problems through the prompt-source field mapping
    (a seeded sample of `limit`), other kinds through the importer, like a local file."""
    from curate.catalog.importing import import_hf
    from curate.corpora.prompts import load_prompts

    if kind != "problems":
        ref, _rejects, _counts = import_hf(catalog, "hf:" + spec, output, kind=kind,
                                           skip_bad=bool(params.get("skip_bad", False)),
                                           mapping=params.get("map"), layout=params.get("layout"))
        return _post_import(catalog, ref, output, kind, params) \
            if params.get("limit") or params.get("task") else ref
    limit = int(params["limit"]) if params.get("limit") else None
    ps = load_prompts("hf:" + spec, catalog, n=limit, seed=int(params.get("seed", 0)))
    if params.get("task"):
        for r in ps.rows:
            r.setdefault("task", params["task"])
    return catalog.register(output, ps.rows, kind=kind, step="import",
                            params={"source": "hf:" + spec, **ps.info, "limit": limit},
                            counts={"in": len(ps.rows), "out": len(ps.rows)})


@step("verify")
def verify_step(catalog, inputs: list[str], params: dict, output: str, executor=None):
    from curate.curation.verify import verify_dataset

    _pop_unknown(params, {"workers", "timeout", "unanchored", "last_number_fallback",
                          "unclosed", "rule", "use_cache"}, "verify")
    opts = {k: params[k] for k in ("unanchored", "last_number_fallback", "unclosed", "rule")
            if params.get(k)}
    return verify_dataset(catalog, one_input("verify", inputs), output,
                          workers=params.get("workers"), timeout=float(params.get("timeout", 5.0)),
                          math_options=opts, use_cache=bool(params.get("use_cache", True)),
                          executor=executor)


@step("filter")
def filter_step(catalog, inputs: list[str], params: dict, output: str, executor=None):
    from curate.curation.filters import filter_dataset

    return filter_dataset(catalog, one_input("filter", inputs), output, executor=executor,
                          **params)


@step("dedup")
def dedup_step(catalog, inputs: list[str], params: dict, output: str, executor=None):
    """In-process, or datatrove's MinHash stages when the recipe runs on an executor."""
    from curate.curation.dedup import dedup_dataset

    return dedup_dataset(catalog, one_input("dedup", inputs), output, executor=executor,
                         **params)


@step("decontaminate")
def decontaminate_step(catalog, inputs: list[str], params: dict, output: str, executor=None):
    from curate.curation.decontaminate import decontaminate_dataset

    return decontaminate_dataset(catalog, one_input("decontaminate", inputs), output,
                                 executor=executor, **params)


@step("sample")
def sample_step(catalog, inputs: list[str], params: dict, output: str):
    """Keep `n` rows chosen by a seeded hash of their ids (all rows if fewer; order kept)."""
    import hashlib

    from curate.curation import tables

    _pop_unknown(params, {"n", "seed"}, "sample")
    if params.get("n") is None or int(params["n"]) < 1:
        raise BadInput("step 'sample' needs n >= 1")
    n, seed = int(params["n"]), int(params.get("seed", 0))
    spec = catalog.resolve(one_input("sample", inputs)).spec
    table = tables.read(catalog, spec)
    ids = tables.column(table, "id")
    order = sorted(range(len(ids)), key=lambda i: hashlib.sha256(
        f"{seed}:{ids[i] if ids[i] is not None else i}".encode()).hexdigest())
    chosen = set(order[:n])
    reasons = [None if i in chosen else "over_n" for i in range(len(ids))]
    counts = tables.drop_counts(len(ids), reasons)
    counts["short_of_n"] = max(0, n - len(ids))
    return tables.register(catalog, output, tables.keep(table, [r is None for r in reasons]),
                           parents=[spec], step="sample", params={"n": n, "seed": seed},
                           counts=counts)


@step("variant")
def variant_step(catalog, inputs: list[str], params: dict, output: str, executor=None):
    """cot / nocot / short views of a traces dataset (delegates to variants.make_variant).

    For `short`, `source` names a dataset (e.g. the imported problems) from which
    `short_field` is joined by `problem_id` when the traces do not carry it.
    """
    from curate.curation.variants import make_variant

    _pop_unknown(params, {"variant", "short_field", "system", "source"}, "variant")
    p = dict(params)
    variant = p.pop("variant", None)
    if not variant:
        raise BadInput("step 'variant' needs 'variant' (cot, nocot or short)")
    name = one_input("variant", inputs)
    source = p.pop("source", None)
    if source and p.get("short_field"):
        name = _join_field(catalog, name, source, p["short_field"], f"{output}-joined")
    return make_variant(catalog, name, variant, output, executor=executor, **p)


def _join_field(catalog, name: str, source: str, field: str, output: str) -> str:
    """`name` with column `field` filled from `source` rows of the same problem_id."""
    from curate.curation import tables

    spec, src = catalog.resolve(name).spec, catalog.resolve(source).spec
    table = tables.read(catalog, spec)
    stab = tables.read(catalog, src)
    if field not in stab.column_names:
        raise BadInput(f"source {src} has no column {field!r}")
    by_pid = dict(zip(tables.column(stab, "problem_id"), tables.column(stab, field)))
    have = tables.column(table, field)
    vals = [h if h not in (None, "") else by_pid.get(pid)
            for h, pid in zip(have, tables.column(table, "problem_id"))]
    missing = sum(v in (None, "") for v in vals)
    table = tables.set_column(table, field, [None if v is None else str(v) for v in vals],
                              __import__("pyarrow").string())
    ref = catalog.register(output, table, kind="traces", parents=[spec, src], step="join",
                           params={"field": field, "on": "problem_id"},
                           counts={"in": table.num_rows, "out": table.num_rows,
                                   "missing": missing})
    return ref.spec
