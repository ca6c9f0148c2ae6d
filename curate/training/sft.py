"""`curate train sft`: TRL's SFTTrainer on a catalog mixture, with assistant-only loss and
optional packing, checkpoints registered in the catalog as they are saved.

Before any training: the model and mixture must exist, the rows must be conversations with an
assistant turn, the chat template must carry `{% generation %}` markers (or be one TRL knows
how to patch), and a round trip through the template must keep the reasoning in the loss in
exactly one think block (templates with a separate reasoning field, such as TRL's Qwen3
training templates, get the reasoning there instead of inline); every row is measured and the
truncation at `--max-length` is reported before training starts, refused past a set share
unless asked for.

Paper settings: P3 trains with a fixed data order (`shuffle=False`: TRL's sampler becomes
sequential) and evaluates checkpoints at steps 10, 20, 40, ..., 640 (`save_at`). Under
`torchrun` / `accelerate launch` the planned steps count every process and only rank 0
writes to the catalog.
"""

from __future__ import annotations

import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from curate.errors import BadInput, CurateError, NotFound
from curate.record import THINK_CLOSE, THINK_OPEN, split_think
from curate.training import ranks, schedules

SCHEDULERS = {"cosine": "cosine", "constant": "constant_with_warmup"}
OVERFLOW = ("auto", "truncate", "drop", "error")
THINK_FORMS = ("inline", "reasoning_content")


@dataclass
class SFTOptions:
    epochs: float = 1.0
    learning_rate: float = 5e-5          # P3 default; P1 also 5e-5
    warmup_ratio: float = 0.1
    scheduler: str = "cosine"            # cosine | constant (after warmup)
    weight_decay: float = 0.01
    batch_size: int = 8                  # per device; with packing: packed sequences
    grad_accum: int = 1
    max_length: int = 2048
    max_steps: int | None = None
    save_steps: int | None = None        # checkpoint every N steps (plus the final model)
    save_at: list[int] | None = None     # checkpoints at these steps (P3: 10,20,40,...,640)
    shuffle: bool = True                 # False: fixed data order (sequential sampler, P3)
    packing: bool = False
    exposures: int = 1                   # K: train K x epochs on N//K rows (equal steps)
    overflow: str = "auto"               # rows over max_length: auto | truncate | drop | error
    truncate_limit: float = 0.05         # auto: refuse when more rows than this share are cut
    full_sequence_loss: bool = False     # loss on every token, not only the assistant's
    allow_lost_reasoning: bool = False   # train even when the template drops the think block
    gradient_checkpointing: bool = False
    logging_steps: int = 10
    seed: int = 0
    overwrite: bool = False
    resume: bool = False                 # continue from the newest resumable checkpoint in output
    progress: bool = True

    def validate(self) -> None:
        if self.scheduler not in SCHEDULERS:
            raise BadInput(f"--scheduler must be one of {', '.join(SCHEDULERS)}")
        if self.overflow not in OVERFLOW:
            raise BadInput(f"--overflow must be one of {', '.join(OVERFLOW)}")
        for name, v in (("--batch-size", self.batch_size), ("--grad-accum", self.grad_accum),
                        ("--max-length", self.max_length), ("--exposures", self.exposures),
                        ("--logging-steps", self.logging_steps)):
            if v < 1:
                raise BadInput(f"{name} must be at least 1")
        for name, v in (("--max-steps", self.max_steps), ("--save-steps", self.save_steps)):
            if v is not None and v < 1:
                raise BadInput(f"{name} must be at least 1")
        if self.epochs <= 0 or self.learning_rate <= 0:
            raise BadInput("--epochs and --learning-rate must be more than 0")
        if not 0 <= self.warmup_ratio < 1:
            raise BadInput("--warmup-ratio must be in [0, 1)")
        if not 0 <= self.truncate_limit <= 1:
            raise BadInput("--truncate-limit must be in [0, 1]")
        self.save_at = schedules.parse_steps(self.save_at)
        if self.weight_decay < 0:
            raise BadInput("--weight-decay must be 0 or more")


