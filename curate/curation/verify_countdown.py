"""The Countdown verifier: parse the equation into an AST and evaluate only integer literals
and + - * / with exact rationals and hard bounds; check every given number is used exactly
once. Never `eval`. Also the RL reward. Every rejection carries a reason."""

from __future__ import annotations

import ast
import json
import re
from collections import Counter
from fractions import Fraction

from curate.curation.verify_result import VerifyResult

VERIFIER = "countdown-ast/1"
MAX_CHARS = 512          # an equation over 6 numbers is far shorter
MAX_NODES = 64
MAX_DEPTH = 32
MAX_ABS = 10 ** 15       # bound on every literal and intermediate value (raised for large
MAX_ABS_CAP = 10 ** 60   # number sets to prod(|n|+1)^2, which no valid expression exceeds)
ALLOWED_CHARS = re.compile(r"^[0-9+\-*/(). \t]*$")
_OPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}


class _Reject(Exception):
    def __init__(self, reason: str):
        self.reason = reason


def _result(ok: bool | None, reason: str, answer: str | None) -> VerifyResult:
    return VerifyResult(ok, reason, VERIFIER, answer)


def normalise_equation(text: str) -> str:
    """LaTeX and typographic operators to ASCII; drop `$`, a trailing `= target`."""
    t = text.strip().strip("$").strip()
    for a, b in (("\\times", "*"), ("\\cdot", "*"), ("×", "*"), ("\\div", "/"), ("÷", "/"),
                 ("−", "-"), ("\\left", ""), ("\\right", ""), ("\\(", ""), ("\\)", ""),
                 ("{", "("), ("}", ")")):
        t = t.replace(a, b)
    if "=" in t:
        lhs, _, rhs = t.partition("=")
        # "expr = 24" keeps expr; "24 = expr" keeps expr
        t = lhs if re.fullmatch(r"\s*\d+\s*", rhs or "") else rhs if re.fullmatch(
            r"\s*\d+\s*", lhs) else t
    return t.strip()


def _last_boxed(text: str) -> str | None:
    start = text.rfind("\\boxed{")
    if start == -1:
        return None
    i = start + len("\\boxed{")
    depth = 1
    for j in range(i, min(len(text), i + 4 * MAX_CHARS)):
        c = text[j]
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return text[i:j]
    return None


_ANSWER_TAG = re.compile(r"<answer>(.*?)</answer>", re.S)


def extract_countdown_answer(text: str | None) -> str | None:
    """The equation a completion gives: the last `\\boxed{}`, else the last <answer> tag."""
    if not text:
        return None
    after = text.rsplit("</think>", 1)[-1]
    boxed = _last_boxed(after)
    if boxed is not None:
        return normalise_equation(boxed)
    tags = _ANSWER_TAG.findall(after[-(64 * MAX_CHARS):])
    if tags:
        return normalise_equation(tags[-1])
    bare = after.strip()
    if bare and len(bare) <= MAX_CHARS and "\n" not in bare and re.search(r"[\d+\-*/()]", bare):
        return normalise_equation(bare)  # the whole answer is just an (attempted) equation
    return None


def _bound(numbers: list[int]) -> int:
    """No intermediate of a valid answer exceeds prod(|n|+1)^2; capped to keep rationals cheap."""
    prod = 1
    for n in numbers:
        prod *= abs(int(n)) + 1
        if prod * prod > MAX_ABS_CAP:
            return MAX_ABS_CAP
    return max(MAX_ABS, prod * prod)


def _eval(node: ast.AST, depth: int, literals: list[int], semantics: str,
          bound: int = MAX_ABS) -> Fraction:
    if depth > MAX_DEPTH:
        raise _Reject("too_deep")
    if isinstance(node, ast.Constant):
        if type(node.value) is not int:
            raise _Reject("non_integer_literal")
        if node.value > bound:
            raise _Reject("value_out_of_bounds")
        literals.append(node.value)
        return Fraction(node.value)
    if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
        a = _eval(node.left, depth + 1, literals, semantics, bound)
        b = _eval(node.right, depth + 1, literals, semantics, bound)
        op = type(node.op)
        if op is ast.Add:
            v = a + b
        elif op is ast.Sub:
            v = a - b
        elif op is ast.Mult:
            v = a * b
        else:
            if b == 0:
                raise _Reject("division_by_zero")
            v = a / b
            if semantics == "integer" and v.denominator != 1:
                raise _Reject("inexact_division")
        if abs(v) > bound or (v.denominator > bound):
            raise _Reject("value_out_of_bounds")
        if semantics == "integer" and v < 0:
            raise _Reject("negative_intermediate")
        return v
    if isinstance(node, ast.BinOp):
        raise _Reject("operator_not_allowed")
    if isinstance(node, ast.UnaryOp):
        raise _Reject("unary_operator_not_allowed")
    raise _Reject("not_arithmetic")


def verify_countdown(answer: str | None, numbers: list[int], target: int,
                     semantics: str = "integer") -> VerifyResult:
    """Check that `answer` is an equation over exactly `numbers` that equals `target`.

    Cheap checks come first (length, characters) so adversarial inputs are rejected in
    microseconds; the AST is bounded in size and depth, and values in magnitude.
    """
    if answer is None or not str(answer).strip():
        return _result(False, "no_answer", None)
    text = str(answer)
    if len(text) > MAX_CHARS:
        return _result(False, "too_long", None)
    text = normalise_equation(text)
    if not ALLOWED_CHARS.match(text):
        return _result(False, "invalid_characters", text)
    if "**" in text or "//" in text:
        return _result(False, "operator_not_allowed", text)
    if text.count("(") > MAX_DEPTH:
        return _result(False, "too_deep", text)
    try:
        tree = ast.parse(text, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return _result(False, "parse_error", text)
    if sum(1 for _ in ast.walk(tree)) > MAX_NODES:
        return _result(False, "too_many_terms", text)
    literals: list[int] = []
    try:
        value = _eval(tree.body, 0, literals, semantics, _bound(numbers))
    except _Reject as r:
        return _result(False, r.reason, text)
    except RecursionError:
        return _result(False, "too_deep", text)
    want, got = Counter(int(n) for n in numbers), Counter(literals)
    if want != got:
        missing, extra = want - got, got - want
        if extra and not missing and set(extra) <= set(want):
            return _result(False, "number_reused", text)
        if missing and not extra:
            return _result(False, "number_missing", text)
        return _result(False, "numbers_mismatch", text)
    if value != target:
        return _result(False, "wrong_value", text)
    return _result(True, "ok", text)


def verify_countdown_completion(completion: str | None, reference: str | dict,
                                semantics: str = "integer") -> VerifyResult:
    """Extract the equation from a completion and verify it against a reference
    `{"numbers": [...], "target": T}` (a dict or its JSON)."""
    ref = json.loads(reference) if isinstance(reference, str) else reference
    eq = extract_countdown_answer(completion)
    if eq is None:
        return _result(False, "no_answer", None)
    return verify_countdown(eq, ref["numbers"], ref["target"], semantics)
