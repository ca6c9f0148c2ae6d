"""Verbs: `curate probe ti|kl|pca-shift|rank-shift`."""

from __future__ import annotations

import typer

from curate.commands._common import console, err_console, esc, print_json, print_rows

probe_app = typer.Typer(help="Compare a model with its base: TI, PCA shift, token KL, rank shift.",
                        no_args_is_help=True)

_MODEL = typer.Option(..., "--model", help="Fine-tuned model: a folder, checkpoint id or hub id.")
_BASE = typer.Option(..., "--base", help="Its base model: a folder, checkpoint id or hub id.")
_TEXTS = typer.Option(..., "--texts", help="A catalog dataset (NAME or NAME@VERSION), "
                      "benchmark:NAME from the registry, or a local .jsonl/.json/.parquet with "
                      "`text`, `prompt`/`response`, `input`/`output`, `messages` or `problem` "
                      "fields; several joined by commas. A `task` field groups rows.")
_JSON = typer.Option(False, "--json", help="Print the figures as JSON.")
_DEVICE = typer.Option(None, "--device", help="cuda / cpu (default: cuda when present).")
_DTYPE = typer.Option(None, "--dtype", help="bf16 / fp16 / fp32 (default: bf16 on GPU, fp32 on CPU).")
_ATTN = typer.Option(None, "--attn-implementation", help="eager | sdpa | flash_attention_2 "
                     "(default: transformers' choice; recorded). The released PCA shift "
                     "depends on it (P1 ran flash_attention_2).")
_NOTHINK = typer.Option(False, "--nothink", help="P1's non-thinking prompt form: the chat "
                        "template with enable_thinking=False (an empty think block).")
_GEN = typer.Option(512, "--gen-max-tokens", help="Rows with only a prompt: the model's own "
                    "greedy response, at most this many tokens.")


def _cat():
    from curate.catalog import Catalog

    return Catalog()


@probe_app.command("ti")
def ti(model: str = typer.Option(..., "--model", help="Model name as recorded in evals."),
       base: str = typer.Option(..., "--base", help="Base model name as recorded in evals."),
       formula: str = typer.Option("icml", "--formula", help="v1 (relative gain) or icml."),
       metric: str = typer.Option("accuracy", "--metric", help="Evals metric used as the score."),
       ddof: int = typer.Option(0, "--ddof", help="Std convention of the ICML formula (0 or 1)."),
       scores: str = typer.Option(None, "--scores", help="Your own score table (CSV, JSONL, "
                                  "JSON, Parquet: model, benchmark, group, score) instead of "
                                  "the catalog's evals; needs --scale."),
       scale: str = typer.Option(None, "--scale", help="The --scores table's scale: percent "
                                 "(0-100) or fraction (0-1)."),
       min_math_share: float = typer.Option(0.1, "--min-math-share", help="TI is undefined "
                                            "when the math gain is below this share of the "
                                            "math benchmarks' mean magnitude (0: off)."),
       json_out: bool = _JSON) -> None:
    """Transferability Index of MODEL over BASE from the catalog's evals (or --scores)."""
    from curate.errors import BadInput
    from curate.probes.runner import run_ti

    if scale and not scores:
        raise BadInput("--scale goes with --scores FILE")
    res = run_ti(_cat(), model, base, formula=formula, metric=metric, ddof=ddof, scores=scores,
                 scale=scale, min_math_share=min_math_share)
    if json_out:
        print_json(res)
        return
    print_rows([{k: round(v, 4) if isinstance(v, float) else v for k, v in r.items()}
                for r in res["benchmarks"]], title=f"per benchmark ({formula})")
    print_rows(res["table"], title=f"TI of {model} vs {base} ({formula})")
    for w in res["warnings"]:
        err_console.print(f"[yellow]warning:[/yellow] {esc(w)}")
    if res["reason"]:
        err_console.print(f"[yellow]TI undefined:[/yellow] {esc(res['reason'])}")