# -- model and template checks -------------------------------------------------------------
def check_model_path(model: str) -> str:
    """A local model folder or a hub id (owner/name); NotFound otherwise, before loading."""
    p = Path(model).expanduser()
    if p.exists():
        if not (p / "config.json").is_file():
            raise NotFound(f"model {model!r}: the folder has no config.json")
        return str(p.resolve())
    if re.fullmatch(r"[A-Za-z0-9][\w.\-]*/[\w.\-]+", model) and not model.startswith("."):
        return model
    raise NotFound(f"model {model!r} not found (a local folder or a hub id owner/name)")


def load_tokenizer(model: str):
    """The model's tokenizer (one-line NotFound), with a pad token for batching."""
    from curate.models import load_tokenizer as load

    tok = load(model)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def training_template(tokenizer, full_sequence_loss: bool = False) -> tuple[str | None, str]:
    """(template to pass to apply_chat_template or None for the tokenizer's own, its origin).

    Assistant-only loss needs `{% generation %}` markers: the model's own template, or TRL's
    patched copy for the families it knows (Qwen3, Llama 3, ...); else a one-line refusal.
    """
    from trl.chat_template_utils import get_training_chat_template, has_generation_markers

    if not getattr(tokenizer, "chat_template", None):
        raise CurateError("the model's tokenizer has no chat template; SFT on conversations "
                          "needs one (set tokenizer.chat_template in the model folder)")
    if full_sequence_loss or has_generation_markers(tokenizer.chat_template):
        return None, "model"
    try:
        patched = get_training_chat_template(tokenizer)
    except ValueError:
        raise CurateError("the chat template has no {% generation %} markers, so assistant-only "
                          "loss cannot mask the prompt; add them around the assistant turn, or "
                          "pass --full-sequence-loss to train on every token") from None
    return patched, "trl-training-template" if patched else "model"


def _norm(text: str) -> str:
    return " ".join((text or "").split())


def to_think_form(msgs: list[dict], form: str) -> list[dict]:
    """A conversation with its assistant reasoning inline (`<think>...</think>` in the content,
    as stored) or in a separate `reasoning_content` field (content = the answer), the form
    templates such as TRL's Qwen3-8 training template render their own think block from."""
    if form == "inline":
        return msgs
    if form not in THINK_FORMS:
        raise BadInput(f"unknown think form {form!r} ({', '.join(THINK_FORMS)})")
    out = []
    for m in msgs:
        if m["role"] != "assistant":
            out.append({**m, "reasoning_content": None})
            continue
        reasoning, answer, closed = split_think(m["content"] or "")
        if reasoning is not None and closed and THINK_CLOSE in (m["content"] or ""):
            out.append({**m, "content": answer, "reasoning_content": reasoning})
        else:
            out.append({**m, "reasoning_content": ""})
    return out


def think_roundtrip(tokenizer, conversations: list[list[dict]], template: str | None,
                    assistant_only: bool = True, form: str = "inline") -> dict[str, Any]:
    """Tokenise conversations that hold a think block with the training template (in `form`)
    and check each renders exactly one think block whose reasoning and `</think>` come back
    in the trained tokens (the assistant mask)."""
    checked = kept = extra = 0
    first_lost = first_extra = None
    for msgs in conversations:
        turns = [m for m in msgs if m["role"] == "assistant" and THINK_CLOSE in (m["content"] or "")]
        if not turns:
            continue
        reasoning, _, closed = split_think(turns[-1]["content"])
        if not reasoning or not closed:
            continue
        checked += 1
        shaped = to_think_form(msgs, form)
        enc = tokenizer.apply_chat_template(shaped, chat_template=template, tokenize=True,
                                            return_dict=True,
                                            return_assistant_tokens_mask=assistant_only)
        full_ids = list(enc["input_ids"])
        ids = ([t for t, m in zip(full_ids, enc["assistant_masks"]) if m] if assistant_only
               else full_ids)
        text = tokenizer.decode(ids, skip_special_tokens=False)
        full = tokenizer.decode(full_ids, skip_special_tokens=False)
        in_prompts = sum((m["content"] or "").count(THINK_OPEN) for m in msgs
                         if m["role"] != "assistant")
        blocks = full.count(THINK_OPEN) - in_prompts
        if blocks > len(turns):
            extra += 1
            if first_extra is None:
                first_extra = f"{blocks} think blocks for {len(turns)} reasoning turn(s)"
        elif blocks == len(turns) and _norm(reasoning) in _norm(text) and THINK_CLOSE in text:
            kept += 1
        elif first_lost is None:
            first_lost = _norm(reasoning)[:80]
    return {"form": form, "checked": checked, "kept": kept, "lost": checked - kept - extra,
            "extra_blocks": extra, "first_lost": first_lost, "first_extra": first_extra}


