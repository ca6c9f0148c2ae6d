"""`curate run EXPERIMENT.yaml`: the experiment half of `curate run` (the command itself lives
with recipes; it hands over here when the YAML is an experiment)."""

from __future__ import annotations

from curate.commands._common import err_console, esc, print_json, print_rows


def run_experiment_file(path: str, overrides: list[str], force: bool, json_out: bool,
                        report: str | None = None, executor=None) -> None:
    """Load, run (or resume) and summarise an experiment; then write its comparison page.
    `executor` (an ExecutorSpec or None) runs the data recipes' dataset steps."""
    from curate.catalog import Catalog
    from curate.experiments import load_experiment, run_experiment

    spec = load_experiment(path, overrides)
    cat = Catalog()
    res = run_experiment(cat, spec, log=lambda s: err_console.print(s, markup=False), force=force,
                         executor=executor)
    page = None
    if report != "":
        from curate.dashboard import write_dashboard

        index = write_dashboard(cat, report)
        page = index.parent / f"experiment-{_slug(spec['name'])}.html"
        res["page"] = str(page) if page.is_file() else str(index)
    if json_out:
        print_json(res)
        return
    rows = [{"arm": a, "train run": i["train_run"], "reused": i["reused"],
             "checkpoints": ",".join(str(c["step"]) for c in i["checkpoints"]),
             "probes": len(i["probes"])} for a, i in res["arms"].items()]
    print_rows(rows, title=f"experiment {res['experiment']} (run {res['run_id']}, "
                           f"{res.get('seconds')} s; {res['evaluated']} models scored now, "
                           f"{res['already_scored']} already scored)")
    if res.get("page"):
        err_console.print(f"comparison page: {esc(res['page'])}")


def _slug(name: str) -> str:
    from curate.dashboard.site import slug

    return slug(name)
