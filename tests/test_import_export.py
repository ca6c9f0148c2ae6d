"""`curate import` of good and bad files, and `curate export` in the Hub layout."""

from __future__ import annotations

import json
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
    assert ds["train"].num_rows == 7 and ds["train"][0]["prompt"] == "q0"
    r = runner.invoke(app, ["export", "toy", str(tmp_path / "out")])
    assert r.exit_code != 0


def test_help_on_every_verb():
    for verb in (["--help"], ["catalog", "--help"], ["import", "--help"], ["export", "--help"],
                 ["catalog", "sql", "--help"]):
        r = runner.invoke(app, verb)
        assert r.exit_code == 0 and "Usage" in r.stdout
