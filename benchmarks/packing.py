"""Packing: share of real (non-pad) tokens per batch and training tokens per second, with and
without packing, on a Math-CoT-like length distribution, through `curate train sft`'s trainer.

Math-CoT-20k responses (Qwen3-32B thinking traces, cut at 16,384 tokens) are long-tailed: a
median of a few thousand tokens, a tail to the cut. Scaled down 16x for a CPU: responses drawn
lognormal (median 256 tokens, sigma 0.8), prompts 30-120 tokens, max length 1024 (= 16k / 16).

Settings compared (same model, data and seed; a fixed number of optimiser steps each):
  * no packing, batch 8 rows (padded to the longest row of each batch);
  * packing (best-fit decreasing, padding-free: sequences flattened, attention kept inside
    each row by position ids), batch 1 and batch 2 packed sequences of 1024 tokens.

    python benchmarks/packing.py [--rows 1500] [--steps 12]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
from _util import write_result  # noqa: E402

WORDS = ["so", "the", "sum", "is", "then", "wait", "let", "me", "check", "x", "=", "+", "-",
         "*", "/", "2", "3", "5", "7", "11", "13", "hence", "therefore", "we", "get"]


def conversations(n: int, tok, seed: int, max_len: int) -> list[list[dict]]:
    """n conversations whose token lengths follow the scaled Math-CoT shape."""
    rng = random.Random(seed)
    probe = " ".join(rng.choice(WORDS) for _ in range(400))
    per_word = len(tok(probe, add_special_tokens=False)["input_ids"]) / 400
    out = []
    for _ in range(n):
        resp = min(int(rng.lognormvariate(5.545, 0.8)), int(max_len * 1.2))  # median 256
        prompt = rng.randint(30, 120)
        q = " ".join(rng.choice(WORDS) for _ in range(max(1, int(prompt / per_word))))
        r = " ".join(rng.choice(WORDS) for _ in range(max(1, int(resp / per_word))))
        out.append([{"role": "user", "content": q},
                    {"role": "assistant", "content": f"<think>\n{r}\n</think>\n\n\\boxed{{5}}"}])
    return out


def batch_stats(trainer, pad_id: int) -> dict:
    """Real-token share over one epoch of collated batches (what the model computes on)."""
    real = total = 0
    for batch in trainer.get_train_dataloader():
        ids = batch["input_ids"]
        # padding-free batches have no attention mask: pad only from pad_to_multiple_of
        mask = batch["attention_mask"] if "attention_mask" in batch else ids != pad_id
        real += int(mask.sum())
        total += ids.numel()
    return {"real_tokens": real, "computed_positions": total,
            "non_pad_share": round(real / total, 4) if total else None}


def run_setting(cat, mixture: str, model: str, work: Path, name: str, packing: bool,
                batch: int, steps: int, max_length: int) -> dict:
    from curate.training.sft import SFTOptions, build_trainer, device_settings, prepare_sft

    opts = SFTOptions(max_steps=steps, batch_size=batch, max_length=max_length, packing=packing,
                      learning_rate=1e-4, warmup_ratio=0.0, logging_steps=steps, progress=False,
                      overwrite=True)
    prep = prepare_sft(cat, mixture, model, work / name, opts)
    trainer = build_trainer(prep, opts, device_settings())
    ds = trainer.train_dataset
    stats = batch_stats(trainer, prep["tokenizer"].pad_token_id)
    if packing:
        lens = [sum(x) for x in ds["seq_lengths"]]
        stats["packed_sequences"] = len(lens)
        stats["fill_rate"] = round(sum(lens) / (len(lens) * max_length), 4)
    stats["rows_per_epoch"] = prep["lengths"]["rows"]
    stats["optimizer_steps_per_epoch"] = -(-len(ds) // batch)
    t0 = time.perf_counter()
    trainer.train()
    secs = time.perf_counter() - t0
    tokens = trainer.state.num_input_tokens_seen
    return {"setting": name, "packing": packing, "batch_size": batch, "steps": steps,
            "seconds": round(secs, 2), "real_tokens_trained": tokens,
            "tokens_per_second": round(tokens / secs, 1), **stats}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=1500)
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--max-length", type=int, default=1024)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    import torch
    from transformers import AutoTokenizer

    from curate.catalog import Catalog
    from curate.training.sft import length_report, token_lengths
    from curate.training.tiny import build_tiny_model

    torch.manual_seed(args.seed)
    work = Path(tempfile.mkdtemp(prefix="packing-"))
    cat = Catalog(work / "home")
    model = build_tiny_model(work / "model", layers=args.layers, hidden=args.hidden,
                             max_positions=max(4096, 4 * args.max_length))
    tok = AutoTokenizer.from_pretrained(model)
    convs = conversations(args.rows, tok, args.seed, args.max_length)
    cat.register("cot-like", [{"messages": c} for c in convs], kind="mixture")
    lengths = length_report(token_lengths(tok, convs, None), args.max_length)
    settings = [("no packing, batch 8", False, 8), ("packing, batch 1", True, 1),
                ("packing, batch 2", True, 2)]
    results = []
    for name, packing, batch in settings:
        r = run_setting(cat, "cot-like", str(model), work, name.replace(", ", "-").replace(
            " ", "_"), packing, batch, args.steps, args.max_length)
        r["setting"] = name
        print(f"{name}: non-pad {r['non_pad_share']}, {r['tokens_per_second']} tok/s",
              flush=True)
        results.append(r)
    base = results[0]["tokens_per_second"]
    for r in results:
        r["speedup_vs_no_packing"] = round(r["tokens_per_second"] / base, 2)
    write_result("packing", {
        "command": "python benchmarks/packing.py " + " ".join(sys.argv[1:]),
        "device": "cuda" if torch.cuda.is_available() else "cpu",
        "torch_threads": torch.get_num_threads(),
        "params": vars(args), "lengths": lengths, "results": results})


if __name__ == "__main__":
    main()
