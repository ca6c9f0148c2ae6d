"""What a run needs to know about a teacher endpoint: model, revision, engine, context, body shape.

Provenance (model revision, engine and version) goes into every row; the engine decides how
sampling fields are sent (vLLM and SGLang take `top_k` / `min_p` in the body, `transformers
serve` only through a `generation_config` JSON that must carry the model's own defaults).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from curate.curation.teachers.client import ChatClient
from curate.errors import CurateError


@dataclass
class Endpoint:
    base_url: str
    model: str                           # the name requests carry
    engine: str                          # vllm | sglang | transformers-serve | openai-compatible
    engine_version: str | None = None
    revision: str | None = None          # model commit / local content hash
    max_model_len: int | None = None
    local_path: str | None = None        # where a tokenizer and generation config can be read
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def teacher(self) -> str:
        return f"{self.model}@{self.revision}" if self.revision else self.model


def local_revision(path: str | Path) -> str:
    """A content id for a local model folder: configs' bytes plus weight file names and sizes."""
    p = Path(path)
    h = hashlib.sha256()
    for f in sorted(p.iterdir()):
        if f.is_file() and f.suffix in (".json", ".jinja", ".model", ".txt"):
            h.update(f.name.encode() + b"\0" + f.read_bytes())
        elif f.is_file() and f.suffix in (".safetensors", ".bin", ".gguf"):
            h.update(f"{f.name}\0{f.stat().st_size}".encode())
    return "local-" + h.hexdigest()[:12]


def hub_revision(model: str) -> tuple[str | None, str | None]:
    """(commit, snapshot folder) of a Hub model in the local cache, without the network."""
    try:
        from huggingface_hub import snapshot_download

        snap = snapshot_download(model, local_files_only=True)
        return Path(snap).name, snap
    except Exception:
        return None, None


def model_source(model: str) -> tuple[str | None, str | None]:
    """(revision, local folder) for a model id that is a local path or in the Hub cache."""
    p = Path(model).expanduser()
    if p.is_dir():
        return local_revision(p), str(p)
    return hub_revision(model)


def _max_len_from_config(folder: str | None) -> int | None:
    if not folder:
        return None
    try:
        cfg = json.loads((Path(folder) / "config.json").read_text())
    except (OSError, ValueError):
        return None
    cfg = cfg.get("text_config", cfg)
    for k in ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length"):
        if isinstance(cfg.get(k), int):
            return cfg[k]
    return None


def predicted_endpoint(spec, engine: str | None, engine_version: str | None) -> Endpoint:
    """What `discover` will find for a server curate launches itself (model = the launched
    model, revision and context from its files), known before the server starts: enough to
    compute request keys, so a run whose answers are all cached starts no server."""
    model = spec.served_model
    revision, folder = model_source(model)
    max_len = spec.max_model_len or _max_len_from_config(folder)
    return Endpoint("", model, engine or "openai-compatible", engine_version, revision, max_len,
                    folder, info={"served_models": [model], "predicted": True})


async def discover(client: ChatClient, model: str | None, engine_hint: str | None = None,
                   engine_version: str | None = None) -> Endpoint:
    """Ask the server what it serves; fill what it does not say from local files."""
    models = None
    for attempt in range(4):
        models = await client.get_json("/models")
        if models is not None:
            break
        await asyncio.sleep(2 ** attempt)
    if models is None:
        raise CurateError(f"teacher endpoint {client.base_url} is not answering (GET /models)")
    data = models.get("data") if isinstance(models, dict) else None
    data = [m for m in data if isinstance(m, dict)] if isinstance(data, list) else []
    served = [m.get("id") for m in data if isinstance(m, dict)]
    if model is None:
        if not served:
            raise CurateError(f"{client.base_url} lists no models; pass --model")
        model = served[0]
    entry = next((m for m in data if isinstance(m, dict) and m.get("id") == model), {})
    engine, version = engine_hint, engine_version
    if engine is None:
        engine, version = await _detect_engine(client, entry)
    revision, folder = model_source(entry.get("root") or model)
    max_len = entry.get("max_model_len") or _max_len_from_config(folder)
    return Endpoint(client.base_url, model, engine, version, revision, max_len, folder,
                    info={"served_models": served})


async def _detect_engine(client: ChatClient, entry: dict) -> tuple[str, str | None]:
    v = await client.get_json("/version", root=True)
    if isinstance(v, dict) and "version" in v:
        return "vllm", str(v["version"])
    info = await client.get_json("/get_server_info", root=True) or \
        await client.get_json("/server_info", root=True)
    if isinstance(info, dict) and ("sglang_version" in info or "version" in info):
        return "sglang", str(info.get("sglang_version") or info.get("version"))
    if isinstance(entry.get("status"), dict) and entry.get("owned_by") == "local":
        return "transformers-serve", None
    return "openai-compatible", None


def request_body(ep: Endpoint, messages: list[dict[str, str]], sampling: dict[str, Any],
                 seed: int | None, chat_template_kwargs: dict[str, Any] | None,
                 stop: list[str] | None) -> dict[str, Any]:
    """The chat-completions body for this engine (everything a result depends on)."""
    body: dict[str, Any] = {"model": ep.model, "messages": messages,
                            "max_tokens": sampling["max_tokens"]}
    for k in ("temperature", "top_p"):
        if sampling.get(k) is not None:
            body[k] = sampling[k]
    if seed is not None:
        body["seed"] = seed
    if stop:
        body["stop"] = list(stop)
    if chat_template_kwargs:
        body["chat_template_kwargs"] = dict(chat_template_kwargs)
    extra = {k: sampling[k] for k in ("top_k", "min_p", "repetition_penalty")
             if sampling.get(k) is not None}
    if ep.engine == "transformers-serve":
        if extra:
            body["generation_config"] = json.dumps(_transformers_generation_config(ep, sampling, extra),
                                                   sort_keys=True)
    else:
        body.update(extra)
    return body


_GEN_CACHE: dict[str, dict[str, Any]] = {}


def _transformers_generation_config(ep: Endpoint, sampling: dict, extra: dict) -> dict[str, Any]:
    """transformers serve replaces the model's generation config with the one sent: start from it."""
    if ep.local_path not in _GEN_CACHE:
        base: dict[str, Any] = {}
        if ep.local_path:
            try:
                base = json.loads((Path(ep.local_path) / "generation_config.json").read_text())
            except (OSError, ValueError):
                base = {}
        base.pop("transformers_version", None)
        _GEN_CACHE[ep.local_path or ""] = base
    cfg = dict(_GEN_CACHE[ep.local_path or ""])
    cfg.update(extra)
    if extra.get("min_p") == 0:
        cfg.pop("min_p")
    cfg["do_sample"] = (sampling.get("temperature") or 0) > 0
    cfg["max_new_tokens"] = sampling["max_tokens"]
    return cfg
