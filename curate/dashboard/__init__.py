"""`curate report`: a static, self-contained HTML dashboard over the whole catalog.

Pages: an overview (datasets, runs, evals, experiments, newest first), the lineage drawn as a
graph, one page per dataset version (rendered card, counts by step and reason, a row browser
with the rows each step dropped), runs with loss and learning-rate curves, evals with score-
and length-vs-step curves, TI and probes. CSS, charts (inline SVG) and images (PNG data URIs)
are inlined: the folder opens from disk with no server and no network.

    from curate.dashboard import write_dashboard
    index = write_dashboard(Catalog(".curate"), "reports/")   # -> reports/index.html

Page kinds are registered in `curate.dashboard.pages` (one module and one template each).
"""

from __future__ import annotations

from pathlib import Path

from curate.dashboard.site import Card, Page, Site

__all__ = ["Card", "Page", "Site", "build_pages", "write_dashboard"]


def build_pages(site: Site) -> list[Page]:
    """Every page of every registered page module, the overview first."""
    from curate.dashboard import pages

    mods = pages.modules()
    site.modules = mods
    site.nav = [m.NAV for m in mods if getattr(m, "NAV", None)]
    out: list[Page] = []
    for m in mods:
        out.extend(m.pages(site))
    return out


def write_dashboard(catalog, out: str | Path | None = None) -> Path:
    """Render every page into `out` (default `$CURATE_HOME/report`); return index.html's path.

    Each file is written to a temporary name and renamed, so a reader never sees half a page.
    Pages from an earlier build that this build no longer writes are removed.

    Raises `CurateError` when the catalog cannot be opened.

    Example: ``write_dashboard(Catalog(".curate"), "reports/")  # reports/index.html``.
    """
    out_dir = Path(out) if out else Path(catalog.home) / "report"
    out_dir.mkdir(parents=True, exist_ok=True)
    site = Site(catalog, out_dir)
    written = {site.write(p).name for p in build_pages(site)}
    for old in out_dir.glob("*.html"):
        if old.name not in written and _ours(old):
            old.unlink()
    return out_dir / "index.html"


def _ours(path: Path) -> bool:
    """A page this dashboard wrote (its generator mark in the first kilobyte)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return 'name="generator" content="curate report"' in f.read(1024)
    except OSError:
        return False
