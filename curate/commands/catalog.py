"""Verbs: `curate catalog ls|show|lineage|sql|check`, `curate import`, `curate export`."""

from __future__ import annotations

import typer

from curate.commands._common import console, decode_json_text, esc, print_json, print_rows

catalog_app = typer.Typer(help="Inspect the catalog: datasets, lineage, runs, SQL.",
                          no_args_is_help=True)


def _cat(create: bool = True):
    """The workspace's catalog; `create=False` for verbs that only read, so a mistyped
    `--home` says no catalog is there instead of creating an empty one."""
    from curate.catalog import Catalog

    return Catalog(create=create)


@catalog_app.command("ls")
def ls(name: str = typer.Argument(None, help="Only versions of this dataset."),
       json_out: bool = typer.Option(False, "--json", help="Print JSON rows.")) -> None:
    """One entry per dataset version: name, version, kind, rows, created (newest first)."""
    rows = _cat(create=False).ls(name)
    print_json(rows) if json_out else print_rows(rows, title="datasets")


@catalog_app.command("show")
def show(spec: str = typer.Argument(..., help="NAME or NAME@VERSION (newest if no version)."),
         json_out: bool = typer.Option(False, "--json")) -> None:
    """Schema, row count, stats, card and path of a dataset version."""
    info = _cat(create=False).show(spec)
    if json_out:
        print_json(info)
        return
    console.print(f"[bold]{info['name']}@{info['version']}[/bold]  kind={info['kind']}  "
                  f"rows={info['rows']}  created={info['created']}")
    console.print(f"path: {esc(info['path'])}")
    if info["parents"]:
        console.print(f"parents: {', '.join(info['parents'])}")
    print_rows(info["schema"] or [], title="schema")
    if info["stats"]:
        print_rows([{"stat": k, "value": v} for k, v in info["stats"].items()], title="stats")
    if info["card"]:
        console.print(info["card"], markup=False)


@catalog_app.command("lineage")
def lineage(spec: str = typer.Argument(..., help="NAME, NAME@VERSION, or a checkpoint id / "
                                         "folder (then: checkpoint, run, mixture, ... teacher)."),
            json_out: bool = typer.Option(False, "--json")) -> None:
    """The chain of parents with each step, its parameters and counts (in, out, dropped)."""
    cat = _cat(create=False)
    if not cat.exists(spec):
        from curate.errors import NotFound
        from curate.training.callbacks import find_checkpoint

        try:
            find_checkpoint(cat, spec)
        except NotFound:
            pass
        else:
            from curate.commands.training import lineage as checkpoint_lineage_cmd

            return checkpoint_lineage_cmd(spec, json_out)
    chain = cat.lineage(spec)
    if json_out:
        print_json(chain)
        return
    print_rows([{"dataset": e["dataset"], "step": e.get("step"), "parents": e["parents"],
                 "counts": e.get("counts"), "params": e.get("params")} for e in chain],
               title=f"lineage of {spec}")


@catalog_app.command("sql")
def sql(query: str = typer.Argument(..., help="A read-only SQL query over the catalog tables."),
        json_out: bool = typer.Option(False, "--json")) -> None:
    """Run read-only SQL: tables datasets, lineage, runs, checkpoints, evals, probes, coverage.

    Sandboxed: the catalog is opened read-only with DuckDB's external access disabled and
    its configuration locked, so no statement can write the catalog, read or write files
    (COPY, read_csv, read_parquet, EXPORT), ATTACH databases, INSTALL or LOAD extensions,
    or change settings (SET, PRAGMA). A refused statement is one line, exit 2."""
    cat = _cat(create=False)
    rows = cat.sql(query)
    if not json_out:
        print_rows(rows)
        return
    print_json(_decode_json_columns(cat, query, rows))


@catalog_app.command("check")
def check(deep: bool = typer.Option(False, "--deep", help="Re-hash every file (xxh3-128) "
                                    "against its manifest; without it only sizes, mtimes and "
                                    "manifests are read."),
          json_out: bool = typer.Option(False, "--json", help="Print the report as JSON.")) -> None:
    """Check the store against the catalog: damaged, missing and orphaned files and folders.

    Exit status 0 when everything is intact, 1 when anything is listed."""
    from curate.catalog.check import check_catalog

    rep = check_catalog(_cat(create=False), deep=deep)
    if json_out:
        print_json(rep)
    else:
        if rep["problems"]:
            print_rows(rep["problems"], title="problems",
                       columns=["kind", "dataset", "path", "detail"])
        speed = f", {rep['hash_mb_s']} MB/s hashed" if rep["hash_mb_s"] else ""
        console.print(f"{'deep ' if deep else ''}check: {rep['versions']} versions, "
                      f"{rep['files']} files, {rep['bytes'] / 1e6:,.1f} MB in "
                      f"{rep['seconds']} s{speed}: "
                      + ("all intact" if rep["ok"] else f"{len(rep['problems'])} problems"))
    if not rep["ok"]:
        raise typer.Exit(1)


def _decode_json_columns(cat, query: str, rows: list[dict]) -> list[dict]:
    """JSON-typed columns (metrics, params, counts, ...) as objects, not strings to parse
    twice; other text columns untouched (types from DuckDB's DESCRIBE of the query)."""
    from curate.errors import CurateError

    try:
        types = {r["column_name"]: r["column_type"] for r in cat.sql(f"DESCRIBE {query}")}
    except CurateError:   # not a query DESCRIBE takes: leave the values as they are
        return rows
    cols = [c for c, t in types.items() if t == "JSON"]
    for r in rows:
        for c in cols:
            if isinstance(r.get(c), str):
                r[c] = decode_json_text(r[c]) if r[c][:1] in "{[" else _scalar(r[c])
    return rows


