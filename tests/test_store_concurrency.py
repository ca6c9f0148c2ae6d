"""The store under concurrency and crashes, with real processes: writers racing on the same
content, on different datasets, killed between publishing and recording, and runs whose
process died. Every case must resolve to a consistent catalog with 0 failures."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from curate.catalog import Catalog, store
from curate.catalog.catalog import process_alive, process_identity
from curate.errors import NotFound

STRESS = textwrap.dedent("""
    import json, multiprocessing as mp, sys, traceback
    from curate.catalog import Catalog

    def work(home, mode, i, rounds, nrows, barrier, q):
        cat = Catalog(home)
        errors = []
        for r in range(rounds):
            if mode == "same":       # identical content, same name: one version
                name, tag = "same", "q"
            elif mode == "samer":    # same name, new content each round (all racing)
                name, tag = "samer", f"r{r}-q"
            else:                    # a dataset per process
                name, tag = f"w{i}", f"w{i}-r{r}-q"
            rows = [{"prompt": f"{tag}{k}", "problem_id": f"p{k}"} for k in range(nrows)]
            try:
                barrier.wait(timeout=120)
            except Exception:
                pass
            try:
                cat.register(name, rows, kind="problems", step="stress")
            except BaseException as e:
                errors.append(f"{type(e).__name__}: {e}"[:300])
        q.put(errors)

    if __name__ == "__main__":
        home, mode, procs, rounds, nrows = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:6])
        ctx = mp.get_context("spawn")
        barrier, q = ctx.Barrier(procs), ctx.Queue()
        ps = [ctx.Process(target=work, args=(home, mode, i, rounds, nrows, barrier, q))
              for i in range(procs)]
        for p in ps:
            p.start()
        errors = [e for _ in ps for e in q.get(timeout=1500)]
        for p in ps:
            p.join()
        print(json.dumps({"errors": errors, "exitcodes": [p.exitcode for p in ps]}))
""")


def run_stress(home: Path, mode: str, procs: int, rounds: int, nrows: int = 200) -> dict:
    script = home.parent / "stress.py"  # spawned workers import their function from a file
    script.write_text(STRESS)
    out = subprocess.run([sys.executable, str(script), str(home), mode, str(procs), str(rounds),
                          str(nrows)], capture_output=True, text=True, timeout=1800)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def assert_consistent(home: Path) -> Catalog:
    """Every listed version reads back intact; nothing is left in staging; no orphans."""
    cat = Catalog(home)
    for row in cat.ls():
        spec = f"{row['name']}@{row['version']}"
        assert cat.get(spec).num_rows == row["rows"]
        store.check_version(Path(cat.resolve(spec).path), full=True)
    listed = {(r["name"], r["version"]) for r in cat.ls()}
    on_disk = {(d.parent.name, d.name) for d in (home / "store").glob("*/*")
               if not d.parent.name.startswith(".")}
    assert on_disk == listed
    assert list((home / "store" / ".tmp").iterdir()) == []
    return cat


def check_stress(home: Path, mode: str, procs: int, rounds: int) -> None:
    res = run_stress(home, mode, procs, rounds)
    assert res["errors"] == [] and res["exitcodes"] == [0] * procs
    cat = assert_consistent(home)
    counts = {r["name"]: r["n"] for r in cat.sql(
        "SELECT name, count(*) AS n FROM datasets GROUP BY 1")}
    if mode == "same":
        assert counts == {"same": 1}
    elif mode == "samer":
        assert counts == {"samer": rounds}
    else:
        assert counts == {f"w{i}": rounds for i in range(procs)}
    lineage = cat.sql("SELECT count(DISTINCT child) AS n FROM lineage")[0]["n"]
    assert lineage == sum(counts.values())


@pytest.mark.parametrize("mode", ["same", "samer", "distinct"])
def test_six_writers_race(tmp_path, mode):
    check_stress(tmp_path / "h", mode, procs=6, rounds=20 if mode != "samer" else 5)


@pytest.mark.slow
@pytest.mark.timeout(1800)
@pytest.mark.parametrize("mode", ["same", "samer", "distinct"])
def test_six_writers_race_full(tmp_path, mode):
    """The must-hold figure: 6 processes x 100 registrations, 0 failures."""
    check_stress(tmp_path / "h", mode, procs=6, rounds=100)


# -- crashes between the steps of a registration -------------------------------------------
KILLED_AT = textwrap.dedent("""
    import os, signal, sys
    from curate.catalog import Catalog, store
    home, where, name = sys.argv[1], sys.argv[2], sys.argv[3]
    cat = Catalog(home)
    rows = [{"prompt": f"{name}-{i}", "problem_id": str(i)} for i in range(300)]
    die = lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL)
    if where == "after_publish":        # folder in place, catalog rows never inserted
        real = store.publish_version
        store.publish_version = lambda *a, **k: (real(*a, **k), die())
    elif where == "before_publish":     # staged and journaled, never renamed
        store.publish_version = die
    run = cat.start_run("test", config={"where": where})
    print(run, flush=True)
    cat.register(name, rows, kind="problems", step="import", params={"where": where},
                 run_id=run)
    cat.finish_run(run, "ok")
