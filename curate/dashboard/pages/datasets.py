"""Datasets: the list of versions, and one page per version with its rendered card, counts by
step and reason along its lineage, and a paginated row browser that includes the rows its step
dropped (so a wrong drop is found by looking)."""

from __future__ import annotations

from typing import Any

from curate.dashboard import data, rows
from curate.dashboard.charts import bars
from curate.dashboard.graph import svg
from curate.dashboard.pages.lineage import catalog_graph, neighbourhood
from curate.dashboard.site import Card, Page, dataset_href
from curate.errors import CurateError, IntegrityError

NAV = ("Datasets", "datasets.html")
CARD_MAX_ROWS = 200_000  # versions without a stored card get the export card up to this size
PAGE_ROWS = 25          # rows per browser page
MAX_PAGES = 8           # kept rows: at most 200 shown per version
MAX_DROPPED_PAGES = 4   # dropped rows: at most 100 shown per step


def card(site) -> Card:
    ds = data.datasets(site)
    newest = data.newest_versions(site)
    rows_ = [{"name": r["name"], "kind": r["kind"], "rows": r["rows"], "step": _step(site, r),
              "created": r["created"], "_href": dataset_href(r["spec"])}
             for r in ds if r["spec"] in newest][:8]
    return Card("Datasets", NAV[1], ["name", "kind", "rows", "step", "created"], rows_,
                total=len(newest), empty="no datasets yet: curate generate / import")


def _step(site, r: dict[str, Any]) -> str | None:
    edges = data.lineage_of(site, r["spec"])
    return edges[0]["step"] if edges else None


def pages(site):
    ds = data.datasets(site)
    newest = data.newest_versions(site)
    listing = []
    for r in ds:
        edges = data.lineage_of(site, r["spec"])
        counts = edges[0]["counts"] if edges else {}
        listing.append({"name": r["name"], "version": r["version"][:12], "kind": r["kind"],
                        "rows": r["rows"], "step": edges[0]["step"] if edges else None,
                        "dropped": _dropped_total(counts),
                        "parents": ", ".join(_short_spec(e["parent"]) for e in edges
                                             if e["parent"]) or None,
                        "created": r["created"], "newest": r["spec"] in newest,
                        "_href": dataset_href(r["spec"])})
    yield Page("datasets.html", "Datasets", "datasets.html", {"datasets": listing},
               section=NAV[0])
    for r in ds:
        yield from version_pages(site, r)


def _short_spec(spec: str | None) -> str:
    if not spec:
        return ""
    name, _, ver = spec.partition("@")
    return f"{name}@{ver[:8]}"


def _dropped_total(counts: Any) -> int | None:
    if not isinstance(counts, dict):
        return None
    d = counts.get("dropped")
    if isinstance(d, dict):
        return sum(v for v in d.values() if isinstance(v, (int, float)))
    if isinstance(d, (int, float)):
        return int(d)
    if isinstance(counts.get("in"), int) and isinstance(counts.get("out"), int):
        return counts["in"] - counts["out"]
    return None


def step_chain(site, spec: str) -> list[dict[str, Any]]:
    """The steps that made `spec`, root first: dataset, step, in, out, dropped by reason."""
    chain, frontier, seen = [], [spec], set()
    while frontier:
        cur = frontier.pop(0)
        if cur in seen:
            continue
        seen.add(cur)
        edges = data.lineage_of(site, cur)
        if not edges:
            continue
        e = edges[0]
        c = e["counts"] if isinstance(e["counts"], dict) else {}
        dropped = c.get("dropped") if isinstance(c.get("dropped"), dict) else {}
        chain.append({"dataset": cur, "step": e["step"], "in": c.get("in"), "out": c.get("out"),
                      "dropped": dict(sorted(dropped.items(), key=lambda kv: -kv[1]))
                      if dropped else None,
                      "other": {k: v for k, v in c.items() if k not in ("in", "out", "dropped")}
                      or None,
                      "_href": dataset_href(cur)})
        frontier.extend(x["parent"] for x in edges if x["parent"])
    return chain[::-1]


def kept_aside(site, child: str, parent: str | None) -> str | None:
    """The `NAME-dropped` version holding the rows `child`'s step dropped: the one its lineage
    counts name (`dropped_version`), else the newest `NAME-dropped` made from the same parent."""
    for e in data.lineage_of(site, child):
        c = e["counts"] if isinstance(e["counts"], dict) else {}
        if "dropped_version" in c:
            return c["dropped_version"] or None   # None: the step was told not to keep them
    name = child.partition("@")[0] + "-dropped"
    for r in data.datasets(site):
        if r["name"] != name:
            continue
        parents = {e["parent"] for e in data.lineage_of(site, r["spec"])}
        if child in parents or (parent and parent in parents):
            return r["spec"]
    return None


