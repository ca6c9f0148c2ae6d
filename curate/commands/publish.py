"""Verb: `curate publish NAME[@V] --repo ORG/NAME` (upload to the Hugging Face Hub)."""

from __future__ import annotations

from dataclasses import asdict

import typer

from curate.commands._common import console, esc, print_json


def publish_cmd(
    spec: str = typer.Argument(..., help="NAME or NAME@VERSION (newest if no version)."),
    repo: str = typer.Option(..., "--repo", help="Hub dataset repo, ORG/NAME."),
    private: bool = typer.Option(False, "--private", help="Create the repo as private."),
    revision: str = typer.Option(None, "--revision",
                                 help="Branch to commit to (created if missing; default main)."),
    allow_contaminated: bool = typer.Option(
        False, "--allow-contaminated",
        help="Publish even if rows carry a true contaminated_<bench> flag."),
    license: str = typer.Option(None, "--license",
                                help="License id for the card (default: unknown)."),
    no_variants: bool = typer.Option(False, "--no-variants",
                                     help="Only this version, not the variants made from it."),
    dry_run: str = typer.Option(None, "--dry-run", metavar="DIR",
                                help="Write the folder that would be uploaded to DIR; no "
                                     "network, no token, catalog unchanged."),
    json_out: bool = typer.Option(False, "--json", help="Print the publication as JSON."),
) -> None:
    """Upload a version and its variants (one config each) with a provenance card.

    The token comes from HF_TOKEN or `hf auth login` and is never printed. The published
    commit is recorded in the catalog's `publications` table.
    """
    from curate.catalog import Catalog
    from curate.catalog.publish import publish

    pub = publish(Catalog(create=False), spec, repo, private=private, revision=revision,
                  allow_contaminated=allow_contaminated, dry_run=dry_run, license=license,
                  variants=not no_variants, progress=not json_out)
    if json_out:
        print_json(asdict(pub))
    elif pub.folder:
        console.print(f"dry run: {pub.dataset} ({', '.join(pub.configs)}) written to "
                      f"{esc(pub.folder)}; nothing uploaded")
    else:
        console.print(f"published [bold]{pub.dataset}[/bold] ({', '.join(pub.configs)}) to "
                      f"{esc(pub.repo)} at {pub.commit_sha}")
        if pub.url:
            console.print(pub.url, markup=False)


def register(app: typer.Typer) -> None:
    app.command("publish")(publish_cmd)