def _scalar(text: str):
    import json

    try:
        return json.loads(text)
    except ValueError:
        return text


def import_cmd(
    file: str = typer.Argument(..., help="A local JSONL, JSON, Parquet or CSV file, or "
                               "hf:ORG/NAME[@REV][:config][:split] (a Hub dataset or an "
                               "exported folder)."),
    name: str = typer.Option(..., "--name", help="Dataset name in the catalog."),
    kind: str = typer.Option("problems", "--kind", help="problems | traces | benchmark"),
    map_: str = typer.Option(None, "--map", help="Where the fields are: TARGET=FIELD,... e.g. "
                             "'prompt=question,completion=code[0],reference=gt' (completion: a "
                             "whole response split at its <think> / <|begin_of_thought|> "
                             "markers; FIELD may be a.b, a[0], a[role=user].content, a[*])."),
    layout: str = typer.Option(None, "--layout", help="Traces: a public layout: openr1-math, "
                               "openthoughts, sky-t1, s1k; default: detected from the first "
                               "row and reported; 'none' to detect nothing."),
    skip_bad: bool = typer.Option(False, "--skip-bad",
                                  help="Register good rows; record bad ones in NAME-rejects."),
    max_row_bytes: int = typer.Option(16 * 1024 * 1024, help="Reject rows larger than this."),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Import a file or Hub dataset as a new version. Bad rows stop it unless --skip-bad.

    Traces need a prompt and reasoning and/or answer_text: map them with --map, or let a known
    layout (OpenR1-Math, OpenThoughts, Sky-T1, s1K) be detected or named with --layout."""
    from curate.catalog.importing import import_file, import_hf
    from curate.corpora.hub import is_hf_spec

    if is_hf_spec(file):
        ref, rejects, counts = import_hf(_cat(), file, name, kind, skip_bad, mapping=map_,
                                         layout=layout)
    else:
        ref, rejects, counts = import_file(_cat(), file, name, kind, skip_bad, max_row_bytes,
                                           mapping=map_, layout=layout)
    out = {"dataset": ref.spec, "rows": ref.rows, "counts": counts,
           "rejects": rejects.spec if rejects else None}
    if json_out:
        print_json(out)
    else:
        if counts.get("layout"):
            console.print(f"read as traces: {esc(counts['layout'])}")
        console.print(f"registered [bold]{ref.spec}[/bold] ({ref.rows} rows)")
        tr = counts.get("traces") or {}
        if tr.get("unclosed_think"):
            console.print(f"{tr['unclosed_think']} traces end inside thinking that never "
                          "closed (reasoning kept, answer empty)")
        if rejects:
            console.print(f"{rejects.rows} rejected rows recorded in {rejects.spec}: "
                          f"{esc(counts['dropped'])}")


def export_cmd(
    spec: str = typer.Argument(..., help="NAME or NAME@VERSION."),
    out_dir: str = typer.Argument(..., help="Folder to write (Hub layout)."),
    overwrite: bool = typer.Option(False, "--overwrite"),
    no_variants: bool = typer.Option(False, "--no-variants",
                                     help="Only this version, not the variants made from it."),
    repo: str = typer.Option(None, "--repo", help="Hub repo ORG/NAME the card's examples "
                             "load from (default: the folder path)."),
    license: str = typer.Option(None, "--license",
                                help="License id for the card (default: unknown)."),
    fmt: str = typer.Option("trl", "--format", help="trl (SFTTrainer: messages, the prompt "
                            "kept as `problem`; every config the same columns) | verl (RL "
                            "parquet: data_source, chat prompt, ability, reward_model, "
                            "extra_info) | llamafactory (sharegpt + dataset_info.json)."),
    tokenizer: str = typer.Option(None, "--tokenizer", help="Count the card's lengths in "
                                  "tokens of this tokenizer (name or folder; default: the "
                                  "teacher's when it is available locally; none: words)."),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Write the Hub layout: Parquet shards per config (the version, and each variant made
    from it: cot, nocot, ...) and split, a README card with provenance, the recipe.
    `datasets.load_dataset(DIR)` and `load_dataset(DIR, "nocot")` load it."""
    from curate.catalog.export import check_target, load_configs, write_export

    cat = _cat(create=False)
    check_target(out_dir, overwrite)
    cfgs = load_configs(cat, spec, variants=not no_variants)
    path = write_export(cat, cfgs, out_dir, overwrite=overwrite, repo_id=repo, license=license,
                        fmt=fmt, tokenizer=tokenizer,
                        progress=not json_out)
    out = {"dataset": cfgs[0].spec, "folder": str(path.resolve()),
           "format": fmt,
           "configs": {c.name: {"dataset": c.spec, "splits": {s: t.num_rows for s, t in
                                                             c.written.items()}}
                       for c in cfgs if c.files}}
    if json_out:
        print_json(out)
    else:
        console.print(f"exported {out['dataset']} ({', '.join(out['configs'])}) to {esc(path)}")


def register(app: typer.Typer) -> None:
    app.add_typer(catalog_app, name="catalog")
    app.command("import")(import_cmd)
    app.command("export")(export_cmd)
