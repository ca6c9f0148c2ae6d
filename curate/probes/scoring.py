"""Scoring one response with the project's verifiers (the same ones curation uses).

Math and multiple choice go through the very functions `curate verify` uses
(`curate.curation.verify_math.verify_math`, `curate.curation.verify_choice.verify_choice`) on
the whole response, so the eval scorer and the dataset verifier never disagree on a row: the
answer is read after the closed thinking, and a response whose thinking never closed has no
answer (rule `no-answer`) unless `unclosed="whole-response"` (P3's evaluation: math-verify on
the whole response when no `</think>` was emitted). The rule used is in each verdict's
`verify_detail` (`region`). Countdown goes to `curate.curation.verify_countdown` on the text
after the last ``</think>``.
"""

from __future__ import annotations

from curate.curation.verify_result import VerifyResult
from curate.errors import CurateError
from curate.record import THINK_CLOSE


def answer_part(text: str) -> str:
    """Text after the last ``</think>``; empty while a ``<think>`` block is still open."""
    t = text or ""
    if THINK_CLOSE in t:
        return t.rsplit(THINK_CLOSE, 1)[1]
    if "<think>" in t:
        return ""
    return t


def answer_part_whole(text: str) -> str:
    """The papers' think-stripping (`text.split("</think>")[-1]` in P3-code's AlpacaEval,
    HEx-PHI and TruthfulQA scorers): the text after the last closing think tag, or the whole
    response when there is none (an unclosed `<think>` included)."""
    from curate.formats.answers import answer_region

    return answer_region(text or "", None, "whole-response").text


def score_mcq(reference: str, text: str, n_options: int = 4,
              unclosed: str = "no-answer") -> VerifyResult:
    """The curation verifier's letter extraction (`verify_choice`) on the whole response."""
    from curate.curation.verify_choice import verify_choice

    return verify_choice(reference, text, "ABCDEFGHIJ"[:n_options], unclosed=unclosed)


def score_math(reference: str, text: str, unclosed: str = "no-answer") -> VerifyResult:
    """`verify_math` on the whole response, in process (no deadline: `score_many` pools)."""
    from curate.curation.verify_math import verify_math

    return verify_math(reference, text, unclosed=unclosed)


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


def score(kind: str, reference: str, text: str, n_options: int = 4,
          unclosed: str = "no-answer") -> VerifyResult:
    """One verdict for one response."""
    if kind == "mcq":
        return score_mcq(reference, text, n_options, unclosed)
    if kind == "countdown":
        return score_countdown(reference, text)
    return score_math(reference, text, unclosed)


def score_many(kinds: list[str], references: list[str], texts: list[str], *, cache=None,
               workers: int | None = None, timeout: float = 5.0, progress: bool = False,
               unclosed: str = "no-answer", rule: str | None = None) -> list[VerifyResult]:
    """Verdicts for many responses through `curate.curation.verify.verify_rows` (math in the
    verifier pool: worker processes with a wall-clock kill per item, cached); the whole
    response is each row's `answer_text`, so the verifier applies its own region rules.
    `rule` names the math comparison (`verify_math.MATH_RULES`: `math-verify`, or P1's
    `hendrycks`); it is recorded in each verdict's `verify_detail` (`verifier`)."""
    from curate.curation.verify import verify_rows

    rows = [{"task": k, "reference": r,
             "answer_text": (_countdown_equation(t) if k == "countdown" else t) or None}
            for k, r, t in zip(kinds, references, texts)]
    opts: dict = {}
    if unclosed != "no-answer":
        opts["unclosed"] = unclosed
    if rule not in (None, "math-verify"):
        opts["rule"] = rule
    return verify_rows(rows, workers=workers, timeout=timeout, cache=cache, progress=progress,
                       math_options=opts or None)
