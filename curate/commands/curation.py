"""Verbs that make new versions from old ones: `curate variant` (and curation steps)."""

from __future__ import annotations

import typer

from curate.commands import _executor as X
from curate.commands._common import console, print_json
from curate.errors import CurateError


def variant(
    name: str = typer.Argument(..., help="Traces dataset (NAME or NAME@VERSION)."),
    out: str = typer.Option(..., "--name", help="Name of the variant dataset."),
    nocot: bool = typer.Option(False, "--nocot", help="Thinking removed, answer kept."),
    cot: bool = typer.Option(False, "--cot", help="Reasoning and answer (the default view)."),
    short_field: str = typer.Option(None, "--short-field",
                                    help="Short variant: the column (or metadata key) holding "
                                         "a human / short solution."),
    system: str = typer.Option(None, "--system", help="A system prompt for the messages."),
    json_out: bool = typer.Option(False, "--json"),
    executor: str = X.EXECUTOR, tasks: int = X.TASKS, workers: int = X.WORKERS,
    partition: str = X.PARTITION, time: str = X.TIME, cpus_per_task: int = X.CPUS,
    mem_per_cpu_gb: float = X.MEM, gpus_per_task: int = X.GPUS, sbatch_arg: list[str] = X.SBATCH,
    dry_run: bool = X.DRY_RUN,
) -> None:
    """Register a training view (cot, nocot, short) of the same rows, with lineage."""
    from curate.catalog import Catalog
    from curate.catalog.catalog import ref_dict
    from curate.curation.variants import make_variant

    chosen = [v for v, on in (("nocot", nocot), ("cot", cot), ("short", bool(short_field)))
              if on]
    if len(chosen) != 1:
        raise CurateError("choose exactly one of --nocot, --cot, --short-field FIELD")
    ex = X.spec_from(executor, tasks, workers, partition, time, cpus_per_task, mem_per_cpu_gb,
                     gpus_per_task, sbatch_arg, dry_run)
    ref = make_variant(Catalog(create=False), name, chosen[0], out, short_field=short_field, system=system,
                       executor=ex, progress=not json_out)
    if X.dry_run_done(ref):
        return
    if json_out:
        print_json(ref_dict(ref))
    else:
        console.print(f"registered [bold]{ref.spec}[/bold] ({ref.rows} rows, {chosen[0]})")


def register(app: typer.Typer) -> None:
    app.command("variant")(variant)
    from curate.commands.cleaning import register as register_cleaning  # filter/dedup/decontaminate

    register_cleaning(app)
