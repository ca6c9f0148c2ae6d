"""`curate catalog check`: every stored file against its manifest, every folder against the
catalog. What `git fsck` / `zpool scrub` do for their stores, for ours.

Problems found (each one dict: kind, dataset, path relative to the workspace, detail):
- `missing`: a version the catalog lists whose folder, manifest or file is gone;
- `damaged`: a file whose size differs from the manifest, or (`deep`, or when its mtime moved)
  whose xxh3-128 differs; a manifest that is unreadable or names another version;
- `orphaned`: a version folder the catalog does not list, or a file in a version folder
  that its manifest does not name.
The default pass reads only metadata (sizes, mtimes, manifests); `deep` re-hashes every byte.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from curate.catalog import store
from curate.errors import IntegrityError


def check_catalog(catalog, deep: bool = False) -> dict[str, Any]:
    """{"ok", "deep", "versions", "files", "bytes", "hashed_bytes", "seconds", "hash_mb_s",
    "reconciled", "problems"}.

    What killed processes left is reconciled first (as every start does: `reconcile`, whose
    counts are under "reconciled"), so what is left in `store/.tmp` belongs to live writers
    and is not reported.
    """
    reconciled = catalog.reconcile()
    rows = catalog.sql("SELECT name, version, path FROM datasets ORDER BY name, version")
    problems: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    totals = {"versions": len(rows), "files": 0, "bytes": 0, "hashed_bytes": 0}
    listed: set[tuple[str, str]] = set()
    for r in rows:
        listed.add((r["name"], r["version"]))
        spec = f"{r['name']}@{r['version']}"
        folder = catalog._folder(r["name"], r["version"], r["path"])
        problems += _check_version(catalog.home, spec, r["version"], folder, deep, totals)
    problems += _orphaned_folders(catalog.home, catalog.store_root, listed)
    elapsed = time.perf_counter() - t0
    return {"ok": not problems, "deep": deep, **totals, "seconds": round(elapsed, 3),
            "hash_mb_s": round(totals["hashed_bytes"] / 1e6 / elapsed, 1)
            if totals["hashed_bytes"] and elapsed > 0 else None,
            "reconciled": reconciled, "problems": problems}


def _rel(home: Path, p: Path) -> str:
    try:
        return str(p.relative_to(home))
    except ValueError:
        return str(p)


def _check_version(home: Path, spec: str, version: str, folder: Path, deep: bool,
                   totals: dict) -> list[dict[str, Any]]:
    def problem(kind: str, path: Path, detail: str) -> dict[str, Any]:
        return {"kind": kind, "dataset": spec, "path": _rel(home, path), "detail": detail}

    if not folder.is_dir():
        return [problem("missing", folder, "version folder is gone")]
    try:
        m = store.read_manifest(folder)
    except IntegrityError as e:
        kind = "missing" if not (folder / store.MANIFEST).exists() else "damaged"
        return [problem(kind, folder / store.MANIFEST, str(e).split(": ", 1)[-1])]
    out = []
    if m.get("version") not in (None, version):
        out.append(problem("damaged", folder / store.MANIFEST,
                           f"manifest names version {m.get('version')}"))
    named = {store.MANIFEST}
    for entry in m["files"]:
        named.add(entry["name"])
        f = folder / entry["name"]
        totals["files"] += 1
        totals["bytes"] += entry["bytes"]
        st = f.stat() if f.is_file() else None
        if st is not None and st.st_size == entry["bytes"] and (
                deep or st.st_mtime_ns != entry.get("mtime_ns")):
            totals["hashed_bytes"] += entry["bytes"]
        found = store.check_file(folder, entry, full=deep)
        if found:
            out.append(problem(found[0], f, found[1]))
    for f in sorted(folder.iterdir()):
        if f.name not in named:
            out.append(problem("orphaned", f, "not named in the version's manifest"))
    return out


def _orphaned_folders(home: Path, store_root: Path,
                      listed: set[tuple[str, str]]) -> list[dict[str, Any]]:
    out = []
    if not store_root.is_dir():
        return out
    for name_dir in sorted(store_root.iterdir()):
        if name_dir.name.startswith(".") or not name_dir.is_dir():
            continue
        for vdir in sorted(name_dir.iterdir()):
            if (name_dir.name, vdir.name) not in listed:
                out.append({"kind": "orphaned", "dataset": None, "path": _rel(home, vdir),
                            "detail": "version folder the catalog does not list"})
    return out
