"""N-gram decontamination: planted copies (verbatim, case, spacing, LaTeX spacing) all found,
clean rows not flagged, per-benchmark counts and matched n-grams in the report."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest

from curate.corpora.benchmarks import get_benchmark, list_benchmarks, load_benchmark
from curate.curation.decontaminate import (
    BenchmarkIndex,
    decontaminate_dataset,
    decontaminate_table,
    n_of,
    tokens,
)
from curate.errors import NotFound


def test_tokens_ignore_case_spacing_and_latex_spacing():
    a = tokens(r"Find $\frac{1}{2}+x$ when $x=3$.")
    b = tokens(r"FIND  $\frac {1} {2} + x$ when $x \, = \; 3$ .")
    c = tokens(r"find $\left(\frac{1}{2}\right)+x$ when $x=3$")
    assert a == b == c


def test_presets():
    assert n_of("8") == 8 and n_of(12) == 12 and n_of("strict") == 12


def test_registry_names_and_unknown():
    assert {"math500", "aime24", "aime25", "gpqa-diamond", "livecodebench", "mmlu-pro"} <= set(
        list_benchmarks())
    assert get_benchmark("MATH-500").name == "math500"
    assert get_benchmark("gpqa").group == "other"
    with pytest.raises(NotFound, match="known: .*math500"):
        get_benchmark("nope")


def test_local_file_benchmark(tmp_path):
    p = tmp_path / "mine.jsonl"
    p.write_text(json.dumps({"text": "one two three", "answer": "4"}) + "\n")
    rows = load_benchmark(f"file:{p}:text")
    assert rows[0]["question"] == "one two three" and rows[0]["answer"] == "4"


def _planted(shared_data):
    math500 = [json.loads(x)["problem"] for x in (shared_data / "math500/math500_test.jsonl").open()]
    aime = [json.loads(x)["problem"] for x in (shared_data / "aime24/aime24_test.jsonl").open()]
    clean = [json.loads(x)["question"] for x in
             (shared_data / "graded-gsm8k-openai/example_model_solutions.jsonl").open()][:400]
    picks = [m for m in math500 if len(m.split()) >= 20][:6]
    planted = [
        picks[0],                                                   # verbatim
        picks[1].upper(),                                           # case
        "  ".join(picks[2].split()).replace(" ", "\n", 3),          # whitespace
        picks[3].replace("+", " + ").replace("=", " = ").replace("{", "{ "),  # math spacing
        picks[4].replace("\\frac", "\\,\\frac").replace("$", "$\\;"),  # LaTeX spacing cmds
        "Warm-up first. " + picks[5][: len(picks[5]) * 2 // 3],      # partial copy inside text
        aime[3],
    ]
    return planted, clean


def test_planted_contamination_all_found_and_clean_not_flagged(shared_data):
    planted, clean = _planted(shared_data)
    prompts = clean + planted
    t = pa.table({"id": [str(i) for i in range(len(prompts))], "prompt": prompts,
                  "answer_text": ["The answer is 4."] * len(prompts)})
    for n in (8, 12):
        out, rep = decontaminate_table(t, {"benchmarks": ["math500", "aime24"], "n": n,
                                           "drop": False})
        flags = [a or b for a, b in zip(out.column("contaminated_math500").to_pylist(),
                                        out.column("contaminated_aime24").to_pylist())]
        assert not any(flags[:len(clean)]), [p for p, f in zip(clean, flags) if f][:3]
        assert all(flags[len(clean):]), (n, flags[len(clean):])
        assert rep["per_benchmark"] == {"math500": 6, "aime24": 1}
        ex = rep["examples"]["aime24"][0]
        assert ex["matched"] and ex["matched"][0].startswith("prompt: ")
    dropped, rep = decontaminate_table(t, {"benchmarks": ["math500", "aime24"]})
    assert dropped.num_rows == len(clean) and rep["flagged"] == len(planted)


def test_answer_field_is_checked_too(shared_data):
    row = [json.loads(x) for x in (shared_data / "math500/math500_test.jsonl").open()][10]
    t = pa.table({"id": ["x"], "prompt": ["An innocent prompt."],
                  "answer_text": ["Recall the problem: " + row["problem"]]})
    _, rep = decontaminate_table(t, {"benchmarks": ["math500"]})
    assert rep["flagged"] == 1 and rep["examples"]["math500"][0]["matched"][0].startswith("answer_text")


def test_missing_benchmark_can_be_skipped(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("CURATE_BENCHMARK_DIR", str(tmp_path))
    monkeypatch.setenv("CURATE_SHARED_DATA", str(tmp_path))
    p = tmp_path / "b.jsonl"
    p.write_text(json.dumps({"problem": "alpha beta gamma delta epsilon zeta eta theta iota"}) + "\n")
    idx = BenchmarkIndex.build([f"file:{p}", "aime25"], 8, skip_missing=True)
    assert "aime25" in idx.missing and len(idx.hashes[f"file:{p}"]) == 2


def test_decontaminate_dataset_report_in_lineage_and_card(catalog, shared_data):
    planted, clean = _planted(shared_data)
    rows = [{"id": str(i), "problem_id": str(i), "prompt": p, "answer_text": "42"}
            for i, p in enumerate(clean[:50] + planted)]
    catalog.register("traces", rows, kind="traces")
    ref = decontaminate_dataset(catalog, "traces", "clean", benchmarks=["math500", "aime24"])
    assert ref.rows == 50
    lin = catalog.lineage(ref)[0]
    assert lin["counts"]["dropped"] == {"contaminated": 7}
    assert lin["counts"]["per_benchmark"] == {"math500": 6, "aime24": 1}
    card = catalog.show(ref)["card"]
    assert "| math500 | 6 |" in card and "matched" in card


def test_cli_decontaminate(home, catalog, tmp_path):
    from typer.testing import CliRunner

    from curate.cli import app

    bench = tmp_path / "b.jsonl"
    q = "one two three four five six seven eight nine ten eleven twelve"
    bench.write_text(json.dumps({"problem": q}) + "\n")
    catalog.register("raw", [{"id": "a", "prompt": q.upper()}, {"id": "b", "prompt": "clean"}],
                     kind="traces")
    r = CliRunner().invoke(app, ["decontaminate", "raw", "--name", "c", "--benchmarks",
                                 f"file:{bench}", "--n", "12", "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["rows"] == 1 and out["report"]["per_benchmark"] == {f"file:{bench}": 1}
    r = CliRunner().invoke(app, ["decontaminate", "raw", "--name", "c", "--benchmarks", "nope"])
    assert r.exit_code != 0 and isinstance(r.exception, NotFound)