""")


def killed_writer(home: Path, where: str, name: str = "ds") -> str:
    p = subprocess.run([sys.executable, "-c", KILLED_AT, str(home), where, name],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == -signal.SIGKILL, p.stderr[-2000:]
    return p.stdout.strip()


def test_killed_after_publish_is_adopted_with_lineage(tmp_path):
    home = tmp_path / "h"
    run = killed_writer(home, "after_publish")
    assert len(list((home / "store" / "ds").iterdir())) == 1       # published, unrecorded
    cat = Catalog(home)
    ref = cat.resolve("ds")                                        # reconciled on open
    assert ref.rows == 300 and cat.get("ds")["prompt"][0] == "ds-0"
    step = cat.lineage("ds")[0]
    assert step["step"] == "import" and step["params"] == {"where": "after_publish"}
    assert cat.sql("SELECT run_id FROM datasets")[0]["run_id"] == run
    r = cat.sql("SELECT status, error FROM runs WHERE id = ?", [run])[0]
    assert r["status"] == "died" and "ended without finishing" in r["error"]
    assert_consistent(home)


def test_killed_after_publish_damaged_folder_is_removed(tmp_path):
    home = tmp_path / "h"
    killed_writer(home, "after_publish")
    (folder,) = (home / "store" / "ds").iterdir()
    part = folder / "part-00000.parquet"
    st = part.stat()
    data = bytearray(part.read_bytes())
    data[len(data) // 2] ^= 0xFF
    part.write_bytes(bytes(data))
    os.utime(part, ns=(st.st_atime_ns, st.st_mtime_ns))            # bit rot keeps the mtime
    cat = Catalog(home)
    assert cat.ls() == [] and not folder.exists()
    with pytest.raises(NotFound):
        cat.resolve("ds")
    assert_consistent(home)


def test_killed_before_publish_leaves_nothing(tmp_path):
    home = tmp_path / "h"
    killed_writer(home, "before_publish")
    assert len(list((home / "store" / ".tmp").iterdir())) == 2     # the folder and its lock
    cat = Catalog(home)
    assert cat.ls() == [] and cat.reconcile()["writers"] == 0
    assert_consistent(home)


def test_adopted_and_live_same_content_agree(tmp_path):
    # a dead writer's published copy and a new writer of the same content: one version
    home = tmp_path / "h"
    killed_writer(home, "after_publish")
    cat = Catalog(home)
    rows = [{"prompt": f"ds-{i}", "problem_id": str(i)} for i in range(300)]
    ref = cat.register("ds", rows, kind="problems")
    assert len(cat.ls("ds")) == 1 and cat.resolve("ds").version == ref.version


def test_reclaim_never_touches_a_live_writer(tmp_path):
    root = tmp_path / "store"
    live = store.Staging(root)
    (live.folder / "part").write_text("x")
    dead_lock = root / ".tmp" / "w-dead.lock"
    dead_lock.write_text("{}")
    (root / ".tmp" / "w-dead").mkdir()
    (root / ".tmp" / "w-nolock").mkdir()                           # its writer finished
    (root / ".tmp" / "999999999-" f"{'a' * 32}").mkdir()           # an earlier version's
    seen = []
    assert store.reclaim_dead_writers(root, seen.append) == 3
    assert seen == [{}]
    assert live.folder.exists() and live.lock_path.exists()
    assert sorted(p.name for p in (root / ".tmp").iterdir()) == sorted(
        [live.folder.name, live.lock_path.name])
    live.close()
    assert list((root / ".tmp").iterdir()) == []


def test_dead_runs_are_marked_died_live_ones_kept(catalog):
    live = catalog.start_run("generate")
    p = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        other = catalog.start_run("generate")
        catalog.finish_run(other, "ok")
        alive_elsewhere = catalog.start_run("train")
        dead = catalog.start_run("train")
        reused = catalog.start_run("eval")
        with catalog.connect() as con:
            con.execute("UPDATE runs SET process=? WHERE id=?", [process_identity(p.pid),
                                                                 alive_elsewhere])
            con.execute("UPDATE runs SET process=? WHERE id=?", [
                process_identity(p.pid).rsplit(":", 1)[0] + ":1", reused])   # pid reused
            con.execute("UPDATE runs SET process=? WHERE id=?",
                        [f"{process_identity().split(':')[0]}:999999999:5", dead])
        assert catalog.reconcile()["runs_died"] == 2
        status = {r["id"]: r["status"] for r in catalog.sql("SELECT id, status FROM runs")}
        assert status == {live: "running", other: "ok", alive_elsewhere: "running",
                          dead: "died", reused: "died"}
    finally:
        p.kill()
        p.wait()
    assert process_alive(process_identity()) and not process_alive(process_identity(p.pid) or "")
