"""Tiny causal LMs for probe and eval tests: built on the spot, no hub.

`curate.training.tiny.build_tiny_model` on a small fixed corpus, plus a few steps of plain
next-token fine-tuning to make a checkpoint that differs from its base.
"""

from __future__ import annotations

from pathlib import Path

CORPUS = [
    "What is 2 + 3? <think>2 plus 3 is 5.</think> The answer is \\boxed{5}.",
    "What is 7 - 4? <think>7 minus 4 is 3.</think> The answer is \\boxed{3}.",
    "What is 6 * 2? <think>6 times 2 is 12.</think> The answer is \\boxed{12}.",
    "What is 9 + 1? <think>9 plus 1 is 10.</think> The answer is \\boxed{10}.",
    "Which option is correct? A) red B) blue C) green D) white. The answer is \\boxed{B}.",
    "The quick brown fox jumps over the lazy dog. Wait, let me check that again. So yes.",
    "Numbers: [1, 2, 3] Target: 6. The equation is 1 + 2 + 3 = 6.",
] * 4


def build_local(out_dir: Path, texts: list[str] | None = None, vocab_size: int = 320,
                layers: int = 2, hidden: int = 32, seed: int = 0) -> Path:
    """A 2-layer Llama with a BPE tokenizer trained on `texts`, saved under `out_dir`."""
    from curate.training.tiny import build_tiny_model

    return build_tiny_model(out_dir, texts or CORPUS, vocab_size=vocab_size, layers=layers,
                            hidden=hidden, heads=2, seed=seed)


def build_tiny(out_dir: Path, texts: list[str] | None = None, seed: int = 0) -> Path:
    """The tiny model the probe and eval tests use (a local Llama + BPE; see build_local)."""
    return build_local(out_dir, texts, seed=seed)


def finetune(src: Path, out_dir: Path, texts: list[str], steps: int = 30, lr: float = 3e-3,
             seed: int = 0, add_special_tokens: bool = True) -> Path:
    """A few steps of plain next-token training on `texts`: a fine-tuned checkpoint."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(seed)
    tok = AutoTokenizer.from_pretrained(src)
    model = AutoModelForCausalLM.from_pretrained(src, dtype=torch.float32)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    enc = tok([t + (tok.eos_token or "") for t in texts], return_tensors="pt", padding=True,
              add_special_tokens=add_special_tokens)
    labels = enc["input_ids"].clone()
    labels[enc["attention_mask"] == 0] = -100
    for _ in range(steps):
        loss = model(**enc, labels=labels).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
    model.eval()
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    tok.save_pretrained(out_dir)
    return Path(out_dir)
