"""P1's math rule (hendrycks `is_equiv` on the last box), MCQ letter lists and option orders."""

from __future__ import annotations

import random

import pytest

from curate.curation.verify_math import verify_math
from curate.errors import BadInput
from curate.probes import eval_items
from curate.probes.suites import P1_GPQA_PROMPT, P3_GPQA_PROMPT, BenchSetting


@pytest.mark.parametrize("ref,text,verified,answer", [
    # the last box counts, not the first (EvalChemy: last_boxed_only_string)
    ("5", "\\boxed{4} then \\boxed{5}", True, "5"),
    ("5", "\\boxed{5} then \\boxed{4}", False, "4"),
    # hendrycks strip_string: 0.5 == \frac{1}{2}, \dfrac == \frac, units and \% dropped
    ("\\frac{1}{2}", "<think>try \\boxed{3}</think> so \\boxed{0.5}", True, "0.5"),
    ("\\frac{3}{4}", "\\boxed{\\dfrac{3}{4}}", True, "\\dfrac{3}{4}"),
    ("10", "\\boxed{10\\%}", True, "10\\%"),
    # no box: no answer; thinking that never closed has none either (default region rule)
    ("10", "the answer is 10", None, None),
    ("5", "<think>\\boxed{5}", None, None),
    # string equivalence only: 2x+1 vs 1+2x is wrong for hendrycks (math-verify says equal)
    ("2x+1", "\\boxed{1+2x}", False, "1+2x"),
])
def test_hendrycks_rule(ref, text, verified, answer):
    r = verify_math(ref, text, rule="hendrycks")
    assert r.verified is verified
    assert r.final_answer == answer
    assert r.verifier.startswith("hendrycks-is_equiv/lm-eval-")
    assert '"verifier":"hendrycks-is_equiv' in r.detail()


def test_hendrycks_whole_response_and_math_verify_differ():
    # P3's rule on an unclosed completion: the whole response is read
    r = verify_math("5", "<think>\\boxed{5}", rule="hendrycks", unclosed="whole-response")
    assert r.verified is True
    assert verify_math("2x+1", "\\boxed{1+2x}").verified is True


def test_lm_eval_functions_are_the_ones_used():
    from lm_eval.tasks.hendrycks_math import utils

    assert utils.is_equiv("\\frac{1}{2}", "0.5")
    assert verify_math("\\frac{1}{2}", "\\boxed{0.5}", rule="hendrycks").verified is True


@pytest.mark.parametrize("n,text", [(4, "A, B, C, or D"), (5, "A, B, C, D, or E"),
                                    (2, "A or B"), (10, "A, B, C, D, E, F, G, H, I, or J")])
def test_letter_list(n, text):
    assert eval_items.letter_list(n) == text


def test_mcq_prompt_names_its_own_letters():
    s = BenchSetting("x", kind="mcq", prompt=P3_GPQA_PROMPT)
    for n, letters in ((4, "(A, B, C, or D)"), (3, "(A, B, or C)"), (6, "(A, B, C, D, E, or F)")):
        row = {"id": "q", "question": "Pick one", "options": [f"o{i}" for i in range(n)],
               "answer": "B"}
        item = eval_items.row_to_item(row, 0, s)
        p = eval_items.format_prompt(item, s)
        assert letters in p and f"{eval_items.LETTERS[n - 1]}) o{n - 1}" in p
        assert f"{eval_items.LETTERS[n]}) " not in p
    # four options: the papers' prompt, word for word
    four = eval_items.format_prompt(eval_items.EvalItem("q", "P", "A", "mcq", list("wxyz")),
                                    BenchSetting("g", kind="mcq", prompt=P1_GPQA_PROMPT))
    assert "only include the letter choice (A, B, C, or D) as your final response." in four


def test_option_orders():
    # seeded: stable, and different items get different orders
    a = eval_items.option_order("q1", 4, 1234)
    assert a == eval_items.option_order("q1", 4, 1234)
    assert len({tuple(eval_items.option_order(f"q{i}", 4, 1234)) for i in range(20)}) > 1
    # p1-fixed: random.Random(42).shuffle of [correct, w1, w2, w3], the same for every question
    opts = ["c", "w1", "w2", "w3"]
    ref = list(opts)
    random.Random(42).shuffle(ref)
    order = eval_items.option_order("anything", 4, 0, "p1-fixed")
    assert [opts[i] for i in order] == ref
    row = {"id": "g1", "Question": "Q?", "Correct Answer": "c", "Incorrect Answer 1": "w1",
           "Incorrect Answer 2": "w2", "Incorrect Answer 3": "w3"}
    item = eval_items.row_to_item(row, 0, BenchSetting("gpqa", kind="mcq", shuffle_options=True,
                                                       option_order="p1-fixed"))
    assert item.options == ref and item.options[ord(item.reference) - 65] == "c"


def test_p3_hash_order_needs_pythonhashseed(monkeypatch):
    monkeypatch.delenv("PYTHONHASHSEED", raising=False)
    with pytest.raises(BadInput, match="PYTHONHASHSEED"):
        eval_items.option_order("q", 4, 0, "p3-hash", "Q?")
    monkeypatch.setenv("PYTHONHASHSEED", "0")
    order = eval_items.option_order("q", 4, 0, "p3-hash", "Q?")
    ref = list(range(4))
    random.Random(42 + hash("Q?") % 10000).shuffle(ref)
    assert order == ref
    with pytest.raises(BadInput, match="unknown option order"):
        eval_items.option_order("q", 4, 0, "nope")