def choose_think_form(tokenizer, conversations: list[list[dict]], template: str | None,
                      assistant_only: bool = True) -> dict[str, Any]:
    """The first form (inline, then a separate reasoning field) whose round trip keeps every
    sampled row's reasoning in exactly one think block; else the inline round trip, failed."""
    first = None
    for form in THINK_FORMS:
        trip = think_roundtrip(tokenizer, conversations, template, assistant_only, form)
        if first is None:
            first = trip
        if trip["kept"] == trip["checked"]:
            return trip
    return first


def check_conversations(rows: list[Any], spec: str) -> None:
    """Every row a list of {role, content} with a non-empty assistant turn."""
    for i, msgs in enumerate(rows):
        if not isinstance(msgs, list) or not msgs:
            raise BadInput("row has no messages", file=spec, row=i, field="messages")
        for m in msgs:
            if not isinstance(m, dict) or not m.get("role") or m.get("content") is None:
                raise BadInput("a message lacks role or content", file=spec, row=i,
                               field="messages")
        if not any(m["role"] == "assistant" and m["content"].strip() for m in msgs):
            raise BadInput("row has no assistant turn to train on", file=spec, row=i,
                           field="messages")


def token_lengths(tokenizer, conversations: list[list[dict]], template: str | None,
                  chunk: int = 512, progress=None) -> list[int]:
    """Tokens per conversation as the trainer will see it (template rendered, then tokenised
    in fast batches)."""
    out: list[int] = []
    for i in range(0, len(conversations), chunk):
        part = conversations[i:i + chunk]
        texts = tokenizer.apply_chat_template(part, chat_template=template, tokenize=False)
        enc = tokenizer(texts, add_special_tokens=False)["input_ids"]
        out.extend(len(x) for x in enc)
        if progress:
            progress(len(part))
    return out


def length_report(lengths: list[int], max_length: int) -> dict[str, Any]:
    """How many rows (and tokens) exceed max_length: the truncation the run will do."""
    import numpy as np

    if not lengths:
        return {"rows": 0, "over_max_length": 0, "tokens_cut": 0, "max_length": max_length,
                "rows_share": 0.0, "tokens_share": 0.0}
    arr = np.asarray(lengths)
    over = arr > max_length
    cut = int((arr[over] - max_length).sum())
    return {"rows": int(arr.size), "tokens": int(arr.sum()), "max_length": max_length,
            "over_max_length": int(over.sum()), "tokens_cut": cut,
            "rows_share": float(over.mean()), "tokens_share": cut / max(1, int(arr.sum())),
            "p50": int(np.percentile(arr, 50)), "p95": int(np.percentile(arr, 95)),
            "max": int(arr.max())}


def truncation_line(report: dict[str, Any]) -> str:
    """One line: rows and tokens cut at max_length, as shares."""
    return (f"{report['over_max_length']} of {report['rows']} rows "
            f"({100 * report['rows_share']:.1f}%) are longer than --max-length "
            f"{report['max_length']}; {report['tokens_cut']} of {report.get('tokens', 0)} tokens "
            f"({100 * report['tokens_share']:.1f}%) would be cut"
            + (f" (longest {report['max']})" if report.get("max") else ""))


