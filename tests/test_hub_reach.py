"""An unreachable Hub is found in seconds, not after minutes of retries: loads run offline
(the local cache still serves) and fail in one line naming the endpoint."""

from __future__ import annotations

import socket

import pytest

from curate.errors import CurateError


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()                      # nothing listens there now
    return port


@pytest.fixture
def unreachable(monkeypatch, tmp_path):
    import datasets.config
    import huggingface_hub.constants

    from curate.corpora import hub

    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", False)   # conftest sets it
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{_closed_port()}")
    monkeypatch.setenv("CURATE_BENCHMARK_DIR", str(tmp_path / "none"))
    monkeypatch.setattr(hub, "_REACH", {})
    seen = []

    def load_dataset(*a, **k):     # what datasets sees: offline mode, so no retries
        import datasets.config
        import huggingface_hub.constants

        seen.append((datasets.config.HF_HUB_OFFLINE, huggingface_hub.constants.HF_HUB_OFFLINE))
        raise ConnectionError("Couldn't reach the Hub (offline mode is enabled)")

    import datasets

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    return seen


@pytest.mark.parametrize("name", ["aime25", "gpqa-diamond", "olympiadbench"])
def test_benchmark_without_a_copy_fails_at_once_naming_the_endpoint(unreachable, name):
    import datasets.config

    from curate.corpora.benchmarks import load_benchmark

    before = datasets.config.HF_HUB_OFFLINE
    with pytest.raises(CurateError, match=r"the Hub is unreachable: 127.0.0.1:\d+ unreachable "
                                          r"\(ConnectionRefusedError"):
        load_benchmark(name)
    assert unreachable and all(s == (True, True) for s in unreachable)
    assert datasets.config.HF_HUB_OFFLINE is before          # restored after the load


def test_hf_prompt_source_fails_at_once(unreachable):
    from curate.corpora.hub import load_hf

    with pytest.raises(CurateError, match="not in the local cache and the Hub is unreachable"):
        load_hf("hf:org/name:default:train")
    assert unreachable == [(True, True)]


def test_reachable_and_offline_mode_are_left_alone(monkeypatch):
    from curate.corpora import hub

    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen()
    try:
        monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
        monkeypatch.setattr(hub, "_REACH", {})
        monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{srv.getsockname()[1]}")
        assert hub.hub_unreachable() is None
        monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{_closed_port()}")
        assert "unreachable" in hub.hub_unreachable()
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")   # the libraries already fail fast
        assert hub.hub_unreachable() is None
    finally:
        srv.close()
