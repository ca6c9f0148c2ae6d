"""Catalog reads shared by the dashboard's pages: rows of each table, newest first, with their
JSON columns decoded into objects. Functions take a `Site` so each table is read once per build."""

from __future__ import annotations

from typing import Any

from curate.catalog.schema import JSON_COLUMNS
from curate.dashboard.format import loads


def _decode(table: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    cols = JSON_COLUMNS.get(table, set())
    for r in rows:
        for c in cols & set(r):
            r[c] = loads(r[c])
    return rows


def table(site, name: str, order: str = "created DESC") -> list[dict[str, Any]]:
    """Every row of catalog table `name`, JSON columns decoded, in `order`."""
    def read():
        return _decode(name, site.catalog.sql(f"SELECT * FROM {name} ORDER BY {order}"))
    return site.cached(f"table:{name}:{order}", read)


def datasets(site) -> list[dict[str, Any]]:
    """Dataset versions newest first, each with `spec` (name@version)."""
    rows = table(site, "datasets")
    for r in rows:
        r.setdefault("spec", f"{r['name']}@{r['version']}")
    return rows


def newest_versions(site) -> set[str]:
    """Specs of the newest version of each dataset name."""
    def compute():
        seen: dict[str, str] = {}
        for r in datasets(site):
            seen.setdefault(r["name"], r["spec"])
        return set(seen.values())
    return site.cached("newest", compute)


def lineage(site) -> list[dict[str, Any]]:
    """Lineage edges (child, parent, step, params, counts) oldest first."""
    return table(site, "lineage", "created")


def lineage_of(site, spec: str) -> list[dict[str, Any]]:
    """The edges whose child is `spec`."""
    def index():
        out: dict[str, list] = {}
        for e in lineage(site):
            out.setdefault(e["child"], []).append(e)
        return out
    return site.cached("lineage_by_child", index).get(spec, [])


def children_of(site, spec: str) -> list[dict[str, Any]]:
    """The edges whose parent is `spec`."""
    def index():
        out: dict[str, list] = {}
        for e in lineage(site):
            if e["parent"]:
                out.setdefault(e["parent"], []).append(e)
        return out
    return site.cached("lineage_by_parent", index).get(spec, [])


def runs(site) -> list[dict[str, Any]]:
    return table(site, "runs", "started DESC")


def checkpoints(site) -> list[dict[str, Any]]:
    return table(site, "checkpoints", "created DESC")


def evals(site) -> list[dict[str, Any]]:
    return table(site, "evals", "created DESC")


def probes(site) -> list[dict[str, Any]]:
    return table(site, "probes", "created DESC")


def coverage(site) -> list[dict[str, Any]]:
    return table(site, "coverage", "created DESC")
