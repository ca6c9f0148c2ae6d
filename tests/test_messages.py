"""What the user reads: a mistyped dataset name suggests the closest names (whatever their
place in the alphabet), an unknown version lists the name's versions, JSON columns come back
as objects in --json, and eval shows accuracy in the same unit in the table and in --json."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from curate.errors import NotFound


@pytest.fixture
def named(catalog):
    for i in range(25):
        catalog.register(f"aa-set-{i:02d}", [{"x": i}], kind="rows")
    catalog.register("zz-countdown-cot", [{"x": 1}], kind="rows")
    catalog.register("zz-countdown-cot", [{"x": 2}], kind="rows")
    return catalog


@pytest.mark.parametrize("typed,expect", [
    ("zz-countdown-cott", "zz-countdown-cot"),     # a letter too many
    ("zz-countdwn-cot", "zz-countdown-cot"),       # a letter missing
    ("countdown-cot", "zz-countdown-cot"),         # a part of the name
])
def test_unknown_name_suggests_closest_even_past_the_first_20(named, typed, expect):
    with pytest.raises(NotFound) as e:
        named.resolve(typed)
    msg = str(e.value)
    assert f"did you mean {expect}" in msg and "26 dataset names in all" in msg


def test_unknown_version_lists_the_versions(named):
    versions = [r["version"] for r in named.ls("zz-countdown-cot")]
    with pytest.raises(NotFound) as e:
        named.resolve("zz-countdown-cot@ffffffff")
    msg = str(e.value)
    assert "has no version 'ffffffff'" in msg
    assert msg.index(versions[0][:12]) < msg.index(versions[1][:12])   # newest first


def test_nothing_close_lists_known_names(catalog):
    catalog.register("alpha", [{"x": 1}], kind="rows")
    with pytest.raises(NotFound, match=r"known: alpha"):
        catalog.resolve("qqqqqqq")
    from curate.catalog.names import closest

    assert closest("math-clean", ["math-clean-v2", "countdown", "math-raw"])[0] == "math-clean-v2"


def test_sql_json_columns_are_objects(catalog):
    from curate.cli import app

    catalog.register("a", [{"x": 1}], kind="rows", step="import", params={"n": 3},
                     counts={"in": 3, "out": 1, "dropped": {"bad": 2}})
    r = CliRunner().invoke(app, ["catalog", "sql", "select child, params, counts, "
                                 "'[1, 2]' as text_col from lineage", "--json"])
    assert r.exit_code == 0, r.output
    (row,) = json.loads(r.stdout)
    assert row["params"] == {"n": 3} and row["counts"]["dropped"] == {"bad": 2}
    assert row["text_col"] == "[1, 2]"          # a string column stays a string


def test_eval_table_and_json_share_units(monkeypatch):
    from curate.cli import app
    from curate.probes import evaluation

    res = {"model": "/m/ft", "suite": "s", "benchmarks": {"math500": {
        "group": "math", "problems": 10, "k": 4, "accuracy": 0.4567, "pass@1": 0.4567,
        "pass@4": 0.7, "mean_response_tokens": 812.345, "truncation_rate": 0.05}}}
    monkeypatch.setattr(evaluation, "evaluate", lambda *a, **k: res)
    runner = CliRunner()
    js = json.loads(runner.invoke(app, ["eval", "m", "--suite", "s", "--json"]).stdout)
    table = runner.invoke(app, ["eval", "m", "--suite", "s"]).stdout
    assert js["benchmarks"]["math500"]["accuracy"] == 0.4567
    assert "0.4567" in table and "45.67" not in table and "812.3" in table
