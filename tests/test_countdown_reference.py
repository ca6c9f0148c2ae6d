"""Countdown references: the row's semantics is the verifier's arithmetic everywhere (verify,
verify-answer, eval scoring, GRPO reward), and a malformed reference is one recorded reason
(`verified` None, `bad_reference`, a note naming the field), never a traceback, never a pass."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from curate.curation.verify import verify_answer, verify_rows
from curate.curation.verify_countdown import (
    BadReference,
    make_reference,
    parse_reference,
    verify_countdown_completion,
)
from curate.errors import BadInput
from curate.record import stable_json

CURATE = Path(sys.executable).parent / "curate"


def _curate(home, *args, timeout=300):
    env = {**os.environ, "CURATE_HOME": str(home)}
    return subprocess.run([str(CURATE), *args], capture_output=True, text=True, env=env,
                          timeout=timeout)


def _boxed(eq: str) -> str:
    return f"The equation is {eq}.\n\n\\boxed{{{eq}}}"


# -- 1. the arithmetic is the task's -------------------------------------------------------

# (numbers, target, answer, verdict under integer, verdict under rational)
SEMANTICS_CASES = [
    ([4, 3, 6], 8, "4 / 3 * 6", "inexact_division", "ok"),         # the example
    ([2, 4, 12], 6, "2 / 4 * 12", "inexact_division", "ok"),        # a fraction mid-way
    ([3, 5, 7], 5, "3 - 5 + 7", "negative_intermediate", "ok"),     # a negative mid-way
    ([1, 2, 9], 3, "9 / (1 + 2)", "ok", "ok"),                      # exact in both
    ([2, 3, 5], 1, "5 - 2 * 3", "negative_intermediate", "wrong_value"),  # -1, not 1
]


@pytest.mark.parametrize("nums,target,answer,integer,rational", SEMANTICS_CASES)
def test_the_reference_semantics_rules(nums, target, answer, integer, rational):
    old = stable_json({"numbers": nums, "target": target})       # written before the key
    for ref, want in ((old, integer), (make_reference(nums, target, "integer"), integer),
                      (make_reference(nums, target, "rational"), rational)):
        r = verify_countdown_completion(_boxed(answer), ref)
        assert r.reason == want and r.verified == (want == "ok"), (ref, r)
        assert r.note == f"{json.loads(ref).get('semantics', 'integer')} semantics"
        # every entry point reads the same reference the same way
        assert verify_answer("countdown", ref, _boxed(answer)).reason == want
        (row,) = verify_rows([{"task": "countdown", "reference": ref,
                               "answer_text": _boxed(answer)}])
        assert row.reason == want


def test_eval_scorer_and_reward_use_the_row_semantics():
    from curate.probes.eval_items import row_to_item
    from curate.probes.scoring import score_countdown, score_many
    from curate.probes.suites import BenchSetting
    from curate.training.rewards import correct_reward, countdown_reward

    rat = make_reference([4, 3, 6], 8, "rational")
    old = stable_json({"numbers": [4, 3, 6], "target": 8})
    text = "<think>4/3 = 4/3, times 6 is 8</think>\n" + _boxed("4 / 3 * 6")
    assert score_countdown(rat, text).verified is True
    assert score_countdown(old, text).reason == "inexact_division"
    got = score_many(["countdown"] * 2, [rat, old], [text, text])
    assert [g.verified for g in got] == [True, False]
    assert countdown_reward([text, text], reference=[rat, old]) == [1.0, 0.0]
    assert correct_reward([text], reference=[rat], task=["countdown"]) == [1.0]
    # a benchmark row with top-level numbers/target/semantics keeps its semantics
    item = row_to_item({"prompt": "p", "numbers": [4, 3, 6], "target": 8,
                        "semantics": "rational"}, 0, BenchSetting("cd", kind="countdown"))
    assert parse_reference(item.reference).semantics == "rational"
    assert score_countdown(item.reference, text).verified is True


def test_verify_answer_semantics_flag(home):
    base = ["verify-answer", "--task", "countdown", "--numbers", "4,3,6", "--target", "8",
            "--answer", "4 / 3 * 6", "--json"]
    r = _curate(home, *base)
    assert r.returncode == 0 and json.loads(r.stdout)["reason"] == "inexact_division"
    r = _curate(home, *base, "--semantics", "rational")
    out = json.loads(r.stdout)
    assert r.returncode == 0 and out["verified"] is True and out["note"] == "rational semantics"
    rat = make_reference([4, 3, 6], 8, "rational")
    r = _curate(home, "verify-answer", "--task", "countdown", "--reference", rat,
                "--answer", "4 / 3 * 6", "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["verified"] is True
    for args, word in (
            ([*base, "--semantics", "real"], "semantics"),
            (["verify-answer", "--task", "countdown", "--reference", rat, "--semantics",
              "integer", "--answer", "4/3*6"], "disagrees"),
            (["verify-answer", "--task", "math", "--reference", "3", "--answer", "3",
              "--semantics", "rational"], "countdown only")):
        r = _curate(home, *args)
        assert r.returncode == 2 and word in r.stderr, (args, r.stderr)
        assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("semantics", ["integer", "rational"])
def test_every_generated_row_verifies_under_curate_verify(home, semantics):
    """Must hold: what the generator makes, under each semantics, `curate verify` accepts
    (the installed CLI, a few hundred rows each, every strategy and heuristic)."""
    r = _curate(home, "generate", "--task", "countdown", "-n", "300", "--seed", "7",
                "--semantics", semantics, "--strategy", "random", "--heuristic", "random",
                "--name", "cd", "--json")
    assert r.returncode == 0, r.stderr
    r = _curate(home, "verify", "cd", "--name", "cd-v", "--json")
    assert r.returncode == 0, r.stderr
    counts = json.loads(r.stdout)["counts"]
    assert counts["verified"] == 300 and counts["reasons"] == {"ok": 300}, counts
    from curate.catalog import Catalog

    rows = Catalog(home).table("cd-v").select(["reference", "verify_detail"]).to_pylist()
    assert {json.loads(x["reference"])["semantics"] for x in rows} == {semantics}
    assert {json.loads(x["verify_detail"])["note"] for x in rows} == {f"{semantics} semantics"}


def test_generator_refuses_two_semantics(catalog):
    from curate.corpora.countdown import CountdownConfig
    from curate.curation.countdown_generate import generate_countdown
    from curate.errors import CurateError

    with pytest.raises(CurateError, match="semantics"):
        generate_countdown(catalog, "x", 5, cfg=CountdownConfig(semantics="rational"),
                           semantics="integer", progress=False)
    assert not catalog.ls()
    ref = generate_countdown(catalog, "y", 5, cfg=CountdownConfig(semantics="rational"),
                             workers=1, progress=False)   # the teacher follows the problems
    assert {json.loads(r["reference"])["semantics"] for r in catalog.get(ref.spec)} == \
        {"rational"}


# -- 2. a malformed reference is one recorded reason ---------------------------------------

BAD_REFERENCES = [
    ('{"numbers": null, "target": 8}', "numbers"),
    ('{"numbers": [3.5, 5, 7], "target": 22}', "numbers[0]"),       # non-integer number
    ('{"numbers": [3.0, 5, 7], "target": 22}', "numbers[0]"),       # a float, even integral
    ('{"numbers": ["3", 5, 7], "target": 22}', "numbers[0]"),
    ('{"numbers": [3, 5, 7], "target": "22"}', "target"),           # string target
    ('{"numbers": [3, 5, 7], "target": 22.0}', "target"),
    ('{"numbers": [3, 5, 7], "target": null}', "target"),
    ('{"numbers": [3, 5, 7]}', "target"),                           # missing key
    ('{"target": 22}', "numbers"),
    ("3,5,7 -> 22", "not JSON"),
    ('{"numbers": [3, 5, 7], "target": 22', "not JSON"),
    ("", "not JSON"),
    ("true", "bool"),
    ('{"numbers": [true, 5, 7], "target": 22}', "numbers[0]"),      # bool is not a number
    ('{"numbers": [3, 5, 7], "target": true}', "target"),
    ('{"numbers": [1' + "0" * 30 + ', 5, 7], "target": 22}', "numbers[0]"),   # huge int
    ('{"numbers": [3, 5, 7], "target": 9' + "9" * 5000 + "}", "longer"),      # beyond int parsing
    ('{"numbers": [3, 5, 7], "target": 1' + "0" * 20 + "}", "target"),
    ('{"numbers": [-3, 5, 7], "target": 22}', "numbers[0]"),        # negative number
    ('{"numbers": [3, 5, 7], "target": -1}', "negative"),           # integer semantics
    ('{"numbers": [], "target": 22}', "numbers"),                   # empty list
    ('{"numbers": [' + ",".join(["1"] * 22) + '], "target": 22}', "numbers"),  # can never fit
    ('{"numbers": "3,5,7", "target": 22}', "numbers"),
    ('{"numbers": {"a": 3}, "target": 22}', "numbers"),
    ('[3, 5, 7]', "list"),
    ('"{\\"numbers\\": [3, 5, 7], \\"target\\": 22}"', "str"),      # JSON inside JSON
    ('{"numbers": [3, 5, 7], "target": 22, "semantics": "real"}', "semantics"),
    ('{"numbers": [3, 5, 7], "target": 22, "semantic": "rational"}', "semantic"),  # typo key
    ('{"numbers": [3, 5, 7], "target": 22, "target": 15}', "duplicate"),
    ('{"numbers": [3, 5, 7], "target": NaN}', "target"),
    ("[" * 3000 + "]" * 3000, "longer"),
    ("[" * 1500 + "]" * 1500, "not JSON"),                          # nested past the parser
    (None, "NoneType"),
    (22, "int"),
]


@pytest.mark.parametrize("ref,word", BAD_REFERENCES)
def test_malformed_reference_is_a_recorded_reason(ref, word):
    r = verify_countdown_completion(_boxed("3 * 5 + 7"), ref)
    assert r.verified is None and r.reason == "bad_reference" and word in r.note, r
    with pytest.raises(BadReference):
        parse_reference(ref)
    from curate.training.rewards import correct_reward, countdown_reward

    assert countdown_reward([_boxed("3 * 5 + 7")], reference=[ref]) == [None]
    assert correct_reward([_boxed("3 * 5 + 7")], reference=[ref], task=["countdown"]) == [None]


def test_a_reference_may_be_a_mapping():
    """TinyZero-style ground truth arrives as a struct; it is read by the same rules."""
    assert verify_countdown_completion(_boxed("3*5+7"), {"numbers": (3, 5, 7), "target": 22}
                                       ).verified is True
    assert verify_countdown_completion(_boxed("3*5+7"), {"numbers": [3, 5, 7]}).note == \
        "missing key 'target'"


def test_fuzzed_references_never_raise_and_never_pass_when_malformed():
    """Random JSON-like references: a verdict every time; True only for a valid reference."""
    rng = random.Random(13)
    atoms = [None, True, False, 0, 1, -1, 3, 22, 2.5, 3.0, "3", "", [], {}, 10 ** 18,
             "integer", "rational", float("inf")]

    def value(depth=0):
        k = rng.random()
        if depth < 3 and k < 0.2:
            return [value(depth + 1) for _ in range(rng.randint(0, 4))]
        if depth < 3 and k < 0.3:
            return {rng.choice(["numbers", "target", "semantics", "x"]): value(depth + 1)
                    for _ in range(rng.randint(0, 3))}
        return rng.choice(atoms)

    for _ in range(3000):
        ref = {"numbers": rng.choice([[3, 5, 7], value()]),
               "target": rng.choice([22, value()])}
        if rng.random() < 0.3:
            ref["semantics"] = rng.choice(["integer", "rational", value()])
        if rng.random() < 0.1:
            ref = value()
        text = json.dumps(ref) if rng.random() < 0.7 else ref
        r = verify_countdown_completion(_boxed("3 * 5 + 7"), text)
        try:
            parse_reference(text)
            valid = True
        except BadReference:
            valid = False
        assert (r.reason == "bad_reference") == (not valid)
        if r.verified:
            assert valid and parse_reference(text).numbers == (3, 5, 7)


def test_one_bad_row_does_not_stop_the_dataset(catalog):
    """`verify` on a dataset with malformed references: the good rows verify, each bad row
    is `verified` null with `bad_reference` and a note naming the field."""
    from curate.curation.verify import verify_dataset

    good = make_reference([3, 5, 7], 22)
    refs = [good, '{"numbers": null, "target": 22}', good,
            '{"numbers": [3.5, 5, 7], "target": 22}', "not json", good,
            make_reference([4, 3, 6], 8, "rational")]
    answers = ["3*5+7"] * 6 + ["4/3*6"]
    rows = [{"id": str(i), "problem_id": str(i), "task": "countdown", "prompt": "p",
             "reference": ref, "answer_text": _boxed(a)}
            for i, (ref, a) in enumerate(zip(refs, answers))]
    catalog.register("cd", rows, kind="traces")
    ref = verify_dataset(catalog, "cd", "cd-v", progress=False)
    out = catalog.table(ref.spec).to_pylist()
    assert [r["verified"] for r in out] == [True, None, True, None, None, True, True]
    notes = [json.loads(r["verify_detail"]).get("note") for r in out]
    assert "numbers is NoneType" in notes[1] and "numbers[0] is 3.5" in notes[3]
    assert notes[4] == "reference is not JSON"
    counts = catalog.lineage(ref.spec)[0]["counts"]
    assert counts["verified"] == 4 and counts["unverifiable"] == 3
    assert counts["reasons"] == {"bad_reference": 3, "ok": 4}


def test_cli_bad_reference_is_one_line(home):
    for ref in ('{"numbers": null, "target": 8}', '{"numbers": [3.5], "target": 8}',
                "not json", '{"numbers": [3, 5], "target": "8"}'):
        r = _curate(home, "verify-answer", "--task", "countdown", "--reference", ref,
                    "--answer", "3+5")
        assert r.returncode == 2 and "bad countdown reference" in r.stderr, (ref, r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    for nums, target in (("3,-5", "8"), ("", "8"), ("1" + "0" * 30 + ",2", "8")):
        r = _curate(home, "verify-answer", "--task", "countdown", "--numbers", nums,
                    "--target", target, "--answer", "3+5")
        assert r.returncode == 2 and "Traceback" not in r.stderr, (nums, r.stderr)


def test_grpo_and_eval_reject_a_bad_reference_before_work(catalog):
    from curate.probes.eval_items import row_to_item
    from curate.probes.suites import BenchSetting
    from curate.training.grpo import prompt_rows

    good = make_reference([3, 5, 7], 22)
    rows = [{"id": str(i), "problem_id": str(i), "task": "countdown", "prompt": "p",
             "reference": ref, "answer_text": "x"}
            for i, ref in enumerate([good, good, '{"numbers": [3, 5, "7"], "target": 22}'])]
    catalog.register("cdp", rows, kind="traces")
    with pytest.raises(BadInput, match=r"cdp@.*:2: bad countdown reference: numbers\[2\]"):
        prompt_rows(catalog, "cdp")
    with pytest.raises(BadInput, match="bad countdown reference: target"):
        row_to_item({"prompt": "p", "numbers": [3, 5], "target": "8"}, 4,
                    BenchSetting("cd", kind="countdown"), source="cd.jsonl")
