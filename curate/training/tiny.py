"""Tiny local causal LMs for tests and CPU smoke runs: no hub, built in seconds.

A Llama with a byte-level BPE trained on the spot and a chat template that keeps `<think>`
blocks in the assistant turn, marked with `{% generation %}` so TRL's assistant-only loss
works on it. The template honours `enable_thinking=False` the way Qwen3's does (an empty
think block is prefilled), so the same kwargs work against a tiny model and a real teacher.
"""

from __future__ import annotations

from pathlib import Path

from curate.corpora.countdown import CountdownConfig, draw_instance
from curate.curation.countdown_teacher import countdown_prompt, solve_with_trace

SPECIAL_TOKENS = ["<pad>", "<s>", "</s>", "<unk>", "<|system|>", "<|user|>", "<|assistant|>",
                  "<|end|>"]
# Added but not special (as in Qwen3): decoding with skip_special_tokens keeps them, so a
# server returns the think block instead of silently dropping its tags.
THINK_TOKENS = ["<think>", "</think>"]

CHAT_TEMPLATE = (
    "{% for m in messages %}"
    "{% if m['role'] == 'assistant' %}<|assistant|>\n"
    "{% generation %}{{ m['content'] }}<|end|>{% endgeneration %}\n"
    "{% else %}<|{{ m['role'] }}|>\n{{ m['content'] }}<|end|>\n{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n"
    "{% if enable_thinking is defined and enable_thinking is false %}<think>\n\n</think>\n\n"
    "{% endif %}{% endif %}"
)

BASE_CORPUS = [
    "What is 2 + 3? <think>2 plus 3 is 5.</think> The answer is \\boxed{5}.",
    "What is 7 - 4? <think>7 minus 4 is 3.</think> The answer is \\boxed{3}.",
    "What is 6 * 2? <think>6 times 2 is 12.</think> The answer is \\boxed{12}.",
    "Solve for x: 2x + 1 = 7. <think>Subtract 1, divide by 2: x = 3.</think> \\boxed{3}",
    "Which option is correct? A) red B) blue C) green D) white. The answer is \\boxed{B}.",
    "Wait, let me check that again. So the final answer is \\frac{1}{2}.",
]


def _countdown_texts(n: int = 40, seed: int = 0) -> list[str]:
    """Countdown-shaped text so the BPE has merges for numbers, operators and the format."""
    import random

    rng = random.Random(seed)
    cfg = CountdownConfig()
    out = []
    for _ in range(n):
        inst = draw_instance(rng, cfg)
        res = solve_with_trace(inst.numbers, inst.target)
        out.append(f"{countdown_prompt(inst.numbers, inst.target)} <think>{res.reasoning}"
                   f"</think> {res.answer_text}")
    return out


def build_tiny_model(out_dir: str | Path, texts: list[str] | None = None, vocab_size: int = 400,
                     layers: int = 2, hidden: int = 64, heads: int = 4,
                     max_positions: int = 4096, seed: int = 0) -> Path:
    """Save a tiny Llama + tokenizer + chat template under `out_dir`; return the path."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import (
        GenerationConfig,
        LlamaConfig,
        LlamaForCausalLM,
        PreTrainedTokenizerFast,
    )

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    corpus = list(texts) if texts else BASE_CORPUS * 4 + _countdown_texts(seed=seed)
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train_from_iterator(corpus, trainer)
    tok.add_tokens(THINK_TOKENS)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="<|end|>",
                                   pad_token="<pad>", unk_token="<unk>",
                                   model_max_length=max_positions)
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(out)
    torch.manual_seed(seed)
    cfg = LlamaConfig(vocab_size=len(fast), hidden_size=hidden, intermediate_size=2 * hidden,
                      num_hidden_layers=layers, num_attention_heads=heads,
                      num_key_value_heads=heads, max_position_embeddings=max_positions,
                      bos_token_id=fast.bos_token_id, eos_token_id=fast.eos_token_id,
                      pad_token_id=fast.pad_token_id, tie_word_embeddings=False)
    model = LlamaForCausalLM(cfg)
    model.generation_config = GenerationConfig(bos_token_id=fast.bos_token_id,
                                               eos_token_id=fast.eos_token_id,
                                               pad_token_id=fast.pad_token_id)
    model.save_pretrained(out)
    return out


def teach_tiny_model(model_dir: str | Path, pairs: list[tuple[str, str]], steps: int = 150,
                     lr: float = 1e-2, seed: int = 0) -> dict:
    """Fit the tiny model in `model_dir` (in place) to answer each prompt with its completion,
    through its chat template, with the loss on the assistant turn only.

    For CPU smoke runs of recipes whose filters keep only verified answers with a closed think
    block (`recipes/smoke/tiny-teacher.jsonl` teaches one answer to the smoke prompts): a
    random tiny model writes no think block and no answer, so every row would be dropped.
    Returns {"steps", "loss"} (the last step's loss). Raises ValueError for no pairs.

    Example: ``teach_tiny_model(".curate/tiny-teacher", [("2+2?", "<think>4</think> \\boxed{4}")])``
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if not pairs:
        raise ValueError("no (prompt, completion) pairs to teach")
    torch.manual_seed(seed)
    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    seqs, labels = [], []
    for prompt, completion in pairs:
        user = [{"role": "user", "content": prompt}]
        head = tok.apply_chat_template(user, add_generation_prompt=True, tokenize=False)
        full = tok.apply_chat_template(user + [{"role": "assistant", "content": completion}],
                                       tokenize=False)
        h = tok(head, add_special_tokens=False)["input_ids"]
        f = tok(full, add_special_tokens=False)["input_ids"]
        seqs.append(f)
        labels.append([-100] * len(h) + f[len(h):])
    width = max(len(s) for s in seqs)
    pad = tok.pad_token_id
    ids = torch.tensor([s + [pad] * (width - len(s)) for s in seqs])
    lab = torch.tensor([x + [-100] * (width - len(x)) for x in labels])
    mask = torch.tensor([[1] * len(s) + [0] * (width - len(s)) for s in seqs])
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    model.train()
    loss = None
    threads = torch.get_num_threads()
    torch.set_num_threads(1)   # a model this small only loses to thread hand-offs
    try:
        for _ in range(steps):
            loss = model(input_ids=ids, attention_mask=mask, labels=lab).loss
            loss.backward()
            opt.step()
            opt.zero_grad()
    finally:
        torch.set_num_threads(threads)
    model.eval()
    model.save_pretrained(model_dir)
    return {"steps": steps, "loss": float(loss.detach())}