def device_settings() -> dict[str, Any]:
    """GPU: bf16 when supported; CPU: float32 (bf16 matmuls are slow on most CPUs)."""
    import torch

    if torch.cuda.is_available():
        bf16 = torch.cuda.is_bf16_supported()
        return {"device": "cuda", "bf16": bf16, "dtype": torch.bfloat16 if bf16 else torch.float32}
    return {"device": "cpu", "bf16": False, "dtype": torch.float32}


def _check_output(output: str | Path, overwrite: bool) -> Path:
    out = Path(output).expanduser()
    if out.exists() and not out.is_dir():
        raise BadInput(f"--output {output!r} is a file")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise BadInput(f"--output {output!r} is not empty (pass --resume to continue the run "
                       "in it, or --overwrite to write into it)")
    return out


def _sample(rows: list, k: int = 16) -> list:
    step = max(1, len(rows) // k)
    return rows[::step][:k]


# -- training ------------------------------------------------------------------------------
def prepare_sft(catalog, mixture: str, model: str, output: str | Path, opts: SFTOptions,
                log=None) -> dict[str, Any]:
    """Every check and measurement that must pass before a model is loaded; `log(line)`
    hears the truncation report before anything trains."""
    opts.validate()
    out = _check_output(output, opts.overwrite or opts.resume)
    model_id = check_model_path(model)
    ref = catalog.resolve(mixture)
    table = catalog.table(ref)
    if "messages" not in table.column_names:
        raise BadInput(f"{ref.spec} has no `messages` column: build a mixture with `curate mix` "
                       "(it writes messages for a variant)")
    convs = table.column("messages").to_pylist()
    check_conversations(convs, ref.spec)
    tok = load_tokenizer(model_id)
    template, template_source = training_template(tok, opts.full_sequence_loss)
    trip = choose_think_form(tok, _sample([c for c in convs if any(
        THINK_CLOSE in (m["content"] or "") for m in c if m["role"] == "assistant")]), template,
        assistant_only=not opts.full_sequence_loss)
    if (trip["lost"] or trip["extra_blocks"]) and not opts.allow_lost_reasoning:
        what = (f"renders {trip['first_extra']} in {trip['extra_blocks']} of {trip['checked']} "
                "sampled rows" if trip["extra_blocks"] else
                f"drops the reasoning from the trained tokens in {trip['lost']} of "
                f"{trip['checked']} sampled rows (e.g. {trip['first_lost']!r})")
        raise CurateError(f"the chat template of {model!r} {what}, inline or with a separate "
                          "reasoning field; fix the template, or pass --allow-lost-reasoning "
                          "to train anyway")
    form = trip["form"] if not (trip["lost"] or trip["extra_blocks"]) else "inline"
    indices = schedules.exposure_subset(len(convs), opts.exposures, opts.seed)
    convs = [convs[i] for i in indices] if opts.exposures > 1 else convs
    convs = [to_think_form(c, form) for c in convs] if form != "inline" else convs
    lengths = _measure(tok, convs, template, opts.progress)
    report = length_report(lengths, opts.max_length)
    if log and report["over_max_length"]:
        log(f"truncation: {truncation_line(report)}")
    over = report["over_max_length"]
    if over and opts.overflow == "error":
        raise BadInput(f"{truncation_line(report)}; raise --max-length, or pass "
                       "--overflow truncate|drop")
    if over and opts.overflow == "auto" and report["rows_share"] > opts.truncate_limit:
        raise BadInput(f"{truncation_line(report)}: more than the {100 * opts.truncate_limit:g}% "
                       "of rows --truncate-limit allows; raise --max-length, or pass "
                       "--overflow truncate (keep each row's start) or --overflow drop")
    if opts.overflow == "drop" and over:
        keep = [i for i, n in enumerate(lengths) if n <= opts.max_length]
        if not keep:
            raise BadInput(f"every row is longer than --max-length {opts.max_length}")
        convs = [convs[i] for i in keep]
        report["dropped"] = report["rows"] - len(keep)
    else:
        report["truncated"] = over if opts.overflow in ("truncate", "auto") else 0
    world = ranks.replicas()    # processes, or GPUs under one process's DataParallel
    batch = schedules.global_batch(opts.batch_size, opts.grad_accum, world)
    sched = schedules.plan(len(convs) * opts.exposures, batch, opts.epochs, opts.exposures,
                           max_steps=opts.max_steps) if not opts.packing else None
    schedules.check_save_at(opts.save_at or [], sched.steps if sched else opts.max_steps)
    plan = {**sched.to_dict(), "world_size": world} if sched else None
    return {"mixture": ref.spec, "model": model_id, "output": out, "tokenizer": tok,
            "template": template, "template_source": template_source, "roundtrip": trip,
            "think_form": form, "conversations": convs, "lengths": report, "plan": plan}


def _measure(tok, convs, template, progress: bool) -> list[int]:
    if not progress or len(convs) < 2000:
        return token_lengths(tok, convs, template)
    from curate.progress import progress_bar

    with progress_bar() as bar:
        task = bar.add_task("measuring lengths", total=len(convs))
        return token_lengths(tok, convs, template, progress=lambda n: bar.advance(task, n))


def sft_config(opts: SFTOptions, output: Path, dev: dict[str, Any]):
    from trl import SFTConfig

    return SFTConfig(
        output_dir=str(output), num_train_epochs=opts.epochs * opts.exposures,
        max_steps=opts.max_steps or -1, learning_rate=opts.learning_rate,
        warmup_steps=opts.warmup_ratio, lr_scheduler_type=SCHEDULERS[opts.scheduler],
        weight_decay=opts.weight_decay, max_grad_norm=1.0,
        per_device_train_batch_size=opts.batch_size, gradient_accumulation_steps=opts.grad_accum,
        max_length=opts.max_length, packing=opts.packing, packing_strategy="bfd",
        assistant_only_loss=not opts.full_sequence_loss,
        save_strategy="steps" if opts.save_steps else "no", save_steps=opts.save_steps or 500,
        save_only_model=False, logging_steps=opts.logging_steps, logging_first_step=True,
        train_sampling_strategy="random" if opts.shuffle else "sequential",
        shuffle_dataset=False,
        report_to="none", bf16=dev["bf16"], fp16=False,
        activation_checkpointing=opts.gradient_checkpointing, seed=opts.seed,
        data_seed=opts.seed, include_num_input_tokens_seen="non_padding",
        disable_tqdm=True, dataloader_num_workers=0,
        dataloader_pin_memory=dev["device"] == "cuda")


def build_trainer(prep: dict[str, Any], opts: SFTOptions, dev: dict[str, Any],
                  callbacks: list | None = None):
    """The SFTTrainer for a prepared run (model loaded in the device's dtype), checkpointing
    at `opts.save_at` besides `opts.save_steps`, never at the last step (saved once after)."""
    import datasets
    from transformers import AutoModelForCausalLM
    from trl import SFTTrainer

    from curate.training.callbacks import SaveAtCallback
    from curate.training.resume import PruneOlderState

    lm = AutoModelForCausalLM.from_pretrained(prep["model"], dtype=dev["dtype"])
    tok = prep["tokenizer"]
    if prep["template"]:
        tok.chat_template = prep["template"]  # saved with the model: inference matches
    train = datasets.Dataset.from_dict({"messages": prep["conversations"]})
    from curate.training.callbacks import quiet_trainer

    trainer = SFTTrainer(model=lm, args=sft_config(opts, prep["output"], dev),
                         train_dataset=train, processing_class=tok,
                         callbacks=[SaveAtCallback(opts.save_at), *(callbacks or []),
                                    PruneOlderState()])
    return quiet_trainer(trainer, opts.progress, "train sft")


def train_sft(catalog, mixture: str, model: str, output: str | Path,
              opts: SFTOptions | None = None, log=None,
              tags: dict[str, Any] | None = None) -> dict[str, Any]:
    """Train, register every checkpoint and the run (rank 0 only); return the run's figures.

    `log(line)` hears the truncation report before training starts; `tags` go into the run's
    config (an experiment records its arm and fingerprint there).

    Checkpoints hold the full trainer state only while they are the newest (older ones keep
    the weights: `curate.training.resume`). `opts.resume`: when `output` holds a killed run
    with the same model, data version, options and plan, continue it from its newest
    resumable checkpoint (the same catalog run, the same data order: the trainer skips the
    batches already trained); with nothing there, train from the start. Another run's folder
    is refused (BadInput naming the fields that differ), as is a finished one.

    Returns {run_id, mixture, model, output, device, checkpoints: [{id, path, step, loss,
    tokens_seen}], final, steps, train_loss, tokens_seen, seconds, truncation, ...}. Raises
    BadInput before any training for a bad mixture, model, chat template or options (and rows
    over `max_length` past the truncation limit), for a non-empty `output` (without
    `overwrite` / `resume`) and for a `resume` into another run's folder.

    Example::

        res = train_sft(cat, "cd-mix", ".curate/tiny", "runs/sft",
                        SFTOptions(max_steps=20, save_steps=10, max_length=4096))
    """
    from curate.training import resume
    from curate.training.callbacks import CatalogCallback

    opts = opts or SFTOptions()
    prep = prepare_sft(catalog, mixture, model, output, opts, log=log)
    dev = device_settings()
    out: Path = prep["output"]
    key = resume.run_key("sft", prep["model"], prep["mixture"], asdict(opts), prep["plan"])
    cont = resume.begin(catalog, out, key, opts.resume, opts.overwrite, log)
    writer = ranks.catalog_writer(catalog)
    config = {"method": "sft", "model": prep["model"], "mixture": prep["mixture"],
              "output": str(out.resolve()), "options": asdict(opts),
              "device": dev["device"], "bf16": dev["bf16"],
              "template": prep["template_source"], "roundtrip": prep["roundtrip"],
              "think_form": prep["think_form"], "lengths": prep["lengths"],
              "plan": prep["plan"], "tags": tags or {}}
    run = resume.open_run(writer, cont, out, key, config, [prep["mixture"]], f"sft:{out.name}")
    try:
        cb = CatalogCallback(writer, run, prep["model"], prep["mixture"],
                             extra={"method": "sft"},
                             prior=resume.prior_checkpoints(catalog, cont["run_id"],
                                                            cont["step"]))
        trainer = build_trainer(prep, opts, dev, callbacks=[cb])
        t0 = time.perf_counter()
        result = trainer.train(resume_from_checkpoint=cont["checkpoint"])
        seconds = time.perf_counter() - t0
        trainer.save_model(str(out))
        final = cb.record(out, trainer.state, final=True)
        if ranks.process_rank() == 0:
            resume.prune_older_state(out, keep_step=1 << 62)  # finished: nothing to resume
    except BaseException as e:
        writer.finish_run(run, "failed", error=f"{type(e).__name__}: {str(e)[:500]}")
        raise
    tokens = trainer.state.num_input_tokens_seen
    figures = {"steps": trainer.state.global_step, "train_loss": result.training_loss,
               "final_loss": cb.last_loss(), "tokens_seen": tokens, "seconds": round(seconds, 2),
               "tokens_per_second": round(tokens / seconds, 1) if seconds and tokens else None,
               "truncation": prep["lengths"], "loss_curve": cb.curve,
               "resumed_from": cont["step"] if cont["checkpoint"] else None}
    writer.finish_run(run, "ok", outputs=[c["path"] for c in cb.checkpoints], metrics=figures)
    return {"run_id": run, "mixture": prep["mixture"], "model": prep["model"],
            "output": str(out.resolve()), "device": dev["device"], "bf16": dev["bf16"],
            "template": prep["template_source"], "roundtrip": prep["roundtrip"],
            "think_form": prep["think_form"], "plan": prep["plan"],
            "checkpoints": cb.checkpoints, "final": final,
            **{k: v for k, v in figures.items() if k != "loss_curve"}}
