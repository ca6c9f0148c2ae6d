"""Data flows one way (corpora -> curation -> catalog -> training -> probes): an area never
imports one downstream of it. Checked on the import statements of every module, including
imports inside functions."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "curate"

# area -> areas it must not import
ABOVE_ALL = ("curate.catalog", "curate.corpora", "curate.curation", "curate.training",
             "curate.probes", "curate.commands", "curate.dashboard", "curate.experiments")
FORBIDDEN = {
    # the progress and console helpers sit below every area
    "progress.py": ABOVE_ALL,
    "console.py": ABOVE_ALL,
    "catalog": ("curate.curation", "curate.training", "curate.probes", "curate.commands",
                "curate.dashboard", "curate.experiments"),
    "probes": ("curate.commands", "curate.dashboard"),
    "training": ("curate.probes", "curate.experiments", "curate.dashboard"),
    "models.py": ("curate.training", "curate.probes", "curate.curation", "curate.experiments"),
}


def imported_modules(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append((node.lineno, node.module))
    return out


@pytest.mark.parametrize("area", sorted(FORBIDDEN))
def test_no_upstream_area_imports_a_downstream_one(area):
    target = PKG / area
    files = [target] if target.is_file() else sorted(target.rglob("*.py"))
    assert files
    bad = [f"{f.relative_to(PKG.parent)}:{line} imports {mod}"
           for f in files for line, mod in imported_modules(f)
           if any(mod == p or mod.startswith(p + ".") for p in FORBIDDEN[area])]
    assert not bad, "\n".join(bad)
