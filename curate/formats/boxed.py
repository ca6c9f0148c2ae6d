"""The `\\boxed{}` convention: where a math answer is written in a completion or a solution
(MATH, NuminaMath, R1-style traces). Shared by the prompt sources (a MATH `solution` gives its
reference) and the math verifier (the final answer)."""

from __future__ import annotations

import re


def last_boxed(text: str) -> str | None:
    """Content of the last `\\boxed{...}` / `\\fbox{...}` (brace matched), or `\\boxed 5`."""
    best = None
    for m in re.finditer(r"\\(?:boxed|fbox)\s*(\{)?", text):
        if m.group(1) is None:
            tail = re.match(r"\s*([^\s$]+)", text[m.end():])
            if tail:
                best = tail.group(1)
            continue
        depth, i = 1, m.end()
        while i < len(text) and depth:
            c = text[i]
            if c == "\\" and i + 1 < len(text):
                i += 2
                continue
            depth += (c == "{") - (c == "}")
            i += 1
        if depth == 0:
            best = text[m.end():i - 1].strip()
    return best
