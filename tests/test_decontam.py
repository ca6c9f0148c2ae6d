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


def _self_table(shared_data, path):
    qs = [json.loads(x)["problem"] for x in (shared_data / path).open()]
    return qs, pa.table({"id": [str(i) for i in range(len(qs))], "prompt": qs})


@pytest.mark.parametrize("n", [8, 12])
def test_math500_against_itself_flags_every_item(shared_data, n):
    qs, t = _self_table(shared_data, "math500/math500_test.jsonl")
    kept, rep = decontaminate_table(t, {"benchmarks": ["math500"], "n": n, "fields": ["prompt"],
                                        "drop": False})
    assert rep["flagged"] == 500 == len(qs)
    short = rep["shorter_than_n"]["math500"]
    assert short == (12 if n == 8 else 40)
    assert rep["per_rule"]["math500"] == {"ngram": 500 - short, "whole_question": short}


def test_aime24_against_itself_flags_every_item(shared_data):
    _qs, t = _self_table(shared_data, "aime24/aime24_test.jsonl")
    _kept, rep = decontaminate_table(t, {"benchmarks": ["aime24"], "fields": ["prompt"],
                                         "drop": False})
    assert rep["flagged"] == 30 and rep["per_benchmark"] == {"aime24": 30}


# A short benchmark item (fewer than n tokens), and its neighbours.
SHORT_COPIES = [
    "Compute $\\dbinom{31}{28}$.",                                  # verbatim
    "compute  \\( \\dbinom {31}{28} \\) ",                           # spacing, delimiters
    "COMPUTE $\\binom{31}{28}$",                                     # case, \\binom alias
    "Compute $\\dbinom{31}{28}\\,$!",                                # LaTeX spacing, punctuation
    "Warm-up first. Compute $\\dbinom{31}{28}$. Then explain why it is an integer.",  # embedded
    "Here is a problem. Simplify $\\sqrt{242}$. Explain each step.",  # another short item
    "Find the units digit of $18^6.$ Show your work.",
    "Evaluate $\\log_2 64$.",                                      # a space inside a number
    "What is $1^{( 2^{ 235423523 } )}$ ?",
]
SHORT_DIFFERENT = [
    "Compute $\\dbinom{31}{27}$.",                  # another number
    "Compute $\\dbinom{31}{28} + 1$.",             # a longer expression
    "Compute $\\dbinom{31}{28}^2$.",
    "Simplify $\\sqrt{2420}$.",
    "Find the units digit of $18^7.$",
    "Compute 31 choose 28 by hand.",               # a paraphrase is not a copy
    "Evaluate $\\log_2 65$.",
    "What is $1^{(2^{235423524})}$?",
]


def test_short_items_are_matched_whole_and_only_whole(shared_data):
    prompts = SHORT_COPIES + SHORT_DIFFERENT
    t = pa.table({"id": [str(i) for i in range(len(prompts))], "prompt": prompts,
                  "answer_text": ["ok"] * len(prompts)})
    for n in (8, 12):
        out, rep = decontaminate_table(t, {"benchmarks": ["math500"], "n": n, "drop": False})
        flags = out.column("contaminated_math500").to_pylist()
        assert flags == [True] * len(SHORT_COPIES) + [False] * len(SHORT_DIFFERENT), (n, flags)


# A short item asked in other words: the same math, no question word replaced.
SHORT_REWORDED = [
    ("Evaluate $\\dbinom{31}{28}$.", "test/counting_and_probability/116.json"),
    ("What is $\\binom{31}{28}$?", "test/counting_and_probability/116.json"),
    ("Simplify: $\\sqrt{242}$.", "test/prealgebra/1302.json"),     # a colon broke the text
    ("What is the units digit of $18^6$?", "test/number_theory/686.json"),
    ("What is the remainder of 54 (mod 6)?", "test/number_theory/342.json"),
    ("Evaluate $\\dbinom{31}{28}$.\nPlease reason step by step, and put your final answer "
     "within \\boxed{}.", "test/counting_and_probability/116.json"),      # in a template
]
SHORT_REWORDED_DIFFERENT = [
    "Find the tens digit of $18^6$.",               # units -> tens
    "Write $\\frac{3}{20}$ as a percent.",          # decimal -> percent
    "Evaluate $\\dbinom{31}{27}$.",
    "What is $\\binom{31}{28} \\bmod 7$?",
    "Estimate $\\sqrt{242}$.",                      # simplify -> estimate
]


