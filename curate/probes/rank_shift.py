"""Token rank shift: which tokens of the model's own responses the fine-tuning promoted.

The released code stores each realised response token's rank (1 = argmax) under both models,
teacher-forcing the fine-tuned model's responses (same setup as the KL probe). The
aggregation behind the paper's "mean rank shift" (0.98 RL vs 10.6 SFT) and "shifted tokens" is
not released, so the definitions here are *inferred* and flagged as such in the output:

- ``shift_t = rank_base(y_t) − rank_ft(y_t)``; the mean and the mean absolute shift;
- a token is *shifted* when ``rank_base > 1`` while ``rank_ft = 1``;
- URIAL-style classes over tokens the model ranks first: unshifted (base rank 1),
  marginal (base rank 2..``marginal_max``), shifted (base rank > ``marginal_max``);
- the most shifted token types: counts of shifted positions per token string.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np

from curate.probes.texts import ProbeText
from curate.probes.token_kl import SampleScores, score_responses, select_per_task

DEFINITION = ("inferred: shift = rank_base - rank_ft per realised response token; shifted = "
              "rank_base > 1 and rank_ft == 1; URIAL classes over rank_ft == 1 tokens: "
              "unshifted (base 1), marginal (base 2..marginal_max), shifted (base > marginal_max)")


def rank_figures(samples: Sequence[SampleScores], tokenizer, top: int = 20,
                 marginal_max: int = 3) -> dict[str, Any]:
    """Rank-shift figures and the most shifted token types over `samples`."""
    if not samples:
        return {"n_tokens": 0, "mean_rank_shift": None, "mean_abs_rank_shift": None,
                "shifted_fraction": None, "top_shifted_tokens": []}
    rb = np.concatenate([s.rank_base for s in samples]).astype(np.int64)
    rf = np.concatenate([s.rank_ft for s in samples]).astype(np.int64)
    ids = np.concatenate([s.token_ids for s in samples]).astype(np.int64)
    shift = rb - rf
    shifted = (rb > 1) & (rf == 1)
    top1 = rf == 1
    n_top1 = int(top1.sum())
    classes = {
        "unshifted": int((top1 & (rb == 1)).sum()),
        "marginal": int((top1 & (rb > 1) & (rb <= marginal_max)).sum()),
        "shifted": int((top1 & (rb > marginal_max)).sum()),
    }
    counts = Counter(ids[shifted].tolist())
    totals = Counter(ids.tolist())
    base_ranks: dict[int, list[int]] = defaultdict(list)
    for tid, r in zip(ids[shifted].tolist(), rb[shifted].tolist()):
        base_ranks[tid].append(r)
    top_tokens = []
    for tid, c in counts.most_common(top):
        top_tokens.append({"token": _token_str(tokenizer, tid), "id": int(tid), "shifted": c,
                           "occurrences": totals[tid], "shifted_rate": c / totals[tid],
                           "mean_base_rank": float(np.mean(base_ranks[tid]))})
    return {
        "n_tokens": int(len(rb)),
        "mean_rank_shift": float(shift.mean()),
        "mean_abs_rank_shift": float(np.abs(shift).mean()),
        "median_abs_rank_shift": float(np.median(np.abs(shift))),
        "shifted_tokens": int(shifted.sum()),
        "shifted_fraction": float(shifted.mean()),
        "urial_classes": classes,
        "urial_fractions": {k: (v / n_top1 if n_top1 else None) for k, v in classes.items()},
        "mean_rank_ft": float(rf.mean()), "mean_rank_base": float(rb.mean()),
        "top_shifted_tokens": top_tokens,
    }


def _token_str(tokenizer, tid: int) -> str:
    s = tokenizer.decode([tid])
    return s if s.strip() else repr(s)


def rank_shift_probe(model, base, tokenizer, texts: Sequence[ProbeText], limit: int | None = 100,
                     chat_template: bool = True, released: bool = True, top: int = 20,
                     marginal_max: int = 3, progress: bool = True,
                     ) -> tuple[dict[str, Any], list[SampleScores]]:
    """(figures per task and overall, the per-sample scores for plotting)."""
    chosen = select_per_task(texts, limit)
    samples, skipped = score_responses(model, base, tokenizer, chosen, chat_template, released,
                                       full_vocab=False, progress=progress)
    tasks = {task: rank_figures([s for s in samples if s.task == task], tokenizer, top,
                                marginal_max)
             for task in dict.fromkeys(t.task for t in chosen)}
    result = {"overall": rank_figures(samples, tokenizer, top, marginal_max), "tasks": tasks,
              "skipped_empty": skipped, "definition": DEFINITION, "inferred": True,
              "params": {"limit": limit, "chat_template": chat_template, "released": released,
                         "top": top, "marginal_max": marginal_max}}
    return result, samples


def plot_rank_shift(result: dict[str, Any], samples: Sequence[SampleScores], path,
                    title: str | None = None) -> str:
    """Left: histogram of rank_base − rank_ft (symlog). Right: the most shifted token types."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.8))
    if samples:
        shift = np.concatenate([s.rank_base - s.rank_ft for s in samples]).astype(np.float64)
        lim = max(1.0, float(np.abs(shift).max()))
        bins = np.unique(np.concatenate([-np.geomspace(1, lim + 1, 20), [0],
                                         np.geomspace(1, lim + 1, 20)]))
        a1.hist(shift, bins=bins, color="#4c72b0")
        a1.set_xscale("symlog")
        a1.set_yscale("log")
    a1.set_xlabel("rank_base − rank_model (realised tokens)")
    a1.set_ylabel("tokens")
    a1.set_title(f"mean |shift| = {result['overall'].get('mean_abs_rank_shift') or 0:.3g}",
                 fontsize=10)
    toks = result["overall"]["top_shifted_tokens"][:15]
    a2.barh([t["token"] for t in toks][::-1], [t["shifted"] for t in toks][::-1],
            color="#dd8452")
    a2.set_xlabel("shifted occurrences (base rank > 1, model rank 1)")
    a2.set_title("most shifted tokens (inferred definition)", fontsize=10)
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return str(path)
