"""`curate report`: the dashboard package over a synthetic catalog (no models): every page
renders, links resolve, no raw JSON objects in table cells, the row browser shows prompt,
collapsed reasoning, answer, verdict and the rows a step dropped, pages stay bounded."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import pytest


class Cells(HTMLParser):
    """Table cells' text and every href/src of a page."""

    def __init__(self):
        super().__init__()
        self.cells, self.links, self.srcs, self._depth, self._buf = [], [], [], 0, []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "td":
            self._depth += 1
            self._buf = []
        for k in ("href", "src"):
            if a.get(k):
                self.links.append(a[k])
        if a.get("src"):
            self.srcs.append(a["src"])

    def handle_endtag(self, tag):
        if tag == "td" and self._depth:
            self._depth -= 1
            self.cells.append("".join(self._buf).strip())

    def handle_data(self, data):
        if self._depth:
            self._buf.append(data)


def parse(text: str) -> Cells:
    p = Cells()
    p.feed(text)
    return p


def raw_json(cell: str) -> bool:
    """A cell holding a JSON object or list of objects as text."""
    s = cell.strip()
    if not s or s[0] not in "{[":
        return False
    try:
        v = json.loads(s)
    except json.JSONDecodeError:
        return bool(re.match(r'^[\[{]\s*"', s))
    return isinstance(v, (dict, list))


