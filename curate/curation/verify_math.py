"""Math answers: find the final answer of a completion, then compare it with the gold.

One decision function, `verify_math`, serves the dataset verifier (`curate verify`), the eval
scorer (`curate.probes.scoring`), `curate verify-answer` and the GRPO math reward, so they
never disagree on a row (issue 13).

Extraction (`extract_math_answer`), on the answer region of `curate.formats.answers` (after
the closed thinking; thinking that never closed has no answer unless the `whole-response` rule
of P3 is asked for):

1. an imported `final_answer` when the caller has one (`answer_from: final_answer`);
2. the last braced `\\boxed{}` (`curate.formats.boxed`: a braced box wins, a brace-less one
   takes one number or symbol, an echo of the instruction is no box; boxes joined only by a
   comma, "and" or "or" are one answer, a list);
3. the text after the right-most answer phrase ("final answer is", "Answer:");
4. the whole region when it is itself a short expression ("4", "0.5", "x = 5");
5. opt-in: math-verify's right-most LaTeX formula (`unanchored`), or the Qwen harness's last
   number (`last_number_fallback`, only a number standing alone).

An answer is taken whole or not at all: an anchored or bare text that is prose ("5 apples and
3 pears") is `not_an_expression`, and "3x" is 3x, never 3. Formatting around the answer
(`**73**`, `$...$`, trailing punctuation) is stripped, and the MATH dataset's own conventions
(`\\$`, `10\\,080`, `\\!`, degree signs, `\\text{ units}`, `\\%`) are normalised on both sides
before comparison (see `normalise`).

Comparison is a named rule (`MATH_RULES`; the rule's name and version are the row's
`verifier`): `math-verify` (gold first, `verify(gold, answer)`), held to the form MATH's own
graders ask for: an equation is the gold's up to moving terms (`equation_rescaled`
otherwise), and an answer that still applies a function the gold does not (`\\frac{1}{4}
[\\cos^2 \\frac{2\\pi}{5} + ...]` for 1/16 after "Simplify") is `not_evaluated`. A second rule, e.g. the
hendrycks `is_equiv` of P1 (`hendrycks`: lm-eval's own functions on the last `\\boxed{}`),
is one more entry: `(reference, answer) -> (verdict, reason)`.

math-verify's own timeouts use `signal.alarm` (main thread only, cannot interrupt C code), so
they are disabled here; `VerifierPool` (verify_pool.py) supplies the deadline by running this
code in worker processes it can kill.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from curate.curation.verify_result import VerifyResult
from curate.formats.answers import (  # noqa: F401  (re-exported: the verifier's text rules)
    THINK_CLOSERS,
    THINK_OPENERS,
    VERDICT_WORDS,
    Region,
    anchored_span,
    answer_region,
    clean_answer,
    think_unclosed,
)
from curate.formats.boxed import final_boxes, last_boxed

# Bump when extraction or normalisation changes: cached verdicts (verify_pool) depend on it.
EXTRACTION_VERSION = "curate-extract/9"
MAX_ANSWER_CHARS = 2000   # longer "answers" are not answers; they only feed pathological parses
MAX_BARE_CHARS = 200      # a whole text longer than this is not "itself a short expression"


# -- extraction -------------------------------------------------------------------------------

@dataclass(frozen=True)
class MathAnswer:
    """The final answer of a completion and where it came from.

    `answer`: the answer text, whole (None when there is none); `source`: `final_answer`,
    `boxed`, `anchor`, `bare`, `unanchored`, `last_number` or `none`; `region`: the rule that
    chose the answer region (`answer_region`); `whole`: False when the text found is not an
    answer as a whole (prose after an answer phrase).
    """
    answer: str | None
    source: str
    region: str
    whole: bool = True


# Words that may appear in an answer: function names and constants written without "\".
_MATH_WORDS = {"sin", "cos", "tan", "cot", "sec", "csc", "arcsin", "arccos", "arctan", "sinh",
               "cosh", "tanh", "log", "ln", "lg", "exp", "sqrt", "pi", "inf", "infty", "lim",
               "max", "min", "gcd", "lcm", "mod", "det", "deg", "and", "or", "in", "cup",
               "cap", "le", "ge", "ne", "to", "pm", "mp", "cdot", "times", "div", "frac",
               "dfrac", "tfrac", "circ", "text", "mbox", "mathrm", "mathbf", "textbf"}
# Short English words: prose even when every other word is short ("so we get 42").
_SHORT_WORDS = {"is", "the", "of", "to", "so", "we", "get", "it", "be", "as", "at", "by",
                "if", "on", "an", "are", "for", "not", "but", "can", "has", "had", "its", "our",
                "you", "all", "any", "one", "two", "six", "ten", "let", "see", "now",
                "yes", "no", "then", "us", "me", "my", "he", "she", "they", "this", "that",
                "was", "gives", "got", "his", "her", "per", "out", "too", "use", "may", "do"}
_WORD = re.compile(r"(?<![\\A-Za-z])[A-Za-z]{2,}")
_UNIT_TAIL = re.compile(
    r"^(?P<head>.*?[\d})A-Za-zπ])\s+(?P<unit>[A-Za-z]{2,}(?:\s+[A-Za-z]{2,}){0,2})"
    r"(?:\^\{?[23]\}?)?$")                                  # "12 square units^2" too
_ENV_NAME = re.compile(r"\\(?:begin|end)\{[A-Za-z*]+\}")
# A unit after a value: "5.4 \text{ cents}", "864 \mbox{ inches}^2" (math-verify drops it).
_TRAILING_UNIT = re.compile(r"(?<=\S)\s*\\(?:text|mbox|mathrm)\{[^{}]*\}(?:\^\{?\d\}?)?\s*$")
_TEXT_ONLY = re.compile(r"\\(?:text|textbf|mathrm|mbox)\{\s*[^{}]*\}")


def _letters_in(s: str) -> list[str]:
    """Words in `s` outside LaTeX command names: runs of 4+ letters that are not function
    names, and short English words; `xy` or `abc` are products of symbols, not words."""
    t = _ENV_NAME.sub(" ", s)
    t = _TRAILING_UNIT.sub("", t) or t
    t = re.sub(r"\\[A-Za-z]+", " ", t)
    return [w for w in _WORD.findall(t)
            if (len(w) >= 4 and w.lower() not in _MATH_WORDS) or w.lower() in _SHORT_WORDS]


def as_expression(text: str) -> str | None:
    """`text` as an answer taken whole, or None when it is prose.

    A short expression is kept as is; a single word is a text answer (`\\text{east}`); a
    trailing unit word after a value is dropped ("12 dollars" -> "12", "12π inches per
    second" -> "12π"); anything else with
    words in it ("5 apples and 3 pears", "the function is increasing") is no answer.
    """
    t = clean_answer(re.sub(r"(?<!\\)\$", " ", text or "")).strip()   # "$3$ apples" -> 3 apples
    if not t or len(t) > MAX_ANSWER_CHARS:
        return None
    if re.fullmatch(r"[A-Za-z]{2,24}", t):      # "east"; "wrong" or "correct" is a verdict
        return None if t.lower() in VERDICT_WORDS else f"\\text{{{t}}}"
    if _TEXT_ONLY.fullmatch(t):
        return t
    if not _letters_in(t):
        return t
    m = _UNIT_TAIL.match(t)
    if m and re.search(r"[\d\\π]", m.group("head")) and not _letters_in(m.group("head")):
        return m.group("head").strip()
    return None


_NUM_TOKEN = re.compile(r"-?\d[\d,]*(?:\.\d+)?|-?\.\d+")


def last_number(text: str) -> str | None:
    """The Qwen-harness fallback: the last number in the text (commas removed), only when it
    stands alone: the 3 of "3x", "2\\sqrt{3}" or "3/4" is part of an expression, not a number."""
    t = text or ""
    toks = list(_NUM_TOKEN.finditer(t))
    if not toks:
        return None
    m = toks[-1]
    s = m.group().rstrip(",")
    before, after = t[:m.start()], t[m.start() + len(s):]
    if re.search(r"[\w\\^_{/*]$", before) or re.match(r"[\w\\^_({/*]|\.\d", after):
        return None
    s = s.replace(",", "")
    return s if s not in ("", "-") else None


@lru_cache(maxsize=1)
def _latex_only():
    from math_verify import LatexExtractionConfig

    # The formula patterns are math-verify's "unanchored" ones; `_mv_parse` hands it one formula.
    return (LatexExtractionConfig(try_extract_without_anchor=True, boxed_match_priority=0),)


def _rightmost_formula(region: str) -> str | None:
    """math-verify's right-most LaTeX formula in `region` (its unanchored match), as text."""
    from math_verify import parse

    _quiet()
    got = parse(region[-200_000:], extraction_config=list(_latex_only()),
                extraction_mode="first_match", fallback_mode="first_match", parsing_timeout=None)
    strings = [p for p in got if isinstance(p, str)]
    return strings[-1] if strings else None


def extract_math_answer(text: str | None, *, closed: bool | None = None,
                        unclosed: str = "no-answer", unanchored: bool = False,
                        last_number_fallback: bool = False,
                        final_answer: str | None = None) -> MathAnswer:
    """The final answer of a completion (see the module doc for the order of the rules).

    `text`: the completion (thinking included or not); `closed=False` says the thinking never
    closed even without tags; `unclosed`: `no-answer` (default) or `whole-response` (P3).
    """
    if final_answer is not None and str(final_answer).strip():
        ans = clean_answer(str(final_answer))
        return MathAnswer(ans or None, "final_answer", "final-answer-column")
    region = answer_region(text, closed, unclosed)
    if region.rule == "unclosed-no-answer":
        return MathAnswer(None, "none", region.rule)
    group = final_boxes(region.text)
    if group:
        parts = list(dict.fromkeys(clean_answer(b) for b in group))
        return MathAnswer(", ".join(parts), "boxed", region.rule)
    span = anchored_span(region.text)
    if span is not None:
        expr = as_expression(span)
        return MathAnswer(expr or span, "anchor", region.rule, whole=expr is not None)
    whole = region.text.strip()
    if whole and len(whole) <= MAX_BARE_CHARS:
        expr = as_expression(whole)
        if expr is not None:
            return MathAnswer(expr, "bare", region.rule)
    if unanchored:
        formula = _rightmost_formula(region.text)
        if formula:
            return MathAnswer(formula, "unanchored", region.rule)
    if last_number_fallback:
        num = last_number(region.text)
        if num is not None:
            return MathAnswer(num, "last_number", region.rule)
    return MathAnswer(None, "none", region.rule)


def extract_answer(text: str | None, *, last_number_fallback: bool = False) -> str | None:
    """The final answer string of a completion (None when it has none)."""
    return extract_math_answer(text, last_number_fallback=last_number_fallback).answer


# -- normalisation (the MATH dataset's conventions) --------------------------------------------

_THIN_THOUSANDS = re.compile(r"(?<=\d)\s*\\[,;:! ]\s*(?=\d{3}(?!\d))")   # 10\,080 -> 10080
_ORD = r"(?:st|nd|rd|th)"
_ORDINAL = re.compile(                                        # 12^{\mathrm{th}}, 12th -> 12
    rf"(?<=\d)\s*(?:\^\{{\\(?:mathrm|text|textrm)\{{{_ORD}\}}\}}|\^\\(?:mathrm|text|textrm)\{{{_ORD}\}}"
    rf"|\^\{{{_ORD}\}}|\\(?:mathrm|text|textrm)\{{{_ORD}\}}|{_ORD}(?![A-Za-z]))")
# Unicode math in plain-text answers: 3√13, (-∞, 0], x², 2 × 3, −4.
_SQRT_SIGN = re.compile(r"√\s*(\d+(?:\.\d+)?|[A-Za-z](?![A-Za-z])|\([^()]*\)|\{[^{}]*\})")
_UNICODE_MATH = {"∞": "\\infty ", "−": "-", "×": "\\times ", "·": "\\cdot ", "÷": "\\div ",
                 "≤": "\\le ", "≥": "\\ge ", "≠": "\\ne ", "²": "^2", "³": "^3"}
# A number written inside \text{}: "\text{73 cm}" is 73 with a unit (math-verify reads
# the whole \text{} as a word).
_NUMBER_IN_TEXT = re.compile(r"\\text\{\s*(-?\d[\d,]*(?:\.\d+)?)\s*([^{}]*)\}")
_SPACES = re.compile(r"(?<!\\)\\(?:[,;: ]|quad|qquad)|~")    # not the `\\` of a matrix row
# Unit abbreviations written plainly after a value, with a power or as a rate ("6 cm^2",
# "6 ft^3", "60 km/h", "9.8 m/s^2"): math-verify drops a unit only at the very end, or in a
# `\text{}` with its power, so "cm^2" was read as c*m^2. Abbreviations of two letters or more
# only (plus the single letters of a rate whose other part is one): `m^2` alone may be a variable.
_UNIT_ABBREVIATIONS = frozenset("""
mm cm dm km in ft yd mi ml mL cc kg mg lb lbs oz sec secs min mins hr hrs mph kph kmph ha
unit units sq cu inch inches foot feet yard yards mile miles meter meters metre metres
m s g h L
""".split())
_PLAIN_UNIT = re.compile(
    r"(?<=[\w})])\s+(?P<unit>[A-Za-z]+(?:\s*/\s*[A-Za-z]+)*)\s*(?P<power>\^\{?[23]\}?)?\s*$")


def normalise(s: str) -> str:
    """What the MATH harness (hendrycks `strip_string`) normalises and math-verify does not.

    Escaped dollars `\\$36` -> 36; thousands written with thin spaces `10\\,080` / `10\\!080`
    -> 10080 (`10{,}080` and `10,080` math-verify reads itself); other thin spaces -> a space;
    degree signs `°` / `\\degree` -> `^\\circ` (math-verify drops it); `\\mbox` -> `\\text`;
    ordinals `12^{\\mathrm{th}}` / `12th` -> 12; `\\text{73 cm}` -> `73 \\text{ cm}`; a plain unit
    with a power or a rate `6 cm^2`, `60 km/h` -> `6 \\text{ cm}^2`, `60 \\text{ km/h}`;
    Unicode math `3√13`, `∞`, `x²`, `×`, `−` -> LaTeX.
    Units in a trailing `\\text{ cm}`, `\\%`, `\\dfrac`, `\\left`/`\\right` and `\\!` are
    math-verify's own normalisation (`NormalizationConfig(units=True, basic_latex=True)`).
    """
    t = s.replace("\\$", "").replace("\\mbox", "\\text")
    t = t.replace("°", "^\\circ").replace("\\degree", "^\\circ")
    t = _SQRT_SIGN.sub(lambda m: "\\sqrt{" + m.group(1).strip("(){}") + "}", t)
    for sign, latex in _UNICODE_MATH.items():
        t = t.replace(sign, latex)
    t = _THIN_THOUSANDS.sub("", t)
    t = _ORDINAL.sub("", t)
    t = _NUMBER_IN_TEXT.sub(lambda m: m.group(1) + (f" \\text{{ {m.group(2).strip()}}}"
                                                    if m.group(2).strip() else ""), t)
    t = _SPACES.sub(" ", t)
    t = re.sub(r"(?<!\\)\$", "", t)          # math delimiters inside an answer
    t = _PLAIN_UNIT.sub(_unit_as_text, t.replace("\n", " ").strip())
    return t.strip()


def _unit_as_text(m: re.Match) -> str:
    """A plain unit with a power or a rate as math-verify's `\\text{ unit}^n` (which it drops);
    anything else (a product of variables, `6 xy^2`; a lone `m^2`) as it was."""
    parts = [p.strip() for p in m.group("unit").split("/")]
    if not all(p in _UNIT_ABBREVIATIONS for p in parts) or not any(len(p) > 1 for p in parts):
        return m.group(0)
    if m.group("power") is None and len(parts) == 1:
        return m.group(0)                     # "6 cm": math-verify's own unit list has it
    return f" \\text{{ {m.group('unit')}}}{m.group('power') or ''}"


def _percent_free(s: str) -> str | None:
    """`s` with its percent sign dropped (MATH writes `\\%` as a unit), None if it has none."""
    t = re.sub(r"\s*\\?%\s*$", "", s)
    return t if t != s else None


# -- comparison rules --------------------------------------------------------------------------

def _quiet() -> None:
    logging.getLogger("math_verify").setLevel(logging.ERROR)


@lru_cache(maxsize=8192)
def _mv_parse(latex: str) -> tuple:
    """math-verify's parse of one answer, whole: the text is one `$...$` formula and only
    that formula is read (never a number inside it)."""
    from math_verify import parse

    _quiet()
    if not latex:
        return ()
    return tuple(parse(f"${latex}$", extraction_config=list(_latex_only()),
                       extraction_mode="first_match", fallback_mode="no_fallback",
                       parsing_timeout=None))


def _mv_values(text: str) -> list:
    """Parsed values of an answer: as written, and without a trailing percent sign."""
    t = normalise(clean_answer(text))
    if len(t) > MAX_ANSWER_CHARS:
        return []
    vals = list(_mv_parse(t))
    bare = _percent_free(t)
    if bare is not None:
        vals += [v for v in _mv_parse(bare) if v not in vals]
    return vals


@lru_cache(maxsize=4096)
def parse_gold(reference: str) -> tuple:
    """The gold answer parsed whole (a `\\boxed{}` in it is read first); () when unparsable."""
    ref = reference.strip()
    boxed = last_boxed(ref) if "\\boxed" in ref or "\\fbox" in ref else None
    return tuple(_mv_values(boxed if boxed is not None else ref))


def _math_verify_equivalent(reference: str, answer: str) -> tuple[bool | None, str]:
    """math-verify, gold first: `verify(parse(gold), parse(answer))`."""
    from math_verify import verify

    gold = parse_gold(reference)
    if not gold:
        return None, "gold_unparsable"
    pred = _mv_values(answer)
    if not pred:
        return None, "unparsable_answer"
    if _applied_functions(pred[0]) and not _applied_functions(gold[0]):
        return False, "not_evaluated"     # wrong either way; spares sympy a long simplify
    ok = verify(list(gold), pred, timeout_seconds=None)
    if ok and not _same_equation_form(gold[0], pred[0]):
        return False, "equation_rescaled"
    return bool(ok), "ok" if ok else "wrong_value"


def _applied_functions(value) -> set:
    """Function applications left in a parsed value (`cos(2*pi/15)`, `log(8, 2)`)."""
    import sympy

    try:
        return set(value.atoms(sympy.Function)) if hasattr(value, "atoms") else set()
    except Exception:   # noqa: BLE001 - a value sympy cannot walk has none we can see
        return set()


def _same_equation_form(gold, pred) -> bool:
    """math-verify calls two equations equal when they have the same solutions, so
    `20x-28y+44z+16=0` equals the gold `5x-7y+11z+4=0`. MATH asks for a form ("where A > 0 and
    gcd(|A|,|B|,|C|,|D|) = 1") and its graders (hendrycks `is_equiv`, Qwen's `math_equal`) do
    not rescale: an equation answer must be the gold's up to moving terms across the `=` (the
    sides' difference equal, up to sign when the terms moved)."""
    import sympy

    if not (isinstance(gold, sympy.Eq) and isinstance(pred, sympy.Eq)):
        return True
    if not (gold.free_symbols and pred.free_symbols) or len(gold.lhs.free_symbols) == 0:
        return True
    if isinstance(gold.lhs, sympy.Symbol) and gold.lhs not in gold.rhs.free_symbols \
            and isinstance(pred.lhs, sympy.Symbol) and pred.lhs == gold.lhs:
        return True     # an assignment (x = ...): math-verify compared the values
    g, p = gold.lhs - gold.rhs, pred.lhs - pred.rhs
    # "... = 0" against "... = 0" is the same form only as written (A > 0 is part of it);
    # "y = 2x + 1" against "2x - y + 1 = 0" moved terms across, so the sign may differ.
    flip_ok = not (gold.rhs == 0 and pred.rhs == 0)
    try:
        return sympy.simplify(g - p) == 0 or (flip_ok and sympy.simplify(g + p) == 0)
    except Exception:   # noqa: BLE001 - sympy raises many types; keep math-verify's verdict
        return True


@lru_cache(maxsize=1)
def _math_verify_version() -> str:
    from importlib.metadata import version

    return f"math-verify/{version('math-verify')}"


@dataclass(frozen=True)
class MathRule:
    """A way to decide that an answer equals the gold.

    `equivalent(reference, answer) -> (verified, reason)`: verified None when not checkable
    (reason `gold_unparsable` / `unparsable_answer`); `version()` is the `verifier` recorded
    on each row ("math-verify/0.9.0"). `extract(region) -> answer | None`, when given,
    replaces curate's extraction chain on the answer region (a harness's own rule, e.g. the
    last `\\boxed{}` only).
    """
    name: str
    version: Callable[[], str]
    equivalent: Callable[[str, str], tuple[bool | None, str]]
    extract: Callable[[str], str | None] | None = None
    source: str = "extracted"


# -- P1's rule: hendrycks `is_equiv` on the last \boxed{} -------------------------------------
# arXiv 2507.00432 (P1) scores MATH-500 / AIME with EvalChemy, whose MATH500 benchmark calls
# lm-evaluation-harness's own `lm_eval.tasks.hendrycks_math.utils` (`last_boxed_only_string`,
# `remove_boxed`, `is_equiv`; P1-code eval/evalchemy/eval/chat_benchmarks/MATH500/
# eval_instruct.py). Those functions are used here as the library ships them.

def _hendrycks():
    try:
        from lm_eval.tasks.hendrycks_math import utils
    except ImportError:
        from curate.errors import CurateError

        raise CurateError("the `hendrycks` math rule uses lm-evaluation-harness's "
                          "hendrycks_math utils: pip install 'curate-traces[eval]' "
                          "(lm-eval==0.4.13)") from None
    return utils


def _hendrycks_extract(region: str) -> str | None:
    """The content of the last `\\boxed{}` / `\\fbox{}` (EvalChemy: `remove_boxed(
    last_boxed_only_string(output))`, "" when it raises); None when there is no box."""
    u = _hendrycks()
    box = u.last_boxed_only_string(region or "")
    if box is None:
        return None
    try:
        return u.remove_boxed(box)
    except (AssertionError, IndexError):
        return None


def _hendrycks_equivalent(reference: str, answer: str) -> tuple[bool | None, str]:
    """lm-eval's hendrycks `is_equiv(gold, answer)` (string equality after `strip_string`)."""
    ok = _hendrycks().is_equiv(str(reference), answer)
    return bool(ok), "ok" if ok else "wrong_value"


@lru_cache(maxsize=1)
def _hendrycks_version() -> str:
    from importlib.metadata import version

    _hendrycks()
    return f"hendrycks-is_equiv/lm-eval-{version('lm_eval')}"


MATH_RULES: dict[str, MathRule] = {
    "math-verify": MathRule("math-verify", _math_verify_version, _math_verify_equivalent),
    "hendrycks": MathRule("hendrycks", _hendrycks_version, _hendrycks_equivalent,
                          extract=_hendrycks_extract, source="last_boxed"),
}
DEFAULT_RULE = "math-verify"


def math_rule(name: str | None) -> MathRule:
    """The comparison rule called `name` (default `math-verify`); ValueError if unknown."""
    try:
        return MATH_RULES[name or DEFAULT_RULE]
    except KeyError:
        raise ValueError(f"unknown math rule {name!r} ({', '.join(MATH_RULES)})") from None


def verifier_name(rule: str | None = None) -> str:
    """`math-verify/<version>` (or the named rule's) as recorded in verify_detail."""
    return math_rule(rule).version()


# -- the decision ------------------------------------------------------------------------------

def verify_math(reference: str | None, prediction: str | None, *, unanchored: bool = False,
                last_number_fallback: bool = False, unclosed: str = "no-answer",
                rule: str | None = None, closed: bool | None = None,
                final_answer: str | None = None) -> VerifyResult:
    """Is `prediction` (a completion, thinking included or not, or a bare answer) correct
    against `reference` (the gold answer)?

    verified None means not checkable: `no_reference`, `gold_unparsable`, `unclosed_think`
    (thinking never closed, default rule), `no_answer`, `not_an_expression` (the text after an
    answer phrase is prose, not an answer taken whole), `unparsable_answer`. The result's
    `extra` names the region rule and where the answer came from (`answer_from`).
    Runs without any timeout: call it through `VerifierPool` for untrusted inputs.
    """
    mrule = math_rule(rule)
    name = mrule.version()
    if mrule.extract is not None and final_answer is None:
        region = answer_region(prediction, closed, unclosed)
        ans = None if region.rule == "unclosed-no-answer" else mrule.extract(region.text)
        got = MathAnswer(ans, mrule.source if ans is not None else "none", region.rule)
    else:
        got = extract_math_answer(prediction, closed=closed, unclosed=unclosed,
                                  unanchored=unanchored,
                                  last_number_fallback=last_number_fallback,
                                  final_answer=final_answer)
    extra = {"region": got.region, "answer_from": got.source}
    final = got.answer[:MAX_ANSWER_CHARS] if got.answer else got.answer

    def result(verified: bool | None, reason: str) -> VerifyResult:
        return VerifyResult(verified, reason, name, final, extra=extra)

    if reference is None or not str(reference).strip():
        return result(None, "no_reference")
    if got.answer is None:
        if got.region == "unclosed-no-answer":
            return result(None, "unclosed_think")
        if not parse_gold_ok(str(reference), mrule):
            return result(None, "gold_unparsable")
        return result(None, "no_answer")
    if not got.whole:
        return result(None, "not_an_expression")
    verified, reason = mrule.equivalent(str(reference), got.answer)
    return result(verified, reason)


def parse_gold_ok(reference: str, mrule: MathRule) -> bool:
    """Whether the rule can read the gold at all (so a missing answer is told apart)."""
    if mrule.name == "math-verify":
        return bool(parse_gold(reference))
    return True
