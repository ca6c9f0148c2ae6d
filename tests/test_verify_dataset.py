"""`verify_dataset` and the CLI: verified / final_answer / verify_detail on every row."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from curate.cli import app
from curate.curation.verify import verify_dataset
from curate.record import empty_trace

ROWS = [
    empty_trace(id="a", problem_id="p1", task="math", prompt="1/2?", reference=r"\frac{1}{2}",
                reasoning="think", answer_text=r"So \boxed{0.5}"),
    empty_trace(id="b", problem_id="p1", task="math", prompt="1/2?", reference=r"\frac{1}{2}",
                reasoning="think", answer_text=r"\boxed{3}"),
    empty_trace(id="c", problem_id="p2", task="math", prompt="q", reference="4",
                reasoning="never closed", answer_text=""),
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
    assert json.loads(rows[3]["verify_detail"])["verifier"] == "mcq-letter/1"
    lin = catalog.lineage(ref)[0]
    assert lin["step"] == "verify" and lin["parents"][0].startswith("raw@")
    assert lin["counts"]["verified"] == 2 and lin["counts"]["wrong"] == 1
    assert lin["counts"]["reasons"]["no_answer"] == 1


def test_cli_verify_and_verify_answer(home, catalog):
    catalog.register("raw", ROWS, kind="traces")
    r = CliRunner().invoke(app, ["verify", "raw", "--name", "checked", "--workers", "1", "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["rows"] == 4 and out["counts"]["verified"] == 2
    r = CliRunner().invoke(app, ["verify-answer", "--task", "math", "--reference", "204",
                                 "--answer", "The final answer is $204$.", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output) == {"verified": True, "reason": "ok",
                                    "verifier": json.loads(r.output)["verifier"],
                                    "final_answer": "204"}
    r = CliRunner().invoke(app, ["verify-answer", "--task", "mcq", "--reference", "C",
                                 "--answer", "Answer: D", "--json"])
    assert json.loads(r.output)["verified"] is False


def test_verify_missing_dataset_is_one_line_error(home):
    import subprocess
    import sys
    from pathlib import Path

    exe = Path(sys.executable).parent / "curate"
    p = subprocess.run([str(exe), "verify", "nope", "--name", "x"], capture_output=True, text=True)
    assert p.returncode == 2
    assert p.stderr.strip().startswith("error:") and "Traceback" not in p.stderr
