"""Verbs: `curate mix NAME --from DATASET[@V]:COUNT|RATIO ...`, `curate train sft`,
`curate train grpo`, `curate train lineage CHECKPOINT`."""

from __future__ import annotations

import contextlib
import sys

import typer

from curate.commands._common import console, err_console, esc, print_json, print_rows

train_app = typer.Typer(help="Train on catalog mixtures with TRL (SFT, GRPO); checkpoints are "
                        "registered in the catalog.", no_args_is_help=True)


def _cat(create: bool = True):
    from curate.catalog import Catalog

    return Catalog(create=create)


@contextlib.contextmanager
def _stdout_to_stderr(on: bool):
    """Keep stdout for the JSON document: the trainers print their logs there."""
    if not on:
        yield
        return
    with contextlib.redirect_stdout(sys.stderr):
        yield


def mix(
    name: str = typer.Argument(..., help="Name of the mixture dataset to register."),
    sources: list[str] = typer.Option(..., "--from", help="DATASET\\[@VERSION]\\[:COUNT|RATIO], "
                                      "repeatable: an integer draws that many rows, a number "
                                      "in (0, 1] that share of the dataset, nothing every row."),
    variant: str = typer.Option(None, "--variant", help="cot (keep the think block; rows "
                                "without reasoning are an error) or nocot (drop it). Default: "
                                "each row's stored messages."),
    seed: int = typer.Option(0, "--seed", help="Seed of the draw and of the shuffle."),
    shuffle: bool = typer.Option(True, "--shuffle/--no-shuffle",
                                 help="Interleave the components (seeded)."),
    json_out: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Draw rows from catalog datasets into a mixture version with lineage to each one."""
    from curate.catalog.catalog import ref_dict
    from curate.training.mixtures import build_mixture

    cat = _cat(create=False)    # the sources are catalog datasets
    ref = build_mixture(cat, name, sources, variant=variant, seed=seed, shuffle=shuffle)
    parents = cat.show(ref.spec)["parents"]
    if json_out:
        print_json({**ref_dict(ref), "spec": ref.spec, "parents": parents})
        return
    console.print(f"registered [bold]{ref.spec}[/bold] ({ref.rows} rows) from "
                  f"{', '.join(parents)}")


@train_app.command("sft")
def sft(
    mixture: str = typer.Option(..., "--mixture", help="Catalog mixture (NAME or NAME@VERSION) "
                                "with a `messages` column."),
    model: str = typer.Option(..., "--model", help="Base model: a local folder or a hub id."),
    output: str = typer.Option(..., "--output", help="Folder for checkpoints and the final model."),
    epochs: float = typer.Option(1.0, "--epochs", help="Passes over the data."),
    learning_rate: float = typer.Option(5e-5, "--learning-rate", help="Peak AdamW rate."),
    warmup_ratio: float = typer.Option(0.1, "--warmup-ratio", help="Share of steps warming up."),
    scheduler: str = typer.Option("cosine", "--scheduler", help="cosine | constant (after "
                                  "warmup)."),
    weight_decay: float = typer.Option(0.01, "--weight-decay"),
    batch_size: int = typer.Option(8, "--batch-size", help="Rows per device and step (with "
                                   "--packing: packed sequences of --max-length tokens; "
                                   "without flash-attention keep it 1, raise --grad-accum)."),
    grad_accum: int = typer.Option(1, "--grad-accum", help="Gradient accumulation steps."),
    max_length: int = typer.Option(2048, "--max-length", help="Tokens per row (or per packed "
                                   "sequence); longer rows are counted and handled by "
                                   "--overflow."),
    max_steps: int = typer.Option(None, "--max-steps", help="Stop after N optimiser steps."),
    save_steps: int = typer.Option(None, "--save-steps", help="Checkpoint every N steps (the "
                                   "final model is always saved and registered)."),
    save_at: str = typer.Option(None, "--save-at", help="Checkpoint at these steps, e.g. "
                                "10,20,40,80,160,320,480,640 (P3's dense checkpoints); with or "
                                "without --save-steps. The last step is the final model, saved "
                                "once."),
    shuffle: bool = typer.Option(True, "--shuffle/--no-shuffle", help="--no-shuffle keeps the "
                                 "mixture's order (a sequential sampler, as P3 trains)."),
    packing: bool = typer.Option(False, "--packing/--no-packing", help="Best-fit packing of "
                                 "rows into --max-length sequences (padding-free)."),
    exposures: int = typer.Option(1, "--exposures", help="Repeated exposure K: train K x epochs "
                                  "on a seeded N/K subset, the same steps as one pass over N."),
    overflow: str = typer.Option("auto", "--overflow", help="Rows over --max-length: auto "
                                 "(truncate, but refuse past --truncate-limit), truncate (keep "
                                 "the start), drop, or error."),
    truncate_limit: float = typer.Option(0.05, "--truncate-limit", help="With --overflow auto: "
                                         "the largest share of rows that may be truncated."),
    full_sequence_loss: bool = typer.Option(False, "--full-sequence-loss", help="Loss on every "
                                            "token, not only the assistant's (for templates "
                                            "without {% generation %} markers)."),
    allow_lost_reasoning: bool = typer.Option(False, "--allow-lost-reasoning", help="Train even "
                                              "when the chat template drops the think block."),
    gradient_checkpointing: bool = typer.Option(False, "--gradient-checkpointing"),
    logging_steps: int = typer.Option(10, "--logging-steps"),
    seed: int = typer.Option(0, "--seed"),
    overwrite: bool = typer.Option(False, "--overwrite", help="Write into a non-empty --output."),
    resume: bool = typer.Option(False, "--resume", help="Continue a killed run in --output "
                                "from its newest checkpoint (same settings and data version; "
                                "other settings are refused). Nothing there: train from the "
                                "start."),
    json_out: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Supervised fine-tuning (TRL SFTTrainer, assistant-only loss) on a catalog mixture."""
    from curate.training.sft import SFTOptions, train_sft

    opts = SFTOptions(epochs=epochs, learning_rate=learning_rate, warmup_ratio=warmup_ratio,
                      scheduler=scheduler, weight_decay=weight_decay, batch_size=batch_size,
                      grad_accum=grad_accum, max_length=max_length, max_steps=max_steps,
                      save_steps=save_steps, save_at=save_at, shuffle=shuffle,
                      packing=packing, exposures=exposures, overflow=overflow,
                      truncate_limit=truncate_limit, full_sequence_loss=full_sequence_loss,
                      allow_lost_reasoning=allow_lost_reasoning,
                      gradient_checkpointing=gradient_checkpointing,
                      logging_steps=logging_steps, seed=seed, overwrite=overwrite,
                      resume=resume, progress=not json_out)
    with _stdout_to_stderr(json_out):
        res = train_sft(_cat(), mixture, model, output, opts,
                        log=lambda line: err_console.print(f"[yellow]{esc(line)}[/yellow]"))
    _report(res, json_out)


@train_app.command("grpo")
def grpo(
    prompts: str = typer.Option(..., "--prompts", help="Catalog dataset with `prompt` and "
                                "`reference` (and optionally `task`) columns."),
    model: str = typer.Option(..., "--model", help="Policy: a local folder or a hub id."),
    output: str = typer.Option(..., "--output", help="Folder for checkpoints and the final model."),
    reward: list[str] = typer.Option(None, "--reward", help="countdown | math | correct (by "
                                     "task) | format; repeatable. Default: correctness by "
                                     "task."),
    reward_weights: str = typer.Option(None, "--reward-weights", help="Comma-separated, one "
                                       "per --reward."),
    format_reward: bool = typer.Option(False, "--format-reward", help="Add the format reward "
                                       "(closed think block + \\boxed answer); P1 did not."),
    num_generations: int = typer.Option(8, "--num-generations", help="Completions per prompt "
                                        "(P1: 16)."),
    max_completion_length: int = typer.Option(1024, "--max-completion-length"),
    batch_size: int = typer.Option(8, "--batch-size", help="Completions per device and step "
                                   "(a multiple of --num-generations with --grad-accum)."),
    grad_accum: int = typer.Option(1, "--grad-accum"),
    learning_rate: float = typer.Option(1e-6, "--learning-rate"),
    weight_decay: float = typer.Option(0.1, "--weight-decay"),
    warmup_steps: int = typer.Option(None, "--warmup-steps", help="Linear warmup steps (P1: "
                                     "10)."),
    beta: float = typer.Option(0.0, "--beta", help="KL coefficient (0: no reference model)."),
    epsilon: float = typer.Option(0.2, "--epsilon", help="Clip low (P1 clip_ratio_low 0.2)."),
    epsilon_high: float = typer.Option(0.28, "--epsilon-high", help="Clip high, DAPO's "
                                       "clip-higher (P1 clip_ratio_high 0.28)."),
    dynamic_sampling: bool = typer.Option(False, "--dynamic-sampling", help="Drop groups whose "
                                          "completions are all right or all wrong (DAPO; P1)."),
    overlong_buffer: int = typer.Option(0, "--overlong-buffer", help="Soft overlong "
                                        "punishment over the last N tokens before "
                                        "--max-completion-length (DAPO; P1: 4096 of 20480)."),
    overlong_penalty: float = typer.Option(1.0, "--overlong-penalty", help="Weight of the "
                                           "overlong punishment (P1 penalty_factor 1.0)."),
    mask_truncated: bool = typer.Option(False, "--mask-truncated-completions", help="Leave "
                                        "completions cut at the length limit out of the loss."),
    temperature: float = typer.Option(1.0, "--temperature", help="Rollout temperature."),
    epochs: float = typer.Option(1.0, "--epochs"),
    max_steps: int = typer.Option(None, "--max-steps"),
    save_steps: int = typer.Option(None, "--save-steps", help="Checkpoint every N steps."),
    save_at: str = typer.Option(None, "--save-at", help="Checkpoint at these steps (10,20,...)."),
    shuffle: bool = typer.Option(True, "--shuffle/--no-shuffle", help="--no-shuffle: prompts "
                                 "in dataset order."),
    limit: int = typer.Option(None, "--limit", help="Only the first N prompts."),
    vllm: str = typer.Option("auto", "--vllm", help="auto (when CUDA and vllm are there) | on "
                             "| off."),
    vllm_mode: str = typer.Option("colocate", "--vllm-mode", help="colocate (vLLM inside the "
                                  "trainer) | server (a separate `trl vllm-serve`)."),
    vllm_server: str = typer.Option(None, "--vllm-server", help="Server mode: its base URL, "
                                    "e.g. http://127.0.0.1:8000."),
    seed: int = typer.Option(0, "--seed"),
    overwrite: bool = typer.Option(False, "--overwrite", help="Write into a non-empty --output."),
    resume: bool = typer.Option(False, "--resume", help="Continue a killed run in --output "
                                "from its newest checkpoint (same settings and data version; "
                                "other settings are refused). Nothing there: train from the "
                                "start."),
    json_out: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Reinforcement learning (TRL GRPOTrainer) with verifier rewards on catalog prompts."""
    from curate.errors import BadInput
    from curate.training.grpo import GRPOOptions, train_grpo

    try:
        weights = [float(w) for w in reward_weights.split(",")] if reward_weights else None
    except ValueError:
        raise BadInput(f"--reward-weights must be numbers, got {reward_weights!r}") from None
    opts = GRPOOptions(rewards=list(reward or []), reward_weights=weights,
                       format_reward=format_reward, num_generations=num_generations,
                       max_completion_length=max_completion_length, batch_size=batch_size,
                       grad_accum=grad_accum, learning_rate=learning_rate,
                       weight_decay=weight_decay, warmup_steps=warmup_steps, beta=beta,
                       epsilon=epsilon, epsilon_high=epsilon_high,
                       dynamic_sampling=dynamic_sampling, overlong_buffer=overlong_buffer,
                       overlong_penalty=overlong_penalty, mask_truncated=mask_truncated,
                       temperature=temperature, epochs=epochs, max_steps=max_steps,
                       save_steps=save_steps, save_at=save_at, shuffle=shuffle, limit=limit,
                       vllm=vllm, vllm_mode=vllm_mode, vllm_server=vllm_server, seed=seed,
                       overwrite=overwrite, resume=resume, progress=not json_out)
    with _stdout_to_stderr(json_out):
        res = train_grpo(_cat(), prompts, model, output, opts)
    _report(res, json_out)


@train_app.command("lineage")
def lineage(
    checkpoint: str = typer.Argument(..., help="A checkpoint id, checkpoint folder or a run's "
                                     "--output folder."),
    json_out: bool = typer.Option(False, "--json", help="Print the chain as JSON."),
) -> None:
    """From a checkpoint back to its run, mixture, traces and teacher."""
    from curate.training.callbacks import checkpoint_lineage

    chain = checkpoint_lineage(_cat(create=False), checkpoint)
    if json_out:
        print_json(chain)
        return
    rows = []
    for e in chain:
        if "checkpoint" in e:
            rows.append({"node": f"checkpoint {e['checkpoint']}", "step": f"step {e['step']}",
                         "parents": e["parents"], "detail": e["path"]})
        elif "run" in e:
            rows.append({"node": f"run {e['run']}", "step": e["kind"], "parents": e["parents"],
                         "detail": {k: e["config"].get(k) for k in ("method", "model")}})
        else:
            p = e.get("params") or {}
            rows.append({"node": e["dataset"], "step": e.get("step"), "parents": e["parents"],
                         "detail": {k: p[k] for k in ("teacher", "variant", "task") if k in p}})
    print_rows(rows, title=f"lineage of {checkpoint}")


def _report(res: dict, json_out: bool) -> None:
    from curate.training.ranks import process_rank

    if process_rank() != 0:  # under torchrun every rank returns; rank 0 speaks for the run
        return
    if json_out:
        print_json(res)
        return
    console.print(f"run [bold]{res['run_id']}[/bold] on {res['device']}: {res['steps']} steps, "
                  f"{res.get('tokens_seen') or 0} tokens seen, {res['seconds']} s")
    trunc = res.get("truncation")
    if trunc:
        cut = trunc.get("truncated", 0) or trunc.get("dropped", 0)
        how = "dropped" if trunc.get("dropped") else "truncated"
        console.print(f"{cut} of {trunc['rows']} rows {how} at --max-length "
                      f"{trunc['max_length']} ({trunc['tokens_cut']} tokens cut)")
    print_rows([{k: c[k] for k in ("id", "step", "tokens_seen", "loss", "path")}
                for c in res["checkpoints"]], title="checkpoints")


@train_app.command("tiny-model")
def tiny_model(
    out_dir: str = typer.Argument(..., help="Folder to write the model and tokenizer to."),
    layers: int = typer.Option(2, "--layers"),
    hidden: int = typer.Option(64, "--hidden"),
    vocab_size: int = typer.Option(400, "--vocab-size"),
    seed: int = typer.Option(0, "--seed"),
    teach: str = typer.Option(None, "--teach", help="A JSONL of {prompt, completion} pairs "
                              "the model learns to answer (e.g. recipes/smoke/"
                              "tiny-teacher.jsonl: a smoke teacher whose answers pass the "
                              "recipe's filters)."),
    teach_steps: int = typer.Option(150, "--teach-steps", help="Optimiser steps of --teach."),
    json_out: bool = typer.Option(False, "--json", help="Print the path as JSON."),
) -> None:
    """Build a tiny local Llama (BPE trained on the spot, think-keeping chat template) for CPU
    smoke runs of `train sft`, `train grpo`, `eval` and `generate --teacher transformers:DIR`."""
    from curate.training.tiny import build_tiny_model, teach_tiny_model

    path = build_tiny_model(out_dir, layers=layers, hidden=hidden, vocab_size=vocab_size,
                            seed=seed)
    out = {"path": str(path)}
    if teach:
        out["taught"] = teach_tiny_model(path, _teach_pairs(teach), steps=teach_steps, seed=seed)
    if json_out:
        print_json(out)
    else:
        console.print(f"tiny model in [bold]{esc(path)}[/bold]" + (
            f" (taught {teach}: loss {out['taught']['loss']:.3g})" if teach else ""))


def _teach_pairs(path: str) -> list[tuple[str, str]]:
    """(prompt, completion) pairs of a JSONL file; BadInput naming the line otherwise."""
    import json

    from curate.errors import BadInput

    pairs = []
    try:
        lines = open(path, encoding="utf-8").read().splitlines()
    except OSError as e:
        raise BadInput(f"cannot read: {e.strerror}", file=path) from None
    for i, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            raise BadInput("not JSON", file=path, row=i) from None
        if not isinstance(row, dict) or not all(isinstance(row.get(k), str) and row[k]
                                                for k in ("prompt", "completion")):
            raise BadInput("needs text fields prompt and completion", file=path, row=i)
        pairs.append((row["prompt"], row["completion"]))
    if not pairs:
        raise BadInput("no pairs", file=path)
    return pairs


def register(app: typer.Typer) -> None:
    app.command("mix")(mix)
    app.add_typer(train_app, name="train")
