"""`verify_dataset` and the CLI: verified / final_answer / verify_detail on every row."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from curate.cli import app
from curate.curation.verify import row_prediction, verify_dataset
from curate.record import empty_trace

ROWS = [
    empty_trace(id="a", problem_id="p1", task="math", prompt="1/2?", reference=r"\frac{1}{2}",
                reasoning="think", answer_text=r"So \boxed{0.5}"),
    empty_trace(id="b", problem_id="p1", task="math", prompt="1/2?", reference=r"\frac{1}{2}",
                reasoning="think", answer_text=r"\boxed{3}"),
    empty_trace(id="c", problem_id="p2", task="math", prompt="q", reference="4",
                reasoning="never closed \\boxed{4}", answer_text=""),
    empty_trace(id="d", problem_id="p3", task="mcq", prompt="pick", reference="B",
                answer_text="The answer is (B)."),
]


def test_verify_dataset_adds_columns_and_counts(catalog):
    catalog.register("raw", ROWS, kind="traces")
    ref = verify_dataset(catalog, "raw", "checked", workers=1, progress=False)
    rows = catalog.table(ref).to_pylist()
    assert [r["verified"] for r in rows] == [True, False, None, True]
    assert rows[0]["final_answer"] == "0.5"
    d = json.loads(rows[0]["verify_detail"])
    assert d["verifier"].startswith("math-verify/") and d["reason"] == "ok"
    assert d["region"] == "after-think" and d["answer_from"] == "boxed"
    c = json.loads(rows[2]["verify_detail"])
    assert c["reason"] == "unclosed_think" and c["region"] == "unclosed-no-answer"
    assert json.loads(rows[3]["verify_detail"])["verifier"].startswith("mcq-letter/")
    lin = catalog.lineage(ref)[0]
    assert lin["step"] == "verify" and lin["parents"][0].startswith("raw@")
    assert lin["counts"]["verified"] == 2 and lin["counts"]["wrong"] == 1
    assert lin["counts"]["reasons"]["unclosed_think"] == 1


def test_unclosed_rule_whole_response_is_named_in_the_detail(catalog):
    catalog.register("raw", ROWS, kind="traces")
    ref = verify_dataset(catalog, "raw", "p3", workers=1, progress=False,
                         math_options={"unclosed": "whole-response"})
    rows = catalog.table(ref).to_pylist()
    assert [r["verified"] for r in rows] == [True, False, True, True]
    d = json.loads(rows[2]["verify_detail"])
    assert d["region"] == "unclosed-whole-response"
    assert d["options"] == {"unclosed": "whole-response"}


def test_imported_final_answer_column_is_used_and_said(catalog):
    rows = [empty_trace(id="e", problem_id="p4", task="math", prompt="q", reference="7",
                        answer_text="a long answer that never states it plainly",
                        final_answer="7"),
            empty_trace(id="f", problem_id="p5", task="math", prompt="q", reference="7",
                        answer_text=r"\boxed{7}", final_answer="8")]
    catalog.register("imported", rows, kind="traces")
    ref = verify_dataset(catalog, "imported", "checked", workers=1, progress=False)
    out = catalog.table(ref).to_pylist()
    assert [r["verified"] for r in out] == [True, False]
    assert [json.loads(r["verify_detail"])["answer_from"] for r in out] == ["final_answer"] * 2
    # verifying again keeps using the imported answers (the detail says where they came from)
    again = catalog.table(verify_dataset(catalog, ref.spec, "again", workers=1,
                                         progress=False)).to_pylist()
    assert [r["verified"] for r in again] == [True, False]


def test_row_prediction_rebuilds_the_response():
    assert row_prediction({"reasoning": "r", "answer_text": "a"})["text"] == \
        "<think>\nr\n</think>\n\na"
    p = row_prediction({"reasoning": "r", "answer_text": ""})
    assert p["closed"] is False and p["text"] == "<think>\nr"
    p = row_prediction({"reasoning": "r", "answer_text": "a",
                        "metadata": json.dumps({"think_closed": False})})
    assert p["closed"] is False
    assert row_prediction({"answer_text": "4"}) == {"text": "4"}


def test_cli_verify_and_verify_answer(home, catalog):
    catalog.register("raw", ROWS, kind="traces")
    r = CliRunner().invoke(app, ["verify", "raw", "--name", "checked", "--workers", "1", "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["rows"] == 4 and out["counts"]["verified"] == 2
    r = CliRunner().invoke(app, ["verify-answer", "--task", "math", "--reference", "204",
                                 "--answer", "The final answer is $204$.", "--json"])
    assert r.exit_code == 0, r.output
    got = json.loads(r.output)
    assert (got["verified"], got["reason"], got["final_answer"], got["answer_from"]) == \
        (True, "ok", "204", "anchor")
    r = CliRunner().invoke(app, ["verify-answer", "--task", "mcq", "--reference", "C",
                                 "--answer", "Answer: D", "--json"])
    assert json.loads(r.output)["verified"] is False


def test_cli_verify_answer_bare_answers(home):
    """`--answer 4` is an answer (wrong_value, not no_answer); 0.5 is 1/2."""
    def run(*args):
        r = CliRunner().invoke(app, ["verify-answer", "--task", "math", *args, "--json"])
        assert r.exit_code == 0, r.output
        return json.loads(r.output)

    assert run("--reference", "3", "--answer", "4")["reason"] == "wrong_value"
    assert run("--reference", r"\frac{1}{2}", "--answer", "0.5")["verified"] is True
    assert run("--reference", "3", "--answer", "3")["verified"] is True
    got = run("--reference", "5", "--answer", r"<think>so \boxed{5}", "--unclosed",
              "whole-response")
    assert got["verified"] is True and got["region"] == "unclosed-whole-response"
    r = CliRunner().invoke(app, ["verify-answer", "--reference", "5", "--answer", "5",
                                 "--unclosed", "guess"])
    assert r.exit_code != 0 and "--unclosed must be one of" in str(r.exception)
    r = CliRunner().invoke(app, ["verify-answer", "--reference", "5", "--answer", "5",
                                 "--rule", "nope"])
    assert r.exit_code != 0 and "--rule must be one of" in str(r.exception)


def test_verify_missing_dataset_is_one_line_error(home):
    import subprocess
    import sys
    from pathlib import Path

    exe = Path(sys.executable).parent / "curate"
    p = subprocess.run([str(exe), "verify", "nope", "--name", "x"], capture_output=True, text=True)
    assert p.returncode == 2
    assert p.stderr.strip().startswith("error:") and "Traceback" not in p.stderr


@pytest.mark.parametrize("task", ["code", "chat", "livecodebench", "ifeval", "summarise"])
def test_a_task_no_verifier_knows_is_not_verified_by_math_rules(task):
    """A code or chat row whose answer happens to equal its reference is not 'verified' by the
    math verifier: no verifier checks that task, so the row is not checkable and says why."""
    from curate.curation.verify import verify_answer, verify_rows

    rows = [{"task": task, "reference": "42", "answer_text": "The answer is \\boxed{42}."}]
    (r,) = verify_rows(rows, workers=1)
    assert r.verified is None and r.reason == "unknown_task" and task in r.note
    assert verify_answer(task, "42", "\\boxed{42}").reason == "unknown_task"


@pytest.mark.parametrize("task", [None, "", "math", "Math", " GSM8K ", "aime", "numina"])
def test_math_task_names_go_to_the_math_verifier(task):
    from curate.curation.verify import verify_rows

    rows = [{"task": task, "reference": "42", "answer_text": "The answer is \\boxed{42}."}]
    assert verify_rows(rows, workers=1)[0].verified is True
