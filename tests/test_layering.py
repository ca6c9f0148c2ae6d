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
    "formats": ABOVE_ALL,
    "corpora": ("curate.curation", "curate.catalog", "curate.training", "curate.probes",
                "curate.commands", "curate.dashboard", "curate.experiments"),
    "curation": ("curate.training", "curate.probes", "curate.commands", "curate.dashboard",
                 "curate.experiments"),
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
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.append((node.lineno, node.module))
        elif isinstance(node, ast.ImportFrom):    # relative: resolve against the file's package
            pkg = path.relative_to(PKG.parent).with_suffix("").parts[:-1]
            base = ".".join(pkg[:len(pkg) - (node.level - 1)] if node.level > 1 else pkg)
            mod = f"{base}.{node.module}" if node.module else base
            out += [(node.lineno, mod)] + [(node.lineno, f"{mod}.{a.name}") for a in node.names]
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


def test_relative_imports_are_resolved():
    """`from ..probes import x` inside curate/training counts as importing curate.probes."""
    import tempfile

    with tempfile.TemporaryDirectory(dir=PKG) as d:
        f = Path(d) / "m.py"
        f.write_text("from ..probes import texts\nfrom . import sib\n")
        mods = [m for _, m in imported_modules(f)]
    assert "curate.probes" in mods and "curate.probes.texts" in mods
    assert f"curate.{Path(d).name}.sib" in mods


def test_step_modules_stay_in_curation_or_are_named_exceptions():
    """The recipe step registry imports its modules by name (importlib), which the import
    check cannot see: only curation modules, and the mixture step of training (the one step a
    recipe runs downstream of the catalog; imported only when a recipe looks a step up)."""
    from curate.curation.steps import STEP_MODULES

    assert [m for m in STEP_MODULES if not m.startswith("curate.curation.")] == [
        "curate.training.mixtures"]
