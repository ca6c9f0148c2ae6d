"""`curate train grpo`: TRL's GRPOTrainer on prompts from the catalog, rewarded by the
project's verifiers (Countdown, math); vLLM generates when CUDA is there (colocated, or a
separate `trl vllm-serve` server).

Defaults follow P1's RL recipe (verl DAPO with the GRPO advantage, arXiv 2507.00432
App. training script) where it fits one machine: no KL (beta 0), clip-higher
(epsilon 0.2 / epsilon_high 0.28), token-mean loss (TRL `loss_type="dapo"`), rollout
temperature 1.0, lr 1e-6, weight decay 0.1. P1 also used, opt-in here: dynamic sampling
(`dynamic_sampling`, see `curate.training.dapo`), the overlong buffer (`overlong_buffer`
4096 tokens, `overlong_penalty` 1.0: DAPO's soft overlong punishment), 10 warmup steps
(`warmup_steps`), truncated completions masked (`mask_truncated`). The format reward is
opt-in (`format_reward`): P1 rewards correctness only.
"""

from __future__ import annotations

import importlib.util
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from curate.errors import BadInput, CurateError
from curate.training import ranks, schedules
from curate.training import rewards as R
from curate.training.sft import _check_output, check_model_path, device_settings, load_tokenizer

VLLM_CHOICES = ("auto", "on", "off")
VLLM_MODES = ("colocate", "server")
CORRECTNESS = ("countdown", "math", "correct")


@dataclass
class GRPOOptions:
    rewards: list[str] = field(default_factory=list)   # empty: correctness by task
    reward_weights: list[float] | None = None
    format_reward: bool = False          # add the format reward to the defaults (opt-in)
    num_generations: int = 8
    max_completion_length: int = 1024
    batch_size: int = 8                  # completions per device and step
    grad_accum: int = 1
    learning_rate: float = 1e-6
    weight_decay: float = 0.1
    warmup_ratio: float = 0.0
    warmup_steps: int | None = None      # P1: 10 (overrides warmup_ratio)
    beta: float = 0.0
    epsilon: float = 0.2                 # clip low (P1 clip_ratio_low)
    epsilon_high: float = 0.28           # clip high (P1 clip_ratio_high)
    loss_type: str = "dapo"              # token-mean over the global batch (P1 token-mean)
    dynamic_sampling: bool = False       # drop groups whose correctness is all equal (P1)
    overlong_buffer: int = 0             # soft overlong punishment over the last N tokens
    overlong_penalty: float = 1.0        # its weight (P1 penalty_factor 1.0)
    mask_truncated: bool = False         # truncated completions out of the loss
    temperature: float = 1.0
    epochs: float = 1.0
    max_steps: int | None = None
    save_steps: int | None = None
    save_at: list[int] | None = None     # checkpoints at these steps
    shuffle: bool = True                 # False: prompts in dataset order
    logging_steps: int = 1
    limit: int | None = None             # use only the first N prompts
    vllm: str = "auto"                   # auto (when CUDA and vllm are there) | on | off
    vllm_mode: str = "colocate"          # colocate (in the trainer) | server (trl vllm-serve)
    vllm_server: str | None = None       # server mode: its base URL (http://HOST:8000)
    seed: int = 0
    overwrite: bool = False
    resume: bool = False                 # continue from the newest resumable checkpoint in output
    progress: bool = True

    def validate(self) -> None:
        if self.vllm not in VLLM_CHOICES:
            raise BadInput(f"--vllm must be one of {', '.join(VLLM_CHOICES)}")
        if self.vllm_mode not in VLLM_MODES:
            raise BadInput(f"--vllm-mode must be one of {', '.join(VLLM_MODES)}")
        if self.vllm_server and self.vllm_mode != "server":
            raise BadInput("--vllm-server needs --vllm-mode server")
        if not 0 <= self.epsilon < 1 or (self.epsilon_high is not None
                                         and self.epsilon_high < self.epsilon):
            raise BadInput("--epsilon must be in [0, 1) and --epsilon-high at least --epsilon")
        if self.overlong_buffer < 0 or self.overlong_buffer >= self.max_completion_length:
            raise BadInput("--overlong-buffer must be 0 (off) or less than "
                           "--max-completion-length")
        if self.warmup_steps is not None and self.warmup_steps < 0:
            raise BadInput("--warmup-steps must be 0 or more")
        self.save_at = schedules.parse_steps(self.save_at)
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