def test_short_items_reworded_are_found(shared_data):
    prompts = [p for p, _ in SHORT_REWORDED] + SHORT_REWORDED_DIFFERENT
    t = pa.table({"id": [str(i) for i in range(len(prompts))], "prompt": prompts,
                  # an answer is no question: the item's math alone there is not a copy
                  "answer_text": ["ok"] * len(SHORT_REWORDED) + ["$\\sqrt{242}$"] * 5})
    for n in (8, 12):
        _kept, rep = decontaminate_table(t, {"benchmarks": ["math500"], "n": n})
        assert rep["flagged"] == len(SHORT_REWORDED), (n, rep["per_rule"])
    out, rep = decontaminate_table(t, {"benchmarks": ["math500"], "drop": False,
                                       "examples": 10})
    flags = out.column("contaminated_math500").to_pylist()
    assert flags == [True] * len(SHORT_REWORDED) + [False] * len(SHORT_REWORDED_DIFFERENT)
    ex = {e["id"]: e for e in rep["examples"]["math500"]}
    for i, (_p, item) in enumerate(SHORT_REWORDED):
        e = ex[str(i)]
        assert (e["rule"], e["form"], e["item_id"], e["field"]) == (
            "whole_question", "reworded", item, "prompt"), e


def test_short_item_echoed_in_the_answer_is_found(shared_data):
    t = pa.table({"id": ["x"], "prompt": ["An innocent prompt."],
                  "answer_text": ["We are asked: Evaluate $\\log_2 64$. So the answer is 6."]})
    _, rep = decontaminate_table(t, {"benchmarks": ["math500"]})
    ex = rep["examples"]["math500"][0]
    assert rep["flagged"] == 1 and ex["rule"] == "whole_question"
    assert ex["item_id"] == "test/algebra/1255.json" and ex["field"] == "answer_text"


def test_dropped_rows_name_the_benchmark_item(catalog, shared_data):
    planted, clean = _planted(shared_data)
    rows = [{"id": str(i), "problem_id": str(i), "prompt": p, "answer_text": "42"}
            for i, p in enumerate(clean[:20] + planted + ["Compute $\\dbinom{31}{28}$."])]
    catalog.register("traces", rows, kind="traces")
    ref = decontaminate_dataset(catalog, "traces", "clean", benchmarks=["math500", "aime24"])
    counts = catalog.lineage(ref)[0]["counts"]
    assert counts["dropped"] == {"contaminated": 8}
    assert counts["shorter_than_n"] == {"math500": 12, "aime24": 0}
    assert counts["per_rule"]["math500"] == {"ngram": 6, "whole_question": 1}
    assert "fewer than n tokens" in counts["short_rule"]
    dropped = {r["id"]: r for r in catalog.table(counts["dropped_version"]).to_pylist()}
    assert len(dropped) == 8 and {r["dropped_by"] for r in dropped.values()} == {"decontaminate"}
    short = dropped[str(len(rows) - 1)]
    assert short["drop_match"] == "math500:test/counting_and_probability/116.json"
    d = json.loads(short["drop_detail"])
    assert d["rule"] == "whole_question" and d["matched"] == ["prompt: compute $\\binom{31}{28}$"]
    aime = json.loads(dropped[str(len(rows) - 2)]["drop_detail"])
    assert aime["benchmark"] == "aime24" and aime["rule"] == "ngram"
    assert aime["matched"][0].startswith("prompt: ") and aime["benchmark_text"]
    card = catalog.show(ref)["card"]
    assert "Items shorter than 8 tokens (math500: 12 items, 1 rows flagged" in card


def test_decontaminate_names_checked_before_writing(catalog, shared_data):
    from curate.errors import BadInput

    catalog.register("traces", [{"id": "a", "prompt": "Compute $\\dbinom{31}{28}$."},
                                {"id": "b", "prompt": "clean"}], kind="traces")
    before = len(catalog.ls())
    with pytest.raises(BadInput, match="pass --no-dropped"):
        decontaminate_dataset(catalog, "traces", "z" * 125, benchmarks=["math500"])
    assert len(catalog.ls()) == before
    ref = decontaminate_dataset(catalog, "traces", "z" * 125, benchmarks=["math500"],
                                keep_dropped=False)
    assert ref.rows == 1


def test_short_item_rule_in_export_card_and_cli(home, catalog, shared_data, tmp_path):
    from typer.testing import CliRunner

    from curate.catalog.export import export_dataset
    from curate.cli import app

    catalog.register("raw", [{"id": "a", "problem_id": "a", "prompt": "Compute $\\dbinom{31}{28}$."},
                             {"id": "b", "problem_id": "b", "prompt": "A clean question."}],
                     kind="traces")
    r = CliRunner().invoke(app, ["decontaminate", "raw", "--name", "c", "--benchmarks", "math500"])
    assert r.exit_code == 0, r.output
    text = " ".join(r.output.split())
    assert "Items shorter than 8 tokens (math500: 12 items, 1 rows flagged)" in text
    assert "c-dropped@" in text
    readme = (export_dataset(catalog, "c", tmp_path / "out") / "README.md").read_text()
    assert "Items shorter than 8 tokens (math500: 12 items, 1 rows flagged) were matched whole" \
        in readme
    assert "cover at least 50% of the item's tokens" in readme and "cover at least 50%" in text


