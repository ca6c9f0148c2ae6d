"""Export a catalog version in the Hugging Face Hub's folder layout: Parquet shards per config
and split (`data/<config>/<split>-XXXXX-of-YYYYY.parquet`), a README dataset card with full
provenance, the length histogram and the recipe that made it, so `datasets.load_dataset(DIR)`
and `load_dataset(DIR, "nocot")` read it and `curate publish` uploads exactly this folder.

Configs: the version itself is `cot` (or `default` when its rows carry no reasoning; a
variant's own name when it is a variant), and every variant registered from it with
`curate variant` (lineage step `variant`, parent = this version) becomes a config named by
the variant (`nocot`, `short`, ...). Splits: rows whose `metadata` all name a split (train,
validation, test, as Countdown rows do) are split by it; anything else is `train`.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from curate.catalog.card import RECIPE, ConfigData, build_card, provenance
from curate.catalog.trainer_formats import check_format, format_configs, llamafactory_info
from curate.errors import CurateError
from curate.progress import progress_bar

SPLITS = ("train", "validation", "test")
# Hub-friendly Parquet: shards of at most SHARD_BYTES of (uncompressed) Arrow data, so every
# file is below the Hub's ~500 MB guidance once compressed too; row groups of at most
# ROW_GROUP_BYTES and ROW_GROUP_ROWS rows, well under what the dataset viewer reads at once
# (it refuses row groups past ~286 MiB; one 20,480-row Countdown shard used to be a single
# 555 MiB row group).
SHARD_BYTES = 500 * 10**6
ROW_GROUP_BYTES = 64 * 2**20
ROW_GROUP_ROWS = 1000


def plan_shards(table: pa.Table, shard_bytes: int | None = None,
                row_group_bytes: int | None = None,
                row_group_rows: int | None = None) -> list[list[tuple[int, int]]]:
    """Shards, each a list of row groups `(start, stop)`, from the table's Arrow sizes.

    Row groups: runs of at most `row_group_rows` rows (sized from the mean row), halved until
    each holds at most `row_group_bytes` (a single larger row stays alone). Shards: whole row
    groups, a new shard before one would pass `shard_bytes`."""
    shard_bytes = shard_bytes or SHARD_BYTES
    row_group_bytes = row_group_bytes or ROW_GROUP_BYTES
    row_group_rows = row_group_rows or ROW_GROUP_ROWS
    n = table.num_rows
    if n == 0:
        return [[(0, 0)]]
    per_group = max(1, min(row_group_rows, int(row_group_bytes // max(1.0, table.nbytes / n))))
    groups: list[tuple[int, int, int]] = []

    def add(lo: int, hi: int) -> None:
        b = table.slice(lo, hi - lo).nbytes
        if b > row_group_bytes and hi - lo > 1:
            mid = (lo + hi) // 2
            add(lo, mid)
            add(mid, hi)
        else:
            groups.append((lo, hi, b))

    for lo in range(0, n, per_group):
        add(lo, min(n, lo + per_group))
    shards: list[list[tuple[int, int]]] = [[]]
    size = 0
    for lo, hi, b in groups:
        if shards[-1] and size + b > shard_bytes:
            shards.append([])
            size = 0
        shards[-1].append((lo, hi))
        size += b
    return shards


def write_config_shards(table, out_dir: Path, config: str, split: str = "train",
                        folders: bool = False) -> list[str]:
    """Write one config/split as `data/<config>/<split>-XXXXX-of-YYYYY.parquet` shards (with
    `folders`: `data/<config>/<split>/part-XXXXX-of-YYYYY.parquet`, one folder per split as
    LLaMA-Factory reads), sized by bytes, with small row groups (`plan_shards`)."""
    rel_dir = Path("data") / config / (split if folders else "")
    (out_dir / rel_dir).mkdir(parents=True, exist_ok=True)
    shards = plan_shards(table)
    paths = []
    stem = "part" if folders else split
    for i, groups in enumerate(shards):
        rel = rel_dir / f"{stem}-{i:05d}-of-{len(shards):05d}.parquet"
        with pq.ParquetWriter(out_dir / rel, table.schema) as w:
            for lo, hi in groups:
                w.write_table(table.slice(lo, hi - lo), row_group_size=max(1, hi - lo))
        paths.append(str(rel))
    return paths


def split_rows(table: pa.Table) -> dict[str, pa.Table]:
    """{split: rows}: by `metadata.split` when every row names a known split, else train."""
    if "metadata" not in table.column_names or table.num_rows == 0:
        return {"train": table}
    names = []
    for m in table.column("metadata").to_pylist():
        try:
            s = json.loads(m).get("split") if isinstance(m, str) and m else None
        except (ValueError, AttributeError):
            s = None
        if s not in SPLITS:
            return {"train": table}
        names.append(s)
    arr = pa.array(names)
    return {s: table.filter(pc.equal(arr, s)) for s in SPLITS if s in set(names)}


def base_config_name(catalog, ref, table: pa.Table | None = None) -> str:
    """`cot` for rows with reasoning, `default` without; a variant keeps its own name."""
    own = catalog.sql("SELECT step, params FROM lineage WHERE child = ? LIMIT 1", [ref.spec])
    if own and own[0]["step"] == "variant":
        v = (json.loads(own[0]["params"] or "{}") or {}).get("variant")
        if v:
            return v
    table = table if table is not None else catalog.table(ref)
    if "reasoning" in table.column_names and table.column("reasoning").null_count < table.num_rows:
        return "cot"
    return "default"


def variant_children(catalog, spec: str) -> dict[str, str]:
    """{variant: newest child spec} for variants registered from `spec`."""
    rows = catalog.sql("SELECT child, params FROM lineage WHERE parent = ? AND "
                       "step = 'variant' ORDER BY created DESC", [spec])
    out: dict[str, str] = {}
    for r in rows:
        v = (json.loads(r["params"] or "{}") or {}).get("variant")
        if v and v not in out and catalog.exists(r["child"]):
            out[v] = r["child"]
    return out


def config_specs(catalog, spec: str, configs: dict[str, str] | None = None,
                 variants: bool = True, table: pa.Table | None = None) -> dict[str, str]:
    """{config name: catalog spec}, the exported version first (it is the default config)."""
    ref = catalog.resolve(spec)
    out = {base_config_name(catalog, ref, table): ref.spec}
    if variants:
        for v, child in variant_children(catalog, ref.spec).items():
            out.setdefault(v, child)
    for name, s in (configs or {}).items():
        out[name] = catalog.resolve(s).spec
    return out


def load_configs(catalog, spec: str, configs: dict[str, str] | None = None,
                 variants: bool = True) -> list[ConfigData]:
    """The configs to export with their rows split (memory-mapped: nothing is copied yet).

    Every file shipped is re-hashed against its manifest first (`Catalog.table(verify=True)`),
    so a damaged version raises IntegrityError before anything is written or uploaded."""
    ref = catalog.resolve(spec)
    tables = {ref.spec: catalog.table(ref, verify=True)}
    specs = config_specs(catalog, ref.spec, configs, variants, tables[ref.spec])
    return [ConfigData(name, s, split_rows(tables[s] if s in tables
                                           else catalog.table(s, verify=True)))
            for name, s in specs.items()]


def check_target(out_dir: str | os.PathLike, overwrite: bool = False) -> Path:
    """The export folder, refused when it holds something and `overwrite` is off."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise CurateError(f"{out}: is a file, not a folder")
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise CurateError(f"{out}: folder exists and is not empty (use --overwrite)")
    return out


