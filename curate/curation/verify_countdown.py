"""The Countdown verifier: parse the equation into an AST and evaluate only integer literals
and + - * / with exact rationals and hard bounds; check every given number is used exactly
once. Never `eval`. Also the RL reward. Every rejection carries a reason.

The reference of a row is `stable_json({"numbers": [...], "target": T, "semantics": S})`
(`make_reference`); `semantics` is the arithmetic the task was posed in (`integer`: Stream of
Search's non-negative integer intermediates and exact division; `rational`: negatives and
fractions allowed). A reference without `semantics` is read as `integer`, what every row
meant before the key existed. A reference that cannot define a Countdown problem is not
checkable: `verified` None, reason `bad_reference`, and the `note` names the field
(`parse_reference`); it never raises and never verifies.
"""

from __future__ import annotations

import ast
import json
import numbers as _numbers
import re
from collections import Counter
from dataclasses import dataclass
from fractions import Fraction

from curate.curation.verify_result import VerifyResult
from curate.formats.answers import THINK_CLOSERS
from curate.record import stable_json

VERIFIER = "countdown-ast/1"
MAX_CHARS = 512          # an equation over 6 numbers is far shorter
MAX_NODES = 64
MAX_DEPTH = 32
MAX_ABS = 10 ** 15       # bound on every literal and intermediate value (raised for large
MAX_ABS_CAP = 10 ** 60   # number sets to prod(|n|+1)^2, which no valid expression exceeds)
ALLOWED_CHARS = re.compile(r"^[0-9+\-*/(). \t]*$")
_OPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}

SEMANTICS = ("integer", "rational")
DEFAULT_SEMANTICS = "integer"      # references written before `semantics` existed
REFERENCE_KEYS = ("numbers", "target", "semantics")
MAX_REFERENCE_CHARS = 4096
MAX_NUMBERS = (MAX_NODES + 1) // 3  # 3n - 1 AST nodes for n numbers: more can never verify
MAX_REFERENCE_ABS = MAX_ABS         # bound on every given number and on the target


class _Reject(Exception):
    def __init__(self, reason: str):
        self.reason = reason


def _result(ok: bool | None, reason: str, answer: str | None,
            note: str | None = None) -> VerifyResult:
    return VerifyResult(ok, reason, VERIFIER, answer, note)


class BadReference(ValueError):
    """A Countdown reference that does not define a problem; the message names the field."""


@dataclass(frozen=True)
class CountdownReference:
    numbers: tuple[int, ...]
    target: int
    semantics: str = DEFAULT_SEMANTICS


def _is_int(x) -> bool:
    return isinstance(x, _numbers.Integral) and not isinstance(x, bool)


def _no_duplicate_keys(pairs: list) -> dict:
    keys = [k for k, _ in pairs]
    dup = sorted({k for k in keys if keys.count(k) > 1})
    if dup:
        raise BadReference(f"duplicate key {dup[0]!r}")
    return dict(pairs)


def parse_reference(reference) -> CountdownReference:
    """A row's reference (JSON text or a mapping) as a `CountdownReference`.

    Rules (each broken one raises `BadReference` naming the field; never another error):
    a JSON object with keys `numbers`, `target` and optionally `semantics`, no other and no
    duplicate key; `numbers` a list of 1..MAX_NUMBERS integers (JSON integers: not `3.0`,
    `"3"` or `true`), each 0..10^15 (an answer cannot write a negative literal); `target`
    an integer with |T| <= 10^15, not negative under the integer semantics (where no
    expression can reach it); `semantics` one of integer / rational (default integer).
    """
    if isinstance(reference, (str, bytes)):
        if len(reference) > MAX_REFERENCE_CHARS:
            raise BadReference(f"reference longer than {MAX_REFERENCE_CHARS} characters")
        try:
            ref = json.loads(reference, object_pairs_hook=_no_duplicate_keys)
        except BadReference:
            raise
        except (ValueError, RecursionError):
            raise BadReference("reference is not JSON") from None
    else:
        ref = reference
    if not isinstance(ref, dict):
        raise BadReference(f"reference is {type(ref).__name__}, not a JSON object "
                           '{"numbers": [...], "target": T}')
    unknown = sorted(str(k) for k in ref if k not in REFERENCE_KEYS)
    if unknown:
        raise BadReference(f"unknown key {_show(unknown[0])} (known: {', '.join(REFERENCE_KEYS)})")
    for key in ("numbers", "target"):
        if key not in ref:
            raise BadReference(f"missing key {key!r}")
    nums, target = ref["numbers"], ref["target"]
    semantics = ref.get("semantics", DEFAULT_SEMANTICS)
    if semantics not in SEMANTICS:
        raise BadReference(f"semantics {_show(semantics)} is not one of "
                           f"{', '.join(SEMANTICS)}")
    if not isinstance(nums, (list, tuple)):
        raise BadReference(f"numbers is {type(nums).__name__}, not a list")
    if not 1 <= len(nums) <= MAX_NUMBERS:
        raise BadReference(f"numbers has {len(nums)} entries (1 to {MAX_NUMBERS})")
    for i, n in enumerate(nums):
        if not _is_int(n):
            raise BadReference(f"numbers[{i}] is {_show(n)}, not an integer")
        if not 0 <= n <= MAX_REFERENCE_ABS:
            raise BadReference(f"numbers[{i}] is {_short(n)}: outside 0..10^15")
    if not _is_int(target):
        raise BadReference(f"target is {_show(target)}, not an integer")
    if abs(target) > MAX_REFERENCE_ABS:
        raise BadReference(f"target is {_short(target)}: outside -10^15..10^15")
    if target < 0 and semantics == "integer":
        raise BadReference(f"target {target} is negative: unreachable under integer semantics")
    return CountdownReference(tuple(int(n) for n in nums), int(target), semantics)


