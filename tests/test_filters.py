"""Filters: each reason counted, rejection sampling strategies, pass-rate window, lineage."""

from __future__ import annotations

import pytest

from curate.curation.filters import (
    apply_filters,
    filter_dataset,
    has_tail_loop,
    repetition_ratio,
    think_closed,
)
from curate.errors import BadInput
from curate.record import empty_trace


def _row(i, pid, verified=True, fr="stop", tokens=100, reasoning="r", answer="a"):
    return empty_trace(id=f"t{i}", problem_id=pid, prompt=f"q {pid}", verified=verified,
                       finish_reason=fr, completion_tokens=tokens, reasoning=reasoning,
                       answer_text=answer)


ROWS = [
    _row(0, "p1"), _row(1, "p1", verified=False), _row(2, "p1", tokens=50),
    _row(3, "p2", fr="length"), _row(4, "p2", verified=None), _row(5, "p2", tokens=5000),
    _row(6, "p3", reasoning="stuck", answer=""), _row(7, "p3", tokens=300),
]


def _ids(table):
    return table.column("id").to_pylist()


def test_each_reason_is_counted(catalog):
    import pyarrow as pa

    t = pa.Table.from_pylist(ROWS)
    kept, counts = apply_filters(t, {"verified_only": True, "max_tokens": 1000,
                                     "require_closed_think": True})
    assert _ids(kept) == ["t0", "t2", "t7"]
    assert counts == {"in": 8, "out": 3, "dropped": {
        "finish_reason_length": 1, "too_long": 1, "unclosed_think": 1, "unverifiable": 1,
        "wrong": 1}}


def test_length_is_dropped_by_default_and_can_be_kept():
    import pyarrow as pa

    t = pa.Table.from_pylist(ROWS)
    assert "t3" not in _ids(apply_filters(t, {})[0])
    assert "t3" in _ids(apply_filters(t, {"drop_finish_reasons": []})[0])


@pytest.mark.parametrize("strategy,want", [("first", ["t0", "t5", "t7"]), ("shortest", ["t2", "t5", "t7"]),
                                           ("longest", ["t0", "t5", "t7"])])
def test_rejection_sampling_strategies(strategy, want):
    import pyarrow as pa

    t = pa.Table.from_pylist(ROWS)
    kept, counts = apply_filters(t, {"verified_only": True, "k_per_problem": 1,
                                     "strategy": strategy, "require_closed_think": True})
    assert _ids(kept) == want
    assert counts["dropped"]["rejection_sampling"] == 1


def test_random_rejection_is_seeded():
    import pyarrow as pa

    rows = [_row(i, "p") for i in range(20)]
    t = pa.Table.from_pylist(rows)
    a = _ids(apply_filters(t, {"k_per_problem": 3, "strategy": "random", "seed": 1})[0])
    b = _ids(apply_filters(t, {"k_per_problem": 3, "strategy": "random", "seed": 1})[0])
    c = _ids(apply_filters(t, {"k_per_problem": 3, "strategy": "random", "seed": 2})[0])
    assert a == b and len(a) == 3 and a != c


def test_pass_rate_window_uses_all_samples():
    import pyarrow as pa

    rows = ([_row(i, "easy") for i in range(4)]
            + [_row(10 + i, "mid", verified=i < 2) for i in range(4)]
            + [_row(20 + i, "hard", verified=False) for i in range(4)])
    kept, counts = apply_filters(pa.Table.from_pylist(rows),
                                 {"pass_rate_min": 0.2, "pass_rate_max": 0.8, "verified_only": True})
    assert _ids(kept) == ["t10", "t11"]
    assert counts["dropped"] == {"pass_rate_above": 4, "pass_rate_below": 4, "wrong": 2}


def test_repetition_and_loops():
    loop = "Let me check again. " * 50
    assert repetition_ratio(loop) > 0.8
    assert repetition_ratio("a normal sentence with many different words " * 1 + "x " * 3) < 0.1
    assert has_tail_loop("work work then " + "wait wait " * 10)
    assert not has_tail_loop("a perfectly ordinary ending.")
    assert not think_closed("thinking", "")
    assert think_closed(None, "answer")
    import pyarrow as pa

    rows = [_row(0, "a", reasoning=loop), _row(1, "b", reasoning="fine thinking here")]
    kept, counts = apply_filters(pa.Table.from_pylist(rows), {"max_repetition": 0.5})
    assert _ids(kept) == ["t1"] and counts["dropped"] == {"repetition": 1}
    kept, counts = apply_filters(pa.Table.from_pylist(rows), {"tail_loop": True})
    assert counts["dropped"] == {"degenerate_loop": 1}


