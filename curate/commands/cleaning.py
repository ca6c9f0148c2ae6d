"""Verbs: `curate filter`, `curate dedup`, `curate decontaminate` (registered by
curate/commands/curation.py). Each makes a new version with its drop counts in lineage."""

from __future__ import annotations

import typer

from curate.commands import _executor as X
from curate.commands._common import SET_HELP, console, esc, parse_sets, print_json, print_rows


def _cat():
    """The workspace's catalog, which must exist: the verb reads a dataset from it, so a
    mistyped --home says no catalog is there instead of creating an empty one."""
    from curate.catalog import Catalog

    return Catalog(create=False)


NO_DROPPED_HELP = "Do not keep the dropped rows (default: kept as NAME-dropped with the reason)."


def _show(ref, counts: dict, json_out: bool, title: str) -> None:
    from curate.catalog.catalog import ref_dict

    if json_out:
        print_json({**ref_dict(ref), "counts": counts})
        return
    console.print(f"registered [bold]{ref.spec}[/bold] ({ref.rows} rows)")
    dropped = counts.get("dropped") or {}
    print_rows([{"reason": k, "rows": v} for k, v in dropped.items()] or
               [{"reason": "(none dropped)", "rows": 0}], title=title)
    _where_dropped(counts)


def _where_dropped(counts: dict) -> None:
    if counts.get("dropped_version"):
        console.print(f"dropped rows, with reason and match: [bold]{counts['dropped_version']}"
                      "[/bold] (curate catalog show / curate catalog sql)")


def filter_cmd(
    name: str = typer.Argument(..., help="Traces dataset (NAME or NAME@VERSION)."),
    out: str = typer.Option(..., "--name", help="Name of the filtered dataset."),
    verified_only: bool = typer.Option(False, "--verified-only", help="Keep verified rows only."),
    keep_length: bool = typer.Option(False, "--keep-length", help="Keep finish_reason=length (truncated) rows."),
    min_tokens: int = typer.Option(None, help="Drop rows with fewer completion tokens."),
    max_tokens: int = typer.Option(None, help="Drop rows with more completion tokens."),
    closed_think: bool = typer.Option(False, "--closed-think", help="Drop rows whose thinking never closed."),
    max_repetition: float = typer.Option(None, help="Drop rows whose share of repeated 10-grams is above this."),
    tail_loop: bool = typer.Option(False, "--tail-loop", help="Drop rows ending in a repeated chunk."),
    pass_rate_min: float = typer.Option(None, help="Keep problems whose pass rate over their samples is at least this."),
    pass_rate_max: float = typer.Option(None, help="... and at most this."),
    k: int = typer.Option(None, "--k", help="Rejection sampling: keep k rows per problem."),
    strategy: str = typer.Option("random", help="first | shortest | longest | random"),
    seed: int = typer.Option(0),
    no_dropped: bool = typer.Option(False, "--no-dropped", help=NO_DROPPED_HELP),
    json_out: bool = typer.Option(False, "--json"),
    executor: str = X.EXECUTOR, tasks: int = X.TASKS, workers: int = X.WORKERS,
    partition: str = X.PARTITION, time: str = X.TIME, cpus_per_task: int = X.CPUS,
    mem_per_cpu_gb: float = X.MEM, gpus_per_task: int = X.GPUS, sbatch_arg: list[str] = X.SBATCH,
    dry_run: bool = X.DRY_RUN,
    set_: list[str] = typer.Option(None, "--set", help=SET_HELP),
) -> None:
    """Filter traces; counts by reason go to lineage, dropped rows to NAME-dropped."""
    from curate.curation.filters import filter_dataset

    ex = X.spec_from(executor, tasks, workers, partition, time, cpus_per_task, mem_per_cpu_gb,
                     gpus_per_task, sbatch_arg, dry_run)
    cat = _cat()
    params = dict(verified_only=verified_only,
                  drop_finish_reasons=[] if keep_length else ["length"], min_tokens=min_tokens,
                  max_tokens=max_tokens, require_closed_think=closed_think,
                  max_repetition=max_repetition, tail_loop=tail_loop,
                  pass_rate_min=pass_rate_min, pass_rate_max=pass_rate_max, k_per_problem=k,
                  strategy=strategy, seed=seed)
    ref = filter_dataset(cat, name, out, executor=ex, progress=not json_out,
                         keep_dropped=not no_dropped, **{**params, **parse_sets(set_)})
    if X.dry_run_done(ref):
        return
    _show(ref, cat.lineage(ref)[0].get("counts", {}), json_out, "dropped")


