"""`curate import` of good and bad files, and `curate export` in the Hub layout."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from curate.catalog.importing import import_file
from curate.cli import app
from curate.errors import BadInput

runner = CliRunner()


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "curate.cli", *args], capture_output=True,
                          text=True, timeout=120)


def _write(path, lines: list[bytes]):
    path.write_bytes(b"".join(lines))
    return path


GOOD = [json.dumps({"prompt": f"q{i}", "answer": str(i)}).encode() + b"\n" for i in range(5)]


@pytest.mark.parametrize("bad,reason,line", [
    (b'{"prompt": "x", oops}\n', "malformed JSON", 3),
    (b'{"prompt": "caf\xe9"}\n', "not valid UTF-8", 3),
    (b'{"prompt": 17}\n', "wrong type", 3),
    (b'{"answer": "1"}\n', "missing required field", 3),
    (b'[1, 2]\n', "expected a JSON object", 3),
])
def test_bad_rows_name_file_and_line(tmp_path, catalog, bad, reason, line):
    f = _write(tmp_path / "in.jsonl", GOOD[:2] + [bad] + GOOD[2:])
    with pytest.raises(BadInput, match=rf"in.jsonl:{line}: .*{reason}"):
        import_file(catalog, f, "x")
    assert catalog.ls() == []
    ref, rejects, counts = import_file(catalog, f, "x", skip_bad=True)
    assert ref.rows == 5 and rejects.rows == 1
    assert counts["in"] == 6 and counts["out"] == 5
    rej = catalog.get(rejects.spec)[0]
    assert rej["line"] == line and reason in rej["reason"]


def test_huge_row(tmp_path, catalog):
    big = json.dumps({"prompt": "x" * (20 * 1024 * 1024)}).encode() + b"\n"
    f = _write(tmp_path / "big.jsonl", [GOOD[0], big, GOOD[1]])
    with pytest.raises(BadInput, match="big.jsonl:2: row larger than"):
        import_file(catalog, f, "x")
    ref, rejects, _ = import_file(catalog, f, "x", skip_bad=True)
    assert ref.rows == 2 and rejects.rows == 1


def test_empty_and_missing_and_unknown_type(tmp_path, catalog):
    (tmp_path / "e.jsonl").write_bytes(b"")
    with pytest.raises(BadInput, match="e.jsonl: empty file"):
        import_file(catalog, tmp_path / "e.jsonl", "x")
    (tmp_path / "blank.jsonl").write_bytes(b"\n\n")
    with pytest.raises(BadInput, match="no rows"):
        import_file(catalog, tmp_path / "blank.jsonl", "x")
    with pytest.raises(BadInput, match="no such file"):
        import_file(catalog, tmp_path / "nope.jsonl", "x")
    (tmp_path / "a.xml").write_text("<a/>")
    with pytest.raises(BadInput, match="unsupported file type"):
        import_file(catalog, tmp_path / "a.xml", "x")


def test_formats(tmp_path, catalog):
    rows = [{"question": f"q{i}", "answer": str(i)} for i in range(4)]
    (tmp_path / "a.json").write_text(json.dumps(rows))
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "a.parquet")
    (tmp_path / "a.csv").write_text("question,answer\n" + "".join(f"q{i},{i}\n" for i in range(4)))
    for ext in ("json", "parquet", "csv"):
        ref, _, _ = import_file(catalog, tmp_path / f"a.{ext}", f"from-{ext}", kind="benchmark")
        ds = catalog.get(ref.spec)
        assert ds.num_rows == 4 and ds[0]["prompt"] == "q0" and ds[0]["problem_id"]


def test_cli_import_errors_are_one_line(tmp_path, home):
    f = _write(tmp_path / "in.jsonl", GOOD[:1] + [b"{bad\n"])
    r = _cli("import", str(f), "--name", "x")
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and "in.jsonl:2" in r.stderr
    assert "Traceback" not in r.stderr
    r = _cli("import", str(f), "--name", "x", "--skip-bad", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["rows"] == 1 and out["rejects"].startswith("x-rejects@")


def test_cli_catalog_verbs_json(tmp_path, home):
    f = _write(tmp_path / "in.jsonl", GOOD)
    assert runner.invoke(app, ["import", str(f), "--name", "toy"]).exit_code == 0
    ls = json.loads(runner.invoke(app, ["catalog", "ls", "--json"]).stdout)
    assert [r["name"] for r in ls] == ["toy"] and set(ls[0]) >= {"name", "version", "kind",
                                                                  "rows", "created"}
    show = json.loads(runner.invoke(app, ["catalog", "show", "toy", "--json"]).stdout)
    assert show["rows"] == 5 and {c["name"] for c in show["schema"]} >= {"prompt", "answer"}
    lin = json.loads(runner.invoke(app, ["catalog", "lineage", "toy", "--json"]).stdout)
    assert lin[0]["step"] == "import" and lin[0]["counts"]["out"] == 5
    sql = json.loads(runner.invoke(app, ["catalog", "sql", "select rows from datasets",
                                         "--json"]).stdout)
    assert sql == [{"rows": 5}]
    for verb in (["catalog", "ls"], ["catalog", "show", "toy"], ["catalog", "lineage", "toy"]):
        assert runner.invoke(app, verb).exit_code == 0
    r = _cli("catalog", "show", "missing")
    assert r.returncode == 2 and "not found" in r.stderr


def test_export_loads_with_datasets(tmp_path, catalog):
    rows = [{"prompt": f"q{i}", "answer_text": str(i)} for i in range(7)]
    catalog.register("toy", rows)
    r = runner.invoke(app, ["export", "toy", str(tmp_path / "out")])
    assert r.exit_code == 0, r.output
    ds = datasets.load_dataset(str(tmp_path / "out"), cache_dir=str(tmp_path / "hf"))
    row = ds["train"][0]
    assert ds["train"].num_rows == 7 and row["problem"] == "q0" and "prompt" not in row
    assert row["messages"] == [{"role": "user", "content": "q0"},
                               {"role": "assistant", "content": "0"}]   # built: TRL loads it
    r = runner.invoke(app, ["export", "toy", str(tmp_path / "out")])
    assert r.exit_code != 0


def test_help_on_every_verb():
    for verb in (["--help"], ["catalog", "--help"], ["import", "--help"], ["export", "--help"],
                 ["catalog", "sql", "--help"]):
        r = runner.invoke(app, verb)
        assert r.exit_code == 0 and "Usage" in r.stdout


# -- issue 14: every input error is one line with file, row and field -------------------------

def _lines(path, rows: list) -> str:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return str(path)


BIG = 2 ** 63


@pytest.mark.parametrize("row,field", [
    ('{"prompt": "q", "n": ' + str(BIG) + "}", "n"),                 # just past int64
    ('{"prompt": "q", "n": ' + str(-BIG - 1) + "}", "n"),            # below int64
    ('{"prompt": "q", "meta": {"seed": ' + str(10 ** 30) + "}}", "meta.seed"),
    ('{"prompt": "q", "ids": [1, ' + str(10 ** 20) + "]}", "ids[]"),
    ('{"prompt": "q", "reference": ' + str(10 ** 25) + "}", "reference"),
])
def test_integer_above_int64_is_one_line(tmp_path, catalog, row, field):
    f = _lines(tmp_path / "big.jsonl", [{"prompt": "ok"}, row, {"prompt": "ok2"}])
    with pytest.raises(BadInput, match=rf"big.jsonl:2: integer out of int64 range.*'{re.escape(field)}'"):
        import_file(catalog, f, "x")
    assert catalog.ls() == []
    ref, rejects, counts = import_file(catalog, f, "x", skip_bad=True)
    assert ref.rows == 2 and counts["dropped"] == {"integer out of int64 range": 1}
    assert catalog.get(rejects.spec)[0]["field"] == field
    from curate.corpora.prompts import load_prompts

    with pytest.raises(BadInput, match=rf"big.jsonl:2: integer out of int64.*'{re.escape(field)}'"):
        load_prompts(f, catalog)


def test_int64_limits_themselves_import(tmp_path, catalog):
    f = _lines(tmp_path / "ok.jsonl", [{"prompt": "a", "n": BIG - 1}, {"prompt": "b", "n": -BIG}])
    ref, _, _ = import_file(catalog, f, "x")
    assert [r["n"] for r in catalog.table(ref).to_pylist()] == [BIG - 1, -BIG]


@pytest.mark.parametrize("value", [
    "[" * 5000 + "]" * 5000,                          # the parser's own recursion limit
    "[" * 200 + "]" * 200,                            # parses, but deeper than curate keeps
    '{"a": ' * 300 + "1" + "}" * 300,                 # objects, not lists
])
def test_deeply_nested_json_is_one_line(tmp_path, catalog, value):
    f = tmp_path / "deep.jsonl"
    f.write_text('{"prompt": "ok"}\n{"prompt": "q", "x": ' + value + "}\n")
    with pytest.raises(BadInput, match="deep.jsonl:2: .*nested deeper than 64 levels"):
        import_file(catalog, f, "x")
    ref, rejects, _ = import_file(catalog, f, "x", skip_bad=True)
    assert ref.rows == 1 and rejects.rows == 1
    g = tmp_path / "deep.json"
    g.write_text('[{"prompt": "q", "x": ' + value + "}]")
    with pytest.raises(BadInput, match="deep.json.*nested deeper than 64"):
        import_file(catalog, g, "y")
    from curate.corpora.prompts import load_prompts

    with pytest.raises(BadInput, match="deep.jsonl:2: .*nested deeper"):
        load_prompts(str(f), catalog)


def test_a_directory_is_named_as_one(tmp_path, catalog, home):
    d = tmp_path / "data.jsonl"
    d.mkdir()
    with pytest.raises(BadInput, match="data.jsonl: is a directory"):
        import_file(catalog, d, "x")
    from curate.corpora.prompts import load_prompts

    with pytest.raises(BadInput, match="data.jsonl: is a directory"):
        load_prompts(str(d), catalog)
    for args in (["import", str(d), "--name", "x"],
                 ["generate", "--task", "math", "--name", "g", "--prompts", str(d),
                  "--teacher", "openai:http://127.0.0.1:9/v1"]):
        r = _cli(*args)
        assert r.returncode == 2 and "is a directory" in r.stderr, r.stderr
        assert r.stderr.strip().count("\n") == 0


@pytest.mark.parametrize("rows,row,field,reason", [
    ([{"prompt": "a", "m": {"k": 1}}, {"prompt": "b", "m": {"k": "x"}}], 2, "m.k", "wrong type"),
    ([{"prompt": "a", "m": [1, "x"]}], 1, "m[]", "list items of different types"),
    ([{"prompt": "a", "m": [{"k": 1}]}, {"prompt": "b", "m": [{"k": [2]}]}], 2, "m[].k",
     "wrong type"),
    ([{"prompt": "a", "m": {"k": 1}}, {"prompt": "b", "m": "text"}], 2, "m", "wrong type"),
    ([{"prompt": "a", "m": [[1], ["x"]]}], 1, "m[][]", "list items of different types"),
])
def test_nested_type_conflicts_name_row_and_field(tmp_path, catalog, rows, row, field, reason):
    f = _lines(tmp_path / "n.jsonl", rows)
    with pytest.raises(BadInput, match=rf"n.jsonl:{row}: {reason}.*'{re.escape(field)}'"):
        import_file(catalog, f, "x")
    assert catalog.ls() == []


def test_numbers_and_text_in_one_field_import_as_text(tmp_path, catalog):
    f = _lines(tmp_path / "m.jsonl", [
        {"prompt": "a", "reference": 12, "level": 3, "score": 1},
        {"prompt": "b", "reference": "\\frac{1}{2}", "level": "3b", "score": 0.5},
        {"prompt": "c", "reference": 0.5, "level": 4, "score": 2},
    ])
    rows = catalog.table(import_file(catalog, f, "x")[0]).to_pylist()
    assert [r["reference"] for r in rows] == ["12", "\\frac{1}{2}", "0.5"]
    assert [r["level"] for r in rows] == ["3", "3b", "4"]
    assert [r["score"] for r in rows] == [1.0, 0.5, 2.0]          # int and float: one number
    # a gold answer is text even when every row holds a number
    g = _lines(tmp_path / "n.jsonl", [{"prompt": "a", "answer": 7}, {"prompt": "b", "answer": 8}])
    assert [r["answer"] for r in catalog.table(import_file(catalog, g, "y")[0]).to_pylist()] == \
        ["7", "8"]


@pytest.mark.parametrize("rows,field", [
    ([{"prompt": "a", "id": "p1"}, {"prompt": "b", "id": "p1"}], "id"),
    ([{"prompt": "a", "problem_id": 7}, {"prompt": "b", "problem_id": "7"}], "problem_id"),
    ([{"prompt": "same"}, {"prompt": "same"}], "prompt"),       # the derived id
])
def test_duplicate_ids_are_rejected(tmp_path, catalog, rows, field):
    f = _lines(tmp_path / "d.jsonl", rows + [{"prompt": "c", field: "other"} if field != "prompt"
                                             else {"prompt": "c"}])
    with pytest.raises(BadInput, match=rf"d.jsonl:2: duplicate .*also row 1.*'{field}'"):
        import_file(catalog, f, "x")
    assert catalog.ls() == []
    ref, rejects, counts = import_file(catalog, f, "x", skip_bad=True)
    assert ref.rows == 2 and rejects.rows == 1 and catalog.get(rejects.spec)[0]["line"] == 2
    assert list(counts["dropped"]) == [f"duplicate {'prompt' if field == 'prompt' else field}"]


def test_traces_share_problem_ids_but_not_ids(tmp_path, catalog):
    f = _lines(tmp_path / "t.jsonl", [
        {"id": "t1", "problem_id": "p", "prompt": "q", "answer_text": "1"},
        {"id": "t2", "problem_id": "p", "prompt": "q", "answer_text": "2"}])
    assert import_file(catalog, f, "tr", kind="traces")[0].rows == 2
    g = _lines(tmp_path / "u.jsonl", [
        {"id": "t1", "prompt": "q", "answer_text": "1"}, {"id": "t1", "prompt": "q", "answer_text": "2"}])
    with pytest.raises(BadInput, match="u.jsonl:2: duplicate id"):
        import_file(catalog, g, "tr2", kind="traces")


@pytest.mark.parametrize("text,row,reason", [
    ("prompt,answer\nq1,1\nq2,2,3\nq3,3\n", 3, "expected 2 fields, got 3"),
    ("prompt,answer\nq1,1\nq2,2\nq3\n", 4, "expected 2 fields, got 1"),
    ('prompt,answer\n"two\nlines",1\nq2,2,3\n', 3, "expected 2 fields, got 3"),   # record 3
])
def test_ragged_csv_rows_name_the_row(tmp_path, catalog, text, row, reason):
    f = tmp_path / "r.csv"
    f.write_text(text)
    with pytest.raises(BadInput, match=rf"r.csv:{row}: {reason}"):
        import_file(catalog, f, "x")
    ref, rejects, _ = import_file(catalog, f, "x", skip_bad=True)
    assert catalog.get(rejects.spec)[0]["line"] == row and rejects.rows == 1
    t = tmp_path / "r.tsv"
    t.write_text(text.replace(",", "\t"))
    with pytest.raises(BadInput, match=rf"r.tsv:{row}: {reason}"):
        import_file(catalog, t, "y")


def test_csv_answers_stay_text(tmp_path, catalog):
    f = tmp_path / "a.csv"
    f.write_text(f"prompt,answer,level\nq1,007,1\nq2,{2 ** 70},2\n")
    rows = catalog.table(import_file(catalog, f, "x")[0]).to_pylist()
    assert [r["answer"] for r in rows] == ["007", str(2 ** 70)] and rows[0]["level"] == 1


# -- issue 14 (tester's pass): what JSON or Unicode cannot hold, and files that are not files --

@pytest.mark.parametrize("row,field,reason", [
    ('{"prompt": "q", "score": NaN}', "score", "NaN is not a JSON number"),
    ('{"prompt": "q", "score": -Infinity}', "score", "-Infinity is not a JSON number"),
    ('{"prompt": "q", "reference": 1e400}', "reference", "1e400 is not a JSON number"),
    ('{"prompt": "q", "meta": {"x": [1.5, Infinity]}}', "meta.x[]", "Infinity is not"),
    ('{"prompt": "q\\ud800"}', "prompt", "unpaired surrogate"),
    ('{"prompt": "q", "m": {"k": ["ok", "\\udfff"]}}', "m.k[]", "unpaired surrogate"),
    ('{"prompt": "a", "prompt": "b"}', "prompt", "key given twice"),
    ('{"prompt": "q", "m": {"k": 1, "k": 2}}', "m.k", "key given twice"),
])
def test_what_json_cannot_hold_is_one_line(tmp_path, catalog, row, field, reason):
    """NaN / Infinity / a float literal past float64 (Python reads them; they would be stored
    as nan or inf, a gold answer as "inf"), unpaired surrogate escapes (not UTF-8: a traceback
    when hashed or stored) and a key given twice (silently the last): row, field, nothing
    registered; --skip-bad sets the row aside; generate's prompt reader says the same."""
    f = _lines(tmp_path / "j.jsonl", [{"prompt": "ok"}, row, {"prompt": "ok2"}])
    with pytest.raises(BadInput, match=rf"j.jsonl:2: .*{re.escape(reason)}.*'{re.escape(field)}'"):
        import_file(catalog, f, "x")
    assert catalog.ls() == []
    ref, rejects, _ = import_file(catalog, f, "x", skip_bad=True)
    assert ref.rows == 2 and catalog.get(rejects.spec)[0]["field"] == field
    from curate.corpora.prompts import load_prompts

    with pytest.raises(BadInput, match=rf"j.jsonl:2: .*{re.escape(reason)}.*'{re.escape(field)}'"):
        load_prompts(f, catalog)
    g = tmp_path / "j.json"
    g.write_text("[" + row + "]")
    with pytest.raises(BadInput, match=rf"j.json:1: .*{re.escape(reason)}"):
        import_file(catalog, g, "y")


