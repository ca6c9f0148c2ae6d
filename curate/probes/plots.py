"""Plots shared by eval and the report: score and response length against training step."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any


def plot_trajectory(traj: Mapping[str, Mapping[str, Any]], path, title: str | None = None) -> str:
    """Left: accuracy vs step per benchmark. Right: mean response tokens vs step (dip/recovery)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.8))
    for bench, t in traj.items():
        steps = [s if s is not None else 0 for s in t["step"]]
        a1.plot(steps, [100 * (v or 0) for v in t["accuracy"]], marker="o", label=bench)
        a2.plot(steps, [v or 0 for v in t["mean_response_tokens"]], marker="o", label=bench)
    a1.set_xlabel("step")
    a1.set_ylabel("accuracy (avg@k, %)")
    a2.set_xlabel("step")
    a2.set_ylabel("mean response tokens")
    a1.legend(fontsize=8)
    a1.grid(alpha=0.3)
    a2.grid(alpha=0.3)
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return str(path)
