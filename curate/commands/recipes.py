"""Verbs: `curate run RECIPE [--set key=value ...]` and `curate steps`."""

from __future__ import annotations

import typer

from curate.commands import _executor as X
from curate.commands._common import err_console, print_json, print_rows


def run(
    recipe: str = typer.Argument(..., help="A recipe YAML file (see recipes/)."),
    set_: list[str] = typer.Option(None, "--set", help="Override: key=value (a param) or "
                                   "steps.ID.with.key=value; repeatable."),
    force: bool = typer.Option(False, "--force", help="Rerun every step, even unchanged ones."),
    json_out: bool = typer.Option(False, "--json"),
    executor: str = X.EXECUTOR, tasks: int = X.TASKS, workers: int = X.WORKERS,
    partition: str = X.PARTITION, time: str = X.TIME, cpus_per_task: int = X.CPUS,
    mem_per_cpu_gb: float = X.MEM, gpus_per_task: int = X.GPUS, sbatch_arg: list[str] = X.SBATCH,
    dry_run: bool = X.DRY_RUN,
) -> None:
    """Run a recipe step by step; each step is registered, and a rerun resumes where it stopped.
    An experiment file (`kind: experiment`, see experiments/) runs its arms, evals and probes
    the same way and writes its comparison page.

    With --executor local|slurm|ray, the steps that process datasets (verify, filter, dedup,
    decontaminate, variant, generate) run as datatrove pipelines; the outputs are the same.
    For an experiment, the executor runs those steps of its data recipes."""
    from curate.errors import BadInput
    from curate.experiments.spec import is_experiment

    ex = X.spec_from(executor, tasks, workers, partition, time, cpus_per_task, mem_per_cpu_gb,
                     gpus_per_task, sbatch_arg, dry_run)
    if is_experiment(recipe):
        from curate.commands.experiments import run_experiment_file

        if dry_run:
            raise BadInput("--dry-run writes one recipe step's sbatch scripts: give it to "
                           "`curate run RECIPE` for a data recipe of the experiment")
        return run_experiment_file(recipe, set_ or [], force, json_out, executor=ex)
    from curate.catalog import Catalog
    from curate.catalog.catalog import ref_dict
    from curate.curation.recipes import load_recipe, run_recipe

    r = load_recipe(recipe, set_ or [])
    refs = run_recipe(Catalog(), r, log=lambda s: err_console.print(s, markup=False), force=force, executor=ex)
    if refs and X.dry_run_done(refs[-1]):
        return
    rows = [{"step": st["id"], **ref_dict(ref)} for st, ref in zip(r["steps"], refs)]
    if json_out:
        print_json({"recipe": r["name"], "params": r.get("params", {}), "outputs": rows})
    else:
        print_rows(rows, title=f"recipe {r['name']}",
                   columns=["step", "name", "version", "rows"])


def steps() -> None:
    """List the steps recipes can use."""
    from curate.curation.steps import list_steps

    print_rows([{"step": s} for s in list_steps()], title="steps")


def register(app: typer.Typer) -> None:
    app.command("run")(run)
    app.command("steps")(steps)
