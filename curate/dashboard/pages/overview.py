"""The overview (index.html): headline counts and one box per page kind, newest first."""

from __future__ import annotations

from curate.dashboard import data
from curate.dashboard.site import Page

NAV = ("Overview", "index.html")


def pages(site):
    cards = []
    for m in site.modules:
        fn = getattr(m, "card", None)
        c = fn(site) if fn else None
        if c is not None:
            cards.append(c)
    stats = [("dataset versions", len(data.datasets(site))),
             ("runs", len(data.runs(site))),
             ("checkpoints", len(data.checkpoints(site))),
             ("eval scores", len(data.evals(site))),
             ("probes", len(data.probes(site)))]
    yield Page("index.html", "Overview", "overview.html",
               {"cards": cards, "stats": stats}, section=NAV[0])
