"""The dashboard's page registry.

Each module named in `PAGE_MODULES` is one kind of page. It defines:

- ``NAV``: ``(title, file)`` of its entry in the top navigation, or ``None``;
- ``pages(site) -> Iterable[Page]``: the pages it writes (templates in
  ``curate/dashboard/templates/``, each extending ``base.html``);
- optionally ``card(site) -> Card | None``: its box on the overview (newest first).

To add a page kind: write ``pages/NAME.py`` and ``templates/NAME.html`` and add ``"NAME"`` here
(registration is explicit: nothing is discovered by scanning). The overview is always first.
"""

from __future__ import annotations

import importlib
from types import ModuleType

PAGE_MODULES = [
    "overview",
    "lineage",
    "datasets",
    "runs",
    "evals",
    "probes",
    "experiments",
]


def modules() -> list[ModuleType]:
    """The page modules in registry order."""
    return [importlib.import_module(f"curate.dashboard.pages.{m}") for m in PAGE_MODULES]
