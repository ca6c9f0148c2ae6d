"""Verb: `curate generate` (Countdown with the search teacher; math with teacher models)."""

from __future__ import annotations

import typer

from curate.commands import _executor as X
from curate.commands._common import console, esc, print_json
from curate.errors import CurateError


def generate(
    task: str = typer.Option(..., "--task", help="countdown | math"),
    name: str = typer.Option(..., "--name", help="Name of the traces dataset to register."),
    teacher: str = typer.Option("search", "--teacher",
                                help="search (Countdown), or vllm:MODEL, sglang:MODEL, "
                                     "openai:URL, transformers:PATH"),
    n: int = typer.Option(None, "-n", "--n",
                          help="How many problems: Countdown draws this many (default 1000); "
                               "math samples this many prompts with --seed (default all)."),
    prompts: str = typer.Option(None, "--prompts", help="Math: prompt source: a catalog "
                                "dataset, a JSONL/Parquet file (prompt, optional problem_id, "
                                "reference) or hf:ORG/NAME[:config][:split]."),
    samples: int = typer.Option(1, "--samples", help="Math: samples per prompt."),
    max_tokens: int = typer.Option(16384, "--max-tokens", help="Math: max new tokens."),
    temperature: float = typer.Option(0.6, "--temperature"),
    top_p: float = typer.Option(0.95, "--top-p"),
    top_k: int = typer.Option(20, "--top-k", help="Math: top-k (0 or -1: not sent; the OpenAI "
                              "API itself takes no top_k)."),
    min_p: float = typer.Option(None, "--min-p"),
    system: str = typer.Option(None, "--system", help="Math: system prompt."),
    prompt_template: str = typer.Option(None, "--prompt-template",
                                        help="Math: user turn, e.g. '{problem}\\nPut the final "
                                             "answer in \\boxed{}.'"),
    thinking: bool = typer.Option(None, "--thinking/--no-thinking",
                                  help="Math: chat-template enable_thinking (Qwen3 style)."),
    chat_template_kwargs: str = typer.Option(None, "--chat-template-kwargs",
                                             help="Math: JSON object passed to the template."),
    stop: list[str] = typer.Option(None, "--stop", help="Math: stop string (repeatable)."),
    model: str = typer.Option(None, "--model", help="openai: the model name at the endpoint "
                              "(default: the first it lists)."),
    tensor_parallel: int = typer.Option(1, "--tensor-parallel", help="vllm/sglang: GPUs per replica."),
    data_parallel: int = typer.Option(1, "--data-parallel", help="vllm/sglang: replicas."),
    max_model_len: int = typer.Option(None, "--max-model-len", help="vllm/sglang: context length."),
    server_arg: list[str] = typer.Option(None, "--server-arg",
                                         help="Extra argument for the launched server (repeatable)."),
    concurrency: str = typer.Option("64", "--concurrency", help="Math: requests in flight, or "
                                    "auto: replicas x sequences per replica (vLLM: "
                                    "--data-parallel x --max-num-seqs; SGLang: what it reports)."),
    timeout: float = typer.Option(1800.0, "--timeout", help="Math: seconds per request."),
    max_retries: int = typer.Option(8, "--max-retries", help="Math: retries on 429/5xx/errors."),
    prompt_field: str = typer.Option(None, "--prompt-field", help="Field holding the prompt."),
    reference_field: str = typer.Option(None, "--reference-field", help="Field holding the answer."),
    id_field: str = typer.Option(None, "--id-field", help="Field holding the problem id."),
    subset: list[str] = typer.Option(None, "--subset", help="Math: keep prompt rows whose FIELD "
                                     "equals VALUE (FIELD=VALUE, repeatable), before -n."),
    api_key_env: str = typer.Option("OPENAI_API_KEY", "--api-key-env",
                                    help="openai: environment variable with the API key "
                                         "(never printed)."),
    numbers: int = typer.Option(4, "--numbers", help="Countdown: numbers per problem (3-6)."),
    seed: int = typer.Option(0, "--seed", help="Random seed (same seed, same dataset)."),
    split: str = typer.Option("train", "--split", help="Countdown: train | test (held-out targets)."),
    strategy: str = typer.Option("dfs", help="Countdown search: dfs | beam | random."),
    heuristic: str = typer.Option("sum", help="Countdown search heuristic: sum | mult | random."),
    beam_width: int = typer.Option(3, help="Countdown beam width."),
    style: str = typer.Option("sos", help="Countdown trace style: sos (compact) | prose."),
    optimal_only: bool = typer.Option(False, help="Countdown: trace only the solution path."),
    max_nodes: int = typer.Option(300, help="Countdown: operations the whole search may "
                                  "explore (bounds trace length); a problem not solved within "
                                  "it is dropped and another drawn (counted in the lineage)."),
    answer_tag: bool = typer.Option(False, help="Countdown: also write <answer>...</answer>."),
    semantics: str = typer.Option("integer", help="Countdown: integer (no negatives, exact "
                                  "division) | rational."),
    max_target: int = typer.Option(100, help="Countdown: largest target."),
    max_number: int = typer.Option(99, help="Countdown: largest input number."),
    workers: int = typer.Option(None, help="Worker processes (default: all cores)."),
    json_out: bool = typer.Option(False, "--json", help="Print the registered version as JSON."),
    executor: str = X.EXECUTOR, tasks: int = X.TASKS,
    partition: str = X.PARTITION, time: str = X.TIME, cpus_per_task: int = X.CPUS,
    mem_per_cpu_gb: float = X.MEM, gpus_per_task: int = X.GPUS, sbatch_arg: list[str] = X.SBATCH,
    dry_run: bool = X.DRY_RUN,
) -> None:
    """Generate traces with a teacher and register them in the catalog.

    Countdown: --task countdown --teacher search -n N

    Math: --task math --prompts SOURCE --teacher vllm:MODEL | sglang:MODEL | openai:URL | transformers:PATH

    Every answer is cached as it arrives: run the same command again after an interruption and only the missing requests are sent.
    """
    from curate.catalog import Catalog
    from curate.catalog.catalog import check_names, ref_dict

    check_names(name, *([f"{name}-failures"] if task == "math" else []))
    if task == "countdown":
        if executor:
            raise CurateError("--executor is for --task math; Countdown's search teacher runs "
                              "here, on --workers processes")
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
            Catalog(), name, n or 1000, numbers=numbers, seed=seed, split=split, workers=workers,
            cfg=cfg, progress=not json_out, strategy=strategy, heuristic=heuristic,
            beam_width=beam_width, style=style, optimal_only=optimal_only,
            answer_tag=answer_tag, semantics=semantics, max_nodes=max_nodes)
    elif task == "math":
        ref, summary = _generate_math(Catalog(), name, locals(), json_out)
    else:
        raise CurateError(f"unknown --task {task!r} (countdown, math)")
    if json_out:
        print_json({**ref_dict(ref), **({"summary": summary} if task == "math" else {})})
    else:
        console.print(f"registered [bold]{ref.spec}[/bold] ({ref.rows} rows)")