def dedup_cmd(
    name: str = typer.Argument(..., help="Dataset (NAME or NAME@VERSION)."),
    out: str = typer.Option(..., "--name", help="Name of the deduplicated dataset."),
    field: str = typer.Option("prompt", help="Column to compare."),
    threshold: float = typer.Option(None, help="MinHash Jaccard threshold for near-duplicate "
                                    "candidates (default 0.6; with --executor the bands set it)."),
    no_minhash: bool = typer.Option(False, "--exact-only", help="Exact (normalised) duplicates only."),
    no_dropped: bool = typer.Option(False, "--no-dropped", help=NO_DROPPED_HELP),
    executor: str = typer.Option(None, "--executor", help="local | slurm | ray: datatrove's "
                                 "MinHash stages (signature, buckets, cluster, filter) as "
                                 "executor tasks, memory bounded by the shard (default: in this "
                                 "process)."),
    tasks: int = typer.Option(None, "--tasks", help="Executor: shards (default 2 per worker; "
                              "8 on Slurm/Ray)."),
    workers: int = typer.Option(None, "--workers", help="Executor: tasks at once (local "
                                "default 1)."),
    partition: str = X.PARTITION, time: str = X.TIME, cpus_per_task: int = X.CPUS,
    mem_per_cpu_gb: float = X.MEM, gpus_per_task: int = X.GPUS, sbatch_arg: list[str] = X.SBATCH,
    dry_run: bool = X.DRY_RUN,
    json_out: bool = typer.Option(False, "--json"),
    set_: list[str] = typer.Option(None, "--set", help=SET_HELP),
) -> None:
    """Drop problems whose prompt repeats an earlier one: exactly (formatting aside) or nearly
    (MinHash-similar text AND the same math content: numbers, expressions, question words)."""
    from curate.curation.dedup import dedup_dataset
    from curate.errors import BadInput

    if executor and threshold is not None:
        raise BadInput("--threshold is for the in-process dedup; with --executor the MinHash "
                       "bands (20 x 6, midpoint near 0.6) set it")
    ex = X.spec_from(executor, tasks, workers, partition, time, cpus_per_task, mem_per_cpu_gb,
                     gpus_per_task, sbatch_arg, dry_run)
    cat = _cat()
    extra = {} if executor else {"threshold": 0.6 if threshold is None else threshold}
    extra.update(parse_sets(set_))
    ref = dedup_dataset(cat, name, out, field=field, minhash=not no_minhash,
                        progress=not json_out and not executor, executor=ex,
                        keep_dropped=not no_dropped, **extra)
    if X.dry_run_done(ref):
        return
    _show(ref, cat.lineage(ref)[0].get("counts", {}), json_out, "dropped")


def decontaminate_cmd(
    name: str = typer.Argument(..., help="Dataset (NAME or NAME@VERSION)."),
    out: str = typer.Option(..., "--name", help="Name of the decontaminated dataset."),
    benchmarks: str = typer.Option("math500,aime24,aime25,gpqa-diamond,livecodebench",
                                   help="Comma-separated registry names or file:PATH[:field]."),
    n: str = typer.Option("8", "--n", help="n-gram size or preset (8, 12)."),
    fields: str = typer.Option("prompt,answer_text", help="Columns checked."),
    keep: bool = typer.Option(False, "--keep", help="Keep flagged rows; add contaminated_<bench> columns."),
    skip_missing: bool = typer.Option(False, "--skip-missing", help="Skip benchmarks with no local copy and no Hub access."),
    min_coverage: float = typer.Option(0.5, "--min-coverage", help="Share of a benchmark item's tokens the shared n-grams must cover (0: any shared n-gram, the open-r1/s1 rule)."),
    no_dropped: bool = typer.Option(False, "--no-dropped", help=NO_DROPPED_HELP),
    json_out: bool = typer.Option(False, "--json"),
    executor: str = X.EXECUTOR, tasks: int = X.TASKS, workers: int = X.WORKERS,
    partition: str = X.PARTITION, time: str = X.TIME, cpus_per_task: int = X.CPUS,
    mem_per_cpu_gb: float = X.MEM, gpus_per_task: int = X.GPUS, sbatch_arg: list[str] = X.SBATCH,
    dry_run: bool = X.DRY_RUN,
    set_: list[str] = typer.Option(None, "--set", help=SET_HELP),
) -> None:
    """N-gram decontamination against the benchmark registry, with a report per benchmark;
    benchmark items shorter than n tokens are matched whole (normalised question in the row)."""
    from curate.catalog.catalog import ref_dict
    from curate.curation.decontaminate import decontaminate_dataset

    ex = X.spec_from(executor, tasks, workers, partition, time, cpus_per_task, mem_per_cpu_gb,
                     gpus_per_task, sbatch_arg, dry_run)
    cat = _cat()
    params = dict(benchmarks=benchmarks, n=n, fields=fields, drop=not keep,
                  skip_missing=skip_missing, min_coverage=min_coverage)
    ref = decontaminate_dataset(cat, name, out, progress=not json_out, executor=ex,
                                keep_dropped=not no_dropped, **{**params, **parse_sets(set_)})
    if X.dry_run_done(ref):
        return
    report = cat.show(ref)["stats"]["decontamination"]
    counts = cat.lineage(ref)[0].get("counts", {})
    if json_out:
        print_json({**ref_dict(ref), "report": report,
                    "dropped_version": counts.get("dropped_version")})
        return
    console.print(f"registered [bold]{ref.spec}[/bold] ({ref.rows} rows)")
    rules = report.get("per_rule", {})
    print_rows([{"benchmark": b, "rows flagged": c, "by n-gram": rules.get(b, {}).get("ngram"),
                 "by whole question": rules.get(b, {}).get("whole_question")}
                for b, c in report["per_benchmark"].items()]
               + [{"benchmark": b, "rows flagged": "not checked"} for b in report["unavailable"]],
               title=f"contamination ({report['n']}-grams)")
    console.print(report.get("rule", ""), markup=False)
    console.print(report.get("short_items", ""), markup=False)
    for b, exs in report["examples"].items():
        for e in exs:
            console.print(f"[bold]{esc(b)}[/bold] row {e['row']}: {esc('; '.join(e['matched'][:2]))}")
    _where_dropped(counts)


def register(app: typer.Typer) -> None:
    app.command("filter")(filter_cmd)
    app.command("dedup")(dedup_cmd)
    app.command("decontaminate")(decontaminate_cmd)
