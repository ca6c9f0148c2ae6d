"""Where the final answer of a completion is, and what text around it is formatting.

Shared by the math and multiple-choice verifiers, the eval scorer and the rewards, so that
every area reads an answer the same way (issue 13).

- `answer_region(text, closed=None, unclosed=...) -> Region`: the visible answer of a
  completion. After the last `</think>` / `<|end_of_thought|>` (or Sky-T1's solution block);
  a text without thinking markers is all answer. Thinking that never closed (an opener and no
  closer, or `closed=False` from the caller, e.g. a row cut at max_tokens) has no answer under
  the default rule `no-answer`; under `whole-response` (P3's `math_eval_budget.py`: math-verify
  reads the whole response when no `</think>` was emitted) the whole text is the region.
- `clean_answer(s)`: strip what surrounds an answer without being it: markdown emphasis
  (`**73**`, `*73*`, `__73__`) and code spans (`` `73` ``, ```` ```73``` ````), math delimiters (`$...$`, `\\(...\\)`, `\\[...\\]`),
  `\\displaystyle`, and trailing punctuation (`.`, `,`, `:`, `;`; never `!`, a factorial).
- `anchored_span(region)`: the text after the right-most answer phrase ("final answer is",
  "answer:", "Final Answer: **73**"), up to the end of its sentence; `None` without one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from curate.record import THINK_PAIRS, THOUGHT_CLOSE, THOUGHT_OPEN

THINK_CLOSERS = tuple(c for _, c in THINK_PAIRS) + (THOUGHT_CLOSE,)
THINK_OPENERS = tuple(o for o, _ in THINK_PAIRS) + (THOUGHT_OPEN,)
SOLUTION_RE = re.compile(r"<\|begin_of_solution\|>(.*?)(?:<\|end_of_solution\|>|$)", re.S)
UNCLOSED_RULES = ("no-answer", "whole-response")


@dataclass(frozen=True)
class Region:
    """The part of a completion an answer is read from, and the rule that chose it.

    `rule`: `after-think` (closed thinking, text after it), `no-think` (no markers: the whole
    text), `unclosed-no-answer` (thinking never closed: `text` is empty) or
    `unclosed-whole-response` (P3: the whole response).
    """
    text: str
    rule: str

    @property
    def unclosed(self) -> bool:
        return self.rule.startswith("unclosed")


def think_unclosed(text: str | None) -> bool:
    """True when a thinking block opened and never closed (the model never left its thoughts)."""
    t = text or ""
    if SOLUTION_RE.search(t):
        return False
    return any(o in t for o in THINK_OPENERS) and not any(c in t for c in THINK_CLOSERS)


def answer_region(text: str | None, closed: bool | None = None,
                  unclosed: str = "no-answer") -> Region:
    """The visible answer of `text` (see the module doc). `closed` overrides what the tags say
    (False: the caller knows the thinking never closed, e.g. `finish_reason == "length"` on a
    template that prefilled `<think>`); `unclosed` is `no-answer` or `whole-response`."""
    if unclosed not in UNCLOSED_RULES:
        raise ValueError(f"unknown unclosed-thinking rule {unclosed!r} ({', '.join(UNCLOSED_RULES)})")
    t = text or ""
    m = SOLUTION_RE.search(t)
    if m and m.group(1).strip():
        return Region(m.group(1), "after-think")
    cut = max((t.rfind(c) + len(c) for c in THINK_CLOSERS if c in t), default=-1)
    if cut != -1:
        return Region(t[cut:], "after-think")
    opened = any(o in t for o in THINK_OPENERS)
    if closed is False or opened:
        if unclosed == "whole-response":
            return Region(t, "unclosed-whole-response")
        return Region("", "unclosed-no-answer")
    return Region(t, "no-think")


_EMPHASIS = (("**", "**"), ("__", "__"), ("*", "*"), ("```", "```"), ("`", "`"), ("$$", "$$"),
             ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]"))
_TRAILING = re.compile(r"(?:(?<!\\)[.,:;]|\s)+$")     # not "!": 5! is a factorial


def clean_answer(s: str | None) -> str:
    """`s` without the formatting around it (see the module doc); inner text is kept."""
    t = (s or "").strip()
    while True:
        before = t
        t = _TRAILING.sub("", t)
        t = re.sub(r"^\\displaystyle\s*", "", t)
        for a, b in _EMPHASIS:
            if len(t) > len(a) + len(b) and t.startswith(a) and t.endswith(b):
                inner = t[len(a):len(t) - len(b)]
                # `$a$ and $b$` is two formulas, not one wrapped in $...$
                if a == "$" and "$" in inner.replace("\\$", ""):
                    continue
                t = inner.strip()
        for mark in ("**", "__"):          # "73**" when the opening mark went with the anchor
            if t.count(mark) == 1 and (t.startswith(mark) or t.endswith(mark)):
                t = t.replace(mark, "").strip()
        if t == before:
            return t


# "Final answer: X", "the final answer is X", "Answer: X", "the answer is X", "**Answer:** X".
_ANCHOR = re.compile(
    r"(?<![A-Za-z])(?i:(?:final\s+)?answer)"
    r"(?:\s+(?:to\s+(?:this|the)\s+(?:problem|question)|we\s+seek))?"
    r"\s*(?:\*\*|__)?\s*(?i:is\b|=|:)\s*(?:\*\*|__)?\s*:?"
    r"(?:\s*(?i:therefore|thus|then|indeed|clearly|definitely|simply|just|probably|likely"
    r"|actually|still|now)\b,?)?"
    r"|(?<![A-Za-z])(?i:final\s+answer)\s*(?:\*\*|__)\s*(?=\n)")   # a "**Final Answer**" heading
# A sentence ends at a newline, or at . ; followed by a space or the end (not "3.5"; not "!",
# which is a factorial as often as an exclamation: "5!" stays whole).
_SENTENCE_END = re.compile(r"\n|(?<!\\)[.;](?=\s|$)")
# A clause ends at a comma followed by a word (not "and" / "or" of a list).
_CLAUSE_END = re.compile(r",\s+(?!(?:and|or)\b)[A-Za-z]{2,}"
                         r"|\s+(?:because|since|which|where|so|when|if|as)\b")
_AFTER_FORMULA = re.compile(r"\s*(?:$|\n|[.;:!?)\]]|,|\s(?:because|since|which|where|so|when"
                            r"|if|as|and|or|I|we|this|that|is|are)\b)")
_ENV = re.compile(r"\s*(\$\$.+?\$\$|\$(?:\\\$|[^$])+?\$|\\\(.+?\\\)|\\\[.+?\\\])", re.S)
_JOIN = re.compile(r"\s*(?:,\s*(?:and|or)?|and|or)\s*(?=\$|\\\(|\\\[)")


def anchored_span(region: str) -> str | None:
    """The text after the right-most answer phrase in `region`, cleaned; None without one.
    A phrase that only confirms an earlier answer ("our answer is correct") is passed over.

    If the text starts with math (`$...$`, `\\(...\\)`, `\\[...\\]`), the span is that formula
    (and up to four more joined by commas, "and" or "or"); else it runs to the end of the
    sentence. The span is taken whole: the caller decides whether it is an answer at all.
    """
    for hit in reversed(list(_ANCHOR.finditer(region or ""))):
        span = _span_after(region[hit.end():])
        first = re.match(r"[A-Za-z]+", span or "")
        if first and first.group().lower() in _CONFIRMING:
            continue     # "so our answer is correct": a comment on an answer, not one
        return span
    return None


# Words that confirm an answer given before ("so our answer is correct"): such a sentence is
# no answer itself and the one before it counts. ("The answer is wrong" or "... is not 5"
# withdraw it: those stay, and are no answer.)
_CONFIRMING = {"correct", "right", "consistent", "reasonable", "valid", "plausible", "confirmed",
               "verified", "accurate", "satisfied", "fine", "good", "same", "unchanged",
               "obvious", "clear", "straightforward", "sound", "solid"}
# ... and words that withdraw one ("the answer is wrong"): no answer, and no earlier one.
WITHDRAWING = {"wrong", "incorrect", "invalid", "inconsistent", "unclear", "unknown", "not",
               "different", "impossible"}
VERDICT_WORDS = _CONFIRMING | WITHDRAWING


# An answer given for one case with another case named ("7 if n is odd, else 8", "$7$ when n
# is odd; otherwise $8$", "7 or 8 depending on n"): no single answer.
_CASES = re.compile(r"(?i:\b(?:if|when|unless)\b.*\b(?:otherwise|else)\b|\bdepend(?:ing|s)\s+on\b)")
_REASON = re.compile(r"(?i:\b(?:because|since)\b)")


def _span_after(rest: str) -> str | None:
    """The answer text that starts `rest` (see `anchored_span`)."""
    line = rest.lstrip().split("\n", 1)[0]
    line = line[:m.start()] if (m := _REASON.search(line)) else line   # a reason is no case
    if _CASES.search(line):
        return clean_answer(line) or None     # the whole case split: no expression
    env = _ENV.match(rest)
    if env:
        parts, pos = [env.group(1)], env.end()
        for _ in range(4):
            j = _JOIN.match(rest, pos)
            nxt = _ENV.match(rest, j.end()) if j else None
            if not nxt:
                break
            parts.append(nxt.group(1))
            pos = nxt.end()
        # The formulas are the answer when the sentence ends (or a clause starts) after them;
        # "$3$x" or "$5$ apples and $3$ pears" is read as the whole sentence instead.
        if _AFTER_FORMULA.match(rest, pos):
            span = " , ".join(clean_answer(p) for p in parts)
            return clean_answer(span) or None
    rest = rest.lstrip()
    end = _SENTENCE_END.search(rest)
    span = rest[:end.start()] if end else rest
    clause = _CLAUSE_END.search(span)       # "-1, because ..." ends at the comma
    span = clean_answer(span[:clause.start()] if clause else span)
    return span or None
