"""Verbs: `curate run RECIPE [--set key=value ...]` and `curate steps`."""

from __future__ import annotations

import typer

from curate.commands._common import err_console, print_json, print_rows


def run(
    recipe: str = typer.Argument(..., help="A recipe YAML file (see recipes/)."),
    set_: list[str] = typer.Option(None, "--set", help="Override: key=value (a param) or "
                                   "steps.ID.with.key=value; repeatable."),
    force: bool = typer.Option(False, "--force", help="Rerun every step, even unchanged ones."),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Run a recipe step by step; each step is registered, and a rerun resumes where it stopped.
    An experiment file (`kind: experiment`, see experiments/) runs its arms, evals and probes
    the same way and writes its comparison page."""
    from curate.experiments.spec import is_experiment

    if is_experiment(recipe):
        from curate.commands.experiments import run_experiment_file

        return run_experiment_file(recipe, set_ or [], force, json_out)
    from curate.catalog import Catalog
    from curate.catalog.catalog import ref_dict
    from curate.curation.recipes import load_recipe, run_recipe

    r = load_recipe(recipe, set_ or [])
    refs = run_recipe(Catalog(), r, log=lambda s: err_console.print(s), force=force)
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
