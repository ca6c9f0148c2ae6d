"""Scoring one response with the project's verifiers (the same ones curation uses).

The answer is read from the text after the last ``</think>`` (empty if the model is still
thinking: a truncated trace scores wrong). Math goes to `curate.curation.verify_math`,
Countdown to `curate.curation.verify_countdown`, multiple choice to the letter in the last
``\\boxed{}`` (or a trailing "answer is X").
"""

from __future__ import annotations

import re

from curate.curation.verify_result import VerifyResult
from curate.errors import CurateError
from curate.record import THINK_CLOSE

_BOXED = re.compile(r"\\(?:boxed|fbox)\s*\{")


def answer_part(text: str) -> str:
    """Text after the last ``</think>``; empty while a ``<think>`` block is still open."""
    t = text or ""
    if THINK_CLOSE in t:
        return t.rsplit(THINK_CLOSE, 1)[1]
    if "<think>" in t:
        return ""
    return t


def last_boxed(text: str) -> str | None:
    """Content of the last ``\\boxed{...}`` with brace matching."""
    starts = [m.end() for m in _BOXED.finditer(text)]
    if not starts:
        return None
    i, depth = starts[-1], 1
    j = i
    while j < len(text) and depth:
        if text[j] == "{":
            depth += 1
        elif text[j] == "}":
            depth -= 1
        j += 1
    return text[i:j - 1] if depth == 0 else None


def extract_letter(text: str, n_options: int = 4) -> str | None:
    """The choice letter from the last ``\\boxed{}``, else from a trailing "answer is X"."""
    letters = "ABCDEFGHIJ"[:n_options]
    boxed = last_boxed(text)
    if boxed is not None:
        m = re.fullmatch(r"\s*(?:\\text\{)?\(?([A-J])\)?\}?\s*", boxed)
        if m and m.group(1) in letters:
            return m.group(1)
    m = re.findall(r"answer is:?\s*\(?([A-J])\)?\b", text)
    if m and m[-1] in letters:
        return m[-1]
    return None


def score_mcq(reference: str, text: str, n_options: int = 4) -> VerifyResult:
    """The curation verifier's letter extraction when present, else the last boxed letter."""
    ans = answer_part(text)
    try:
        from curate.curation.verify_math import verify_choice
    except ImportError:
        verify_choice = None
    if verify_choice is not None:
        return verify_choice(reference, ans, "ABCDEFGHIJ"[:n_options])
    letter = extract_letter(ans, n_options)
    if letter is None:
        return VerifyResult(False, "no_choice", "mcq-letter/1", None)
    ok = letter == reference.strip().upper()
    return VerifyResult(ok, "ok" if ok else "wrong_choice", "mcq-letter/1", letter)


def score_math(reference: str, text: str) -> VerifyResult:
    """math-verify through the curation verifier (gold first, pooled, with a wall-clock kill)."""
    try:
        from curate.curation.verify_math import verify_math
    except ImportError:  # the curation verifier is not installed: math-verify in process
        return _math_verify_inline(reference, answer_part(text))
    return verify_math(reference, answer_part(text))


def _math_verify_inline(reference: str, answer: str) -> VerifyResult:
    """math-verify called directly, gold wrapped in \\boxed{} and parsed first."""
    import math_verify

    name = f"math-verify/{getattr(math_verify, '__version__', '?')}-inline"
    pred = math_verify.parse(answer)
    if not pred:
        return VerifyResult(False, "no_answer", name, None)
    gold = math_verify.parse(f"\\boxed{{{reference}}}")
    ok = bool(math_verify.verify(gold, pred))
    return VerifyResult(ok, "ok" if ok else "wrong_value", name, str(pred[-1]))


def score_countdown(reference: str, text: str) -> VerifyResult:
    """The equation in the last ``\\boxed{}`` (or ``<answer>``) after the thinking, checked by
    the Countdown AST verifier."""
    try:
        from curate.curation.verify_countdown import verify_countdown_completion
    except ImportError:
        raise CurateError("Countdown scoring needs curate.curation.verify_countdown, which is "
                          "not installed") from None
    return verify_countdown_completion(answer_part(text), reference)


def _countdown_equation(text: str) -> str | None:
    from curate.curation.verify_countdown import extract_countdown_answer

    return extract_countdown_answer(answer_part(text))


def score(kind: str, reference: str, text: str, n_options: int = 4) -> VerifyResult:
    """One verdict for one response."""
    if kind == "mcq":
        return score_mcq(reference, text, n_options)
    if kind == "countdown":
        return score_countdown(reference, text)
    return score_math(reference, text)


def score_many(kinds: list[str], references: list[str], texts: list[str], *, cache=None,
               workers: int | None = None, timeout: float = 5.0,
               progress: bool = False) -> list[VerifyResult]:
    """Verdicts for many responses: math through the curation verifier pool (worker processes
    with a wall-clock kill per item, cached), Countdown and multiple choice in process."""
    try:
        from curate.curation.verify import verify_rows
    except ImportError:  # no curation verifiers installed: one by one, in process
        return [score(k, r, t) for k, r, t in zip(kinds, references, texts)]
    rows = [{"task": k, "reference": r,
             "answer_text": (_countdown_equation(t) if k == "countdown" else answer_part(t))
             or None}
            for k, r, t in zip(kinds, references, texts)]
    return verify_rows(rows, workers=workers, timeout=timeout, cache=cache, progress=progress)
