"""The catalog and the store: versions, integrity, atomicity, concurrency with real processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from curate.catalog import Catalog
from curate.errors import BadInput, CurateError, IntegrityError, NotFound

ROWS = [{"prompt": f"p{i}", "answer_text": "x" * i, "completion_tokens": i} for i in range(50)]


def test_register_get_roundtrip(catalog):
    ref = catalog.register("toy", ROWS, kind="traces")
    assert ref.rows == 50 and len(ref.version) == 16
    ds = catalog.get("toy")
    assert ds.num_rows == 50 and ds[3]["prompt"] == "p3"
    assert catalog.get(f"toy@{ref.version[:6]}").num_rows == 50
    stats = catalog.show("toy")["stats"]
    assert stats["rows"] == 50 and stats["max_completion_tokens"] == 49


def test_same_content_same_version_and_newest(catalog):
    a = catalog.register("toy", ROWS)
    b = catalog.register("toy", list(ROWS))
    assert a.version == b.version
    assert len(catalog.ls("toy")) == 1
    c = catalog.register("toy", ROWS[:10])
    assert catalog.resolve("toy").version == c.version
    assert catalog.resolve(f"toy@{a.version}").rows == 50


def test_union_of_keys_kept(catalog):
    catalog.register("mixed", [{"prompt": "a"}, {"prompt": "b", "extra": 1}])
    assert catalog.get("mixed")["extra"] == [None, 1]


def test_streamed_iterator_and_empty(catalog):
    ref = catalog.register("gen", ({"i": i} for i in range(25_000)), kind="rows")
    assert ref.rows == 25_000
    empty = catalog.register("empty", [])
    assert empty.rows == 0 and catalog.get("empty").num_rows == 0


def test_lineage_chain(catalog):
    a = catalog.register("a", ROWS, step="import", params={"file": "x"})
    b = catalog.register("b", ROWS[:20], parents=[a], step="filter",
                         params={"min": 1}, counts={"in": 50, "out": 20, "dropped": {"short": 30}})
    catalog.register("c", ROWS[:5], parents=["b"], step="dedup")
    chain = catalog.lineage("c")
    assert [e["step"] for e in chain] == ["dedup", "filter", "import"]
    assert chain[1]["counts"]["dropped"] == {"short": 30}
    assert chain[1]["parents"] == [a.spec] and chain[0]["parents"] == [b.spec]


def test_missing_and_bad_names(catalog):
    catalog.register("here", ROWS[:1])
    with pytest.raises(NotFound, match="did you mean here"):
        catalog.resolve("nothere")
    with pytest.raises(BadInput):
        catalog.register("bad/name", ROWS)
    with pytest.raises(NotFound):
        catalog.register("x", ROWS, parents=["nothere"])


def test_integrity_missing_and_altered(catalog):
    ref = catalog.register("toy", ROWS)
    part = Path(ref.path) / "part-00000.parquet"
    data = part.read_bytes()
    # same size, different bytes, new mtime
    part.write_bytes(data[:100] + bytes([data[100] ^ 1]) + data[101:])
    with pytest.raises(IntegrityError, match="part-00000.parquet"):
        catalog.get("toy")
    part.unlink()
    with pytest.raises(IntegrityError, match="part-00000.parquet: file missing"):
        catalog.get("toy")


def test_sql_read_only(catalog):
    catalog.register("toy", ROWS)
    assert catalog.sql("select name, rows from datasets") == [{"name": "toy", "rows": 50}]
    with pytest.raises(CurateError, match="SQL error"):
        catalog.sql("delete from datasets")
    assert catalog.sql("select count(*) as n from datasets")[0]["n"] == 1


def test_runs_and_measurement_tables(catalog):
    run = catalog.start_run("train", config={"lr": 1e-5}, inputs=["toy@1"])
    catalog.insert("checkpoints", {"run_id": run, "path": "/x", "step": 10, "metrics": {"l": 1}})
    catalog.finish_run(run, "ok", outputs=["/x"], metrics={"loss": 0.5})
    r = catalog.sql("select status, metrics from runs")[0]
    assert r["status"] == "ok" and json.loads(r["metrics"]) == {"loss": 0.5}
    with pytest.raises(CurateError, match="unknown columns"):
        catalog.insert("evals", {"model": "m", "benchmark": "b", "metric": "acc", "bogus": 1})


WORKER = textwrap.dedent("""
    import sys
    from curate.catalog import Catalog
    cat = Catalog(sys.argv[1])
    tag = sys.argv[2]
    for i in range(int(sys.argv[3])):
        cat.register(f"{tag}-{i}", [{"prompt": f"{tag}{i}-{j}"} for j in range(200)])
        cat.start_run("probe", config={"i": i})
    print("done", flush=True)
