"""Where a teacher's thinking ends: the engine's reasoning parser for a model family, and
whether the chat template opens the think block itself (prefills `<think>`).

Templates of R1-distill, QwQ-32B and Qwen3-*-Thinking-2507 end the generation prompt with
`<think>\\n`, so the completion holds no opening tag, and one cut off at `max_tokens` holds no
tag at all: without this knowledge its unfinished thinking would be stored as the answer. vLLM
and SGLang separate reasoning themselves when launched with `--reasoning-parser` (vLLM
docs, "Reasoning Outputs"; SGLang docs, "Reasoning Parser"); the launcher passes the parser
named here and the rows record it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

# (pattern on the model id or folder name, vLLM parser, SGLang parser, template prefills <think>)
FAMILIES: list[tuple[str, str, str, bool | None]] = [
    (r"qwq-32b-preview", "", "", None),                       # thinks without tags
    (r"deepseek-r1|r1-distill", "deepseek_r1", "deepseek-r1", True),
    (r"qwq", "deepseek_r1", "deepseek-r1", True),
    (r"qwen3.*thinking", "deepseek_r1", "deepseek-r1", True),   # the 2507 thinking models
    (r"qwen3.*instruct-2507", "", "", False),                  # non-thinking 2507 models
    (r"qwen3", "qwen3", "qwen3", False),                        # the model writes <think>
]


def family(model: str | None) -> tuple[str, str, bool | None] | None:
    """(vLLM parser, SGLang parser, prefills) for a model id or local folder, or None."""
    name = (model or "").lower().rstrip("/")
    name = name if "/" not in name else "/".join(name.split("/")[-2:])
    for pattern, vllm, sglang, prefills in FAMILIES:
        if re.search(pattern, name):
            return vllm, sglang, prefills
    return None


def given_parser(server_args: list[str] | tuple[str, ...]) -> str | None:
    """The `--reasoning-parser` the user passed among the server arguments, if any."""
    args = list(server_args or ())
    for i, a in enumerate(args):
        if a.startswith("--reasoning-parser="):
            return a.split("=", 1)[1]
        if a == "--reasoning-parser" and i + 1 < len(args):
            return args[i + 1]
    return None


def reasoning_parser(kind: str, model: str | None, server_args=()) -> str | None:
    """The reasoning parser a launched `vllm` / `sglang` server runs with: the user's, else
    the one of the model's family, else None (and always None for other engines)."""
    if kind not in ("vllm", "sglang"):
        return None
    given = given_parser(server_args)
    if given is not None:
        return given or None
    fam = family(model)
    if fam is None:
        return None
    return (fam[0] if kind == "vllm" else fam[1]) or None


def parser_args(kind: str, model: str | None, server_args=()) -> list[str]:
    """`["--reasoning-parser", NAME]` to add to a launch, unless the user gave one."""
    if given_parser(server_args) is not None:
        return []
    name = reasoning_parser(kind, model, server_args)
    return ["--reasoning-parser", name] if name else []


def template_prefills_think(local_path: str | None, messages: list[dict[str, str]],
                            template_kwargs: dict[str, Any] | None = None,
                            model: str | None = None) -> bool | None:
    """Whether the generation prompt ends inside an opened think block: read from the
    teacher's own chat template when its tokenizer is on disk, else from its family; None
    when unknown. A template that writes an empty closed block (Qwen3 with
    enable_thinking=False) does not prefill."""
    if local_path and Path(local_path).is_dir():
        try:
            from transformers import AutoTokenizer

            tok = AutoTokenizer.from_pretrained(local_path)
            kw = dict(template_kwargs or {})
            gen = tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=False,
                                          **kw)
            base = tok.apply_chat_template(messages, add_generation_prompt=False,
                                           tokenize=False, **kw)
        except Exception:
            gen = base = None
        if isinstance(gen, str):
            tail = gen[len(base):] if isinstance(base, str) and gen.startswith(base) else gen[-200:]
            opened = tail.rfind("<think>")
            return opened != -1 and "</think>" not in tail[opened:]
    fam = family(model or local_path)
    if fam is None:
        return None
    kw = template_kwargs or {}
    if kw.get("enable_thinking") is False or kw.get("thinking") is False:
        return False
    return fam[2]
