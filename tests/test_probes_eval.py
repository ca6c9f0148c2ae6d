"""`curate eval` on tiny models: a base and a fine-tuned checkpoint on a small local suite."""

from __future__ import annotations

import json

import pytest
from tiny_lm import build_tiny, finetune
from typer.testing import CliRunner

from curate.errors import CurateError
from curate.probes import eval_items, eval_metrics, evaluation, scoring
from curate.probes.suites import P3_MATH_PROMPT, BenchSetting, get_suite

PROBLEMS = [("What is 2 + 3?", "5"), ("What is 7 - 4?", "3"), ("What is 6 * 2?", "12"),
            ("What is 9 + 1?", "10")]


@pytest.fixture(scope="module")
def tiny_pair(tmp_path_factory):
    """A base and a checkpoint trained to answer the suite's problems (memorised)."""
    from transformers import AutoTokenizer

    from curate.probes.generation import render

    root = tmp_path_factory.mktemp("eval-models")
    base = build_tiny(root / "base")
    tok = AutoTokenizer.from_pretrained(base)
    texts = [render(tok, P3_MATH_PROMPT.format(problem=q)) + f"<think>ok</think> \\boxed{{{a}}}"
             for q, a in PROBLEMS]
    ft = finetune(base, root / "ft", texts, steps=200, lr=8e-3, add_special_tokens=False)
    suite = root / "arith.jsonl"
    suite.write_text("\n".join(json.dumps({"id": f"p{i}", "problem": q, "answer": a})
                               for i, (q, a) in enumerate(PROBLEMS)))
    return base, ft, suite


def test_eval_base_and_finetuned(tiny_pair, catalog):
    base, ft, suite = tiny_pair
    kw = dict(max_new_tokens=16, temperature=0.0, progress=False)
    rb = evaluation.evaluate(catalog, str(base), f"local:{suite}", **kw)
    rf = evaluation.evaluate(catalog, str(ft), f"local:{suite}", **kw)
    fb, ff = rb["benchmarks"]["arith"], rf["benchmarks"]["arith"]
    assert fb["problems"] == 4 and fb["k"] == 1 and fb["group"] == "math"
    assert ff["accuracy"] > fb["accuracy"]
    assert ff["accuracy"] >= 0.5
    assert 0 < ff["mean_response_tokens"] <= 16
    assert fb["truncation_rate"] is not None
    rows = catalog.sql("SELECT model, metric, value, outputs_path FROM evals ORDER BY created")
    assert {r["metric"] for r in rows} == {"accuracy", "avg@1", "pass@1", "maj@1"}
    import pyarrow.parquet as pq

    t = pq.read_table(rows[-1]["outputs_path"]).to_pylist()
    assert len(t) == 4 and {"response", "correct", "verify_detail"} <= set(t[0])
    # TI needs other groups; a math-only pair gives no TI rows but no NaN either
    from curate.probes.transfer import ti_from_catalog

    ti = ti_from_catalog(catalog, str(ft), str(base), formula="v1")
    assert ti["ti"]["other"] is None


