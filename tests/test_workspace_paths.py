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