def use_vllm(choice: str, mode: str = "colocate", server: str | None = None) -> bool:
    """vLLM generation only with CUDA and vllm installed (server mode too: the trainer syncs
    weights to the server over NCCL); `on` without them is an error, as is server mode
    without a server URL."""
    import torch

    have = torch.cuda.is_available() and importlib.util.find_spec("vllm") is not None
    if choice == "on" and not have:
        raise CurateError("--vllm on needs a CUDA GPU and the vllm package")
    if have and choice != "off" and mode == "server" and not server:
        raise BadInput("--vllm-mode server needs --vllm-server URL (a `trl vllm-serve` server)")
    return have and choice != "off"


def reward_plan(opts: GRPOOptions, tasks: set[str | None]) -> tuple[list[str], list[float]]:
    """(reward names, weights): the named rewards or correctness by task, the format reward
    when asked for, the overlong punishment last with weight `overlong_penalty`."""
    names = list(opts.rewards) or R.default_rewards(tasks)
    if opts.format_reward and "format" not in names:
        names.append("format")
    weights = list(opts.reward_weights) if opts.reward_weights else [1.0] * len(names)
    if len(weights) < len(names):
        weights += [1.0] * (len(names) - len(weights))
    if opts.overlong_buffer:
        names.append("overlong")
        weights.append(opts.overlong_penalty)
    return names, weights


def reward_callables(names: list[str], opts: GRPOOptions, tokenizer) -> list:
    """TRL reward callables: the project's verifiers, and TRL's soft overlong punishment."""
    from trl.rewards import get_soft_overlong_punishment

    mine = R.reward_functions([n for n in names if n != "overlong"], tokenizer)
    it = iter(mine)
    return [get_soft_overlong_punishment(opts.max_completion_length, opts.overlong_buffer)
            if n == "overlong" else next(it) for n in names]


