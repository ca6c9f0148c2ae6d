"""Workspaces are self-contained: dataset paths are stored relative to the workspace, so a
relative CURATE_HOME works from any directory and a copied workspace reads its own files;
read-only verbs refuse a folder that holds no catalog instead of creating one."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from curate.catalog import Catalog
from curate.errors import NotFound

ROWS = [{"prompt": f"p{i}", "problem_id": str(i)} for i in range(20)]


def cli(args: list[str], cwd: Path, home: str | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.pop("CURATE_HOME", None)
    if home is not None:
        env["CURATE_HOME"] = home
    return subprocess.run([sys.executable, "-m", "curate.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def test_relative_home_opened_from_another_directory(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    (a / "d.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    r = cli(["import", "d.jsonl", "--name", "d", "--json"], cwd=a, home="ws")
    assert r.returncode == 0, r.stderr
    assert Catalog(a / "ws").sql("SELECT path FROM datasets")[0]["path"].startswith("store/d/")
    shown = cli(["catalog", "show", "d", "--json"], cwd=b, home="../a/ws")
    assert shown.returncode == 0, shown.stderr
    assert Path(json.loads(shown.stdout)["path"]).resolve().is_relative_to((a / "ws").resolve())
    out = cli(["export", "d", "out"], cwd=b, home="../a/ws")
    assert out.returncode == 0, out.stderr
    assert list((b / "out" / "data").rglob("*.parquet"))


def test_copied_workspace_reads_its_own_files(tmp_path):
    ws1, ws2 = tmp_path / "ws1", tmp_path / "ws2"
    ref = Catalog(ws1).register("d", ROWS, kind="problems")
    shutil.copytree(ws1, ws2)
    shutil.rmtree(ws1)                          # the original is gone: only ws2's files exist
    cat = Catalog(ws2)
    copy = cat.resolve("d")
    assert copy.version == ref.version and Path(copy.path).is_relative_to(ws2)
    assert cat.get("d")["prompt"] == [r["prompt"] for r in ROWS]
    assert all(Path(p).is_relative_to(ws2) for p in cat.show("d")["files"])


@pytest.mark.parametrize("legacy", ["absolute", "relative-to-cwd"])
def test_earlier_catalog_paths_migrate(tmp_path, legacy):
    ws1, ws2 = tmp_path / "ws1", tmp_path / "ws2"
    ref = Catalog(ws1).register("d", ROWS, kind="problems")
    old = str(ws1 / "store" / "d" / ref.version) if legacy == "absolute" \
        else f"ws1/store/d/{ref.version}"
    with Catalog(ws1).connect() as con:          # what earlier versions stored
        con.execute("UPDATE datasets SET path = ?", [old])
    shutil.copytree(ws1, ws2)
    cat = Catalog(ws2)
    # the first open rewrites the old path; the copy reads its own folder
    assert Path(cat.resolve("d").path) == ws2 / "store" / "d" / ref.version
    shutil.rmtree(ws1)
    assert cat.get("d").num_rows == 20
    assert cat.sql("SELECT path FROM datasets")[0]["path"] == f"store/d/{ref.version}"


def test_catalog_without_create_refuses_an_empty_folder(tmp_path):
    with pytest.raises(NotFound, match="no catalog at .*nothere"):
        Catalog(tmp_path / "nothere", create=False)
    assert not (tmp_path / "nothere").exists()
    Catalog(tmp_path / "ws").register("d", ROWS[:1])
    assert Catalog(tmp_path / "ws", create=False).ls()[0]["name"] == "d"


@pytest.mark.parametrize("args", [
    ["catalog", "ls"], ["catalog", "show", "d"], ["catalog", "lineage", "d"],
    ["catalog", "sql", "SELECT 1"], ["catalog", "check"], ["export", "d", "OUT"], ["report"],
    ["train", "lineage", "ck"],
    # verbs that write, but only from a dataset already in the catalog (they created an
    # empty catalog in the mistyped folder, then said the dataset was not found)
    ["verify", "d", "--name", "v"], ["filter", "d", "--name", "f"], ["dedup", "d", "--name", "u"],
    ["decontaminate", "d", "--name", "c"], ["variant", "d", "--name", "n", "--nocot"],
    ["mix", "m", "--from", "d:10"], ["coverage", "d", "--against", "math500"],
])
def test_mistyped_home_read_only_verbs(tmp_path, args):
    args = [str(tmp_path / "out") if a == "OUT" else a for a in args]
    r = cli(["--home", str(tmp_path / "typo"), *args], cwd=tmp_path)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "no catalog at" in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "typo").exists() and not (tmp_path / "out").exists()


# -- issue 14 (tester's pass): where curate is told to write -------------------------------

def test_a_home_that_cannot_be_a_folder_is_one_line(tmp_path):
    """--home naming a file, a path under a file, or a place that cannot be created was a
    FileExistsError / NotADirectoryError / FileNotFoundError traceback on the first write."""
    (tmp_path / "afile").write_text("x")
    (tmp_path / "p.jsonl").write_text('{"prompt": "q"}\n')
    for home, why in [(tmp_path / "afile", "File exists"),
                      (tmp_path / "afile" / "sub", "Not a directory"),
                      (Path("/proc/curate-nope"), "No such file or directory")]:
        r = cli(["--home", str(home), "import", str(tmp_path / "p.jsonl"), "--name", "p"],
                cwd=tmp_path)
        assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr[-2000:]
        assert r.stderr.strip() == f"error: {home}: cannot use as the workspace folder ({why}); " \
                                   "check --home or CURATE_HOME"


def test_export_never_lands_in_or_replaces_the_workspace(tmp_path):
    """`export X $CURATE_HOME --overwrite` deleted the catalog and the store and put the export
    in their place; '.' with --overwrite deletes the folder curate runs in; a folder in the
    store became an orphan version folder; an uncreatable folder was a traceback."""
    home = tmp_path / "ws"
    (tmp_path / "p.jsonl").write_text('{"prompt": "q"}\n')
    assert cli(["--home", str(home), "import", str(tmp_path / "p.jsonl"), "--name", "p"],
               cwd=tmp_path).returncode == 0
    (tmp_path / "afile").write_text("x")
    run_in = tmp_path / "here"
    run_in.mkdir()
    for out, extra, msg in [
        (home, ["--overwrite"], "holds the workspace"),
        (tmp_path, ["--overwrite"], "holds the workspace"),
        (home / "store" / "x", [], "is inside the workspace's store"),
        (Path("."), ["--overwrite"], "is the folder curate runs in"),
        (tmp_path / "afile", ["--overwrite"], "is a file, not a folder"),
        (tmp_path / "afile" / "sub", [], "cannot create the export folder here"),
        (Path("/proc/curate-nope"), [], "cannot create the export folder here"),
    ]:
        r = cli(["--home", str(home), "export", "p", str(out), *extra], cwd=run_in)
        assert r.returncode == 2 and "Traceback" not in r.stderr, (out, r.stderr[-2000:])
        assert msg in r.stderr and len(r.stderr.strip().splitlines()) == 1, (out, r.stderr)
    assert (home / "catalog.duckdb").is_file() and not (home / "store" / "x").exists()
    assert (tmp_path / "p.jsonl").is_file() and (tmp_path / "afile").read_text() == "x"
    r = cli(["--home", str(home), "export", "p", str(tmp_path / "out")], cwd=run_in)
    assert r.returncode == 0, r.stderr


def test_the_machine_saying_no_is_one_line(tmp_path, monkeypatch, capsys):
    """Permission denied, a read-only file system or a full disk anywhere in a verb is the
    user's environment, not a bug: one line naming the path, exit 2 (tested by raising each
    from the importer; root cannot be refused a chmod 000 file)."""
    import errno

    from curate import cli as cli_mod
    from curate.catalog import importing

    (tmp_path / "p.jsonl").write_text('{"prompt": "q"}\n')
    for code, text in [(errno.EACCES, "Permission denied"), (errno.EROFS, "Read-only file system"),
                       (errno.ENOSPC, "No space left on device")]:
        def boom(*a, code=code, text=text, **k):
            raise OSError(code, text, str(tmp_path / "ws" / "store"))

        monkeypatch.setattr(importing, "import_file", boom)
        monkeypatch.setattr(sys, "argv", ["curate", "--home", str(tmp_path / "ws"), "import",
                                          str(tmp_path / "p.jsonl"), "--name", "p"])
        with pytest.raises(SystemExit) as e:
            cli_mod.main()
        err = capsys.readouterr().err
        assert e.value.code == 2 and err.strip() == f"error: {tmp_path / 'ws' / 'store'}: {text}"
