"""Verb: `curate generate` (Countdown with the search teacher; math with teacher models)."""

from __future__ import annotations

import typer

from curate.commands._common import console, print_json
from curate.errors import CurateError


def generate(
    task: str = typer.Option(..., "--task", help="countdown | math"),
    name: str = typer.Option(..., "--name", help="Name of the traces dataset to register."),
    teacher: str = typer.Option("search", "--teacher",
                                help="search (Countdown), or vllm:MODEL, sglang:MODEL, "
                                     "openai:URL, transformers:PATH"),
    n: int = typer.Option(1000, "-n", "--n", help="Countdown: how many problems."),
    numbers: int = typer.Option(4, "--numbers", help="Countdown: numbers per problem (3-6)."),
    seed: int = typer.Option(0, "--seed", help="Random seed (same seed, same dataset)."),
    split: str = typer.Option("train", "--split", help="Countdown: train | test (held-out targets)."),
    strategy: str = typer.Option("dfs", help="Countdown search: dfs | beam | random."),
    heuristic: str = typer.Option("sum", help="Countdown search heuristic: sum | mult | random."),
    beam_width: int = typer.Option(3, help="Countdown beam width."),
    style: str = typer.Option("sos", help="Countdown trace style: sos (compact) | prose."),
    optimal_only: bool = typer.Option(False, help="Countdown: trace only the solution path."),
    max_nodes: int = typer.Option(300, help="Countdown: operations the heuristic search may "
                                  "explore before the systematic finish (bounds trace length)."),
    answer_tag: bool = typer.Option(False, help="Countdown: also write <answer>...</answer>."),
    semantics: str = typer.Option("integer", help="Countdown: integer (no negatives, exact "
                                  "division) | rational."),
    max_target: int = typer.Option(100, help="Countdown: largest target."),
    max_number: int = typer.Option(99, help="Countdown: largest input number."),
    workers: int = typer.Option(None, help="Worker processes (default: all cores)."),
    json_out: bool = typer.Option(False, "--json", help="Print the registered version as JSON."),
) -> None:
    """Generate traces with a teacher and register them in the catalog (resumable)."""
    from curate.catalog import Catalog
    from curate.catalog.catalog import ref_dict

    if task == "countdown":
        if teacher != "search":
            raise CurateError("--task countdown uses --teacher search")
        from curate.corpora.countdown import CountdownConfig
        from curate.curation.countdown_generate import generate_countdown

        try:
            cfg = CountdownConfig(numbers=numbers, max_target=max_target,
                                  max_number=max_number, semantics=semantics)
        except ValueError as e:
            raise CurateError(str(e)) from None
        ref = generate_countdown(
            Catalog(), name, n, numbers=numbers, seed=seed, split=split, workers=workers,
            cfg=cfg, progress=not json_out, strategy=strategy, heuristic=heuristic,
            beam_width=beam_width, style=style, optimal_only=optimal_only,
            answer_tag=answer_tag, semantics=semantics, max_nodes=max_nodes)
    elif task == "math":
        raise CurateError("--task math: teacher generation is not available in this build yet")
    else:
        raise CurateError(f"unknown --task {task!r} (countdown, math)")
    if json_out:
        print_json(ref_dict(ref))
    else:
        console.print(f"registered [bold]{ref.spec}[/bold] ({ref.rows} rows)")


def register(app: typer.Typer) -> None:
    app.command("generate")(generate)
