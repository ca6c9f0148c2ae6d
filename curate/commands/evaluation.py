"""Verb: `curate eval MODEL_OR_RUN --suite NAME`."""

from __future__ import annotations

from pathlib import Path

import typer

from curate.commands._common import console, err_console, esc, print_json, print_rows

SUITES_HELP = """Score a model (or every checkpoint of a run) on a benchmark suite. Each suite runs its paper's benchmarks with the paper's decoding, each in its group (math / other / non), so `curate probe ti` gets TI_other and TI_non from one run.

p1 (arXiv 2507.00432): MATH-500 x1, AIME24 and AIME25 x10, GPQA-Diamond x3, LiveCodeBench v2 (T=0.7, 32,768 tokens; math scored by hendrycks is_equiv on the last boxed answer); OlympiadBench, ACPBench, HeadQA, CoQA, IFEval, HaluEval and MC-TACO through lm-evaluation-harness (greedy, chat template, 32,768 tokens).

p3 (arXiv 2604.06628): MATH-500 avg@3, AIME24 avg@10, GPQA-Diamond and LiveCodeBench v2 avg@3 (T=0.6, top-p 0.95, seed 1234, math-verify); MMLU-Pro 1k, IFEval and HaluEval through lm-evaluation-harness (greedy); TruthfulQA (T=0.6, truth and informativeness judges); AlpacaEval 2.0 (reward model); HEx-PHI (T=0.6, 16,384 tokens, judge; attack success rate, lower is safer).

math: the P3 math part only. local:FILE[,FILE]: your own files.

Judged and reward-scored benchmarks need their scorer: --judge (HEx-PHI), --truth-judge and --info-judge (TruthfulQA), --reward-model (AlpacaEval); or leave them out with --skip. Local copies of the benchmarks are read from $CURATE_BENCHMARK_DIR; --list-benchmarks shows which are present.
"""


def eval_cmd(
    target: str = typer.Argument(None, help="A model folder, hub id, checkpoint id, or a "
                                 "training run id (evaluates every checkpoint and plots them by "
                                 "step)."),
    suite: str = typer.Option(None, "--suite", help="p1 | p3 | math | local:FILE[,FILE]"),
    samples: int = typer.Option(None, "--samples", help="k samples per problem (default: the "
                                "suite's, e.g. MATH-500 avg@3, AIME24 avg@10)."),
    limit: int = typer.Option(None, "--limit", help="Only the first N problems per benchmark "
                              "(per subset, for ACPBench and HaluEval)."),
    max_new_tokens: int = typer.Option(None, "--max-new-tokens", help="Override the suite's "
                                       "generation budget (32768)."),
    temperature: float = typer.Option(None, "--temperature", help="Override the suite's T."),
    teacher: str = typer.Option(None, "--teacher", help="Generate through a serving teacher "
                                "(vllm:MODEL, openai:URL, ...) instead of loading the model."),
    judge: str = typer.Option(None, "--judge", help="HEx-PHI's judge: a teacher spec "
                              "(vllm:MODEL, openai:URL, transformers:PATH); P3 used GPT-4.1."),
    truth_judge: str = typer.Option(None, "--truth-judge", help="TruthfulQA's truth judge "
                                    "(a model folder, run as a completion model, or a teacher "
                                    "spec); P3: allenai/truthfulqa-truth-judge-llama2-7B."),
    info_judge: str = typer.Option(None, "--info-judge", help="TruthfulQA's informativeness "
                                   "judge; P3: allenai/truthfulqa-info-judge-llama2-7B."),
    judge_max_tokens: int = typer.Option(None, "--judge-max-tokens", help="Tokens the "
                                         "HEx-PHI judge may write per verdict (default "
                                         "4096)."),
    reward_model: str = typer.Option(None, "--reward-model", help="AlpacaEval's reward model "
                                     "(a sequence-classification model folder or hub id); P3: "
                                     "allenai/Llama-3.1-8B-Instruct-RM-RB2."),
    skip: str = typer.Option(None, "--skip", help="Benchmarks to leave out, comma separated."),
    think: str = typer.Option(None, "--think", help="Harness tasks: strip (score the text "
                              "after the last </think>, the default) or raw (the whole "
                              "output, as P1's lm-eval fork scored it)."),
    list_benchmarks: bool = typer.Option(False, "--list-benchmarks", help="List the "
                                         "registered benchmarks: source, revision, metric, "
                                         "group, and whether a local copy is present."),
    name: str = typer.Option(None, "--name", help="Record the model under this name in evals."),
    device: str = typer.Option(None, "--device"),
    dtype: str = typer.Option(None, "--dtype"),
    batch_size: int = typer.Option(8, "--batch-size"),
    include_base: bool = typer.Option(True, "--base/--no-base",
                                      help="For a run: also evaluate its base model as step 0."),
    json_out: bool = typer.Option(False, "--json", help="Print the figures as JSON."),
) -> None:
    if list_benchmarks:
        _list_benchmarks(json_out)
        return
    from curate.errors import BadInput

    if not target or not suite:
        raise BadInput("give a MODEL_OR_RUN and --suite (or --list-benchmarks)")
    from curate.catalog import Catalog
    from curate.probes.evaluation import evaluate

    scorers = {k: v for k, v in (("judge", judge), ("truth_judge", truth_judge),
                                 ("info_judge", info_judge), ("reward_model", reward_model))
               if v}
    if judge_max_tokens is not None:
        if judge_max_tokens < 1:
            raise BadInput(f"--judge-max-tokens must be at least 1, got {judge_max_tokens}")
        scorers["judge_max_tokens"] = judge_max_tokens
    res = evaluate(Catalog(), target, suite, samples=samples, limit=limit,
                   max_new_tokens=max_new_tokens, temperature=temperature, teacher=teacher,
                   name=name, device=device, dtype=dtype, batch_size=batch_size,
                   include_base=include_base, progress=not json_out, scorers=scorers,
                   skip=[x.strip() for x in skip.split(",") if x.strip()] if skip else None,
                   think=think)
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
            if f.get("verifier_failures"):
                row["undecided"] = f["verifier_failures"]
            rows.append(row)
    print_rows(rows, title=f"eval on suite {suite} (accuracy = avg@k, fractions of 1)")
    if any("undecided" in r for r in rows):
        err_console.print("[yellow]undecided: responses the verifier could not decide within "
                          "its CPU budget (scored wrong); see verify_detail in the outputs"
                          "[/yellow]")
    if res.get("plot_path"):
        console.print(f"trajectory plot: {esc(res['plot_path'])}")


def _list_benchmarks(json_out: bool) -> None:
    from curate.corpora.benchmarks import benchmark_table

    rows = benchmark_table()
    if json_out:
        print_json(rows)
        return
    print_rows([{"name": r["name"], "group": r["group"], "source": r["source"],
                 "revision": r["revision"][:12], "metric": r["metric"]
                 + ("" if r["higher_is_better"] else " (lower is better)"),
                 "scorer": r["scorer"], "local": "yes" if r["local"] else "no"} for r in rows],
               title="benchmarks (local copies under $CURATE_BENCHMARK_DIR)")
    console.print("A local copy goes under $CURATE_BENCHMARK_DIR in the source's own format "
                  "(`--list-benchmarks --json` gives each one's `local_layout`, e.g. "
                  "aime25/aime25_test.jsonl).", markup=False)


def register(app: typer.Typer) -> None:
    app.command("eval", help=SUITES_HELP)(eval_cmd)
