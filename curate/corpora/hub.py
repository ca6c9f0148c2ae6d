"""`hf:ORG/NAME[:config][:split]` specs: Hub datasets (or local dataset folders) by name."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

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
    try:
        ds = datasets.load_dataset(hs.repo, hs.config, split=split, revision=hs.revision,
                                   cache_dir=str(cache_dir) if cache_dir else None)
    except (FileNotFoundError, datasets.exceptions.DatasetNotFoundError) as e:
        raise NotFound(f"{hs}: dataset not found ({_first_line(e)})") from None
    except ValueError as e:
        raise CurateError(f"{hs}: {_first_line(e)}") from None
    except (OSError, ConnectionError) as e:
        raise CurateError(f"{hs}: could not load ({type(e).__name__}: {_first_line(e)})") from None
    return ds


def _first_line(e: BaseException) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0][:300]