def test_finite_floats_and_paired_surrogates_still_import(tmp_path, catalog):
    f = _lines(tmp_path / "ok.jsonl", ['{"prompt": "smile \\ud83d\\ude00", "s": 1.7976931348623157e308}',
                                       '{"prompt": "b", "s": -0.0}'])
    rows = catalog.table(import_file(catalog, f, "x")[0]).to_pylist()
    assert rows[0]["prompt"] == "smile \U0001F600" and rows[0]["s"] == 1.7976931348623157e308


def test_a_byte_order_mark_opens_a_jsonl_or_json_file(tmp_path, catalog):
    f = tmp_path / "bom.jsonl"
    f.write_bytes(b"\xef\xbb\xbf" + b'{"prompt": "a"}\n{"prompt": "b"}\n')
    assert import_file(catalog, f, "x")[0].rows == 2
    g = tmp_path / "bom.json"
    g.write_bytes(b"\xef\xbb\xbf" + b'[{"prompt": "a"}]')
    assert import_file(catalog, g, "y")[0].rows == 1
    h = tmp_path / "mid.jsonl"
    h.write_bytes(b'{"prompt": "a"}\n\xef\xbb\xbf{"prompt": "b"}\n')
    with pytest.raises(BadInput, match="mid.jsonl:2: malformed JSON .*byte order mark"):
        import_file(catalog, h, "z")


def test_files_that_are_not_files_are_named(tmp_path, catalog):
    """A FIFO (reading it would block), a device (/dev/zero never ends), a link loop and a
    broken link are each named for what they are, before anything is read."""
    import os

    from curate.corpora.prompts import load_prompts

    os.mkfifo(tmp_path / "fifo.jsonl")
    (tmp_path / "zero.jsonl").symlink_to("/dev/zero")
    (tmp_path / "loop.jsonl").symlink_to("loop2.jsonl")
    (tmp_path / "loop2.jsonl").symlink_to("loop.jsonl")
    (tmp_path / "gone.jsonl").symlink_to("nowhere.jsonl")
    for name, what in [("fifo.jsonl", "not a regular file (a FIFO)"),
                       ("zero.jsonl", "not a regular file (a device)"),
                       ("loop.jsonl", "symbolic link loop"),
                       ("gone.jsonl", "broken symbolic link (to nowhere.jsonl)")]:
        with pytest.raises(BadInput, match=re.escape(f"{name}: {what}")):
            import_file(catalog, tmp_path / name, "x")
        with pytest.raises(BadInput, match=re.escape(f"{name}: {what}")):
            load_prompts(str(tmp_path / name), catalog)
    assert catalog.ls() == []
