"""The lineage as a drawn graph: teacher -> traces -> filters -> mixture -> run -> checkpoints
-> evals, each node linking to its page."""

from __future__ import annotations

from curate.dashboard import data
from curate.dashboard.format import short
from curate.dashboard.graph import Graph, Node, svg
from curate.dashboard.site import Page, dataset_href, run_href

NAV = ("Lineage", "lineage.html")
MAX_DATASET_NODES = 90     # beyond this only the newest version of each name and its ancestors
MAX_CHECKPOINT_NODES = 5   # a run with more is drawn as one "N checkpoints" node


def _dataset_kind(r) -> str:
    if r["name"].endswith(("-dropped", "-failures")):
        return "dropped"
    return r["kind"] if r["kind"] in ("problems", "traces", "mixture", "benchmark") else "dataset"


def _keep(site) -> set[str]:
    ds = data.datasets(site)
    specs = [r["spec"] for r in ds]
    if len(specs) <= MAX_DATASET_NODES:
        return set(specs)
    keep, frontier = set(), sorted(data.newest_versions(site))
    while frontier and len(keep) < MAX_DATASET_NODES:
        s = frontier.pop(0)
        if s in keep:
            continue
        keep.add(s)
        frontier.extend(e["parent"] for e in data.lineage_of(site, s) if e["parent"])
    return keep


def catalog_graph(site, only: set[str] | None = None) -> Graph:
    """The whole catalog as a graph; `only` limits the dataset nodes (and what hangs off them)."""
    g = Graph()
    keep = only if only is not None else _keep(site)
    by_spec = {r["spec"]: r for r in data.datasets(site)}
    for r in sorted(data.datasets(site), key=lambda r: r["created"]):
        if r["spec"] not in keep:
            continue
        g.add(Node(r["spec"], r["name"], f"@{r['version'][:8]} · {r['rows']:,} rows",
                   _dataset_kind(r), dataset_href(r["spec"])))
    for e in data.lineage(site):
        if e["child"] not in keep:
            continue
        if e["parent"] in keep:
            g.link(e["parent"], e["child"], e["step"] if e["step"] not in ("register",) else "")
        if e["step"] == "generate" and isinstance(e["params"], dict) and e["params"].get("teacher"):
            t = str(e["params"]["teacher"])
            g.add(Node(f"teacher:{t}", t, "generates traces", "teacher", dataset_href(e["child"])))
            g.link(f"teacher:{t}", e["child"], "generate")
    cks_by_run: dict[str, list] = {}
    for c in data.checkpoints(site):
        cks_by_run.setdefault(c["run_id"], []).append(c)
    evals_by_ck: dict[str, list] = {}
    for ev in data.evals(site):
        if ev["checkpoint_id"]:
            evals_by_ck.setdefault(ev["checkpoint_id"], []).append(ev)
    for run in data.runs(site):
        inputs = [i for i in (run["inputs"] or []) if i in by_spec and i in keep]
        cks = sorted(cks_by_run.get(run["id"], []), key=lambda c: c["step"] or 0)
        if run["kind"] != "train" or not (inputs or (only is None and cks)):
            continue
        rid = f"run:{run['id']}"
        g.add(Node(rid, run["name"] or run["id"], f"{run['status']} · {len(cks)} checkpoints",
                   "run", run_href(run["id"])))
        for i in inputs:
            g.link(i, rid, "train")
        _checkpoints(g, rid, run, cks, evals_by_ck)
    return g


def _checkpoints(g: Graph, rid: str, run, cks, evals_by_ck) -> None:
    if not cks:
        return
    if len(cks) > MAX_CHECKPOINT_NODES:
        cid = f"cks:{run['id']}"
        g.add(Node(cid, f"{len(cks)} checkpoints",
                   f"steps {cks[0]['step']}–{cks[-1]['step']}", "checkpoint", run_href(run["id"])))
        g.link(rid, cid)
        evs = [e for c in cks for e in evals_by_ck.get(c["id"], [])]
        if evs:
            eid = f"evals:{run['id']}"
            g.add(Node(eid, "evals", _eval_sub(evs), "eval", "evals.html"))
            g.link(cid, eid)
        return
    for c in cks:
        cid = f"ck:{c['id']}"
        sub = f"loss {c['loss']:.3g}" if isinstance(c["loss"], float) else short(c["path"])
        g.add(Node(cid, f"step {c['step']}", sub, "checkpoint",
                   run_href(run["id"])))
        g.link(rid, cid)
        evs = evals_by_ck.get(c["id"], [])
        if evs:
            eid = f"evals:{c['id']}"
            g.add(Node(eid, f"evals step {c['step']}", _eval_sub(evs), "eval", "evals.html"))
            g.link(cid, eid)


def _eval_sub(evs) -> str:
    acc = [e["value"] for e in evs if e["metric"] == "accuracy" and e["value"] is not None]
    benches = {e["benchmark"] for e in evs}
    mean = f" · mean {100 * sum(acc) / len(acc):.1f}%" if acc else ""
    return f"{len(benches)} benchmarks{mean}"


def neighbourhood(site, spec: str) -> set[str]:
    """`spec`, its ancestors and its direct children (for the graph on a dataset page)."""
    keep, frontier = set(), [spec]
    while frontier:
        s = frontier.pop()
        if s in keep:
            continue
        keep.add(s)
        frontier.extend(e["parent"] for e in data.lineage_of(site, s) if e["parent"])
    keep.update(e["child"] for e in data.children_of(site, spec))
    return keep


def pages(site):
    g = catalog_graph(site)
    yield Page("lineage.html", "Lineage", "lineage.html",
               {"graph": svg(g), "n_nodes": len(g.nodes), "n_edges": len(g.edges),
                "trimmed": len(data.datasets(site)) > MAX_DATASET_NODES},
               section=NAV[0])
