"""Loading causal LMs and their tokenizers, and cleaning decoded text: shared by training
(SFT, GRPO rewards) and probes (eval, KL, PCA shift), so it lives below both areas."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from curate.errors import CurateError, NotFound


def pick_device(device: str | None = None) -> str:
    """The device to run on: the one asked for, else CUDA when present, else CPU."""
    if device:
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def pick_dtype(dtype: str | None, device: str):
    """bf16 on GPU (as the papers load), fp32 on CPU where bf16 matmuls are slow."""
    import torch

    if dtype in (None, "auto"):
        return torch.bfloat16 if device.startswith("cuda") else torch.float32
    try:
        return {"bf16": torch.bfloat16, "bfloat16": torch.bfloat16, "fp16": torch.float16,
                "float16": torch.float16, "fp32": torch.float32, "float32": torch.float32}[dtype]
    except KeyError:
        raise CurateError(f"unknown dtype {dtype!r} (bf16, fp16, fp32)") from None


def load_tokenizer(path: str):
    """The tokenizer of a local folder or hub id; a one-line NotFound when it cannot load."""
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(str(path))
    except (OSError, ValueError) as e:
        raise NotFound(f"cannot load a tokenizer from {path!r}: {str(e).splitlines()[0]}") from None


def load_model(path: str, device: str | None = None, dtype: str | None = None,
               attn_implementation: str | None = None) -> Any:
    """A causal LM in eval mode on `device`; a one-line NotFound when the path is not a model.

    `attn_implementation` (eager, sdpa, flash_attention_2, ...) is passed to transformers;
    None keeps its default (sdpa where available).
    """
    from transformers import AutoModelForCausalLM

    device = pick_device(device)
    if not Path(str(path)).exists() and "/" not in str(path):
        raise NotFound(f"model {path!r} not found (a local folder or a hub id owner/name)")
    kw: dict[str, Any] = {"dtype": pick_dtype(dtype, device)}
    if attn_implementation:
        kw["attn_implementation"] = attn_implementation
    try:
        model = AutoModelForCausalLM.from_pretrained(str(path), **kw)
    except (OSError, ValueError, ImportError) as e:
        raise NotFound(f"cannot load a model from {path!r}: {str(e).splitlines()[0]}") from None
    model.to(device)
    model.eval()
    return model


def strip_specials(text: str, tokenizer) -> str:
    """Drop pad/eos/bos marks but keep `<think>` tags (special tokens in some vocabularies)."""
    for tok in {tokenizer.pad_token, tokenizer.eos_token, tokenizer.bos_token} - {None}:
        text = text.replace(tok, "")
    return text
