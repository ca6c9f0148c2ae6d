"""Shared fixtures: an isolated workspace per test, and the optional ../shared/data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """A fresh CURATE_HOME for one test."""
    h = tmp_path / "curate-home"
    monkeypatch.setenv("CURATE_HOME", str(h))
    return h


@pytest.fixture
def catalog(home):
    from curate.catalog import Catalog

    return Catalog(home)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A tiny causal LM built on the fly (`curate.training.tiny`), one per test module; the
    teacher tests define their own `tiny` (a served model) and override this one."""
    from curate.training.tiny import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data beside the repo; tests that need it skip cleanly without it."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is absent")
    return SHARED_DATA


PROGRESS_LINE = __import__("re").compile(r"^\[[^\]]+\] (started|[\d,]+(/[\d,]+)? )")


def error_lines(stderr: str) -> list[str]:
    """stderr without the progress helper's log lines (`[task] started: ...`, `[task] 3/20 ...`):
    what a user-error test holds to one line."""
    return [ln for ln in stderr.strip().splitlines() if ln and not PROGRESS_LINE.match(ln)]