""")


def test_two_processes_register_concurrently(home):
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, str(home), tag, "8"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for tag in ("a", "b")]
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        assert "done" in out
    cat = Catalog(home)
    assert len(cat.ls()) == 16
    assert cat.sql("select count(*) n from runs")[0]["n"] == 16
    for row in cat.ls():
        assert cat.get(f"{row['name']}@{row['version']}").num_rows == 200


SLOW_WRITER = textwrap.dedent("""
    import sys, time
    from curate.catalog import Catalog
    def rows():
        for i in range(200_000):
            if i % 10_000 == 0:
                print("batch", i, flush=True)
                time.sleep(0.05)
            yield {"prompt": "x" * 100 + str(i)}
    Catalog(sys.argv[1]).register("big", rows())
    print("registered", flush=True)
""")


@pytest.mark.parametrize("kill_after_batches", [1, 5, 25])
def test_killed_registration_leaves_nothing(home, kill_after_batches):
    p = subprocess.Popen([sys.executable, "-c", SLOW_WRITER, str(home)],
                         stdout=subprocess.PIPE, text=True)
    seen = 0
    for line in p.stdout:
        if line.startswith("registered"):
            break
        seen += 1
        if seen >= kill_after_batches:
            os.kill(p.pid, signal.SIGKILL)
            break
    p.wait(timeout=60)
    cat = Catalog(home)
    rows = cat.ls()
    # either the registration finished completely, or nothing is visible
    assert rows == [] or (len(rows) == 1 and rows[0]["rows"] == 200_000)
    ref = cat.register("after", [{"prompt": "ok"}])
    assert cat.get(ref.spec).num_rows == 1
    assert list((home / "store" / ".tmp").iterdir()) == []  # the dead writer's folder is gone
    if not rows:
        with pytest.raises(NotFound):
            cat.resolve("big")


def test_orphan_version_folder_is_reused(catalog):
    # a process killed after the rename but before the insert leaves an unregistered folder
    from curate.catalog import store

    w = store.write_version(catalog.store_root, "toy", ROWS)
    assert not catalog.exists("toy")
    ref = catalog.register("toy", ROWS)
    assert ref.version == w.version and catalog.get("toy").num_rows == 50


def test_concurrent_writers_time_bound(home):
    # a held lock makes the other side wait, not fail
    from curate.catalog.locking import file_lock

    cat = Catalog(home)
    cat.register("x", ROWS[:1])
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import time
        from pathlib import Path
        from curate.catalog.locking import file_lock
        with file_lock(Path({str(home / 'catalog.lock')!r})):
            print('held', flush=True); time.sleep(1.5)
    """)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    t = time.monotonic()
    cat.register("y", ROWS[:2])
    assert time.monotonic() - t > 0.5
    holder.wait(timeout=30)
    assert file_lock  # imported for clarity of what is exercised


def test_sql_binds_parameters(catalog):
    catalog.register("ds", [{"prompt": "a"}], kind="problems")
    assert catalog.sql("SELECT name, rows FROM datasets WHERE name = ?", ["ds"]) == \
        [{"name": "ds", "rows": 1}]
    assert catalog.sql("SELECT name FROM datasets WHERE name = ?", ["x' OR '1'='1"]) == []
