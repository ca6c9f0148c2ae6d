"""PCA shift of hidden states: how far fine-tuning moved a model's representations.

Exactly as released (arXiv 2507.00432, ``analyse_PCA_Shift.py``): k texts per task
(``random.seed(42)``, shuffle, first k), the *base* tokenizer for both models, left padding to
the longest text, truncation at 128 tokens; for every hidden-state entry ℓ = 0..L the mean over
positions; PCA(2) fitted on the base features only; both models projected onto the base
components with raw dot products (mean not subtracted). Per layer the points are
Original = (0, m2_orig) and Updated = (m1_ft − m1_orig, m2_ft); the shift is the distance
between the centroids over layers:
``d = sqrt(mean_ℓ(Δm1)² + mean_ℓ(m2_ft − m2_orig)²)``.

``pooling="released"`` averages over every padded position as the released code does (no
attention mask: a quirk); ``pooling="masked"`` averages over real tokens only.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from curate.errors import BadInput

POOLINGS = ("released", "masked")


def sample_texts(texts: Sequence[str], k: int = 100, seed: int = 42) -> list[str]:
    """The released sampling: ``random.seed(seed)``, shuffle, first k."""
    items = list(texts)
    random.seed(seed)
    random.shuffle(items)
    return items[:k]


def hidden_features(model, tokenizer, texts: Sequence[str], max_length: int = 128,
                    batch_size: int = 8, pooling: str = "released") -> np.ndarray:
    """Mean-pooled hidden states of every layer: array [L+1, k, d] in float32.

    Texts are tokenised together (left padding to the longest, as one released batch), then
    run in mini-batches so memory stays bounded; the pooled result is the same.
    """
    import torch

    if pooling not in POOLINGS:
        raise BadInput(f"unknown pooling {pooling!r} ({', '.join(POOLINGS)})")
    if not texts:
        raise BadInput("no texts to probe")
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    enc = tokenizer(list(texts), return_tensors="pt", padding=True, truncation=True,
                    max_length=max_length)
    device = next(model.parameters()).device
    feats: list[np.ndarray] = []
    with torch.no_grad():
        for i in range(0, len(texts), batch_size):
            ids = enc["input_ids"][i:i + batch_size].to(device)
            mask = enc["attention_mask"][i:i + batch_size].to(device)
            out = model(input_ids=ids, attention_mask=mask, output_hidden_states=True)
            layers = []
            for h in out.hidden_states:
                h = h.float()  # released: cast to fp32, then pool
                if pooling == "released":
                    pooled = h.mean(dim=1)
                else:
                    m = mask.unsqueeze(-1).to(h.dtype)
                    pooled = (h * m).sum(dim=1) / m.sum(dim=1).clamp(min=1)
                layers.append(pooled.cpu().numpy())
            feats.append(np.stack(layers))  # [L+1, b, d]
    return np.concatenate(feats, axis=1)


def pca_shift(base_feats: np.ndarray, ft_feats: np.ndarray) -> dict[str, Any]:
    """Per-layer points and the centroid distance d from features [L+1, k, d] of both models."""
    from sklearn.decomposition import PCA

    if base_feats.shape != ft_feats.shape:
        raise BadInput(f"feature shapes differ: base {base_feats.shape} vs model "
                       f"{ft_feats.shape} (models of different depth or width)")
    n_layers, k, _ = base_feats.shape
    if k < 2:
        raise BadInput(f"PCA shift needs at least 2 texts per task, got {k}")
    layers = []
    for ell in range(n_layers):
        b, f = base_feats[ell], ft_feats[ell]  # fp32 as released (PCA's signs depend on it)
        pca = PCA(n_components=2).fit(b)
        pc = pca.components_  # [2, d]
        m_orig = (b @ pc.T).mean(axis=0)
        m_ft = (f @ pc.T).mean(axis=0)
        layers.append({"layer": ell, "orig": [0.0, float(m_orig[1])],
                       "updated": [float(m_ft[0] - m_orig[0]), float(m_ft[1])],
                       "d_pc1": float(m_ft[0] - m_orig[0]), "d_pc2": float(m_ft[1] - m_orig[1]),
                       "explained_variance_ratio": [float(x) for x in
                                                    pca.explained_variance_ratio_]})
    mean1 = float(np.mean([r["d_pc1"] for r in layers]))
    mean2 = float(np.mean([r["d_pc2"] for r in layers]))
    return {"d": math.sqrt(mean1 ** 2 + mean2 ** 2), "centroid_shift": [mean1, mean2],
            "layers": layers, "k": k}


def pca_shift_probe(model, base, tokenizer, texts_by_task: Mapping[str, Sequence[str]],
                    k: int = 100, seed: int = 42, max_length: int = 128, batch_size: int = 8,
                    pooling: str = "released", groups: Mapping[str, str] | None = None,
                    progress: bool = True) -> dict[str, Any]:
    """PCA shift of `model` against `base` per task; `tokenizer` is the base's.

    `groups` maps a task to its domain group (math / other / non); the group value is the mean
    of its tasks' d (the paper's pooling is not published: an inferred choice).
    """
    tasks = {}
    items = list(texts_by_task.items())
    bar = _progress(progress, len(items))
    for task, texts in items:
        chosen = sample_texts(texts, k=k, seed=seed)
        fb = hidden_features(base, tokenizer, chosen, max_length, batch_size, pooling)
        ff = hidden_features(model, tokenizer, chosen, max_length, batch_size, pooling)
        tasks[task] = pca_shift(fb, ff)
        tasks[task]["group"] = (groups or {}).get(task)
        bar(task)
    group_d: dict[str, float] = {}
    for g in sorted({t["group"] for t in tasks.values() if t["group"]}):
        ds = [t["d"] for t in tasks.values() if t["group"] == g]
        group_d[g] = float(np.mean(ds))
    return {"tasks": tasks, "d": {t: r["d"] for t, r in tasks.items()}, "groups": group_d,
            "params": {"k": k, "seed": seed, "max_length": max_length, "pooling": pooling},
            "group_pooling": "mean over the group's tasks (inferred)"}


def _progress(enabled: bool, total: int):
    """Advance one task per call (tasks are few and each is long): a bar or log lines."""
    if not enabled or total <= 1:
        return lambda _label: None
    from curate.progress import progress_bar

    bar = progress_bar(transient=False)
    task = bar.add_task("pca-shift", total=total)

    def step(label: str) -> None:
        bar.update(task, advance=1, last=label)
        if bar.tasks[task].completed >= total:
            bar.stop()

    return step


def plot_pca_shift(result: Mapping[str, Any], path, title: str | None = None) -> str:
    """Per task: PC1-Δ (x) against PC2 (y), one point per layer, grey lines orig -> updated."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = result["tasks"]
    n = max(1, len(tasks))
    cols = min(3, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.6 * rows), squeeze=False)
    for ax, (task, r) in zip(axes.flat, tasks.items()):
        o = np.array([p["orig"] for p in r["layers"]])
        u = np.array([p["updated"] for p in r["layers"]])
        for a, b in zip(o, u):
            ax.plot([a[0], b[0]], [a[1], b[1]], color="grey", lw=0.6, alpha=0.7)
        ax.scatter(o[:, 0], o[:, 1], s=14, label="base", color="#1f77b4")
        ax.scatter(u[:, 0], u[:, 1], s=14, label="model", color="#d62728")
        ax.set_title(f"{task}  d={r['d']:.3g}", fontsize=10)
        ax.set_xlabel("PC1 Δ")
        ax.set_ylabel("PC2")
    for ax in list(axes.flat)[len(tasks):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=8)
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return str(path)