def test_stock_phrases_are_not_contamination(shared_data):
    """MATH-500 and AIME 2024 share phrases (`where m and n are relatively prime positive
    integers`, `is not divisible by the square of any prime`, `let x y and z be positive real`)
    but no problem: one shared 8-gram flagged 4 MATH-500 and 7 AIME problems; a copy must cover
    half of the item's tokens."""
    math, t_math = _self_table(shared_data, "math500/math500_test.jsonl")
    aime, t_aime = _self_table(shared_data, "aime24/aime24_test.jsonl")
    for t, bench, legacy in ((t_math, "aime24", 4), (t_aime, "math500", 7)):
        _, rep = decontaminate_table(t, {"benchmarks": [bench], "fields": ["prompt"]})
        assert rep["flagged"] == 0, rep["examples"]
        _, rep = decontaminate_table(t, {"benchmarks": [bench], "fields": ["prompt"],
                                         "min_coverage": 0})
        assert rep["flagged"] == legacy
    # a new problem in AIME's stock wording is not a copy; half an AIME problem is
    stock = ("A bag holds 7 red and 5 blue marbles. The probability that two drawn marbles "
             "match is $\\frac{m}{n}$, where $m$ and $n$ are relatively prime positive "
             "integers. Find $m+n$.")
    words = aime[3].split()
    half = " ".join(words[: len(words) * 3 // 5])
    t = pa.table({"id": ["stock", "half", "whole"], "prompt": [stock, half, aime[3] + " Go."]})
    out, rep = decontaminate_table(t, {"benchmarks": ["aime24"], "drop": False})
    assert out.column("contaminated_aime24").to_pylist() == [False, True, True]
    covs = {e["id"]: e["coverage"] for e in rep["examples"]["aime24"]}
    assert 0.5 <= covs["half"] < 0.8 and covs["whole"] == 1.0


def test_min_coverage_is_checked():
    from curate.curation.decontaminate import check_params
    from curate.errors import BadInput

    assert check_params({"min_coverage": "0.3"})["min_coverage"] == 0.3
    for bad in (1.5, -0.1, "most"):
        with pytest.raises(BadInput, match="min_coverage"):
            check_params({"min_coverage": bad})


# -- issue 14 (tester's pass): a user's benchmark file is read like any other input file ------

def test_bad_benchmark_files_are_one_line(tmp_path):
    """file:PATH went through its own reader: bad UTF-8, deep nesting, an unpaired surrogate,
    a broken Parquet file were tracebacks; a directory, FIFO or link loop was 'not found'."""
    import os
    import re

    from curate.corpora.benchmarks import load_benchmark
    from curate.errors import BadInput

    cases = {
        "utf.jsonl": (b'{"question": "a"}\n{"question": "b\xff"}\n', r"utf.jsonl:2: not valid UTF-8"),
        "deep.jsonl": (b'{"question": "a", "x": ' + b"[" * 5000 + b"]" * 5000 + b"}\n",
                       r"deep.jsonl:1: JSON nested deeper"),
        "sur.jsonl": (b'{"question": "a\\ud800"}\n', r"sur.jsonl:1: .*unpaired surrogate.*'question'"),
        "nan.json": (b'[{"question": "a", "answer": NaN}]', r"nan.json:1: NaN is not a JSON number"),
        "bad.parquet": (b"PAR1 not parquet PAR1", r"bad.parquet: unreadable Parquet"),
        "utf.csv": (b"question,answer\nq1,1\nq\xff2,2\n", r"utf.csv:3: not valid UTF-8"),
    }
    for name, (data, match) in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(BadInput, match=match):
            load_benchmark(f"file:{tmp_path / name}")
    (tmp_path / "dir.jsonl").mkdir()
    os.mkfifo(tmp_path / "fifo.jsonl")
    (tmp_path / "loop.jsonl").symlink_to("loop.jsonl")
    for name, what in [("dir.jsonl", "is a directory"), ("fifo.jsonl", "a FIFO"),
                       ("loop.jsonl", "symbolic link loop")]:
        with pytest.raises(BadInput, match=re.escape(what)):
            load_benchmark(f"file:{tmp_path / name}")
    (tmp_path / "ok.csv").write_bytes(b"\xef\xbb\xbfquestion,answer\nwhat is 1+1?,2\n")
    assert [r["answer"] for r in load_benchmark(f"file:{tmp_path / 'ok.csv'}")] == ["2"]


def test_probe_text_files_are_read_like_other_inputs(tmp_path):
    """The probes' texts reader was a third reader of its own (bad UTF-8 and deep nesting were
    tracebacks); it is the shared one now."""
    import re

    from curate.errors import BadInput
    from curate.probes.texts import load_texts

    for name, data, match in [
        ("utf.jsonl", b'{"prompt": "a", "response": "b"}\n{"prompt": "\xff"}\n', "utf.jsonl:2: not valid UTF-8"),
        ("deep.jsonl", b'{"prompt": ' + b"[" * 5000 + b"]" * 5000 + b"}\n", "deep.jsonl:1: JSON nested deeper"),
        ("nan.json", b'[{"prompt": "a", "score": NaN}]', "nan.json:1: NaN is not a JSON number"),
    ]:
        (tmp_path / name).write_bytes(data)
        with pytest.raises(BadInput, match=re.escape(match)):
            load_texts(str(tmp_path / name))