def card_markdown(site, r: dict[str, Any]) -> tuple[str | None, str]:
    """(Markdown, where it comes from): the card stored with the version, else the card
    `curate export` would write (provenance, counts, lengths in words, rebuild commands) for
    trace versions up to CARD_MAX_ROWS rows."""
    if r.get("card"):
        return r["card"], "stored with the version"
    if r["kind"] not in ("traces", "mixture") or int(r["rows"]) > CARD_MAX_ROWS:
        return None, ""
    from curate.catalog.card import ConfigData, card_body, provenance

    try:
        table = site.catalog.table(r["spec"])
        prov = provenance(site.catalog, r["spec"])
        body = card_body(r["spec"], [ConfigData("default", r["spec"], {"train": table})], prov,
                         None, None, "whitespace words of the training target")
    except (CurateError, KeyError, ValueError, TypeError):
        return None, ""
    return body, "as `curate export` writes it"


def version_pages(site, r: dict[str, Any]):
    spec = r["spec"]
    base = dataset_href(spec)[:-5]
    edges = data.lineage_of(site, spec)
    e0 = edges[0] if edges else None
    children = [{"dataset": c["child"], "step": c["step"], "_href": dataset_href(c["child"])}
                for c in data.children_of(site, spec)]
    used_by = [{"run": x["name"] or x["id"], "kind": x["kind"], "status": x["status"],
                "started": x["started"], "_href": f"run-{x['id']}.html"}
               for x in data.runs(site) if spec in (x["inputs"] or [])]
    ok = rows.version_files_exist(site.catalog, spec)
    first_rows, damage = [], None
    if ok:
        try:   # bytes rotted with size and mtime kept pass the quick check; reading tells
            first_rows = rows.page_of_rows(site.catalog, spec, 0, PAGE_ROWS)
        except IntegrityError as e:
            ok, damage = False, str(e)
    n_pages = min(MAX_PAGES, max(1, -(-int(r["rows"]) // PAGE_ROWS)))
    links = [(str(i + 1), f"{base}.html" if i == 0 else f"{base}-p{i + 1}.html")
             for i in range(n_pages)]
    drops = _drop_sections(site, spec, edges, base) if ok else []
    counts = e0["counts"] if e0 and isinstance(e0["counts"], dict) else {}
    reasons = counts.get("dropped") if isinstance(counts.get("dropped"), dict) else {}
    ctx = {"ds": r, "edge": e0, "parents": [e["parent"] for e in edges if e["parent"]],
           "chain": step_chain(site, spec), "children": children, "used_by": used_by,
           "files_ok": ok, "damage": damage, "drops": drops, "page_links": links,
           "page_size": PAGE_ROWS,
           "reason_bars": bars(sorted(reasons.items(), key=lambda kv: -kv[1])[:12],
                               colour="#dc2626") if reasons else None,
           "stats": {k: v for k, v in (r.get("stats") or {}).items()
                     if not isinstance(v, (dict, list))}}
    title = f"{r['name']}@{r['version'][:12]}"
    ctx["card_md"], ctx["card_source"] = card_markdown(site, r) if ok else (None, "")
    for i, (_, href) in enumerate(links):
        page_rows = first_rows if i == 0 else _page_or_nothing(site, spec, i) if ok else []
        graph = svg(catalog_graph(site, only=neighbourhood(site, spec))) if i == 0 else None
        yield Page(href, title, "dataset.html",
                   {**ctx, "rows": page_rows, "page_index": i, "first_row": i * PAGE_ROWS,
                    "graph": graph}, section=NAV[0])
    for d in drops:
        for j, (_, href) in enumerate(d["pager"]):
            if j == 0:
                continue
            yield Page(href, f"{title}: dropped by {d['step']}", "dropped.html",
                       {**ctx, "drop": d, "rows": d["pages"][j], "page_index": j},
                       section=NAV[0])


def _page_or_nothing(site, spec: str, i: int) -> list[dict[str, Any]]:
    try:
        return rows.page_of_rows(site.catalog, spec, i * PAGE_ROWS, PAGE_ROWS)
    except IntegrityError:
        return []


def _drop_sections(site, spec: str, edges, base: str) -> list[dict[str, Any]]:
    out = []
    for e in edges:
        parent = e["parent"]
        c = e["counts"] if isinstance(e["counts"], dict) else {}
        aside = kept_aside(site, spec, parent)
        lost = _dropped_total(c)
        if not parent or (not aside and not lost):
            continue
        try:
            n, got = rows.dropped_by_step(site.catalog, spec, parent,
                                          PAGE_ROWS * MAX_DROPPED_PAGES, kept_aside=aside)
        except CurateError:
            continue
        if not n:
            continue
        pages_ = [got[i:i + PAGE_ROWS] for i in range(0, len(got), PAGE_ROWS)] or [[]]
        pager = [(str(j + 1), f"{base}.html#dropped" if j == 0 else f"{base}-dropped-p{j + 1}.html")
                 for j in range(len(pages_))]
        out.append({"step": e["step"], "parent": parent, "n": n, "shown": len(got),
                    "aside": aside, "reasons": c.get("dropped") if isinstance(
                        c.get("dropped"), dict) else None,
                    "pages": pages_, "pager": pager})
    return out