def grpo_config(opts: GRPOOptions, output: Path, dev: dict[str, Any], vllm: bool,
                weights: list[float]):
    """TRL's GRPOConfig for the options (TRL's own switches wherever it has them)."""
    from trl import GRPOConfig

    return GRPOConfig(
        output_dir=str(output), num_generations=opts.num_generations,
        max_completion_length=opts.max_completion_length,
        per_device_train_batch_size=opts.batch_size, gradient_accumulation_steps=opts.grad_accum,
        learning_rate=opts.learning_rate, weight_decay=opts.weight_decay,
        warmup_steps=opts.warmup_steps if opts.warmup_steps is not None else opts.warmup_ratio,
        beta=opts.beta, epsilon=opts.epsilon, epsilon_high=opts.epsilon_high,
        loss_type=opts.loss_type, mask_truncated_completions=opts.mask_truncated,
        temperature=opts.temperature, num_train_epochs=opts.epochs,
        max_steps=opts.max_steps or -1, reward_weights=weights,
        save_strategy="steps" if opts.save_steps else "no", save_steps=opts.save_steps or 500,
        save_only_model=False, shuffle_dataset=opts.shuffle,
        logging_steps=opts.logging_steps, report_to="none", bf16=dev["bf16"], fp16=False,
        activation_checkpointing=False, seed=opts.seed, use_vllm=vllm,
        vllm_mode=opts.vllm_mode, vllm_server_base_url=opts.vllm_server,
        include_num_input_tokens_seen="non_padding",
        disable_tqdm=True, dataloader_pin_memory=dev["device"] == "cuda")


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
               opts: GRPOOptions | None = None,
               tags: dict[str, Any] | None = None) -> dict[str, Any]:
    """A GRPO run; its checkpoints and the run go into the catalog (rank 0 only); `tags` go
    into the run's config.

    Returns {run_id, prompts, model, output, rewards, checkpoints, final, steps,
    resumed_from, ...}. `opts.resume` continues a killed run in `output` from its newest
    resumable checkpoint, as `train_sft` does (`curate.training.resume`). Raises BadInput
    before training for prompts without `prompt`/`reference`, unknown rewards, inconsistent
    batch settings, or a `resume` into another run's folder.

    Example: ``train_grpo(cat, "countdown-test", "runs/sft", "runs/grpo", GRPOOptions(max_steps=10))``.
    """
    import datasets
    from transformers import AutoModelForCausalLM
    from trl import GRPOTrainer

    from curate.training import resume
    from curate.training.callbacks import CatalogCallback, SaveAtCallback, quiet_trainer
    from curate.training.dapo import dynamic_sampling_trainer

    opts = opts or GRPOOptions()
    opts.validate()
    out = _check_output(output, opts.overwrite or opts.resume)
    model_id = check_model_path(model)
    tok = load_tokenizer(model_id)
    spec, rows = prompt_rows(catalog, prompts, opts.limit,
                             chat=bool(getattr(tok, "chat_template", None)))
    names, weights = reward_plan(opts, {r["task"] for r in rows})
    funcs = reward_callables(names, opts, tok)
    vllm = use_vllm(opts.vllm, opts.vllm_mode, opts.vllm_server)
    dev = device_settings()
    world = ranks.world_size()
    per_step = schedules.global_batch(opts.batch_size, opts.grad_accum, world)
    steps = opts.max_steps or schedules.plan(len(rows) * opts.num_generations, per_step,
                                             opts.epochs).steps
    schedules.check_save_at(opts.save_at or [], steps)
    cfg = grpo_config(opts, out, dev, vllm, weights)
    config = {"method": "grpo", "model": model_id, "prompts": spec, "rewards": names,
              "reward_weights": weights, "output": str(out.resolve()), "options": asdict(opts),
              "device": dev["device"], "bf16": dev["bf16"], "vllm": vllm,
              "vllm_mode": opts.vllm_mode if vllm else None, "prompt_rows": len(rows),
              "plan": {"completions_per_step": per_step, "steps": steps, "world_size": world},
              "tags": tags or {}}
    key = resume.run_key("grpo", model_id, spec, asdict(opts),
                         {**config["plan"], "rewards": names, "reward_weights": weights,
                          "vllm": vllm})
    cont = resume.begin(catalog, out, key, opts.resume, opts.overwrite)
    writer = ranks.catalog_writer(catalog)
    run = resume.open_run(writer, cont, out, key, config, [spec], f"grpo:{out.name}")
    try:
        lm = AutoModelForCausalLM.from_pretrained(model_id, dtype=dev["dtype"])
        cb = CatalogCallback(writer, run, model_id, spec,
                             extra={"method": "grpo", "rewards": names},
                             prior=resume.prior_checkpoints(catalog, cont["run_id"],
                                                            cont["step"]))
        cls = (dynamic_sampling_trainer([i for i, n in enumerate(names) if n in CORRECTNESS]
                                        or None) if opts.dynamic_sampling else GRPOTrainer)
        trainer = cls(model=lm, reward_funcs=funcs, args=cfg,
                      train_dataset=datasets.Dataset.from_list(rows), processing_class=tok,
                      callbacks=[SaveAtCallback(opts.save_at), cb, resume.PruneOlderState()])
        quiet_trainer(trainer, opts.progress, "train grpo")
        t0 = time.perf_counter()
        trainer.train(resume_from_checkpoint=cont["checkpoint"])
        seconds = time.perf_counter() - t0
        trainer.save_model(str(out))
        final = cb.record(out, trainer.state, final=True)
        if ranks.process_rank() == 0:
            resume.prune_older_state(out, keep_step=1 << 62)  # finished: nothing to resume
    except BaseException as e:
        writer.finish_run(run, "failed", error=f"{type(e).__name__}: {str(e)[:500]}")
        raise
    reward_curve = [{k: v for k, v in p.items() if k in ("step", "reward", "loss")}
                    for p in cb.curve]
    figures = {"steps": trainer.state.global_step, "seconds": round(seconds, 2),
               "tokens_seen": trainer.state.num_input_tokens_seen or None,
               "reward_curve": reward_curve, "loss_curve": cb.curve,
               "resumed_from": cont["step"] if cont["checkpoint"] else None}
    writer.finish_run(run, "ok", outputs=[c["path"] for c in cb.checkpoints], metrics=figures)
    return {"run_id": run, "prompts": spec, "model": model_id, "output": str(out.resolve()),
            "rewards": names, "reward_weights": weights, "vllm": vllm, "device": dev["device"],
            "checkpoints": cb.checkpoints, "final": final,
            **{k: v for k, v in figures.items() if k != "loss_curve"}}