def check_not_workspace(catalog, out: Path, overwrite: bool) -> None:
    """Refuse an export folder that would land in the store, or whose replacement
    (`--overwrite`) would delete the workspace or the folder curate runs in."""
    o = out.resolve()
    home, store_root, cwd = (Path(catalog.home).resolve(), Path(catalog.store_root).resolve(),
                             Path.cwd().resolve())
    if o == home or o in home.parents:
        raise CurateError(f"{out}: holds the workspace ({home}); exporting there would replace "
                          "it: export somewhere else")
    if o == store_root or store_root in o.parents:
        raise CurateError(f"{out}: is inside the workspace's store ({store_root}); export "
                          "somewhere else (the store holds only versions)")
    if overwrite and (o == cwd or o in cwd.parents):
        raise CurateError(f"{out}: is the folder curate runs in (or holds it); --overwrite "
                          "would delete it: export to a folder of its own")


def write_export(catalog, cfgs: list[ConfigData], out_dir: str | os.PathLike,
                 overwrite: bool = False, repo_id: str | None = None, license: str | None = None,
                 pretty_name: str | None = None, progress: bool = False, *, fmt: str = "trl",
                 tokenizer: str | None = None) -> Path:
    """Write shards, card, histogram and recipe into `out_dir` atomically (temp + rename).

    `fmt`: trl (default) | verl | llamafactory, as `curate.catalog.trainer_formats` writes
    them (llamafactory adds `dataset_info.json`); `tokenizer`: what the card counts lengths
    with (default the teacher's, when available locally; "none" for words)."""
    out = check_target(out_dir, overwrite)
    check_not_workspace(catalog, out, overwrite)
    cfgs = format_configs(cfgs, fmt)
    spec = cfgs[0].spec
    prov = provenance(catalog, spec, [c.spec for c in cfgs])
    tmp = out.parent / f".{out.name}.tmp-{uuid.uuid4().hex[:8]}"
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp.mkdir()
    except OSError as e:
        raise CurateError(f"{out}: cannot create the export folder here "
                          f"({e.strerror or type(e).__name__})") from None
    total = sum(c.rows for c in cfgs)
    try:
        with progress_bar() if progress else contextlib.nullcontext() as bar:
            task = bar.add_task(f"export {spec}", total=2 * total) if bar else None
            for c in cfgs:
                c.files = {}
                for s, t in c.written.items():
                    c.files[s] = write_config_shards(t, tmp, c.name, s,
                                                     folders=fmt == "llamafactory")
                    if bar:
                        bar.advance(task, t.num_rows)
            if prov.recipe and prov.recipe.get("exists"):
                shutil.copyfile(prov.recipe["path"], tmp / RECIPE)
            if fmt == "llamafactory":
                (tmp / "dataset_info.json").write_text(json.dumps(
                    llamafactory_info(spec.split("@")[0], cfgs), indent=2) + "\n")
            card = build_card(spec, cfgs, prov, tmp, repo_id=repo_id, license=license,
                              pretty_name=pretty_name, fmt=fmt, tokenizer=tokenizer)
            card.save(tmp / "README.md")
            if bar:
                bar.advance(task, total)
        if out.exists():
            shutil.rmtree(out) if out.is_dir() else out.unlink()
        os.rename(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def export_dataset(catalog, spec: str, out_dir: str | os.PathLike,
                   configs: dict[str, str] | None = None, overwrite: bool = False, *,
                   variants: bool = True, repo_id: str | None = None,
                   license: str | None = None, pretty_name: str | None = None,
                   fmt: str = "trl", tokenizer: str | None = None) -> Path:
    """Export `spec`, its registered variants and any extra configs (name -> spec), in
    trainer format `fmt` (trl | verl | llamafactory; see `curate.catalog.trainer_formats`).

    Writes `data/<config>/<split>-XXXXX-of-YYYYY.parquet`, README.md (card), the length
    histogram and the recipe into `out_dir`; returns its path. Raises CurateError when
    `out_dir` is not empty (without `overwrite`), IntegrityError for damaged stored files,
    NotFound for an unknown spec.

    Example: ``export_dataset(cat, "cd-cot", "out/cd-cot", repo_id="ORG/cd-cot")``.
    """
    out = check_target(out_dir, overwrite)
    check_format(fmt)
    cfgs = load_configs(catalog, spec, configs, variants)
    return write_export(catalog, cfgs, out, overwrite, repo_id, license, pretty_name,
                        fmt=fmt, tokenizer=tokenizer)
