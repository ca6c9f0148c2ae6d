"""Verb: `curate report`, the HTML dashboard over the whole catalog."""

from __future__ import annotations

import typer

from curate.commands._common import console, esc, print_json


def report(out: str = typer.Option(None, "--out", help="Folder for the pages (index.html and "
                                   "one page per dataset version, run, ...; default "
                                   "$CURATE_HOME/report)."),
           json_out: bool = typer.Option(False, "--json", help="Print the paths as JSON.")) -> None:
    """A self-contained HTML dashboard over the catalog: overview, lineage graph, a page per
    dataset version with a row browser, runs with curves, evals, TI and probes."""
    from curate.catalog import Catalog
    from curate.dashboard import write_dashboard

    path = write_dashboard(Catalog(create=False), out)
    pages = sorted(p.name for p in path.parent.glob("*.html"))
    if json_out:
        print_json({"path": str(path), "pages": len(pages)})
    else:
        console.print(f"report: {esc(path)} ({len(pages)} pages)")


def register(app: typer.Typer) -> None:
    app.command("report")(report)
