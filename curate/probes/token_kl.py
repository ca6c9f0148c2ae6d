"""Token-level KL between a fine-tuned model and its base, over the model's own responses.

As released (arXiv 2507.00432, ``analysis_token_distribution_shift/``): the fine-tuned model's
responses (first 100 per task) are teacher-forced through both models; for each response
token the realised token's log-probability is read under each model; with
``p = exp(logprob) + 1e-10`` the per-sample value is ``mean_t [log p_ft − log p_base]`` and the
reported KL is ``|mean_i KL_i|``, a single-sample Monte-Carlo estimate. The released slicing
``prompt_logprobs[prompt_len+1:]`` skips the first response token (``released=True`` keeps that
off-by-one; ``released=False`` scores every response token).

Also computed: the full-vocabulary KL the paper's formula states,
``KL(π_ft‖π_base) = Σ_v π_ft(v|x_<t) log(π_ft/π_base)``, averaged over response tokens, then
samples. Both models must share a tokenizer.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from curate.errors import BadInput
from curate.probes.texts import ProbeText

EPS_P = 1e-10


@dataclass
class SampleScores:
    """Per response token of one sample, under the fine-tuned model and the base."""
    task: str
    token_ids: np.ndarray
    logp_ft: np.ndarray
    logp_base: np.ndarray
    rank_ft: np.ndarray
    rank_base: np.ndarray
    full_kl: np.ndarray = field(default_factory=lambda: np.zeros(0))


NOTHINK_BLOCK = "<think>\n\n</think>\n\n"


def render_input(tokenizer, prompt: str, chat_template: bool = True, nothink: bool = False,
                 ) -> tuple[str, bool]:
    """(input string, whether the chat template rendered it) for a user prompt.

    `nothink` is P1's non-thinking form (its KL inputs): the chat template with
    ``enable_thinking=False``, i.e. ``...<|im_start|>assistant\n<think>\n\n</think>\n\n``
    for Qwen3; a template that ignores the switch gets the empty think block appended.
    """
    if chat_template and getattr(tokenizer, "chat_template", None):
        kw = {"enable_thinking": False} if nothink else {}
        s = tokenizer.apply_chat_template([{"role": "user", "content": prompt}],
                                          tokenize=False, add_generation_prompt=True, **kw)
        if nothink and not s.rstrip().endswith("</think>"):
            s += NOTHINK_BLOCK
        return s, True
    return (prompt + NOTHINK_BLOCK if nothink else prompt), False


def build_input(t: ProbeText, tokenizer, chat_template: bool = True) -> tuple[str, bool]:
    """(input string, whether special tokens are already in it) for one probe text."""
    if t.rendered:
        return t.prompt, True
    if not t.prompt:
        return "", False
    return render_input(tokenizer, t.prompt, chat_template)


def encode(t: ProbeText, tokenizer, chat_template: bool = True, released: bool = True,
           ) -> tuple[list[int], int]:
    """(token ids of input+response, index of the first scored response token).

    Released: the whole text is tokenised at once and the start is ``len(input tokens without
    special tokens) + 1``. Fixed: input and response are tokenised apart so the boundary is
    exact, and the first response token is scored.
    """
    inp, templated = build_input(t, tokenizer, chat_template)
    add_special = not templated
    if released:
        ids = tokenizer(inp + t.response, add_special_tokens=add_special)["input_ids"]
        prompt_len = len(tokenizer(inp, add_special_tokens=False)["input_ids"]) if inp else 0
        return ids, prompt_len + 1
    p_ids = tokenizer(inp, add_special_tokens=add_special)["input_ids"] if inp else (
        tokenizer("", add_special_tokens=True)["input_ids"])
    r_ids = tokenizer(t.response, add_special_tokens=False)["input_ids"]
    start = max(len(p_ids), 1)  # position 0 has no prediction
    return p_ids + r_ids, start


def _pair_stats(lm, lb, ids, start: int, full_vocab: bool, chunk: int = 512):
    """Per scored position: log p and rank of the realised token under each model, and the
    full-vocabulary KL, computed chunk by chunk so [T, V] float32 tensors never pile up."""
    import torch

    target = ids[start:]
    rows_m = lm[start - 1:len(ids) - 1]
    rows_b = lb[start - 1:len(ids) - 1]
    acc: dict[str, list] = {"lp_m": [], "lp_b": [], "rk_m": [], "rk_b": [], "kl": []}
    for i in range(0, rows_m.shape[0], chunk):
        tgt = target[i:i + chunk][:, None]
        lsm = torch.log_softmax(rows_m[i:i + chunk].float(), dim=-1)
        lsb = torch.log_softmax(rows_b[i:i + chunk].float(), dim=-1)
        for ls, lp_key, rk_key in ((lsm, "lp_m", "rk_m"), (lsb, "lp_b", "rk_b")):
            chosen = ls.gather(1, tgt)
            acc[lp_key].append(chosen[:, 0])
            acc[rk_key].append((ls > chosen).sum(dim=1) + 1)
        if full_vocab:
            acc["kl"].append((lsm.exp() * (lsm - lsb)).sum(dim=-1).clamp(min=0))
    out = {k: torch.cat(v).cpu().numpy() for k, v in acc.items() if v}
    return out


def score_responses(model, base, tokenizer, texts: Sequence[ProbeText], chat_template: bool = True,
                    released: bool = True, full_vocab: bool = True, progress: bool = True,
                    ) -> tuple[list[SampleScores], int]:
    """Teacher-force each response through both models: (per-sample scores, samples skipped)."""
    import torch

    dev_m = next(model.parameters()).device
    dev_b = next(base.parameters()).device
    out: list[SampleScores] = []
    skipped = 0
    it = _iter_progress(texts, progress, "scoring responses")
    with torch.no_grad():
        for t in it:
            ids, start = encode(t, tokenizer, chat_template, released)
            if start >= len(ids) or start < 1:
                skipped += 1
                continue
            x = torch.tensor([ids])
            lm = model(input_ids=x.to(dev_m)).logits[0]
            lb = base(input_ids=x.to(dev_b)).logits[0].to(lm.device)
            v = min(lm.shape[-1], lb.shape[-1])  # padded embedding rows beyond the vocab
            st = _pair_stats(lm[:, :v], lb[:, :v], x[0].to(lm.device), start, full_vocab)
            del lm, lb
            out.append(SampleScores(
                t.task, np.asarray(ids[start:]), st["lp_m"].astype(np.float64),
                st["lp_b"].astype(np.float64), st["rk_m"], st["rk_b"],
                st["kl"].astype(np.float64) if full_vocab else np.zeros(0)))
    return out, skipped


def _iter_progress(items, enabled: bool, desc: str):
    if not enabled or len(items) < 2:
        return items
    from curate.progress import track

    return track(items, desc)


def kl_figures(samples: Sequence[SampleScores]) -> dict[str, Any]:
    """KL as released (|mean_i mean_t log p_ft − log p_base|, p + 1e-10) and full-vocabulary."""
    if not samples:
        return {"n_samples": 0, "n_tokens": 0, "kl_released": None, "kl_mc_signed": None,
                "kl_full": None, "kl_full_token_weighted": None}
    per = []
    for s in samples:
        t = min(len(s.logp_ft), len(s.logp_base))
        a = np.log(np.exp(s.logp_ft[:t]) + EPS_P)
        b = np.log(np.exp(s.logp_base[:t]) + EPS_P)
        per.append(float(np.mean(a - b)))
    signed = float(np.mean(per))
    fulls = [s.full_kl for s in samples if len(s.full_kl)]
    tokens = int(sum(len(s.logp_ft) for s in samples))
    return {
        "n_samples": len(samples), "n_tokens": tokens,
        "kl_released": abs(signed), "kl_mc_signed": signed,
        "kl_full": float(np.mean([f.mean() for f in fulls])) if fulls else None,
        "kl_full_token_weighted": (float(np.concatenate(fulls).mean()) if fulls else None),
        "per_sample_kl": per,
    }


def token_kl_probe(model, base, tokenizer, texts: Sequence[ProbeText], limit: int | None = 100,
                   chat_template: bool = True, released: bool = True, full_vocab: bool = True,
                   progress: bool = True) -> dict[str, Any]:
    """KL figures per task and over all tasks, on the first `limit` rows of each task."""
    chosen = select_per_task(texts, limit)
    samples, skipped = score_responses(model, base, tokenizer, chosen, chat_template, released,
                                       full_vocab, progress)
    tasks = {}
    for task in dict.fromkeys(t.task for t in chosen):
        tasks[task] = kl_figures([s for s in samples if s.task == task])
    overall = kl_figures(samples)
    for figs in [overall, *tasks.values()]:
        _check_finite(figs)
    return {"overall": overall, "tasks": tasks, "skipped_empty": skipped,
            "params": {"limit": limit, "chat_template": chat_template, "released": released,
                       "full_vocab": full_vocab, "eps": EPS_P}}


def select_per_task(texts: Sequence[ProbeText], limit: int | None) -> list[ProbeText]:
    """The first `limit` rows of each task, in file order (the released code takes the first 100)."""
    if not texts:
        raise BadInput("no texts to probe")
    if limit is None:
        return list(texts)
    seen: dict[str, int] = {}
    out = []
    for t in texts:
        if seen.get(t.task, 0) < limit:
            out.append(t)
            seen[t.task] = seen.get(t.task, 0) + 1
    return out


def _check_finite(figs: dict[str, Any]) -> None:
    for k, v in figs.items():
        if isinstance(v, float) and not math.isfinite(v):
            figs[k] = None


def plot_kl(result: dict[str, Any], path, title: str | None = None) -> str:
    """Bars per task: KL as released vs full-vocabulary KL."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = list(result["tasks"])
    rel = [result["tasks"][t]["kl_released"] or 0.0 for t in tasks]
    full = [result["tasks"][t]["kl_full"] or 0.0 for t in tasks]
    x = np.arange(len(tasks))
    fig, ax = plt.subplots(figsize=(max(4.5, 1.4 * len(tasks) + 2), 3.4))
    ax.bar(x - 0.2, rel, 0.4, label="KL as released (MC, realised tokens)")
    ax.bar(x + 0.2, full, 0.4, label="full-vocabulary KL")
    ax.set_xticks(x, tasks, rotation=20, fontsize=9)
    ax.set_ylabel("KL (nats / token)")
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return str(path)