def _shift(probe: str, model: str, base: str, texts: str, json_out: bool, **kw) -> None:
    from curate.probes.runner import run_shift_probe, summary

    res = run_shift_probe(_cat(), probe, model, base, texts, progress=not json_out, **kw)
    if json_out:
        if probe == "rank-shift":
            print_json(res)
        else:
            print_json({k: v for k, v in res.items() if k != "tasks"} | {
                "tasks": _light_tasks(probe, res["tasks"])})
        return
    print_rows([{"figure": k, "value": v} for k, v in summary(probe, res).items()],
               title=f"{probe}: {model} vs {base}")
    if probe == "rank-shift":
        print_rows(res["overall"]["top_shifted_tokens"][:15], title="most shifted tokens (inferred)")
    console.print(f"plot: {esc(res.get('plot_path'))}   probe id: {res['probe_id']}")


def _light_tasks(probe: str, tasks: dict) -> dict:
    """Task figures without the bulky per-layer / per-sample lists."""
    if probe == "pca-shift":
        return {t: {"d": r["d"], "centroid_shift": r["centroid_shift"], "k": r["k"],
                    "group": r["group"]} for t, r in tasks.items()}
    return {t: {k: v for k, v in r.items() if k != "per_sample_kl"} for t, r in tasks.items()}


@probe_app.command("kl")
def kl(model: str = _MODEL, base: str = _BASE, texts: str = _TEXTS,
       limit: int = typer.Option(100, "--limit", help="First N rows per task (released: 100)."),
       released: bool = typer.Option(True, "--released/--fixed",
                                     help="Keep the released off-by-one (skips the first "
                                          "response token) or score every response token."),
       chat_template: bool = typer.Option(True, "--chat-template/--no-chat-template",
                                          help="Render prompt rows with the base's chat template."),
       nothink: bool = _NOTHINK, gen_max_tokens: int = _GEN,
       attn_implementation: str = _ATTN,
       device: str = _DEVICE, dtype: str = _DTYPE, json_out: bool = _JSON) -> None:
    """Token-level KL of MODEL vs BASE over MODEL's responses (as released + full vocabulary);
    rows with only a prompt are answered by MODEL first."""
    _shift("kl", model, base, texts, json_out, limit=limit, released=released,
           chat_template=chat_template, nothink=nothink, gen_max_tokens=gen_max_tokens,
           attn_implementation=attn_implementation, device=device, dtype=dtype)


@probe_app.command("pca-shift")
def pca_shift(model: str = _MODEL, base: str = _BASE, texts: str = _TEXTS,
              k: int = typer.Option(100, "--k", help="Texts per task (released script: 100)."),
              seed: int = typer.Option(42, "--seed"),
              max_length: int = typer.Option(128, "--max-length"),
              pooling: str = typer.Option("released", "--pooling",
                                          help="released (mean over padded positions) or masked."),
              batch_size: int = typer.Option(8, "--batch-size"),
              attn_implementation: str = _ATTN,
              device: str = _DEVICE, dtype: str = _DTYPE, json_out: bool = _JSON) -> None:
    """Hidden-state PCA shift of MODEL vs BASE per task (PCA fitted on BASE)."""
    _shift("pca-shift", model, base, texts, json_out, k=k, seed=seed, max_length=max_length,
           pooling=pooling, batch_size=batch_size, attn_implementation=attn_implementation,
           device=device, dtype=dtype)


@probe_app.command("rank-shift")
def rank_shift(model: str = _MODEL, base: str = _BASE, texts: str = _TEXTS,
               limit: int = typer.Option(100, "--limit"),
               top: int = typer.Option(20, "--top", help="How many shifted token types to list."),
               released: bool = typer.Option(True, "--released/--fixed"),
               chat_template: bool = typer.Option(True, "--chat-template/--no-chat-template"),
               nothink: bool = _NOTHINK, gen_max_tokens: int = _GEN,
               attn_implementation: str = _ATTN,
               device: str = _DEVICE, dtype: str = _DTYPE, json_out: bool = _JSON) -> None:
    """Token rank shift of MODEL vs BASE and the most shifted tokens (inferred definition)."""
    _shift("rank-shift", model, base, texts, json_out, limit=limit, top=top, released=released,
           chat_template=chat_template, nothink=nothink, gen_max_tokens=gen_max_tokens,
           attn_implementation=attn_implementation, device=device, dtype=dtype)


def register(app: typer.Typer) -> None:
    app.add_typer(probe_app, name="probe")
