"""Screenshots of `curate report` over a complete small workspace, for review.

Builds the workspace of tests/dashboard_workspace.py (Countdown recipe, mixture, tiny SFT run
with checkpoints, evals, TI, KL probe, coverage), renders the dashboard, opens every page in
headless Chromium (page errors, raw JSON in cells, links) and writes
benchmarks/results/dashboard/dashboard_*.png plus benchmarks/results/dashboard_screenshots.json
(pages, sizes, render time).

    .venv/bin/python benchmarks/dashboard_screenshots.py
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def main() -> None:
    import pytest

    out = REPO / "benchmarks" / "results" / "dashboard"
    out.mkdir(parents=True, exist_ok=True)
    os.environ["CURATE_SCREENSHOTS"] = str(out)
    t0 = time.perf_counter()
    rc = pytest.main(["-q", "-p", "no:cacheprovider", "--basetemp",
                      tempfile.mkdtemp(prefix="curate-dash-"),
                      str(REPO / "tests" / "test_dashboard_browser.py")])
    figures = {"pytest_exit": int(rc), "seconds": round(time.perf_counter() - t0, 1),
               "screenshots": sorted(p.name for p in out.glob("dashboard_*.png"))}
    (REPO / "benchmarks" / "results" / "dashboard_screenshots.json").write_text(
        json.dumps(figures, indent=2))
    print(json.dumps(figures, indent=2))
    sys.exit(int(rc))


if __name__ == "__main__":
    main()
