"""The optional extras install what their code needs: the `gpu` extra's vLLM range is the one
the installed TRL accepts (its own `vllm` extra and its import check), and the `ray` extra
installs Ray for `--executor ray`."""

from __future__ import annotations

import importlib.metadata as md
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

tomllib = pytest.importorskip("tomllib")   # Python 3.11+

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def _extra(name: str) -> dict[str, Requirement]:
    extras = tomllib.loads(PYPROJECT.read_text())["project"]["optional-dependencies"]
    return {Requirement(r).name: Requirement(r) for r in extras[name]}


def test_gpu_extra_pins_the_vllm_versions_trl_supports():
    try:
        trl_reqs = [Requirement(r) for r in md.requires("trl") or []]
    except md.PackageNotFoundError:
        pytest.skip("trl not installed")
    theirs = [r for r in trl_reqs if r.name == "vllm" and r.marker
              and r.marker.evaluate({"extra": "vllm"})]
    assert theirs, "the installed TRL has no vllm extra to compare with"
    ours = _extra("gpu")["vllm"].specifier
    # the same bounds: every version at TRL's edges and just outside them agrees
    edges = {s.version for r in theirs for s in r.specifier}
    probes = set()
    for e in edges:
        v = Version(e)
        probes |= {str(v), f"{v.major}.{v.minor}.{v.micro + 1}",
                   f"{v.major}.{max(v.minor - 1, 0)}.0", f"{v.major}.{v.minor + 1}.0"}
    for v in sorted(probes, key=Version):
        assert (v in ours) == all(v in r.specifier for r in theirs), v


def test_ray_extra_installs_ray():
    assert "ray" in _extra("ray")
