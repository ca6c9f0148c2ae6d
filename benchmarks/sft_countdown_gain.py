"""Does `curate train sft` teach a tiny model Countdown? Held-out verified accuracy before and
after SFT on search-teacher traces, on CPU in a few minutes.

Pipeline, all through the library the CLI wraps:
  1. `generate_countdown(..., numbers=3, optimal_only=True)` with input numbers 1..20 (the
     recipes use 1..99): train traces, and held-out test problems (`split="test"`: target
     values never seen in training);
  2. `build_mixture(cat, "cd-mix", ["cd-train"], variant="cot")` (= `curate mix`);
  3. a tiny Llama built here (its BPE trained on the training conversations);
  4. greedy decoding on the test prompts, verified by the Countdown AST verifier: before;
  5. `train_sft(...)` (= `curate train sft --mixture cd-mix --model M --output OUT ...`);
  6. the same decoding on the trained model: after.

    python benchmarks/sft_countdown_gain.py [--train-n 3000] [--test-n 200] [--epochs 3] [--max-number 20]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
from _util import write_result  # noqa: E402


def held_out_accuracy(model_dir: str, rows: list[dict], max_new_tokens: int,
                      batch_size: int = 32) -> dict:
    """Greedy completions on the test prompts, each verified against its reference."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from curate.curation.verify_countdown import verify_countdown_completion
    from curate.probes.generation import Sampling, generate_local

    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    t0 = time.perf_counter()
    outs = generate_local(model, tok, [r["prompt"] for r in rows],
                          Sampling(n=1, temperature=0.0, max_new_tokens=max_new_tokens),
                          batch_size=batch_size)
    verdicts = [verify_countdown_completion(o[0].text, r["reference"]) for o, r in zip(outs, rows)]
    reasons: dict[str, int] = {}
    for v in verdicts:
        reasons[v.reason] = reasons.get(v.reason, 0) + 1
    ok = sum(bool(v.verified) for v in verdicts)
    return {"problems": len(rows), "verified": ok, "accuracy": ok / len(rows),
            "closed_think": sum("</think>" in o[0].text for o in outs) / len(rows),
            "boxed": sum("\\boxed{" in o[0].text for o in outs) / len(rows),
            "reasons": dict(sorted(reasons.items())), "seconds": round(time.perf_counter() - t0, 1),
            "example": outs[0][0].text[:600]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--train-n", type=int, default=3000)
    ap.add_argument("--test-n", type=int, default=200)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--vocab", type=int, default=1000)
    ap.add_argument("--epochs", type=float, default=3.0)
    ap.add_argument("--learning-rate", type=float, default=3e-3)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--max-length", type=int, default=512)
    ap.add_argument("--max-new-tokens", type=int, default=160)
    ap.add_argument("--packing", action="store_true")
    ap.add_argument("--max-number", type=int, default=20,
                    help="Input numbers drawn from 1..N (99 in the recipes; smaller keeps the "
                         "arithmetic a tiny model must learn within minutes)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    from curate.catalog import Catalog
    from curate.corpora.countdown import CountdownConfig
    from curate.curation.countdown_generate import generate_countdown
    from curate.training.mixtures import build_mixture
    from curate.training.sft import SFTOptions, train_sft
    from curate.training.tiny import build_tiny_model

    work = Path(tempfile.mkdtemp(prefix="sft-gain-"))
    cat = Catalog(work / "home")
    t0 = time.perf_counter()
    cfg = CountdownConfig(numbers=3, max_number=args.max_number)
    generate_countdown(cat, "cd-train", args.train_n, cfg=cfg, seed=args.seed,
                       optimal_only=True, progress=False)
    test = generate_countdown(cat, "cd-test", args.test_n, cfg=cfg, seed=args.seed + 1,
                              split="test", optimal_only=True, progress=False)
    mix = build_mixture(cat, "cd-mix", ["cd-train"], variant="cot", seed=args.seed)
    convs = cat.table(mix).column("messages").to_pylist()
    texts = [m["content"] for c in convs[:1500] for m in c]
    model_dir = build_tiny_model(work / "base", texts=texts, vocab_size=args.vocab,
                                 layers=args.layers, hidden=args.hidden, heads=4,
                                 max_positions=1024, seed=args.seed)
    test_rows = cat.table(test).select(["prompt", "reference"]).to_pylist()
    data_seconds = time.perf_counter() - t0

    before = held_out_accuracy(str(model_dir), test_rows, args.max_new_tokens)
    print(f"untrained: {before['verified']}/{before['problems']} verified", flush=True)
    opts = SFTOptions(epochs=args.epochs, learning_rate=args.learning_rate, warmup_ratio=0.05,
                      batch_size=args.batch_size, max_length=args.max_length,
                      packing=args.packing, logging_steps=25, seed=args.seed, progress=False)
    run = train_sft(cat, "cd-mix", str(model_dir), work / "sft", opts)
    print(f"trained {run['steps']} steps in {run['seconds']} s, loss {run['final_loss']:.3f}",
          flush=True)
    after = held_out_accuracy(run["output"], test_rows, args.max_new_tokens)
    print(f"trained: {after['verified']}/{after['problems']} verified", flush=True)
    write_result("sft_countdown_gain", {
        "command": "python benchmarks/sft_countdown_gain.py " + " ".join(sys.argv[1:]),
        "cli_equivalent": (f"curate mix cd-mix --from cd-train --variant cot && curate train "
                           f"sft --mixture cd-mix --model BASE --output OUT --epochs "
                           f"{args.epochs} --learning-rate {args.learning_rate} --warmup-ratio "
                           f"0.05 --batch-size {args.batch_size} --max-length {args.max_length}"
                           + (" --packing" if args.packing else "")),
        "params": vars(args),
        "model": {"layers": args.layers, "hidden": args.hidden, "vocab": args.vocab,
                  "parameters": _params(run["output"])},
        "data_seconds": round(data_seconds, 1),
        "train": {k: run[k] for k in ("steps", "train_loss", "final_loss", "tokens_seen",
                                      "seconds", "tokens_per_second", "truncation")},
        "untrained": before, "trained": after,
        "accuracy_gain": after["accuracy"] - before["accuracy"],
    })


def _params(path: str) -> int:
    from transformers import AutoModelForCausalLM

    return sum(p.numel() for p in AutoModelForCausalLM.from_pretrained(path).parameters())


if __name__ == "__main__":
    main()
