"""The `\\boxed{}` convention: where a math answer is written in a completion or a solution
(MATH, NuminaMath, R1-style traces). Shared by the prompt sources (a MATH `solution` gives its
reference), the math and multiple-choice verifiers (the final answer) and the rewards.

Rules (issue 13): a braced `\\boxed{...}` / `\\fbox{...}` (brace matched) wins over any
brace-less `\\boxed 5` anywhere in the text; among braced boxes the last one that is not an
echo of the instruction (`\\boxed{}`, `\\boxed{your answer}`) wins. Without a braced box, a
brace-less `\\boxed` takes only one number (`\\boxed 42.` gives `42`) or one symbol token
(`\\boxed x`, `\\boxed \\pi`); anything else after it (`... in \\boxed as ...`) is no box.
"""

from __future__ import annotations

import re

_BOX = re.compile(r"\\(?:boxed|fbox)(?![A-Za-z])\s*(\{)?")
# One number (thousands groups, decimals) or one symbol: a letter or a command such as \pi,
# standing alone (not the start of a word: `\boxed as` is an echo, not a box).
_BARE_TOKEN = re.compile(
    r"\s*(-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|-?\\[A-Za-z]+|-?[A-Za-z])"
    r"(?![A-Za-z0-9{_^/*\\(]|\.\d)")        # `\boxed 1/2` or `\boxed 3x` is no single token
# What an echo of the instruction puts in a box: nothing, dots, or a placeholder.
_PLACEHOLDER = re.compile(
    r"\s*(?:\.\.\.|\\ldots|\\cdots|\\dots|(?:\\text\{)?\s*(?:your[ _]?)?(?:final[ _])?"
    r"(?:answer|ans|expression|equation|letter|choice)s?(?:[ _]here)?\s*\}?)?\s*",
    re.I)


def boxes(text: str) -> list[tuple[int, int, str]]:
    """Every braced `\\boxed{...}` / `\\fbox{...}` as (start, end, content), in order.

    Braces are matched (escaped `\\{` `\\}` do not count); an unbalanced box is skipped.
    """
    out = []
    for m in _BOX.finditer(text or ""):
        if m.group(1) is None:
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
            out.append((m.start(), i, text[m.end():i - 1].strip()))
    return out


def is_placeholder(content: str) -> bool:
    """True for a box that only echoes the instruction: empty, `...`, `your answer`."""
    return _PLACEHOLDER.fullmatch(content or "") is not None


def bare_boxed(text: str) -> str | None:
    """The token of the last brace-less `\\boxed 42` that holds one number or symbol."""
    best = None
    for m in _BOX.finditer(text or ""):
        if m.group(1) is not None:
            continue
        tok = _BARE_TOKEN.match(text, m.end())
        if tok:
            best = tok.group(1)
    return best


# What may stand between the boxes of one answer: "\boxed{4}, \boxed{7}", "$\boxed{A}$ or $\boxed{C}$".
_BETWEEN = re.compile(r"\s*\$*\s*(?:,|;|/|&|(?:,\s*)?(?:and|or)|\\text\{\s*(?:and|or)\s*\})?\s*\$*\s*")


def _outermost(found: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """The boxes not inside another box (`\\boxed{\\boxed{42}}` is one box)."""
    out: list[tuple[int, int, str]] = []
    for b in found:
        if not out or b[0] >= out[-1][1]:
            out.append(b)
    return out


def final_boxes(text: str) -> list[str]:
    """The boxes of the final answer: the last braced box (not an echo) and the boxes right
    before it that only a comma, "and" or "or" separates from it ("\\boxed{-2} and
    \\boxed{1}" is one answer, -2 and 1; so is a hedge "\\boxed{A} or \\boxed{C}"). Without a
    braced box, the brace-less token of `bare_boxed`; [] without any box."""
    found = [b for b in _outermost(boxes(text)) if not is_placeholder(b[2])]
    if not found:
        bare = bare_boxed(text)
        return [bare] if bare is not None else []
    group = [found[-1]]
    for prev in reversed(found[:-1]):
        if not _BETWEEN.fullmatch(text[prev[1]:group[0][0]]):
            break
        group.insert(0, prev)
    return [c for _, _, c in group]


def last_boxed(text: str) -> str | None:
    """The boxed final answer: content of the last braced box that is not an echo of the
    instruction, else the token of a brace-less `\\boxed` (number or one symbol), else None."""
    braced = [c for _, _, c in boxes(text) if not is_placeholder(c)]
    if braced:
        return braced[-1]
    return bare_boxed(text)
