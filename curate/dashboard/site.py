"""The dashboard as a set of static pages rendered from Jinja2 templates.

A page module (listed in `curate.dashboard.pages.PAGE_MODULES`) turns catalog data into
`Page`s; `Site` renders them through `templates/` and writes them into one folder, atomically
per file. Pages live side by side in that folder, so a link is just the other page's file name.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2

from curate.dashboard import format as fmt

TEMPLATES = Path(__file__).with_name("templates")
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass
class Page:
    """One HTML file: `path` (a bare file name), its `title`, the `template` that draws it and
    the `context` handed to that template; `section` names the nav entry it belongs to."""

    path: str
    title: str
    template: str
    context: dict[str, Any] = field(default_factory=dict)
    section: str | None = None


@dataclass
class Card:
    """A box on the overview: a title linking to a section page, a few newest rows
    (dicts; a row's `_href` makes its first cell a link), and the total count."""

    title: str
    href: str | None
    columns: list[str]
    rows: list[dict[str, Any]]
    total: int
    empty: str = "none yet"


def slug(*parts: str) -> str:
    """A file-name-safe slug of `parts` joined with '-'."""
    return "-".join(_SAFE.sub("_", str(p)).strip("_") or "x" for p in parts)


def dataset_href(spec: str) -> str:
    """The page of a dataset version `name@version`."""
    name, _, version = str(spec).partition("@")
    return f"ds-{slug(name)}-{version[:12]}.html" if version else f"ds-{slug(name)}.html"


def run_href(run_id: str) -> str:
    return f"run-{slug(run_id)}.html"


def environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)),
                             autoescape=jinja2.select_autoescape(["html", "svg"]),
                             undefined=jinja2.StrictUndefined, trim_blocks=True,
                             lstrip_blocks=True)
    env.filters.update(fmt.FILTERS)
    env.tests.update(fmt.TESTS)
    env.globals.update(fmt.GLOBALS, dataset_href=dataset_href, run_href=run_href)
    return env


class Site:
    """The catalog, the output folder and what every page shares (nav, generation time)."""

    def __init__(self, catalog, out: Path):
        self.catalog = catalog
        self.out = Path(out)
        self.env = environment()
        self.generated = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        self.nav: list[tuple[str, str]] = []
        self._cache: dict[str, Any] = {}

    def cached(self, key: str, fn):
        """`fn()` computed once per build (catalog reads shared between page modules)."""
        if key not in self._cache:
            self._cache[key] = fn()
        return self._cache[key]

    def render(self, page: Page) -> str:
        tmpl = self.env.get_template(page.template)
        return tmpl.render(page=page, nav=self.nav, generated=self.generated,
                           catalog_path=str(self.catalog.db_path), **page.context)

    def write(self, page: Page) -> Path:
        path = self.out / page.path
        tmp = self.out / f".{page.path}.tmp"
        tmp.write_text(self.render(page), encoding="utf-8")
        tmp.replace(path)
        return path
