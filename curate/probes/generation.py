"""Sampling k responses per prompt from the model under evaluation.

`generate_local` runs a local model with transformers (chat template applied, left padding,
batched, seeded): the CPU / small-model path. A serving backend (vLLM, an OpenAI-compatible
server) can take over through `curate.curation.teachers` when that module provides a
`transformers:`/`openai:` teacher; `generate` picks the backend.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from curate.errors import CurateError
from curate.models import strip_specials


@dataclass
class Completion:
    text: str
    finish_reason: str          # "stop" (EOS) or "length" (hit max_new_tokens)
    completion_tokens: int


@dataclass
class Sampling:
    n: int = 1
    temperature: float = 0.6
    top_p: float = 0.95
    max_new_tokens: int = 32768
    seed: int = 1234


def render(tokenizer, prompt: str, chat_template: bool = True) -> str:
    """The prompt as the model sees it: its chat template, no system prompt."""
    if chat_template and getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template([{"role": "user", "content": prompt}],
                                             tokenize=False, add_generation_prompt=True)
    return prompt


def generate_local(model, tokenizer, prompts: Sequence[str], sampling: Sampling,
                   chat_template: bool = True, batch_size: int = 8, progress=None,
                   add_special_tokens: bool | None = None) -> list[list[Completion]]:
    """k = sampling.n completions per prompt from a loaded causal LM.

    `add_special_tokens` overrides the default (off when the chat template rendered the
    prompt, on otherwise): prompts rendered by the caller pass False.
    """
    import torch

    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    eos_ids = _eos_ids(model, tokenizer)
    device = next(model.parameters()).device
    torch.manual_seed(sampling.seed)
    do_sample = sampling.temperature > 0
    out: list[list[Completion]] = []
    for i in range(0, len(prompts), batch_size):
        chunk = [render(tokenizer, p, chat_template) for p in prompts[i:i + batch_size]]
        templated = chat_template and getattr(tokenizer, "chat_template", None)
        special = (not templated) if add_special_tokens is None else add_special_tokens
        enc = tokenizer(chunk, return_tensors="pt", padding=True,
                        add_special_tokens=special).to(device)
        # Greedy decoding is deterministic: one sequence, repeated n times.
        reps = sampling.n if do_sample else 1
        kw = dict(max_new_tokens=sampling.max_new_tokens, num_return_sequences=reps,
                  pad_token_id=tokenizer.pad_token_id,
                  eos_token_id=sorted(eos_ids) or None)
        if do_sample:
            kw.update(do_sample=True, temperature=sampling.temperature, top_p=sampling.top_p,
                      top_k=0)
        else:
            kw.update(do_sample=False)
        with torch.no_grad():
            gen = model.generate(**enc, **kw)
        new = gen[:, enc["input_ids"].shape[1]:].cpu()
        for j in range(len(chunk)):
            comps = []
            for s in range(sampling.n):
                ids = new[j * reps + (s if do_sample else 0)].tolist()
                n_tok, reason = len(ids), "length"
                for t, tid in enumerate(ids):
                    if tid in eos_ids:
                        n_tok, reason = t + 1, "stop"
                        break
                text = tokenizer.decode(ids[:n_tok], skip_special_tokens=False)
                text = strip_specials(text, tokenizer)
                comps.append(Completion(text, reason, n_tok))
            out.append(comps)
        if progress is not None:
            progress(len(chunk))
    return out


def _eos_ids(model, tokenizer) -> set[int]:
    ids = set()
    for src in (getattr(model.generation_config, "eos_token_id", None), tokenizer.eos_token_id):
        if isinstance(src, int):
            ids.add(src)
        elif src:
            ids.update(src)
    return ids


def teacher_backend(spec: str):
    """A teacher from `curate.curation.teachers` for a serving spec (vllm:, openai:, ...)."""
    try:
        from curate.curation import teachers
    except ImportError:
        raise CurateError(f"teacher {spec!r}: the teachers module is not available in this "
                          "install; evaluate local models without --teacher") from None
    for name in ("make_teacher", "get_teacher", "teacher_from_spec", "load_teacher"):
        fn = getattr(teachers, name, None)
        if fn is not None:
            return fn(spec)
    raise CurateError(f"teacher {spec!r}: curate.curation.teachers has no factory")
