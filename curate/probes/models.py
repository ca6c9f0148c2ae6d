"""Loading a model and its tokenizer for probing, and checking two share a tokenizer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from curate.errors import CurateError, NotFound


def pick_device(device: str | None = None) -> str:
    """The device to probe on: CUDA when present, else CPU."""
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
    """The tokenizer of a local folder or hub id; a clear error when it cannot be loaded."""
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(str(path))
    except (OSError, ValueError) as e:
        raise NotFound(f"cannot load a tokenizer from {path!r}: {str(e).splitlines()[0]}") from None


def load_model(path: str, device: str | None = None, dtype: str | None = None) -> Any:
    """A causal LM in eval mode on `device`; a clear error when the path is not a model."""
    from transformers import AutoModelForCausalLM

    device = pick_device(device)
    if not Path(str(path)).exists() and "/" not in str(path):
        raise NotFound(f"model {path!r} not found (a local folder or a hub id owner/name)")
    try:
        model = AutoModelForCausalLM.from_pretrained(str(path), dtype=pick_dtype(dtype, device))
    except (OSError, ValueError) as e:
        raise NotFound(f"cannot load a model from {path!r}: {str(e).splitlines()[0]}") from None
    model.to(device)
    model.eval()
    return model


def check_same_tokenizer(tok_a, tok_b, name_a: str = "model", name_b: str = "base") -> None:
    """Token-level comparisons need one vocabulary: raise a one-line error when they differ."""
    va, vb = tok_a.get_vocab(), tok_b.get_vocab()
    if va == vb:
        return
    if len(va) != len(vb):
        detail = f"{len(va)} vs {len(vb)} tokens"
    else:
        diff = sum(1 for t, i in va.items() if vb.get(t) != i)
        detail = f"{diff} of {len(va)} tokens map to different ids"
    raise CurateError(f"{name_a} and {name_b} have different tokenizers ({detail}); token-level "
                      "probes (KL, rank shift) need a model fine-tuned from this base with its "
                      "tokenizer")
