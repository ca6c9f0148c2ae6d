"""`hf:ORG/NAME[:config][:split]` specs: Hub datasets (or local dataset folders) by name."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from curate.errors import CurateError, NotFound


@dataclass(frozen=True)
class HubSpec:
    repo: str
    config: str | None = None
    split: str | None = None
    revision: str | None = None

    def __str__(self) -> str:
        s = "hf:" + self.repo + (f"@{self.revision}" if self.revision else "")
        return s + "".join(f":{p}" for p in (self.config, self.split) if p)


PROBE_SECONDS = 3.0
_REACH: dict[str, str | None] = {}


def hub_unreachable(timeout: float = PROBE_SECONDS) -> str | None:
    """Why the Hub (`HF_ENDPOINT`, default huggingface.co) cannot be reached, or None when a
    TCP connection to it opens within `timeout` seconds (or offline mode is already set, so
    the libraries fail fast on their own). Asked once per process and endpoint: an
    unreachable Hub otherwise costs every load 5 retries with backoff (about 30 s each)."""
    if _env_true("HF_HUB_OFFLINE") or _env_true("HF_DATASETS_OFFLINE"):
        return None
    url = os.environ.get("HF_ENDPOINT") or "https://huggingface.co"
    if url in _REACH:
        return _REACH[url]
    u = urlparse(url)
    host, port = u.hostname or "", u.port or (443 if u.scheme == "https" else 80)
    out: list[str | None] = [f"no answer within {timeout:g} s"]

    def probe() -> None:   # in a thread: name resolution has no timeout of its own
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            out[0] = None
        except OSError as e:
            out[0] = f"{type(e).__name__}: {e}"

    t = threading.Thread(target=probe, daemon=True)
    t.start()
    t.join(timeout + 0.5)
    why = None if out[0] is None else f"{host}:{port} unreachable ({out[0]})"
    _REACH[url] = why
    return why


def _env_true(name: str) -> bool:
    return os.environ.get(name, "").strip().upper() in ("1", "ON", "YES", "TRUE")


@contextlib.contextmanager
def offline_when_unreachable():
    """Run Hub loads in offline mode when the Hub cannot be reached: what the local cache
    holds still loads, anything else fails at once instead of after minutes of retries.
    Yields the reason (None when the Hub answered)."""
    why = hub_unreachable()
    if why is None:
        yield None
        return
    import datasets.config as dconf
    import huggingface_hub.constants as hconst

    saved = dconf.HF_HUB_OFFLINE, hconst.HF_HUB_OFFLINE
    dconf.HF_HUB_OFFLINE = hconst.HF_HUB_OFFLINE = True
    try:
        yield why
    finally:
        dconf.HF_HUB_OFFLINE, hconst.HF_HUB_OFFLINE = saved


def is_hf_spec(spec: str) -> bool:
    return spec.startswith("hf:")


def parse_hf_spec(spec: str) -> HubSpec:
    """Parse `hf:ORG/NAME[@REVISION][:config][:split]`; a local folder path works as NAME."""
    if not is_hf_spec(spec):
        raise CurateError(f"{spec!r} is not an hf: spec (hf:ORG/NAME[:config][:split])")
    parts = spec[3:].split(":")
    repo, revision = parts[0], None
    if "@" in repo:
        repo, revision = repo.split("@", 1)
    if not repo or len(parts) > 3 or any(not p for p in parts[1:]):
        raise CurateError(f"bad hub spec {spec!r}: expected hf:ORG/NAME[@REVISION][:config][:split]")
    config = parts[1] if len(parts) > 1 else None
    split = parts[2] if len(parts) > 2 else None
    return HubSpec(repo, config, split, revision)


def cache_for(catalog, hs: HubSpec) -> Path | None:
    """Hub names use the user's datasets cache (HF_HOME, shared with every other tool); a local
    folder gets one under the catalog, since `datasets` offline can confuse two folders that
    share a basename."""
    if catalog is None or not Path(hs.repo).expanduser().exists():
        return None
    return catalog.cache_dir("hub")


def load_hf(spec: str | HubSpec, cache_dir: str | Path | None = None, default_split: str = "train"):
    """Load one split of a Hub dataset (or an exported local folder) as a `datasets.Dataset`.

    Network and auth failures become one line; the token comes from the usual places
    (HF_TOKEN or `hf auth login`) via `datasets` itself and is never printed.
    """
    import datasets

    hs = parse_hf_spec(spec) if isinstance(spec, str) else spec
    split = hs.split or default_split
    local = Path(hs.repo).expanduser().exists()
    why = None
    try:
        with (contextlib.nullcontext() if local else offline_when_unreachable()) as why:
            ds = datasets.load_dataset(hs.repo, hs.config, split=split, revision=hs.revision,
                                       cache_dir=str(cache_dir) if cache_dir else None)
    except (ValueError, OSError) as e:   # ConnectionError, FileNotFoundError and datasets'
                                         # DatasetNotFoundError are OSErrors
        if why:     # offline because the Hub is down, and the cache does not hold it
            raise CurateError(f"{hs}: not in the local cache and the Hub is unreachable "
                              f"({why})") from None
        if isinstance(e, FileNotFoundError):
            raise NotFound(f"{hs}: dataset not found ({_first_line(e)})") from None
        if isinstance(e, ValueError):
            raise CurateError(f"{hs}: {_first_line(e)}") from None
        raise CurateError(f"{hs}: could not load ({type(e).__name__}: {_first_line(e)})") from None
    return ds


def _first_line(e: BaseException) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0][:300]
