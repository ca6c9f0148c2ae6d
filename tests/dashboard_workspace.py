"""A small but complete workspace for the dashboard's browser check and its screenshots: the
Countdown recipe run (traces, test split, NoCoT variant), a mixture, a tiny model trained with
checkpoints, evals of every checkpoint, a TI, a KL probe and a coverage measurement, all made
through the CLI as a user would. Shared by tests/test_dashboard_browser.py and
benchmarks/dashboard_screenshots.py."""

from __future__ import annotations

import json
import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _cli(args: list[str]) -> str:
    from typer.testing import CliRunner

    from curate.cli import app

    r = CliRunner().invoke(app, args)
    if r.exit_code != 0:
        raise RuntimeError(f"curate {' '.join(args)} failed: {r.output[-2000:]}")
    return r.stdout


def build_workspace(home: Path) -> dict:
    """Fill `home` (a new CURATE_HOME); returns what was made (run id, specs, paths)."""
    os.environ["CURATE_HOME"] = str(home)
    os.environ.setdefault("CURATE_PROGRESS", "off")
    home.mkdir(parents=True, exist_ok=True)
    _cli(["run", str(REPO / "recipes" / "countdown-cot-20k.yaml"), "--set", "n=48",
          "--set", "test_n=16", "--set", "numbers=3"])
    mix = json.loads(_cli(["mix", "cd-mix", "--from", "countdown-cot-20k:32", "--variant", "cot",
                           "--json"]))
    _cli(["train", "tiny-model", str(home / "tiny")])
    run = json.loads(_cli(["train", "sft", "--mixture", "cd-mix", "--model", str(home / "tiny"),
                           "--output", str(home / "runs" / "sft"), "--max-steps", "6",
                           "--save-steps", "2", "--batch-size", "4", "--max-length", "4096",
                           "--logging-steps", "1", "--learning-rate", "1e-3", "--json"]))
    suite = home / "arith.jsonl"
    suite.write_text("\n".join(json.dumps({"problem": f"Using 2, 3 and {i}, make {i + 5}.",
                                           "answer": str(i + 5)}) for i in range(4)))
    _cli(["eval", run["run_id"], "--suite", f"local:{suite}", "--max-new-tokens", "16",
          "--temperature", "0", "--json"])
    # TI from group scores (the paper's UniReason-RL vs its base, ICML table)
    from curate.catalog import Catalog

    cat = Catalog(home)
    for model, vals in (("Qwen3-14B-Base", (27.7, 30.2, 45.7)),
                        ("UniReason-Qwen3-14B-RL", (53.8, 51.0, 53.2))):
        for g, v in zip(("math", "other", "non"), vals):
            cat.insert("evals", {"model": model, "benchmark": f"{g}-avg", "domain": g,
                                 "metric": "accuracy", "value": v / 100})
    _cli(["probe", "ti", "--model", "UniReason-Qwen3-14B-RL", "--base", "Qwen3-14B-Base"])
    texts = home / "texts.jsonl"
    texts.write_text("\n".join(json.dumps({"task": "countdown", "prompt": p, "response": r})
                               for p, r in _pairs(cat)))
    _cli(["probe", "kl", "--model", str(home / "runs" / "sft"), "--base", str(home / "tiny"),
          "--texts", str(texts), "--limit", "6"])
    bench = home / "bench.jsonl"
    test_rows = cat.get("countdown-test").select(range(8))
    bench.write_text("\n".join(json.dumps({"problem": p}) for p in test_rows["prompt"]))
    _cli(["coverage", "countdown-cot-20k", "--against", f"file:{bench}", "--json"])
    return {"run": run["run_id"], "mixture": mix["spec"], "home": str(home)}


def _pairs(cat) -> list[tuple[str, str]]:
    ds = cat.get("countdown-cot-20k").select(range(6))
    return [(m[0]["content"], m[-1]["content"][:400]) for m in ds["messages"]]