def _show(x) -> str:
    s = repr(x)
    return s if len(s) <= 40 else f"{s[:30]}...({len(s)} characters)"


def _short(n: int) -> str:
    s = str(n)
    return s if len(s) <= 24 else f"{s[:10]}...({len(s)} digits)"


def make_reference(numbers, target: int, semantics: str = DEFAULT_SEMANTICS) -> str:
    """The reference string of a row; raises `BadReference` if it would not parse back."""
    ref = parse_reference({"numbers": list(numbers), "target": target, "semantics": semantics})
    return stable_json({"numbers": list(ref.numbers), "target": ref.target,
                        "semantics": ref.semantics})


def bad_reference(why: str) -> VerifyResult:
    """The verdict on a row whose reference is malformed: not checkable, with the reason."""
    return _result(None, "bad_reference", None, why)


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
    cut = max((text.rfind(c) + len(c) for c in THINK_CLOSERS if c in text), default=0)
    after = text[cut:]                 # after the last closed think block, any spelling
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
    microseconds; the AST is bounded in size and depth, and values in magnitude. The
    verdict's `note` names the semantics applied. Raises ValueError for an unknown
    `semantics` (a caller's bug: row data goes through `parse_reference` first).
    """
    if semantics not in SEMANTICS:
        raise ValueError(f"semantics must be one of {', '.join(SEMANTICS)}, got {semantics!r}")
    rule = f"{semantics} semantics"
    if answer is None or not str(answer).strip():
        return _result(False, "no_answer", None, rule)
    text = str(answer)
    if len(text) > MAX_CHARS:
        return _result(False, "too_long", None, rule)
    text = normalise_equation(text)
    if not ALLOWED_CHARS.match(text):
        return _result(False, "invalid_characters", text, rule)
    if "**" in text or "//" in text:
        return _result(False, "operator_not_allowed", text, rule)
    if text.count("(") > MAX_DEPTH:
        return _result(False, "too_deep", text, rule)
    try:
        tree = ast.parse(text, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return _result(False, "parse_error", text, rule)
    if sum(1 for _ in ast.walk(tree)) > MAX_NODES:
        return _result(False, "too_many_terms", text, rule)
    literals: list[int] = []
    try:
        value = _eval(tree.body, 0, literals, semantics, _bound(numbers))
    except _Reject as r:
        return _result(False, r.reason, text, rule)
    except RecursionError:
        return _result(False, "too_deep", text, rule)
    want, got = Counter(int(n) for n in numbers), Counter(literals)
    if want != got:
        missing, extra = want - got, got - want
        if extra and not missing and set(extra) <= set(want):
            return _result(False, "number_reused", text, rule)
        if missing and not extra:
            return _result(False, "number_missing", text, rule)
        return _result(False, "numbers_mismatch", text, rule)
    if value != target:
        return _result(False, "wrong_value", text, rule)
    return _result(True, "ok", text, rule)


def verify_countdown_completion(completion: str | None, reference,
                                semantics: str | None = None) -> VerifyResult:
    """Extract the equation from a completion and verify it against a reference
    `{"numbers": [...], "target": T, "semantics": S}` (a mapping or its JSON), under the
    reference's semantics. `semantics`, when given, must agree with the reference's (a
    reference without the key takes it). A malformed reference or a disagreeing semantics
    gives `verified` None, reason `bad_reference`; nothing here raises."""
    try:
        ref = parse_reference(reference)
        if semantics is not None:
            if semantics not in SEMANTICS:
                raise BadReference(f"semantics {_show(semantics)} is not one of "
                                   f"{', '.join(SEMANTICS)}")
            stated = _stated_semantics(reference)
            if stated is not None and stated != semantics:
                raise BadReference(f"the reference says semantics {stated!r}, the caller "
                                   f"{semantics!r}")
            ref = CountdownReference(ref.numbers, ref.target, semantics)
            if ref.target < 0 and semantics == "integer":
                raise BadReference(f"target {ref.target} is negative: unreachable under "
                                   "integer semantics")
    except BadReference as e:
        return bad_reference(str(e))
    eq = extract_countdown_answer(completion)
    if eq is None:
        return _result(False, "no_answer", None, f"{ref.semantics} semantics")
    return verify_countdown(eq, list(ref.numbers), ref.target, ref.semantics)


def _stated_semantics(reference) -> str | None:
    """The `semantics` key of an already valid reference, or None when it has none."""
    ref = json.loads(reference) if isinstance(reference, (str, bytes)) else reference
    return ref.get("semantics")
