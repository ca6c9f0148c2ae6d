"""The dashboard in a real headless browser over a complete workspace (a recipe's datasets, a
mixture, a training run with checkpoints, evals of each checkpoint, a TI, a probe, coverage):
every page renders without page errors, no table cell holds a raw JSON object once rendered,
every link resolves, and screenshots are written for review (benchmarks/results/dashboard/ when
CURATE_SCREENSHOTS names it; benchmarks/dashboard_screenshots.py does). Skips without Chromium
(Debian: apt-get install -y chromium)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from dashboard_workspace import build_workspace
from test_dashboard import parse, raw_json

from curate.dashboard.screenshot import find_chromium

SHOTS = ("index", "lineage", "datasets", "runs", "evals", "probes")
# run by Chromium after layout (1400 px wide): every table, figure, chart or text block must
# end inside its card; the overview's evals table ran past its card's right edge
SPILL_CHECK = """<script>
(function () {
  var bad = [];
  document.querySelectorAll("table, figure, svg.chart, pre, img").forEach(function (el) {
    var box = el.parentElement && el.parentElement.closest(".box, .card-md, .graph, .rows .row");
    if (!box) return;
    var r = el.getBoundingClientRect(), b = box.getBoundingClientRect();
    if (r.right > b.right + 1) bad.push(el.tagName.toLowerCase() + " +" + Math.round(r.right - b.right) + "px");
  });
  document.body.setAttribute("data-spill", bad.slice(0, 3).join("; "));
})();
</script>"""


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory):
    if find_chromium() is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    from curate.catalog import Catalog
    from curate.dashboard import write_dashboard

    root = tmp_path_factory.mktemp("browser")
    old = os.environ.get("CURATE_HOME")
    made = build_workspace(root / "home")
    index = write_dashboard(Catalog(root / "home"), root / "report")
    yield index.parent, made
    if old is None:
        os.environ.pop("CURATE_HOME", None)
    else:
        os.environ["CURATE_HOME"] = old


def test_every_page_renders_in_chromium(dashboard):
    from curate.dashboard.screenshot import dump_dom

    out, made = dashboard
    pages = sorted(out.glob("*.html"))
    names = {p.name for p in pages}
    assert {f"{s}.html" for s in SHOTS} <= names and f"run-{made['run']}.html" in names
    for page in pages:
        probe = page.with_name(f"_layout-{page.name}")     # the page plus a layout check
        probe.write_text(page.read_text().replace("</body>", SPILL_CHECK + "</body>"))
        try:
            dom = dump_dom(probe)                 # raises on a page error
        finally:
            probe.unlink()
        spill = re.search(r'data-spill="([^"]*)"', dom)
        assert spill and spill.group(1) == "", f"{page.name}: content wider than its card: " \
            f"{spill and spill.group(1)}"
        parsed = parse(dom)
        bad = [c for c in parsed.cells if raw_json(c)]
        assert not bad, f"{page.name}: raw JSON in table cells: {bad[:2]}"
        assert all(x.startswith("data:") for x in parsed.srcs), page.name   # all inlined
        for link in parsed.links:
            if link.startswith(("data:", "#", "http:", "https:")):
                continue
            assert (out / link.split("#")[0]).is_file(), f"{page.name} -> missing {link}"
    run = (out / f"run-{made['run']}.html").read_text()
    assert "training loss" in run and "learning rate" in run
    ev = (out / "evals.html").read_text()
    assert "score against step" in ev and "response length against step" in ev
    pr = (out / "probes.html").read_text()
    assert "Transferability Index" in pr and "kl:" in pr and "Coverage" in pr
    lin = (out / "lineage.html").read_text()
    for label in ("search", "countdown-cot-20k", "countdown-nocot-20k", "cd-mix", "sft:sft",
                  "step 2", "step 6", "evals step 4"):
        assert label in lin


def test_screenshots(dashboard, tmp_path):
    """Screenshots of the main pages, each a real picture (many colours, not a blank page)."""
    from PIL import Image

    from curate.dashboard.screenshot import screenshot

    out, made = dashboard
    dest = Path(os.environ.get("CURATE_SCREENSHOTS") or tmp_path)
    targets = [*SHOTS, f"run-{made['run']}",
               sorted(p.stem for p in out.glob("ds-countdown-cot-20k-*.html")
                      if not re.search(r"-p\d+$", p.stem))[0]]
    for name in targets:
        png = screenshot(out / f"{name}.html",
                         dest / f"dashboard_{re.sub(r'-[0-9a-f]{12,}$', '', name)}.png",
                         width=1400, height=1500)
        im = Image.open(png).convert("RGB")
        colours = im.getcolors(maxcolors=1 << 20)
        assert im.size == (1400, 1500) and (colours is None or len(colours) > 60), name