def test_eval_cli_and_samples(tiny_pair, home):
    from curate.cli import app

    base, ft, suite = tiny_pair
    mcq = suite.parent / "choice.jsonl"
    mcq.write_text(json.dumps({"id": "c1", "question": "Sky colour?", "options": ["red", "blue"],
                               "answer": "B", "group": "other"}) + "\n")
    r = CliRunner().invoke(app, ["eval", str(ft), "--suite", f"local:{suite},{mcq}", "--samples",
                                 "2", "--max-new-tokens", "12", "--limit", "2", "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    f = out["benchmarks"]["arith"]
    assert f["samples"] == 4 and f["k"] == 2 and "pass@2" in f and "maj@2" in f
    c = out["benchmarks"]["choice"]
    assert c["group"] == "other" and c["samples"] == 2
    # greedy with k > 1: one decode repeated (transformers refuses n > 1 without sampling)
    r = CliRunner().invoke(app, ["eval", str(ft), "--suite", f"local:{suite}", "--samples", "2",
                                 "--temperature", "0", "--max-new-tokens", "8", "--limit", "1",
                                 "--json"])
    assert r.exit_code == 0, r.output
    import pyarrow.parquet as pq

    rows = pq.read_table(json.loads(r.stdout)["benchmarks"]["arith"]["outputs"]).to_pylist()
    assert len(rows) == 2 and rows[0]["response"] == rows[1]["response"]


def test_suite_without_local_data_offline(monkeypatch, catalog):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.delenv("CURATE_BENCHMARK_DIR", raising=False)
    with pytest.raises(CurateError, match="gpqa-diamond.*no local") as e:
        evaluation.prepare("p3")
    assert "\n" not in str(e.value)


def test_unknown_suite_and_cli_message(home):
    from curate.cli import app

    with pytest.raises(CurateError, match="unknown suite"):
        get_suite("nope")
    r = CliRunner().invoke(app, ["eval", "some/model", "--suite", "nope"])
    assert r.exit_code != 0 and "unknown suite" in str(r.exception)


def test_pass_at_k_unbiased():
    assert eval_metrics.pass_at_k(10, 0, 3) == 0.0
    assert eval_metrics.pass_at_k(10, 10, 3) == 1.0
    # 1 - C(7,3)/C(10,3) = 1 - 35/120
    assert eval_metrics.pass_at_k(10, 3, 3) == pytest.approx(1 - 35 / 120)
    assert eval_metrics.pass_at_k(5, 2, 1) == pytest.approx(0.4)


def test_figures_by_hand():
    rows = [{"problem_id": "a", "sample_index": i, "correct": c, "final_answer": fa,
             "completion_tokens": 10, "finish_reason": fr}
            for i, (c, fa, fr) in enumerate([(True, "1", "stop"), (False, "2", "length"),
                                             (True, "1", "stop")])]
    rows += [{"problem_id": "b", "sample_index": i, "correct": False, "final_answer": "9",
              "completion_tokens": 20, "finish_reason": "stop"} for i in range(3)]
    f = eval_metrics.benchmark_figures(rows, 3)
    assert f["avg@3"] == pytest.approx((2 / 3 + 0) / 2)
    assert f["pass@1"] == 0.5 and f["pass@3"] == 0.5 and f["maj@3"] == 0.5
    assert f["mean_response_tokens"] == 15 and f["truncation_rate"] == pytest.approx(1 / 6)


def test_mcq_seeded_order_and_letter():
    s = BenchSetting("gpqa", kind="mcq", shuffle_options=True, seed=1234,
                     prompt=get_suite("p3")[2].prompt)
    row = {"id": "q1", "Question": "Pick", "Correct Answer": "right",
           "Incorrect Answer 1": "w1", "Incorrect Answer 2": "w2", "Incorrect Answer 3": "w3"}
    a = eval_items.row_to_item(row, 0, s)
    b = eval_items.row_to_item(row, 0, s)
    assert a.options == b.options and a.options[ord(a.reference) - 65] == "right"
    assert "Options: A) " in eval_items.format_prompt(a, s)
    ok = scoring.score("mcq", a.reference, f"<think>hmm</think> \\boxed{{{a.reference}}}")
    assert ok.verified is True
    assert scoring.score("mcq", "A", "<think>still thinking \\boxed{A}").verified is not True


def test_math_scoring_uses_text_after_think():
    assert scoring.score("math", "5", "<think>\\boxed{4}</think> so \\boxed{5}").verified is True
    assert scoring.score("math", "5", "<think>\\boxed{5} but unfinished").verified is not True


def test_dip_summary_on_the_papers_example():
    # P3, Qwen3-1.7B-Base + Math-CoT, MATH500 by step (papers-methods.md §3.3)
    steps = [0, 10, 20, 40, 80, 160, 320, 480, 640]
    acc = [58.9, 55.7, 53.5, 42.9, 49.6, 51.6, 56.5, 59.1, 56.2]
    toks = [900, 1500, 3000, 9000, 6000, 4000, 3000, 2500, 2400]  # made up: a surge at the dip
    d = evaluation.dip_summary(steps, acc, toks)
    assert d["lowest_step"] == 40 and d["dip"] == pytest.approx(16.0)
    assert d["recovery"] == pytest.approx(13.3) and d["recovered"] is False
    assert d["longest_step"] == 40


def test_math_suite_on_registry_data(tiny_pair, catalog, shared_data):
    """The `math` preset on the real MATH-500 / AIME24 rows (2 problems each, short budget)."""
    base, _, _ = tiny_pair
    r = evaluation.evaluate(catalog, str(base), "math", limit=2, samples=1, max_new_tokens=8,
                            progress=False)
    assert set(r["benchmarks"]) == {"math500", "aime24"}
    for f in r["benchmarks"].values():
        assert f["group"] == "math" and f["problems"] == 2 and f["truncation_rate"] is not None
    cfg = catalog.sql("SELECT config FROM evals WHERE benchmark = 'math500' LIMIT 1")[0]["config"]
    cfg = json.loads(cfg)
    assert cfg["temperature"] == 0.6 and cfg["top_p"] == 0.95 and cfg["seed"] == 1234


def test_countdown_scoring_through_the_verifiers():
    ref = json.dumps({"numbers": [1, 2, 3], "target": 6})
    got = scoring.score_many(["countdown"] * 3, [ref] * 3,
                             ["<think>try</think> so \\boxed{1+2+3}",
                              "<think>unfinished \\boxed{1+2+3}",
                              "<think>t</think> \\boxed{1+2+4}"])
    assert [g.verified for g in got] == [True, False, False]
    assert got[0].verifier.startswith("countdown")


def test_countdown_local_suite(tiny_pair, catalog, tmp_path):
    base, _, _ = tiny_pair
    f = tmp_path / "cd.jsonl"
    f.write_text(json.dumps({"id": "c1", "prompt": "Numbers: [1, 2, 3] Target: 6",
                             "numbers": [1, 2, 3], "target": 6}) + "\n")
    r = evaluation.evaluate(catalog, str(base), f"local:{f}", max_new_tokens=6, progress=False)
    out = r["benchmarks"]["cd"]
    import pyarrow.parquet as pq

    row = pq.read_table(out["outputs"]).to_pylist()[0]
    assert "countdown" in row["verify_detail"] and out["problems"] == 1


def test_eval_through_a_served_teacher(tiny_pair, catalog):
    """`--teacher transformers:PATH` evaluates through `transformers serve` and the teacher
    client (the vLLM path on a GPU): same greedy answers as local generation."""
    _, ft, suite = tiny_pair
    kw = dict(max_new_tokens=16, temperature=0.0, progress=False)
    local = evaluation.evaluate(catalog, str(ft), f"local:{suite}", **kw)
    served = evaluation.evaluate(catalog, str(ft), f"local:{suite}", teacher=f"transformers:{ft}",
                                 **kw)
    a, b = local["benchmarks"]["arith"], served["benchmarks"]["arith"]
    assert b["problems"] == 4 and b["accuracy"] >= 0.5
    assert b["accuracy"] == a["accuracy"]
