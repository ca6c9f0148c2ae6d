"""A small layered layout of a DAG drawn as inline SVG (top to bottom), in the manner of
Sugiyama et al. (1981): layers (rows, top to bottom) by longest path from the sources, then a few barycentre sweeps
to reduce crossings, then even spacing. Every node links to its page."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from markupsafe import Markup, escape

KIND_COLOURS = {  # fill, stroke
    "teacher": ("#ede9fe", "#7c3aed"),
    "problems": ("#e0f2fe", "#0284c7"),
    "traces": ("#dbeafe", "#2563eb"),
    "dataset": ("#dbeafe", "#2563eb"),
    "dropped": ("#fee2e2", "#dc2626"),
    "mixture": ("#dcfce7", "#16a34a"),
    "run": ("#fef3c7", "#d97706"),
    "checkpoint": ("#ffedd5", "#ea580c"),
    "eval": ("#fce7f3", "#db2777"),
    "benchmark": ("#f3f4f6", "#6b7280"),
}
NODE_W, NODE_H, GAP_X, GAP_Y, PAD = 210, 44, 18, 34, 12


@dataclass
class Node:
    id: str
    label: str
    sub: str = ""
    kind: str = "dataset"
    href: str | None = None


@dataclass
class Graph:
    nodes: dict[str, Node] = field(default_factory=dict)
    edges: list[tuple[str, str, str]] = field(default_factory=list)   # (from, to, label)

    def add(self, node: Node) -> None:
        self.nodes.setdefault(node.id, node)

    def link(self, a: str, b: str, label: str = "") -> None:
        if a in self.nodes and b in self.nodes and a != b and (a, b, label) not in self.edges:
            self.edges.append((a, b, label))


def layers(g: Graph) -> dict[str, int]:
    """Layer of each node: the longest path to it from a node with no incoming edge (edges that
    would close a cycle are ignored)."""
    succ, indeg = defaultdict(list), dict.fromkeys(g.nodes, 0)
    for a, b, _ in g.edges:
        succ[a].append(b)
        indeg[b] += 1
    layer = dict.fromkeys(g.nodes, 0)
    queue = [n for n, d in indeg.items() if d == 0]
    seen = 0
    while queue:
        n = queue.pop(0)
        seen += 1
        for m in succ[n]:
            layer[m] = max(layer[m], layer[n] + 1)
            indeg[m] -= 1
            if indeg[m] == 0:
                queue.append(m)
    return layer


def order(g: Graph, layer: dict[str, int], sweeps: int = 4) -> list[list[str]]:
    """Nodes per layer, ordered by the barycentre of their neighbours (down then up sweeps)."""
    n_layers = max(layer.values(), default=-1) + 1
    cols: list[list[str]] = [[] for _ in range(n_layers)]
    for n in g.nodes:  # insertion order is the first guess
        cols[layer[n]].append(n)
    preds, succs = defaultdict(list), defaultdict(list)
    for a, b, _ in g.edges:
        preds[b].append(a)
        succs[a].append(b)

    def sweep(i: int, neighbours) -> None:
        ref = {n: k for col in cols for k, n in enumerate(col)}
        def bary(n: str) -> float:
            ns = [ref[m] for m in neighbours[n] if m in ref]
            return sum(ns) / len(ns) if ns else ref[n]
        cols[i].sort(key=bary)

    for _ in range(sweeps):
        for i in range(1, n_layers):
            sweep(i, preds)
        for i in range(n_layers - 2, -1, -1):
            sweep(i, succs)
    return cols


def svg(g: Graph) -> Markup:
    """The graph as an SVG element, sources on top (nodes are links where they have a page)."""
    if not g.nodes:
        return Markup('<p class="empty">nothing to draw yet</p>')
    rows = order(g, layers(g))
    widest = max(len(r) for r in rows)
    width = PAD * 2 + widest * NODE_W + (widest - 1) * GAP_X
    height = PAD * 2 + len(rows) * NODE_H + (len(rows) - 1) * GAP_Y
    pos: dict[str, tuple[float, float]] = {}
    for i, row in enumerate(rows):
        w = len(row) * NODE_W + (len(row) - 1) * GAP_X
        x0 = (width - w) / 2
        for k, n in enumerate(row):
            pos[n] = (x0 + k * (NODE_W + GAP_X), PAD + i * (NODE_H + GAP_Y))
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height}" '
           f'viewBox="0 0 {width:.0f} {height}" role="img" aria-label="lineage graph">',
           '<defs><marker id="arr" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
           'markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#9ca3af"/>'
           '</marker></defs>']
    for a, b, label in g.edges:
        (xa, ya), (xb, yb) = pos[a], pos[b]
        x1, y1, x2, y2 = xa + NODE_W / 2, ya + NODE_H, xb + NODE_W / 2, yb
        if y2 <= y1:  # same layer or backwards: from the side
            x1, y1 = xa + NODE_W, ya + NODE_H / 2
        my = (y1 + y2) / 2
        out.append(f'<path d="M{x1:.1f},{y1:.1f} C{x1:.1f},{my:.1f} {x2:.1f},{my:.1f} '
                   f'{x2:.1f},{y2 - 2:.1f}" fill="none" stroke="#9ca3af" stroke-width="1.4" '
                   f'marker-end="url(#arr)"><title>{escape(label)}</title></path>')
        if label:
            lx = (x1 + x2) / 2
            out.append(f'<text x="{lx + 5:.1f}" y="{my + 4:.1f}" fill="#6b7280" '
                       f'style="font-size:10px">{escape(label)}</text>')
    for n, (x, y) in pos.items():
        node = g.nodes[n]
        fill, stroke = KIND_COLOURS.get(node.kind, KIND_COLOURS["dataset"])
        label = node.label if len(node.label) <= 28 else node.label[:27] + "…"
        room = 33 - len(node.kind)
        sub = node.sub if len(node.sub) <= room else node.sub[:room - 1] + "…"
        box = (f'<rect x="{x:.1f}" y="{y:.1f}" width="{NODE_W}" height="{NODE_H}" rx="6" '
               f'fill="{fill}" stroke="{stroke}" stroke-width="1.3"/>'
               f'<text x="{x + 8:.1f}" y="{y + 18:.1f}" fill="#111827" '
               f'style="font-weight:600">{escape(label)}</text>'
               f'<text x="{x + 8:.1f}" y="{y + 34:.1f}" fill="#4b5563" '
               f'style="font-size:10.5px">{escape(node.kind)} · {escape(sub)}</text>'
               f'<title>{escape(node.kind)}: {escape(node.id)}</title>')
        if node.href:
            out.append(f'<a href="{escape(node.href)}">{box}</a>')
        else:
            out.append(f"<g>{box}</g>")
    out.append("</svg>")
    return Markup("".join(out))
