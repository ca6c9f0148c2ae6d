"""Verb: `curate eval MODEL_OR_RUN --suite NAME`."""

from __future__ import annotations

from pathlib import Path

import typer

from curate.commands._common import console, print_json, print_rows


def eval_cmd(
    target: str = typer.Argument(..., help="A model folder, hub id, checkpoint id, or a training "
                                 "run id (evaluates every checkpoint and plots them by step)."),
    suite: str = typer.Option(..., "--suite", help="p3 | p1 | math | local:FILE[,FILE]"),
    samples: int = typer.Option(None, "--samples", help="k samples per problem (default: the "
                                "suite's, e.g. MATH-500 avg@3, AIME24 avg@10)."),
    limit: int = typer.Option(None, "--limit", help="Only the first N problems per benchmark."),
    max_new_tokens: int = typer.Option(None, "--max-new-tokens", help="Override the suite's "
                                       "generation budget (32768)."),
    temperature: float = typer.Option(None, "--temperature", help="Override the suite's T."),
    teacher: str = typer.Option(None, "--teacher", help="Generate through a serving teacher "
                                "(vllm:MODEL, openai:URL, ...) instead of loading the model."),
    name: str = typer.Option(None, "--name", help="Record the model under this name in evals."),
    device: str = typer.Option(None, "--device"),
    dtype: str = typer.Option(None, "--dtype"),
    batch_size: int = typer.Option(8, "--batch-size"),
    include_base: bool = typer.Option(True, "--base/--no-base",
                                      help="For a run: also evaluate its base model as step 0."),
    json_out: bool = typer.Option(False, "--json", help="Print the figures as JSON."),
) -> None:
    """Score a model (or every checkpoint of a run) on a benchmark suite."""
    from curate.catalog import Catalog
    from curate.probes.evaluation import evaluate

    res = evaluate(Catalog(), target, suite, samples=samples, limit=limit,
                   max_new_tokens=max_new_tokens, temperature=temperature, teacher=teacher,
                   name=name, device=device, dtype=dtype, batch_size=batch_size,
                   include_base=include_base, progress=not json_out)
    if json_out:
        print_json(res)
        return
    evals = res.get("evals") or [res]
    rows = []
    for e in evals:
        for b, f in e["benchmarks"].items():
            k = f["k"]
            row = {"model": Path(e["model"]).name or e["model"]}
            if e.get("step") is not None:
                row["step"] = e["step"]
            # the same keys and units as --json and the evals table: fractions in [0, 1]
            row.update({"benchmark": b, "group": f["group"], "problems": f["problems"], "k": k,
                        "accuracy": round(f["accuracy"], 4),
                        "pass@1": round(f["pass@1"], 4),
                        f"pass@{k}": round(f[f"pass@{k}"], 4),
                        "mean_response_tokens": round(f["mean_response_tokens"] or 0, 1),
                        "truncation_rate": round(f["truncation_rate"] or 0, 4)})
            rows.append(row)
    print_rows(rows, title=f"eval on suite {suite} (accuracy = avg@k, fractions of 1)")
    if res.get("plot_path"):
        console.print(f"trajectory plot: {res['plot_path']}")


def register(app: typer.Typer) -> None:
    app.command("eval")(eval_cmd)