def build(cat) -> dict:
    rows = [{"id": f"r{i}", "problem_id": f"p{i}", "task": "math", "prompt": f"What is {i}+{i}?",
             "reasoning": f"Add {i} and {i}. " * 20, "answer_text": f"\\boxed{{{2 * i}}}",
             "final_answer": str(2 * i), "reference": str(2 * i), "verified": i % 7 != 0,
             "verify_detail": json.dumps({"verifier": "math-verify",
                                          "reason": "match" if i % 7 else "mismatch"}),
             "teacher": "search", "metadata": json.dumps({"split": "train"})}
            for i in range(70)]
    p = cat.register("probs", [{"problem": r["prompt"], "answer": r["reference"]} for r in rows],
                     kind="problems", step="import")
    t = cat.register("raw", rows, kind="traces", parents=[p], step="generate",
                     params={"teacher": "openai:http://127.0.0.1:9/v1", "task": "math"},
                     counts={"in": 70, "out": 70})
    kept = [r for r in rows if r["verified"]]
    from curate.curation.filters import filter_dataset

    f = filter_dataset(cat, "raw", "clean", verified_only=True)   # keeps clean-dropped
    g = cat.register("picked", kept[:30], kind="traces", parents=[f], step="select",
                     counts={"in": len(kept), "out": 30, "dropped": {"over_n": len(kept) - 30}},
                     card="# picked\n\nThe first **30** rows.\n\n| in | out |\n|---|---|\n"
                          "| 60 | 30 |\n")
    mix = cat.register("mix", [{"id": r["id"], "messages": [
        {"role": "user", "content": r["prompt"]},
        {"role": "assistant", "content": f"<think>{r['reasoning']}</think>{r['answer_text']}"}]}
        for r in kept[:20]], kind="mixture", parents=[f], step="mix")
    run = cat.start_run("train", config={"method": "sft", "options": {"learning_rate": 1e-5}},
                        inputs=[mix.spec], name="sft:demo")
    curve = [{"step": s, "loss": 2.0 / (1 + s), "learning_rate": 1e-5 * (1 - s / 20)}
             for s in range(0, 21, 2)]
    for s in (10, 20):
        cat.insert("checkpoints", {"id": f"ck{s}", "run_id": run, "path": f"/x/checkpoint-{s}",
                                   "step": s, "model": "tiny", "mixture": mix.spec,
                                   "loss": curve[s // 2]["loss"],
                                   "metrics": {"loss_curve": curve[: s // 2 + 1]}})
        for b, v in (("math500", 0.1 + s / 100), ("gpqa", 0.3)):
            cat.insert("evals", {"model": f"/x/checkpoint-{s}", "checkpoint_id": f"ck{s}",
                                 "step": s, "benchmark": b, "domain": "math", "metric": "accuracy",
                                 "value": v, "mean_response_tokens": 500.0 - s, "n_samples": 10,
                                 "k": 1, "config": {"train_run": run}})
    cat.finish_run(run, "ok", metrics={"steps": 20, "train_loss": 0.4, "loss_curve": curve})
    for _ in range(2):  # the same TI twice: shown once
        cat.insert("probes", {"probe": "ti", "model": "ft", "base": "base",
                              "params": {"formula": "icml"},
                              "results": {"formula": "icml", "reason": None, "warnings": [],
                                          "table": [{"group": "math", "benchmarks": 1,
                                                     "base_avg": 20.0, "model_avg": 30.0,
                                                     "di": 1.2, "TI(%)": None}]}})
    return {"clean": f, "mix": mix, "run": run, "raw": t, "picked": g}


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    from curate.catalog import Catalog
    from curate.dashboard import write_dashboard

    root = tmp_path_factory.mktemp("dash")
    cat = Catalog(root / "home")
    made = build(cat)
    index = write_dashboard(cat, root / "report")
    return cat, index.parent, made


@pytest.fixture
def site(workspace):
    return workspace[1], workspace[2]


def test_pages_render_and_link(site):
    out, made = site
    pages = {p.name: p.read_text() for p in out.glob("*.html")}
    for name in ("index.html", "lineage.html", "datasets.html", "runs.html", "evals.html",
                 "probes.html"):
        assert name in pages
    for name, text in pages.items():
        parsed = parse(text)
        bad = [c for c in parsed.cells if raw_json(c)]
        assert not bad, f"{name}: raw JSON in table cells: {bad[:2]}"
        assert not [x for x in parsed.srcs if not x.startswith("data:")], name  # inlined
        for link in parsed.links:
            if link.startswith(("data:", "#", "http:", "https:")):
                continue
            assert (out / link.split("#")[0]).is_file(), f"{name} links to missing {link}"
        assert "<script" not in text
        assert len(text) < 400_000, f"{name} is {len(text)} bytes"
    # the lineage graph draws teacher -> traces -> filter -> mixture -> run -> checkpoints
    lin = pages["lineage.html"]
    for label in ("openai:http://127.0.0.1:9/v1", "raw", "clean", "clean-dropped", "mix",
                  "sft:demo", "step 10",
                  "evals step 20"):
        assert label in lin
    # the overview, newest first
    idx = pages["index.html"]
    assert idx.index(">mix<") < idx.index(">clean<") < idx.index(">raw<")
    # TI once
    assert pages["probes.html"].count("ft vs base") == 1


def test_dataset_page_rows_and_drops(site):
    """The filter kept its dropped rows (clean-dropped): the page shows them with their reason;
    a step that kept none (picked) still shows what it dropped (parent rows not in the child)."""
    from curate.dashboard.site import dataset_href

    out, made = site
    page = (out / dataset_href(made["clean"].spec)).read_text()
    assert "<details><summary>reasoning" in page
    assert "Rows dropped by filter (10)" in page and "clean-dropped" in page
    ids = re.findall(r'badge dropped">dropped: wrong</span>.*?id <code>(r\d+)</code>',
                     page, flags=re.S)
    assert set(ids) == {f"r{i}" for i in range(0, 70, 7)}
    picked = (out / dataset_href(made["picked"].spec)).read_text()
    assert "<h1>picked</h1>" in picked and "<strong>30</strong>" in picked  # the card rendered
    assert "Rows dropped by select (30)" in picked
    dropped_ids = set(re.findall(r'badge dropped">dropped</span>.*?id <code>(r\d+)</code>',
                                 picked, flags=re.S))
    kept = [f"r{i}" for i in range(70) if i % 7]
    assert dropped_ids == set(kept[30:55])   # the first 25 of the 30 (one page)
    # paginated: 60 rows in pages of 25
    base = dataset_href(made["clean"].spec)
    assert (out / base.replace(".html", "-p3.html")).is_file()
    assert not (out / base.replace(".html", "-p4.html")).exists()


def test_run_page_has_curves(site):
    out, made = site
    page = (out / f"run-{made['run']}.html").read_text()
    assert "training loss" in page and "learning rate" in page and page.count("<svg") >= 2


def test_rebuild_removes_stale_pages(workspace):
    from curate.dashboard import write_dashboard

    catalog, out, _ = workspace
    (out / "ds-gone-123.html").write_text('<meta name="generator" content="curate report">')
    (out / "mine.html").write_text("not ours")
    write_dashboard(catalog, out)
    assert not (out / "ds-gone-123.html").exists() and (out / "mine.html").exists()
