"""`curate train grpo`: TRL's GRPOTrainer on prompts from the catalog, rewarded by the
project's verifiers (Countdown, math) and a format check; vLLM generates when CUDA is there.

Defaults follow P1's RL recipe where it fits one machine: no KL (beta 0), clip-higher
(0.2 / 0.28), rollout temperature 1.0, lr 1e-6, weight decay 0.1.
"""

from __future__ import annotations

import importlib.util
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from curate.errors import BadInput, CurateError
from curate.training import rewards as R
from curate.training.sft import _check_output, check_model_path, device_settings, load_tokenizer

VLLM_CHOICES = ("auto", "on", "off")


@dataclass
class GRPOOptions:
    rewards: list[str] = field(default_factory=list)   # empty: by task (+ format)
    reward_weights: list[float] | None = None
    num_generations: int = 8
    max_completion_length: int = 1024
    batch_size: int = 8                  # completions per device and step
    grad_accum: int = 1
    learning_rate: float = 1e-6
    weight_decay: float = 0.1
    warmup_ratio: float = 0.0
    beta: float = 0.0
    epsilon: float = 0.2
    epsilon_high: float = 0.28
    temperature: float = 1.0
    epochs: float = 1.0
    max_steps: int | None = None
    save_steps: int | None = None
    logging_steps: int = 1
    limit: int | None = None             # use only the first N prompts
    vllm: str = "auto"                   # auto (when CUDA and vllm are there) | on | off
    seed: int = 0
    overwrite: bool = False
    progress: bool = True

    def validate(self) -> None:
        if self.vllm not in VLLM_CHOICES:
            raise BadInput(f"--vllm must be one of {', '.join(VLLM_CHOICES)}")
        if self.num_generations < 2:
            raise BadInput("--num-generations must be at least 2 (GRPO compares completions)")
        for name, v in (("--batch-size", self.batch_size), ("--grad-accum", self.grad_accum),
                        ("--max-completion-length", self.max_completion_length),
                        ("--logging-steps", self.logging_steps)):
            if v < 1:
                raise BadInput(f"{name} must be at least 1")
        if (self.batch_size * self.grad_accum) % self.num_generations:
            raise BadInput(f"--batch-size x --grad-accum ({self.batch_size * self.grad_accum}) "
                           f"must be a multiple of --num-generations ({self.num_generations})")
        for name, v in (("--max-steps", self.max_steps), ("--save-steps", self.save_steps),
                        ("--limit", self.limit)):
            if v is not None and v < 1:
                raise BadInput(f"{name} must be at least 1")
        if self.reward_weights is not None and len(self.reward_weights) != len(self.rewards):
            raise BadInput("--reward-weights needs one weight per --reward")


def use_vllm(choice: str) -> bool:
    """vLLM generation only with CUDA and vllm installed; `on` without them is an error."""
    import torch

    have = torch.cuda.is_available() and importlib.util.find_spec("vllm") is not None
    if choice == "on" and not have:
        raise CurateError("--vllm on needs a CUDA GPU and the vllm package")
    return have and choice != "off"


def prompt_rows(catalog, spec: str, limit: int | None = None, chat: bool = True,
                ) -> tuple[str, list[dict[str, Any]]]:
    """(exact spec, rows with prompt, reference, task) from a catalog dataset."""
    ref = catalog.resolve(spec)
    table = catalog.table(ref)
    missing = [c for c in ("prompt", "reference") if c not in table.column_names]
    if missing:
        raise BadInput(f"{ref.spec} has no {' or '.join(missing)} column: GRPO needs prompts "
                       "with a gold `reference` to reward against")
    if limit:
        table = table.slice(0, limit)
    cols = ["prompt", "reference"] + (["task"] if "task" in table.column_names else [])
    rows = table.select(cols).to_pylist()
    for i, r in enumerate(rows):
        if not r["prompt"]:
            raise BadInput("row has no prompt", file=ref.spec, row=i, field="prompt")
        if r["reference"] in (None, ""):
            raise BadInput("row has no reference", file=ref.spec, row=i, field="reference")
        if r.get("task") == "countdown":
            from curate.curation.verify_countdown import BadReference, parse_reference

            try:
                parse_reference(r["reference"])
            except BadReference as e:
                raise BadInput(f"bad countdown reference: {e}", file=ref.spec, row=i,
                               field="reference") from None
    out = [{"prompt": [{"role": "user", "content": r["prompt"]}] if chat else r["prompt"],
            "reference": str(r["reference"]), "task": r.get("task") or "math"} for r in rows]
    return ref.spec, out


