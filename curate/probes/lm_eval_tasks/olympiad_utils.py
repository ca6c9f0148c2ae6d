"""Scoring of P1's `olympiad` task: the last boxed answer against `final_answer[0]`, compared
with lm-evaluation-harness's hendrycks `strip_string`, after P1's two additions (leading zeros
dropped; a decimal with only zeros after the point read as an integer). Box finding is lm-eval's
`last_boxed_only_string`; `\\fbox{}` and `\\boxed ` are unwrapped as P1's fork does."""

from __future__ import annotations

from lm_eval.tasks.hendrycks_math.utils import last_boxed_only_string, strip_string


def unbox(s: str) -> str:
    for left in ("\\fbox{", "\\boxed{"):
        if s.startswith(left):
            return s[len(left):-1]
    if s.startswith("\\boxed "):
        return s[len("\\boxed "):]
    return s


def _integral(s: str) -> str:
    s = s.lstrip("0")
    if "." in s and s.split(".")[1].rstrip("0") == "":
        s = s.split(".")[0]
    return s


def is_equiv(a: str | None, b: str | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    try:
        return strip_string(_integral(a)) == strip_string(_integral(b))
    except Exception:  # noqa: BLE001 - hendrycks falls back to plain equality
        return a == b


def process_results(doc: dict, results: list[str]) -> dict[str, int]:
    box = last_boxed_only_string(results[0])
    gold = doc["final_answer"][0] if isinstance(doc["final_answer"], list) else doc["final_answer"]
    ok = box is not None and is_equiv(unbox(box), str(gold))
    return {"exact_match": int(ok)}