def test_bad_options_are_user_errors():
    import pyarrow as pa

    t = pa.Table.from_pylist(ROWS)
    with pytest.raises(BadInput, match="unknown filter option"):
        apply_filters(t, {"verfied_only": True})
    with pytest.raises(BadInput, match="strategy"):
        apply_filters(t, {"k_per_problem": 1, "strategy": "best"})
    with pytest.raises(BadInput, match="verify"):
        apply_filters(pa.table({"id": ["a"]}), {"verified_only": True})


def test_filter_dataset_records_counts_in_lineage(catalog):
    catalog.register("raw", ROWS, kind="traces")
    ref = filter_dataset(catalog, "raw", "clean", verified_only=True)
    lin = catalog.lineage(ref)[0]
    assert lin["step"] == "filter" and lin["counts"]["dropped"]["wrong"] == 1
    assert lin["params"]["verified_only"] is True and ref.rows == lin["counts"]["out"]


def test_cli_filter(home, catalog):
    import json

    from typer.testing import CliRunner

    from curate.cli import app

    catalog.register("raw", ROWS, kind="traces")
    r = CliRunner().invoke(app, ["filter", "raw", "--name", "f", "--verified-only", "--k", "1",
                                 "--strategy", "shortest", "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["counts"]["dropped"]["wrong"] == 1 and out["rows"] == out["counts"]["out"]


def test_dropped_rows_are_kept_with_reason_and_measure(catalog):
    import json

    catalog.register("raw", ROWS, kind="traces")
    ref = filter_dataset(catalog, "raw", "clean", verified_only=True, max_tokens=1000,
                         require_closed_think=True)
    spec = catalog.lineage(ref)[0]["counts"]["dropped_version"]
    dropped = catalog.table(spec).to_pylist()
    got = {r["id"]: (r["drop_reason"], json.loads(r["drop_detail"])) for r in dropped}
    assert got == {
        "t1": ("wrong", {"verified": False}),
        "t3": ("finish_reason_length", {"finish_reason": "length"}),
        "t4": ("unverifiable", {"verified": None}),
        "t5": ("too_long", {"tokens": 5000, "max_tokens": 1000}),
        "t6": ("unclosed_think", {"answer_chars": 0}),
    }
    assert {r["dropped_by"] for r in dropped} == {"filter"}
    assert sorted(_ids(catalog.table(ref)) + list(got)) == sorted(r["id"] for r in ROWS)
    lin = catalog.lineage(spec)[0]
    assert lin["step"] == "filter-dropped" and lin["counts"]["out"] == 5


def test_group_filters_say_why(catalog):
    import json

    import pyarrow as pa

    from curate.curation.filters import filter_split

    rows = ([_row(i, "easy") for i in range(4)]
            + [_row(10 + i, "mid", verified=i < 2) for i in range(4)])
    _kept, dropped, _ = filter_split(pa.Table.from_pylist(rows),
                                     {"pass_rate_max": 0.8, "k_per_problem": 1,
                                      "strategy": "first"})
    d = {r["id"]: (r["drop_reason"], json.loads(r["drop_detail"])) for r in dropped.to_pylist()}
    assert d["t0"] == ("pass_rate_above", {"pass_rate": 1.0, "samples": 4, "window": [0.0, 0.8]})
    assert d["t11"] == ("rejection_sampling", {"k": 1, "strategy": "first", "kept": ["t10"]})


def test_filter_no_dropped_and_name_checked_first(catalog):
    catalog.register("raw", ROWS, kind="traces")
    ref = filter_dataset(catalog, "raw", "c2", verified_only=True, keep_dropped=False)
    assert not catalog.exists("c2-dropped") and ref.rows == 5
    before = len(catalog.ls())
    with pytest.raises(BadInput, match="c{125}-dropped.*pass --no-dropped"):
        filter_dataset(catalog, "raw", "c" * 125, verified_only=True)
    assert len(catalog.ls()) == before


@pytest.mark.parametrize("params", [{"max_repetition": float("nan")}, {"max_repetition": 2},
                                    {"pass_rate_min": -0.1}, {"pass_rate_max": float("inf")},
                                    {"max_repetition": "half"}])
def test_shares_outside_zero_one_are_refused(params):
    """A NaN share compared False everywhere: every row was kept, silently."""
    from curate.curation.filters import check_params
    from curate.errors import BadInput

    with pytest.raises(BadInput, match="must be a number in \\[0, 1\\]"):
        check_params(params)