def train_grpo(catalog, prompts: str, model: str, output: str | Path,
               opts: GRPOOptions | None = None) -> dict[str, Any]:
    """A GRPO run; its checkpoints and the run go into the catalog."""
    import datasets
    from transformers import AutoModelForCausalLM
    from trl import GRPOConfig, GRPOTrainer

    from curate.training.callbacks import CatalogCallback

    opts = opts or GRPOOptions()
    opts.validate()
    out = _check_output(output, opts.overwrite)
    model_id = check_model_path(model)
    tok = load_tokenizer(model_id)
    spec, rows = prompt_rows(catalog, prompts, opts.limit,
                             chat=bool(getattr(tok, "chat_template", None)))
    names = list(opts.rewards) or R.default_rewards({r["task"] for r in rows})
    funcs = R.reward_functions(names, tok)
    vllm = use_vllm(opts.vllm)
    dev = device_settings()
    cfg = GRPOConfig(
        output_dir=str(out), num_generations=opts.num_generations,
        max_completion_length=opts.max_completion_length,
        per_device_train_batch_size=opts.batch_size, gradient_accumulation_steps=opts.grad_accum,
        learning_rate=opts.learning_rate, weight_decay=opts.weight_decay,
        warmup_steps=opts.warmup_ratio, beta=opts.beta, epsilon=opts.epsilon,
        epsilon_high=opts.epsilon_high, temperature=opts.temperature,
        num_train_epochs=opts.epochs, max_steps=opts.max_steps or -1,
        reward_weights=opts.reward_weights, save_strategy="steps" if opts.save_steps else "no",
        save_steps=opts.save_steps or 500, save_only_model=True,
        logging_steps=opts.logging_steps, report_to="none", bf16=dev["bf16"], fp16=False,
        activation_checkpointing=False, seed=opts.seed, use_vllm=vllm,
        vllm_mode="colocate", include_num_input_tokens_seen="non_padding",
        disable_tqdm=not opts.progress, dataloader_pin_memory=dev["device"] == "cuda")
    config = {"method": "grpo", "model": model_id, "prompts": spec, "rewards": names,
              "output": str(out.resolve()), "options": asdict(opts), "device": dev["device"],
              "bf16": dev["bf16"], "vllm": vllm, "prompt_rows": len(rows)}
    run = catalog.start_run("train", config=config, inputs=[spec], name=f"grpo:{out.name}")
    try:
        lm = AutoModelForCausalLM.from_pretrained(model_id, dtype=dev["dtype"])
        cb = CatalogCallback(catalog, run, model_id, spec,
                             extra={"method": "grpo", "rewards": names})
        trainer = GRPOTrainer(model=lm, reward_funcs=funcs, args=cfg,
                              train_dataset=datasets.Dataset.from_list(rows),
                              processing_class=tok, callbacks=[cb])
        t0 = time.perf_counter()
        trainer.train()
        seconds = time.perf_counter() - t0
        trainer.save_model(str(out))
        final = cb.record(out, trainer.state, final=True)
    except BaseException as e:
        catalog.finish_run(run, "failed", error=f"{type(e).__name__}: {str(e)[:500]}")
        raise
    reward_curve = [{k: v for k, v in p.items() if k in ("step", "reward", "loss")}
                    for p in cb.curve]
    figures = {"steps": trainer.state.global_step, "seconds": round(seconds, 2),
               "tokens_seen": trainer.state.num_input_tokens_seen or None,
               "reward_curve": reward_curve, "loss_curve": cb.curve}
    catalog.finish_run(run, "ok", outputs=[c["path"] for c in cb.checkpoints], metrics=figures)
    return {"run_id": run, "prompts": spec, "model": model_id, "output": str(out.resolve()),
            "rewards": names, "vllm": vllm, "device": dev["device"],
            "checkpoints": cb.checkpoints, "final": final,
            **{k: v for k, v in figures.items() if k != "loss_curve"}}