def _generate_math(catalog, name: str, o: dict, json_out: bool):
    import json

    from curate.curation.generate import GenerateConfig, generate_traces
    from curate.curation.teachers.spec import parse_teacher

    if not o["prompts"]:
        raise CurateError("--task math needs --prompts SOURCE")
    if o["teacher"] == "search":
        raise CurateError("--task math needs --teacher vllm:MODEL, sglang:MODEL, openai:URL "
                          "or transformers:PATH")
    kwargs = {}
    if o["chat_template_kwargs"]:
        try:
            kwargs = json.loads(o["chat_template_kwargs"])
        except ValueError:
            kwargs = None
        if not isinstance(kwargs, dict):
            raise CurateError("--chat-template-kwargs must be a JSON object")
    cfg = GenerateConfig(samples=o["samples"], max_tokens=o["max_tokens"],
                         temperature=o["temperature"], top_p=o["top_p"],
                         top_k=o["top_k"] if o["top_k"] and o["top_k"] > 0 else None,
                         min_p=o["min_p"], seed=o["seed"], system=o["system"],
                         prompt_template=o["prompt_template"], enable_thinking=o["thinking"],
                         chat_template_kwargs=kwargs, stop=o["stop"] or None,
                         concurrency=o["concurrency"], timeout=o["timeout"],
                         max_retries=o["max_retries"])
    spec = parse_teacher(o["teacher"], model=o["model"], tensor_parallel=o["tensor_parallel"],
                         data_parallel=o["data_parallel"], max_model_len=o["max_model_len"],
                         server_args=o["server_arg"] or None)
    where = {}
    for item in o["subset"] or []:
        k, sep, v = item.partition("=")
        if not sep or not k:
            raise CurateError(f"--subset {item!r}: expected FIELD=VALUE")
        where[k] = v
    from curate.curation.generate import check_concurrency

    cfg.concurrency = check_concurrency(o["concurrency"])
    ex = X.spec_from(o["executor"], o["tasks"], o["workers"] if o["executor"] else None,
                     o["partition"], o["time"], o["cpus_per_task"], o["mem_per_cpu_gb"],
                     o["gpus_per_task"], o["sbatch_arg"], o["dry_run"])
    res = generate_traces(catalog, name, o["prompts"], spec, cfg, n=o["n"], subset=where or None,
                          prompt_field=o["prompt_field"], reference_field=o["reference_field"],
                          id_field=o["id_field"], api_key_env=o["api_key_env"],
                          progress=not json_out, executor=ex)
    if X.dry_run_done(res):
        raise SystemExit(0)
    s = res.summary
    if not json_out:
        fails = ", ".join(f"{k}: {v}" for k, v in s["failures"].items()) or "none"
        console.print(f"{s['rows']}/{s['requests']} rows · sent {s['sent']} (cached "
                      f"{s['cached']}) · {s['completion_tokens']:,} completion tokens · "
                      f"{s['truncated']} truncated · failures: {esc(fails)} · {s['wall_s']:.1f} s")
        notes = [f"{s[k]} {what}" for k, what in (
            ("unclosed_think", "ended inside thinking (stored as reasoning, empty answer)"),
            ("answer_recovered", "answers recovered from reasoning_content (thinking off)"),
            ("empty_answer", "with an empty answer")) if s.get(k)]
        if notes:
            console.print(" · ".join(notes), markup=False)
        if res.failures is not None:
            console.print(f"failed requests are in [bold]{res.failures.spec}[/bold]; "
                          "run the same command again to retry the ones that may succeed")
    return res.ref, s


def register(app: typer.Typer) -> None:
    app.command("generate")(generate)
