"""Loading a model and its tokenizer for probing (from `curate.models`), and checking two
share a tokenizer."""

from __future__ import annotations

from curate.errors import CurateError
from curate.models import load_model, load_tokenizer, pick_device, pick_dtype

__all__ = ["check_same_tokenizer", "load_model", "load_tokenizer", "pick_device", "pick_dtype"]


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
