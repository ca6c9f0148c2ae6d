"""`curate.formats`: the shared readers and text conventions sit below every area."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "curate"


def _curate_imports(folder: Path) -> set[tuple[str, str]]:
    """(file, imported curate module) for every import in `folder`, function-level included."""
    out = set()
    for f in folder.rglob("*.py"):
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                mods = [node.module]
            elif isinstance(node, ast.Import):
                mods = [a.name for a in node.names]
            else:
                continue
            out |= {(f.name, m) for m in mods if m.startswith("curate.")}
    return out


@pytest.mark.parametrize("folder, allowed", [
    ("formats", ("curate.errors", "curate.record", "curate.formats")),
    ("corpora", ("curate.errors", "curate.record", "curate.formats", "curate.corpora")),
])
def test_no_upward_imports(folder, allowed):
    bad = {(f, m) for f, m in _curate_imports(PKG / folder) if not m.startswith(allowed)}
    assert not bad, f"curate/{folder} imports from above it: {sorted(bad)}"


def test_one_boxed_finder_shared_by_prompts_and_verifier():
    from curate.curation import verify_math
    from curate.formats.boxed import last_boxed

    assert verify_math.last_boxed is last_boxed
    assert last_boxed(r"so \boxed{\frac{1}{2}} and \boxed{3}") == "3"
    assert last_boxed(r"\boxed{\left( 3, \frac{\pi}{2} \right)}") == r"\left( 3, \frac{\pi}{2} \right)"
