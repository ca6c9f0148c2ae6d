"""Multiple choice: the letter a completion chose, against the gold letter.

The one letter extractor of curate: the dataset verifier, `verify-answer --task mcq` and the
eval scorer (GPQA, MMLU-Pro) all call `extract_choice` / `verify_choice` (issue 13).

Rules, on the answer region of `curate.formats.answers` (after the closed thinking):

1. the last braced `\\boxed{}` holding a letter, styled or not (`\\boxed{C}`,
   `\\boxed{\\textbf{(C)}}`, `\\boxed{\\text{C}}`, `\\boxed{(C) 42}`), with the boxes that
   only "or" / "and" / a comma separates from it (`\\boxed{A} or \\boxed{C}` is a hedge);
2. else the right-most answer phrase ("answer is", "Answer:", "final answer:") followed by a
   letter, styled or not (`**(C)**`, `$C$`, `\\text{C}`, a code span). Letters are
   capitals, matched case-sensitively: the English article in "this answer is a direct
   consequence" is no option, and a capital followed by more letters is a word ("Answer: All
   of them");
3. else a region that is only a letter (`C`, `(C)`, `**C.**`), or that ends in `(C)`.

A hedge is not a choice: a box or answer phrase naming several options ("A or C", "A and B",
"either B or D", "both A and C", "A, C") gives no letter (reason `several_choices`), never
the first one; a final answer phrase naming no option ("Answer: E" of four) is no answer,
never an earlier phrase's letter.
"""

from __future__ import annotations

import re

from curate.curation.verify_result import VerifyResult
from curate.formats.answers import answer_region, clean_answer
from curate.formats.boxed import boxes, final_boxes

LETTERS = "ABCDEFGHIJ"
VERIFIER = "mcq-letter/3"

# Styling around a letter: markdown (emphasis, code), math, \text-like wrappers, parentheses.
_OPEN = r"(?:\*\*|__|\*|`|\$|\\\(|\\(?:text|textbf|mathrm|mathbf|textrm)\s*\{|\{|\(|\[|\s)*"
_CLOSE = r"(?:\*\*|__|\*|`|\$|\\\)|\}|\)|\]|\s)*"
_LETTER = rf"{_OPEN}([A-J])(?![A-Za-z0-9]){_CLOSE}"
_SEP = r"\s*(?:,|/|&|\bor\b|\band\b|\bnor\b|\\text\{\s*(?:or|and|nor)\s*\})\s*"
_HEDGE = re.compile(rf"(?:(?i:either|both|neither)\s+)?{_LETTER}(?:{_SEP}{_LETTER})+")
_ONE = re.compile(_LETTER)
_ANSWER_PHRASE = re.compile(
    r"(?<![A-Za-z])(?:(?i:(?:final|correct|best|right)\s+)?(?i:answer)"
    r"|(?i:(?:final|correct|best|right)\s+(?:choice|option)))"
    r"\s*(?:\*\*|__)?\s*(?:(?i:is|would\s+be|should\s+be|must\s+be)\b\s*:?|[:=])"
    r"\s*(?:\*\*|__)?\s*(?:(?i:therefore|thus)\s+)?(?:(?i:option|choice)\s+)?")


# After the English words "A" and "I" a lowercase word makes them an article or a pronoun
# ("Answer: I think it is B", "Answer: A careful reading gives C"), unless the word is one that
# follows an option ("A is correct", "I, because ...", "A or C").
_OPTION_FOLLOWERS = {"is", "was", "seems", "appears", "fits", "matches", "holds", "because",
                     "since", "as", "and", "or", "nor", "with", "which", "but", "so", "then",
                     "here", "again", "too", "also", "only", "instead", "indeed"}
_WORD_AFTER = re.compile(r"(?:'|\s+([a-z][a-z']*))")


def _english_word(text: str, one: re.Match) -> bool:
    """Is the unstyled `A` / `I` that `one` matched the article or the pronoun?"""
    if one.group(1) not in "AI" or text[one.start():one.start(1)].strip():
        return False
    after = _WORD_AFTER.match(text, one.end(1))
    return bool(after) and (after.group(1) is None or after.group(1) not in _OPTION_FOLLOWERS)


