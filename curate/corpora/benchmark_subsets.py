"""Benchmarks cut from a larger one by a recorded, seeded rule.

``mmlu-pro-1k``: the 1,000-question MMLU-Pro subset of P1 and P3 (P3's lm-eval data dir
``mmlu_pro_1k``; made by P1-code ``eval/lm-evaluation-harness/lm_eval/tasks/leaderboard/
mmlu_pro/process.py``). Rule, applied to the test split in its Hub order:

1. for each category, in ``value_counts(normalize=True)`` order, take
   ``min(len, max(1, int(share x 1000)))`` rows with ``DataFrame.sample(random_state=42)``;
2. concatenate, then ``sample(n=1000, random_state=42, replace=True)``.

Step 2 samples *with replacement*, so the papers' subset repeats some questions and leaves
out others of step 1; it is kept as they made it. Repeated questions get ids
``<question_id>#2``, ``#3``... so each draw is its own item. The result depends on pandas'
sampling (numpy's legacy RandomState); the pandas version is recorded with the rows.
"""

from __future__ import annotations

from typing import Any

SUBSET_RULES = {
    "mmlu-pro-1k": ("per category max(1, int(share*1000)) rows, DataFrame.sample("
                    "random_state=42); then sample(n=1000, random_state=42, replace=True)"),
}


def mmlu_pro_1k(rows: list[dict[str, Any]], size: int = 1000, seed: int = 42,
                ) -> list[dict[str, Any]]:
    """The papers' MMLU-Pro subset of `rows` (the test split, in its Hub order)."""
    import pandas as pd

    df = pd.DataFrame(rows)
    if "category" not in df.columns:
        from curate.errors import BadInput

        raise BadInput("mmlu-pro-1k needs the `category` column of MMLU-Pro's test split")
    shares = df["category"].value_counts(normalize=True)
    parts = []
    for cat, share in shares.items():
        cdf = df[df["category"] == cat]
        n = max(1, int(share * size))
        parts.append(cdf.sample(n=min(n, len(cdf)), random_state=seed))
    picked = pd.concat(parts).sample(n=size, random_state=seed, replace=True)
    out, seen = [], {}
    for rec in picked.to_dict("records"):
        qid = str(rec.get("question_id", rec.get("id", "")))
        seen[qid] = seen.get(qid, 0) + 1
        rec["id"] = qid if seen[qid] == 1 else f"{qid}#{seen[qid]}"
        rec["subset_rule"] = f"mmlu-pro-1k (pandas {pd.__version__})"
        out.append(rec)
    return out


def derive(name: str, parent_rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows of the derived benchmark `name` from its parent's rows."""
    if name == "mmlu-pro-1k":
        return mmlu_pro_1k(parent_rows)
    raise KeyError(f"no subset rule for {name!r}")
