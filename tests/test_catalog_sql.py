"""`catalog sql` is read-only and sandboxed: no writes to the catalog, no files read or written,
no databases attached, no extensions installed or loaded, no setting changed back."""

from __future__ import annotations

import os
import sys

import pytest

from curate.errors import CurateError

ROWS = [{"prompt": f"p{i}"} for i in range(3)]


@pytest.fixture
def outside(tmp_path):
    csv = tmp_path / "outside.csv"
    csv.write_text("secret,value\nk,42\n")
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"secret": ["k"]}), tmp_path / "outside.parquet")
    return tmp_path


def refused(tmp_path) -> list[str]:
    p = tmp_path
    return [
        f"COPY datasets TO '{p / 'leak.csv'}'",
        f"COPY (SELECT 1) TO '{p / 'leak.parquet'}' (FORMAT parquet)",
        f"EXPORT DATABASE '{p / 'dump'}'",
        f"SELECT * FROM read_csv('{p / 'outside.csv'}')",
        f"SELECT * FROM '{p / 'outside.csv'}'",
        f"SELECT * FROM read_parquet('{p / 'outside.parquet'}')",
        "SELECT * FROM read_text('/etc/hostname')",
        "SELECT * FROM glob('/etc/*')",
        "INSTALL httpfs",
        "LOAD httpfs",
        "INSTALL x FROM 'http://127.0.0.1:1'",
        f"ATTACH '{p / 'other.duckdb'}' AS other",
        "SET enable_external_access = true",
        "RESET enable_external_access",
        "SET lock_configuration = false",
        "PRAGMA enable_external_access = true",
        "SET allowed_directories = ['/']",
        "DELETE FROM datasets",
        "DROP TABLE datasets",
        "INSERT INTO runs (id, kind, status, started) VALUES ('x', 'x', 'ok', now())",
        "CREATE TABLE evil AS SELECT 1",
    ]


def test_library_sql_refuses_everything_outside_the_catalog(catalog, outside):
    catalog.register("toy", ROWS)
    for q in refused(outside):
        with pytest.raises(CurateError) as e:
            catalog.sql(q)
        assert "\n" not in str(e.value), q
    assert not any(outside.glob("leak*")) and not (outside / "dump").exists()
    assert not (outside / "other.duckdb").exists()
    assert catalog.sql("SELECT name, rows FROM datasets") == [{"name": "toy", "rows": 3}]
    assert catalog.sql("SELECT current_setting('enable_external_access') AS on") == \
        [{"on": False}]


@pytest.mark.parametrize("query", [
    "COPY datasets TO '{p}/leak.csv'", "SELECT * FROM read_csv('{p}/outside.csv')",
    "SELECT * FROM read_parquet('{p}/outside.parquet')", "INSTALL httpfs", "LOAD httpfs",
    "ATTACH '{p}/other.duckdb' AS o", "SET enable_external_access = true",
])
def test_cli_refuses_in_one_line(catalog, outside, query, monkeypatch, capsys):
    from curate import cli

    catalog.register("toy", ROWS)
    monkeypatch.setattr(sys, "argv", ["curate", "catalog", "sql", query.format(p=outside)])
    with pytest.raises(SystemExit) as e:
        cli.main()
    err = capsys.readouterr().err.strip()
    assert e.value.code == 2 and len(err.splitlines()) == 1 and err.startswith("error: ")
    assert "SQL error" in err and ("read-only" in err or "Permission" in err)
    assert not any(outside.glob("leak*"))


def test_cli_help_says_sandboxed(home, monkeypatch, capsys):
    from curate import cli

    monkeypatch.setattr(sys, "argv", ["curate", "catalog", "sql", "--help"])
    monkeypatch.setenv("COLUMNS", "200")
    with pytest.raises(SystemExit):
        cli.main()
    out = " ".join(capsys.readouterr().out.split())
    assert "external access disabled" in out and "read-only" in out


def test_ctrl_c_stops_an_endless_query_and_frees_the_catalog(catalog):
    """DuckDB does not return to Python while a query runs: an unbounded recursive CTE ignored
    Ctrl-C (still running 10 min later) and held the catalog lock, blocking every other
    curate process on the workspace."""
    import signal
    import threading
    import time

    catalog.register("d", [{"prompt": "q"}], kind="problems")
    # Ctrl-C as a terminal delivers it: a process started in the background by a
    # non-interactive shell (a CI runner, nohup) inherits SIGINT ignored and never sees it
    prev = signal.signal(signal.SIGINT, signal.default_int_handler)
    timer = threading.Timer(1.0, lambda: os.kill(os.getpid(), signal.SIGINT))
    timer.start()
    t0 = time.time()
    try:
        with pytest.raises(KeyboardInterrupt):
            catalog.sql("WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t) "
                        "SELECT count(*) FROM t")
    finally:
        timer.cancel()
        signal.signal(signal.SIGINT, prev)
    assert time.time() - t0 < 30
    assert catalog.sql("SELECT count(*) AS n FROM datasets") == [{"n": 1}]