def _letters_at_start(text: str, letters: str) -> tuple[str | None, bool, int]:
    """(letter, hedge, end) for the choice `text` starts with; (None, False, 0) without one.
    A letter outside `letters` ("E" of four options) is returned as "" (a choice, invalid)."""
    hedge = _HEDGE.match(text)
    if hedge and len({g for g in hedge.groups() if g}) > 1:
        return None, True, hedge.end()
    one = _ONE.match(text)
    if one and _english_word(text, one):
        return None, False, 0
    if one:
        return (one.group(1) if one.group(1) in letters else ""), False, one.end()
    return None, False, 0


def _boxed_letter(content: str, letters: str) -> tuple[str | None, bool]:
    """The letter a box holds: `C`, `\\textbf{(C)}`, `(C) 42`, `C. 42`; hedges give
    (None, True); `C + 1` or `A = 5` is no letter."""
    c = content.strip()
    letter, hedge, end = _letters_at_start(c, letters)
    if hedge or letter is None:
        return letter, hedge
    rest, head = c[end:], c[:end]
    if not rest or re.match(r"[.:)\]]", rest) or "(" in head:
        return letter, False
    return None, False


def extract_choice_detail(text: str | None, letters: str = LETTERS, *,
                          closed: bool | None = None,
                          unclosed: str = "no-answer") -> tuple[str | None, str, str]:
    """(letter, how, region rule): `how` is `boxed`, `phrase`, `bare`, `several_choices`,
    `unclosed_think` or `none`."""
    region = answer_region(text, closed, unclosed)
    if region.rule == "unclosed-no-answer":
        return None, "unclosed_think", region.rule
    t = region.text
    for _, end, content in reversed(boxes(t)):
        letter, hedge = _boxed_letter(content, letters)
        if letter:   # the boxes joined to this one by "or" / "and" / "," are the same answer
            chosen = {_boxed_letter(c, letters)[0] for c in final_boxes(t[:end])}
            hedge = len(chosen) > 1
        if hedge:
            return None, "several_choices", region.rule
        if letter == "":           # the last box holds no option of this question
            return None, "none", region.rule
        if letter:
            return letter, "boxed", region.rule
    for m in reversed(list(_ANSWER_PHRASE.finditer(t))):
        letter, hedge, _ = _letters_at_start(t[m.end():], letters)
        if hedge:
            return None, "several_choices", region.rule
        if letter == "":           # the final choice is no option: no answer, not an earlier one
            return None, "none", region.rule
        if letter:
            return letter, "phrase", region.rule
    whole = clean_answer(t)
    letter, hedge, end = _letters_at_start(whole, letters)
    if hedge and end == len(whole):
        return None, "several_choices", region.rule
    if letter and end == len(whole):   # "" (no option) is falsy: no answer
        return letter, "bare", region.rule
    tail = re.search(r"\(([A-J])\)\W*$", t)
    if tail and tail.group(1) in letters:
        return tail.group(1), "bare", region.rule
    return None, "none", region.rule


def extract_choice(text: str | None, letters: str = LETTERS, **kw) -> str | None:
    """The chosen letter, or None (no choice, or a hedge between several)."""
    return extract_choice_detail(text, letters, **kw)[0]


def verify_choice(reference: str | None, prediction: str | None, letters: str = LETTERS, *,
                  closed: bool | None = None, unclosed: str = "no-answer") -> VerifyResult:
    """Multiple choice: the extracted letter against the gold letter (`A`, `(A)`).

    verified None: `gold_not_a_letter`, `no_answer`, `several_choices`, `unclosed_think`.
    """
    gold = re.sub(r"[\s()$*.]|\\text(?:bf)?|[{}]", "", reference or "").upper()
    letter, how, region = extract_choice_detail(prediction, letters, closed=closed,
                                                unclosed=unclosed)
    extra = {"region": region, "answer_from": how if letter else "none"}
    if len(gold) != 1 or gold not in letters:
        return VerifyResult(None, "gold_not_a_letter", VERIFIER, letter, extra=extra)
    if letter is None:
        reason = how if how in ("several_choices", "unclosed_think") else "no_answer"
        return VerifyResult(None, reason, VERIFIER, None, extra=extra)
    ok = letter == gold
    return VerifyResult(ok, "ok" if ok else "wrong_choice", VERIFIER, letter, extra=extra)
