"""Prompt sources for teacher generation: files with the papers' field names, catalog
datasets, `hf:` specs (on a local dataset folder), subsets, seeded sampling and bad input."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curate.corpora.hub import parse_hf_spec
from curate.corpora.prompts import load_prompts
from curate.errors import BadInput, CurateError


def _jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def test_field_names_of_the_papers_datasets(tmp_path, catalog):
    # OpenR1-Math / NuminaMath / DeepScaleR: problem + answer (+ uuid)
    f = _jsonl(tmp_path / "openr1.jsonl", [{"problem": "1+1?", "answer": "2", "uuid": "u1",
                                            "source": "olympiads"},
                                           {"problem": "2+2?", "answer": 4, "uuid": "u2",
                                            "source": "amc"}])
    ps = load_prompts(f, catalog)
    assert [(r["problem_id"], r["prompt"], r["reference"]) for r in ps.rows] == \
        [("u1", "1+1?", "2"), ("u2", "2+2?", "4")]
    assert ps.rows[0]["source"] == "olympiads" and ps.info["sha256"]
    # MATH: only a solution; the answer is its last \boxed{}
    f = _jsonl(tmp_path / "math.jsonl", [{"problem": "x?", "solution": "So \\boxed{\\frac{1}{2}}."}])
    assert load_prompts(f, catalog).rows[0]["reference"] == "\\frac{1}{2}"
    # explicit mapping, subset, seeded sampling
    f = _jsonl(tmp_path / "q.jsonl", [{"q": f"Q{i}", "gold": str(i), "kind": i % 2}
                                      for i in range(20)])
    a = load_prompts(f, catalog, prompt_field="q", reference_field="gold", n=5, seed=3,
                     subset={"kind": 1})
    b = load_prompts(f, catalog, prompt_field="q", reference_field="gold", n=5, seed=3,
                     subset={"kind": 1})
    assert [r["prompt"] for r in a.rows] == [r["prompt"] for r in b.rows]
    assert len(a.rows) == 5 and all(int(r["reference"]) % 2 == 1 for r in a.rows)


def test_parquet_catalog_and_hf_local_folder(tmp_path, catalog):
    table = pa.table({"prompt": ["A?", "B?"], "reference": ["1", "2"], "problem_id": ["a", "b"]})
    pq.write_table(table, tmp_path / "p.parquet")
    assert [r["problem_id"] for r in load_prompts(str(tmp_path / "p.parquet"), catalog).rows] == ["a", "b"]
    catalog.register("probs", table, kind="problems")
    ps = load_prompts("probs", catalog)
    assert ps.parents and ps.parents[0].startswith("probs@") and len(ps.rows) == 2
    # hf: on a local dataset folder (the Hub code path, without the network)
    folder = tmp_path / "hubdata" / "data"
    folder.mkdir(parents=True)
    pq.write_table(pa.table({"problem": ["C?"], "answer": ["3"]}), folder / "train-00000-of-00001.parquet")
    ps = load_prompts(f"hf:{tmp_path / 'hubdata'}", catalog)
    assert ps.rows[0]["prompt"] == "C?" and ps.rows[0]["reference"] == "3"
    assert parse_hf_spec("hf:open-r1/OpenR1-Math-220k@abc:default:train").revision == "abc"
    assert parse_hf_spec("hf:open-r1/OpenR1-Math-220k:default:train").split == "train"
    with pytest.raises(CurateError):
        parse_hf_spec("hf:a:b:c:d")


def test_bad_prompt_files_name_file_row_and_field(tmp_path, catalog):
    f = _jsonl(tmp_path / "bad.jsonl", [{"prompt": "ok"}, {"prompt": 3}])
    with pytest.raises(BadInput, match=r"bad.jsonl.*2.*prompt"):
        load_prompts(f, catalog)
    f = _jsonl(tmp_path / "noprompt.jsonl", [{"answer": "1"}])
    with pytest.raises(BadInput, match="prompt"):
        load_prompts(f, catalog)
    f = _jsonl(tmp_path / "dup.jsonl", [{"prompt": "a", "id": 1}, {"prompt": "b", "id": 1}])
    with pytest.raises(BadInput, match="duplicate problem id"):
        load_prompts(f, catalog)
    (tmp_path / "broken.jsonl").write_text('{"problem": "a"}\n{"problem": \n')
    with pytest.raises(BadInput, match="broken.jsonl.*2"):
        load_prompts(str(tmp_path / "broken.jsonl"), catalog)
    (tmp_path / "empty.jsonl").write_text("")
    with pytest.raises(BadInput, match="empty"):
        load_prompts(str(tmp_path / "empty.jsonl"), catalog)
    with pytest.raises(BadInput, match="not a catalog dataset"):
        load_prompts("nope", catalog)
    with pytest.raises(CurateError, match="no rows match"):
        load_prompts(_jsonl(tmp_path / "s.jsonl", [{"prompt": "a", "k": 1}]), catalog,
                     subset={"k": 2})


def test_math500_as_prompt_source(shared_data, catalog):
    ps = load_prompts(str(shared_data / "math500" / "math500_test.jsonl"), catalog, n=50, seed=0)
    assert len(ps.rows) == 50 and all(r["reference"] for r in ps.rows)
    assert len({r["problem_id"] for r in ps.rows}) == 50
