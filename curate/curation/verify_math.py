"""Math answer extraction and verification with math-verify (gold first).

math-verify's own timeouts use `signal.alarm`, which only works in the main thread and cannot
interrupt C-level work, so they are disabled here (`parsing_timeout=None`,
`timeout_seconds=None`); `VerifierPool` (curate/curation/verify_pool.py) supplies the deadline
by running this code in worker processes it can kill.

Extraction (`extract_answer`): the answer region is the text after the last `</think>` (or
Sky-T1's `<|end_of_thought|>` / solution block) when the thinking is closed, else the whole
text (inside thinking that never closed, only a `\\boxed{}` counts); in it the last `\\boxed{}` wins; without one, math-verify's anchored patterns ("final
answer is", "answer:"); `unanchored=True` allows math-verify's right-most-expression match, and
`last_number=True` the Qwen-harness fallback (the last number in the text), both opt-in.
"""

from __future__ import annotations

import logging
import re
from functools import lru_cache

from curate.curation.verify_result import VerifyResult
from curate.formats.boxed import last_boxed

THINK_CLOSERS = ("</think>", "<|end_of_thought|>")
THINK_OPENERS = ("<think>", "<|begin_of_thought|>")
SOLUTION_RE = re.compile(r"<\|begin_of_solution\|>(.*?)(?:<\|end_of_solution\|>|$)", re.S)
_NUMBER_RE = re.compile(r"-?\d[\d,]*\.?\d*|-?\.\d+")
MAX_ANSWER_CHARS = 2000   # longer "answers" are not answers; they only feed pathological parses


@lru_cache(maxsize=1)
def verifier_name() -> str:
    """`math-verify/<version>` as recorded in verify_detail."""
    from importlib.metadata import version

    return f"math-verify/{version('math-verify')}"


def answer_region(text: str | None) -> str:
    """The visible answer: after the closed think block, or the whole text if none closed."""
    t = text or ""
    m = SOLUTION_RE.search(t)
    if m and m.group(1).strip():
        return m.group(1)
    cut = -1
    for closer in THINK_CLOSERS:
        i = t.rfind(closer)
        if i != -1:
            cut = max(cut, i + len(closer))
    return t[cut:] if cut != -1 else t


def think_unclosed(text: str | None) -> bool:
    """True when a thinking block opened and never closed (the model never left its thoughts)."""
    t = text or ""
    if SOLUTION_RE.search(t):
        return False
    return any(o in t for o in THINK_OPENERS) and not any(c in t for c in THINK_CLOSERS)


def last_number(text: str) -> str | None:
    """The Qwen-harness fallback: the last number in the text (commas removed)."""
    nums = _NUMBER_RE.findall(text or "")
    for n in reversed(nums):
        n = n.replace(",", "").rstrip(".")
        if n not in ("", "-"):
            return n
    return None


def extract_answer(text: str | None, *, last_number_fallback: bool = False) -> str | None:
    """The final answer string: last `\\boxed{}` in the answer region, else (opt-in) last number.

    Anchored phrases ("the answer is X") are handled by math-verify itself in `verify_math`.
    """
    region = answer_region(text)
    boxed = last_boxed(region)
    if boxed is not None:
        return boxed
    if last_number_fallback:
        return last_number(region)
    return None


LETTER_PATTERNS = [
    r"\\boxed\{\s*(?:\\text\{)?\s*\(?([A-J])\)?\s*\}?\s*\}",
    r"answer\s*(?:is|:)?\s*[:\s]*\**\s*\(?\$?\s*([A-J])\b",
    r"\(([A-J])\)\s*$",
    r"^\s*\(?([A-J])\)?[.):]?\s*$",
]


def extract_choice(text: str | None, letters: str = "ABCDEFGHIJ") -> str | None:
    """The chosen letter: last boxed letter, else "answer is (X)", else a lone letter."""
    region = answer_region(text)
    for pat in LETTER_PATTERNS:
        hits = [h.upper() for h in re.findall(pat, region, flags=re.I | re.M)]
        hits = [h for h in hits if h in letters]
        if hits:
            return hits[-1]
    return None


def verify_choice(reference: str, prediction: str | None,
                  letters: str = "ABCDEFGHIJ") -> VerifyResult:
    """Multiple choice: the extracted letter against the gold letter."""
    name = "mcq-letter/1"
    gold = (reference or "").strip().strip("()").upper()
    if len(gold) != 1 or gold not in letters:
        return VerifyResult(None, "gold_not_a_letter", name)
    got = extract_choice(prediction, letters)
    if got is None:
        return VerifyResult(None, "no_answer", name)
    return VerifyResult(got == gold, "ok" if got == gold else "wrong_choice", name, got)


@lru_cache(maxsize=4)
def _configs(unanchored: bool):
    from math_verify import ExprExtractionConfig, LatexExtractionConfig

    return [LatexExtractionConfig(try_extract_without_anchor=unanchored, boxed_match_priority=0),
            ExprExtractionConfig(try_extract_without_anchor=unanchored)]


def _quiet() -> None:
    logging.getLogger("math_verify").setLevel(logging.ERROR)


@lru_cache(maxsize=4096)
def parse_gold(reference: str):
    """Gold parsed the way open-r1 does (defaults, first match); wrapped in $ when bare."""
    from math_verify import parse

    _quiet()
    ref = reference.strip()
    text = ref if ("$" in ref or "\\boxed" in ref or "\\(" in ref) else f"${ref}$"
    gold = parse(text, extraction_mode="first_match", parsing_timeout=None)
    if not gold:  # plain text / numbers outside LaTeX
        gold = parse(ref, extraction_mode="first_match", parsing_timeout=None)
    return gold


def verify_math(reference: str | None, prediction: str | None, *, unanchored: bool = False,
                last_number_fallback: bool = False) -> VerifyResult:
    """Is `prediction` (a full completion) correct against `reference` (the gold answer)?

    verified None means not checkable: no gold, gold unparsable, or no answer found.
    Runs without any timeout: call it through `VerifierPool` for untrusted inputs.
    """
    from math_verify import parse, verify

    _quiet()
    name = verifier_name()
    if reference is None or not str(reference).strip():
        return VerifyResult(None, "no_reference", name)
    gold = parse_gold(str(reference))
    if not gold:
        return VerifyResult(None, "gold_unparsable", name)
    region = answer_region(prediction)
    boxed = last_boxed(region)
    if boxed is not None:
        final = boxed
        pred_text = "\\boxed{" + boxed + "}"
    elif think_unclosed(prediction):
        # Inside unfinished thinking only a boxed answer counts: "the answer is" mid-thought
        # is a guess, not the model's final answer.
        return VerifyResult(None, "unclosed_think", name)
    else:
        final, pred_text = None, region
    if len(pred_text) > 200_000:
        pred_text = pred_text[-200_000:]
    pred = parse(pred_text, extraction_config=_configs(unanchored), parsing_timeout=None) \
        if pred_text.strip() else []
    if not pred and last_number_fallback:
        num = last_number(region)
        if num is not None:
            final = num
            pred = parse(f"${num}$", parsing_timeout=None)
    if not pred:
        return VerifyResult(None, "no_answer" if final is None else "unparsable_answer", name,
                            final)
    if final is None:
        final = next((p for p in pred if isinstance(p, str)), None) or str(pred[0])
    if len(final) > MAX_ANSWER_CHARS:
        final = final[:MAX_ANSWER_CHARS]
    ok = verify(gold, pred, timeout_seconds=None)
    return VerifyResult(bool(ok), "ok" if ok else "wrong_value", name, final)
