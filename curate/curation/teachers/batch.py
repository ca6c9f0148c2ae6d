"""A served model as a batch completer: `complete_many(prompts, n=...)` for evaluation.

`curate eval --teacher SPEC` hands generation to the same servers and client as `curate
generate` (vLLM on a GPU instead of transformers `generate`); no request cache, since eval
keeps its own per-sample outputs.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from curate.curation.teachers.client import ChatClient, ClientConfig
from curate.curation.teachers.endpoint import discover, request_body
from curate.curation.teachers.spec import TeacherSpec, parse_teacher


class ServedTeacher:
    def __init__(self, spec: str | TeacherSpec, concurrency: int = 64, timeout: float = 1800.0,
                 max_retries: int = 8, api_key_env: str = "OPENAI_API_KEY",
                 log_dir: str | Path | None = None, startup_timeout: float = 1800.0):
        self.spec = spec if isinstance(spec, TeacherSpec) else parse_teacher(spec)
        self.cfg = ClientConfig(concurrency=concurrency, timeout=timeout, max_retries=max_retries,
                                api_key=os.environ.get(api_key_env) if self.spec.kind == "openai"
                                else None)
        self.log_dir = Path(log_dir) if log_dir else Path(tempfile.gettempdir()) / "curate-servers"
        self.startup_timeout = startup_timeout

    def complete_many(self, prompts: list[str], n: int = 1, temperature: float = 0.6,
                      top_p: float | None = 0.95, max_tokens: int = 4096, seed: int = 0,
                      top_k: int | None = None, system: str | None = None,
                      chat_template_kwargs: dict[str, Any] | None = None) -> list[list[dict]]:
        """n completions per prompt: {text (think block inline), finish_reason, completion_tokens}."""
        from curate.curation.generate import (
            chat_messages,
            parse_completion,
            request_seed,
            run_async,
        )
        from curate.curation.teachers.servers import serving

        sampling = {"temperature": temperature, "top_p": top_p, "top_k": top_k,
                    "max_tokens": max_tokens}

        async def main(url, engine, version):
            import asyncio

            from curate.curation.teachers.reasoning import template_prefills_think

            async with ChatClient(url, self.cfg) as client:
                ep = await discover(client, self.spec.served_model, engine, version)
                # Where a completion's thinking ends, as evaluation needs it: only a template
                # known to open the think block itself makes an unmarked completion thinking;
                # otherwise the text is scored as the model wrote it (the papers' rule: the
                # text after the last </think>, the whole response when there is none), so a
                # non-thinking model cut off at max_tokens is not "unclosed thinking".
                prefilled = template_prefills_think(
                    ep.local_path, chat_messages(prompts[0], system) if prompts else [],
                    chat_template_kwargs, ep.model) is True
                jobs = []
                for i, p in enumerate(prompts):
                    msgs = chat_messages(p, system)
                    for k in range(n):
                        jobs.append((i, request_body(ep, msgs, sampling,
                                                     request_seed(seed, str(i), k),
                                                     chat_template_kwargs, None)))
                sem = asyncio.Semaphore(self.cfg.concurrency)

                async def one(body):
                    async with sem:
                        return await client.chat(body)

                outs = await asyncio.gather(*(one(b) for _, b in jobs))
            res: list[list[dict]] = [[] for _ in prompts]
            for (i, _), out in zip(jobs, outs):
                res[i].append(_completion(
                    out, lambda d: parse_completion(d, prefilled=prefilled)))
            return res

        with serving(self.spec, self.log_dir, self.startup_timeout) as (url, engine, version):
            return run_async(main(url, engine, version))


def _completion(out, parse) -> dict[str, Any]:
    if not out.ok:
        return {"text": "", "finish_reason": "error", "completion_tokens": 0,
                "error": f"{out.reason}: {out.error}"}
    c = parse(out.data)
    text = c["answer_text"] or ""
    if c["reasoning"] is not None:
        close = "</think>\n\n" if c["think_closed"] else ""
        text = f"<think>\n{c['reasoning']}\n{close}{text}"
    return {"text": text, "finish_reason": c["finish_reason"] or "stop",
            "completion_tokens": c["completion_tokens"] or 0}


def make_teacher(spec: str, **kwargs) -> ServedTeacher:
    """Factory used by `curate eval --teacher SPEC`."""
    return ServedTeacher(spec, **kwargs)
