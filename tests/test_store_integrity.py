"""Corruption is detected: bit rot with the mtime restored, truncation, deleted files and
manifests, stray files and folders. Reads name the version and file in one line (exit 2 on
the command line), `catalog check [--deep]` lists everything, export and publish refuse."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curate.catalog import store
from curate.catalog.check import check_catalog
from curate.errors import IntegrityError
from curate.record import TRACE_SCHEMA, empty_trace, messages_for


def _traces(n=400):
    return pa.Table.from_pylist([empty_trace(
        id=f"t{i}", problem_id=f"p{i}", task="math", prompt=f"What is {i}+1? " * 4,
        reasoning=f"think about {i} " * 8, answer_text=f"\\boxed{{{i + 1}}}",
        reference=str(i + 1), sample_index=0, finish_reason="stop",
        messages=messages_for(f"What is {i}+1?", f"think {i}", f"{i + 1}")) for i in range(n)],
        schema=TRACE_SCHEMA)


def rot(path: Path, at: float = 0.5, n: int = 16) -> None:
    """Flip `n` bytes inside the file and put the mtime back (silent bit rot)."""
    st = path.stat()
    data = bytearray(path.read_bytes())
    for i in range(int(len(data) * at), int(len(data) * at) + n):
        data[i] ^= 0x5A
    path.write_bytes(bytes(data))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


@pytest.fixture
def damaged(catalog):
    ref = catalog.register("tr", _traces(), kind="traces", schema=TRACE_SCHEMA)
    part = Path(ref.path) / "part-00000.parquet"
    rot(part)
    return catalog, ref, part


def test_reads_name_version_and_file(damaged):
    cat, ref, part = damaged
    assert cat.show("tr")["rows"] == 400          # metadata only: still shown
    for read in (lambda: cat.get("tr"), lambda: cat.table("tr"),
                 lambda: list(cat.iter_batches("tr"))):
        with pytest.raises(IntegrityError) as e:
            read()
        msg = str(e.value)
        assert ref.spec in msg and str(part) in msg and "damaged" in msg and "\n" not in msg


def test_verify_rehashes_before_reading(damaged):
    cat, ref, part = damaged
    with pytest.raises(IntegrityError, match=f"{ref.spec}: .*part-00000.parquet: content hash"):
        cat.table("tr", verify=True)


def test_rot_that_decodes_is_caught_by_hash(catalog):
    # a flip inside an uncompressed value decodes "fine": only the hash sees it
    src = catalog.home.parent / "w.parquet"
    pq.write_table(_traces(), src, compression="none")
    ref = catalog.adopt("ad", [src], kind="traces")
    part = Path(ref.path) / "part-00000.parquet"
    data = part.read_bytes()
    rot(part, at=data.index(b"think about 200") / len(data), n=1)   # inside a value
    assert catalog.table("ad").num_rows == 400                 # silent for a plain read
    with pytest.raises(IntegrityError, match="content hash differs"):
        catalog.table("ad", verify=True)
    rep = check_catalog(catalog, deep=True)
    assert [(p["kind"], p["dataset"]) for p in rep["problems"]] == [("damaged", ref.spec)]
    assert check_catalog(catalog)["ok"]                        # mtime kept: only --deep sees it


def _cli(home: Path, *args: str, cwd: Path | None = None):
    env = {**os.environ, "CURATE_HOME": str(home)}
    return subprocess.run([sys.executable, "-m", "curate.cli", *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=300)


def test_commands_fail_in_one_line(damaged, tmp_path):
    cat, ref, part = damaged
    for args in (["export", "tr", str(tmp_path / "out")],
                 ["variant", "tr", "--name", "v", "--nocot"],
                 ["mix", "m", "--from", "tr:10"],
                 ["verify", "tr", "--name", "ver", "--workers", "1"],
                 ["publish", "tr", "--repo", "org/tr", "--dry-run", str(tmp_path / "pub")]):
        r = _cli(cat.home, *args)
        assert r.returncode == 2, (args, r.stderr[-2000:])
        err = r.stderr.strip().splitlines()
        assert err[-1].startswith("error: ") and "Traceback" not in r.stderr, (args, r.stderr)
        assert ref.spec in err[-1] and "part-00000.parquet" in err[-1], (args, err)
    assert not (tmp_path / "out").exists() and not (tmp_path / "pub").exists()
    assert [r["name"] for r in cat.ls()] == ["tr"]               # nothing registered


def test_check_lists_damaged_missing_and_orphaned(catalog):
    a = catalog.register("a", _traces(50), schema=TRACE_SCHEMA)
    b = catalog.register("b", _traces(60), schema=TRACE_SCHEMA)
    c = catalog.register("c", _traces(70), schema=TRACE_SCHEMA)
    d = catalog.register("d", _traces(80), schema=TRACE_SCHEMA)
    e = catalog.register("e", _traces(90), schema=TRACE_SCHEMA)
    catalog.register("ok", _traces(10), schema=TRACE_SCHEMA)
    assert check_catalog(catalog, deep=True)["ok"]
    rot(Path(a.path) / "part-00000.parquet")                         # bit rot
    with open(Path(b.path) / "part-00000.parquet", "r+b") as f:      # truncated
        f.truncate(100)
    (Path(c.path) / "part-00000.parquet").unlink()                   # deleted file
    (Path(d.path) / store.MANIFEST).write_text("{not json")          # garbage manifest
    (Path(e.path) / "stray.parquet").write_bytes(b"x")               # a file nobody named
    stray = catalog.store_root / "ghost" / "0123456789abcdef"        # an unlisted folder
    stray.mkdir(parents=True)
    shallow = check_catalog(catalog)
    deep = check_catalog(catalog, deep=True)
    got = {(p["kind"], p["dataset"], Path(p["path"]).name) for p in deep["problems"]}
    assert got == {("damaged", a.spec, "part-00000.parquet"),
                   ("damaged", b.spec, "part-00000.parquet"),
                   ("missing", c.spec, "part-00000.parquet"),
                   ("damaged", d.spec, store.MANIFEST),
                   ("orphaned", e.spec, "stray.parquet"),
                   ("orphaned", None, "0123456789abcdef")}
    assert got - {p for p in got if p[1] == a.spec} == \
        {(p["kind"], p["dataset"], Path(p["path"]).name) for p in shallow["problems"]}
    assert deep["hashed_bytes"] > 0 and not deep["ok"]
    # paths are relative to the workspace
    assert all(not os.path.isabs(p["path"]) for p in deep["problems"])


def test_check_cli_exit_status_and_json(damaged):
    cat, ref, part = damaged
    r = _cli(cat.home, "catalog", "check")
    assert r.returncode == 0 and "all intact" in r.stdout, r.stdout + r.stderr
    r = _cli(cat.home, "catalog", "check", "--deep", "--json")
    assert r.returncode == 1, r.stderr
    rep = json.loads(r.stdout)
    assert rep["deep"] and [(p["kind"], p["dataset"]) for p in rep["problems"]] == \
        [("damaged", ref.spec)]
    r = _cli(cat.home, "catalog", "check", "--deep")
    assert r.returncode == 1 and "damaged" in r.stdout and "1 problems" in r.stdout


def test_reads_outside_catalog_table_name_the_damage_too(damaged, tmp_path):
    """Readers that open stored files themselves: the datatrove executors' units (in the driver
    and in each task: 'task did not finish, run again' before) and the dashboard's row pages
    (DuckDB over the files: a traceback before) say which file of which version is damaged."""
    from curate.curation.executors.units import plan_units, read_unit
    from curate.dashboard import rows as dash_rows

    cat, ref, part = damaged
    (unit,) = plan_units([part])
    with pytest.raises(IntegrityError, match=rf"{ref.spec}: file .*part-00000.parquet is damaged"):
        list(read_unit(unit, None, 100))
    with pytest.raises(IntegrityError, match=rf"{ref.spec}: file .*part-00000.parquet is damaged"):
        dash_rows.page_of_rows(cat, "tr", 0, 10)
    footer = tmp_path / "f"
    (footer / "tr" / ref.version).mkdir(parents=True)
    bad = footer / "tr" / ref.version / "part-00000.parquet"
    bad.write_bytes(part.read_bytes()[:-12] + b"\0" * 12)          # the footer itself rotted
    with pytest.raises(IntegrityError, match=rf"tr@{ref.version}: file .*part-00000.parquet"):
        plan_units([bad])
    r = _cli(cat.home, "verify", "tr", "--name", "v", "--executor", "local", "--workers", "1",
             "--tasks", "1")
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr[-2000:]
    last = r.stderr.strip().splitlines()[-1]
    assert ref.spec in last and "is damaged" in last and "run again" not in last.lower(), last
    from curate.dashboard import write_dashboard

    out = write_dashboard(cat, tmp_path / "report")
    page = next(p for p in Path(out).parent.glob("ds-tr-*.html") if "-p" not in p.name)
    assert "rows are not shown" in page.read_text() and "is damaged" in page.read_text()
    assert [r["name"] for r in cat.ls()] == ["tr"]
