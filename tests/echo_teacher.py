"""A deterministic OpenAI-compatible teacher on loopback (aiohttp), for multi-endpoint tests.

The answer depends only on the request (its last user message and seed), never on which
server gave it, so several of these behind `openai:URL1,URL2` must give the same rows as one.
Each response says who served it in an `X-Served-By` header; `/get_server_info` reports
`dp_size` and `max_running_requests` like SGLang when `--max-running` is given.

    python tests/echo_teacher.py PORT [--model NAME] [--max-running N] [--dp N] [--delay S]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json

from aiohttp import web


def answer(body: dict) -> dict:
    user = body["messages"][-1]["content"]
    h = hashlib.sha256(f"{user}|{body.get('seed')}".encode()).hexdigest()
    n = int(h[:4], 16) % 100
    content = f"<think>Working on it: {h[:24]}.</think>The answer is \\boxed{{{n}}}."
    return {"id": "cmpl-" + h[:16], "object": "chat.completion", "model": body["model"],
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": content}}],
            "usage": {"prompt_tokens": 12, "completion_tokens": 20, "total_tokens": 32}}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("port", type=int)
    ap.add_argument("--model", default="echo-model")
    ap.add_argument("--max-running", type=int, default=None)
    ap.add_argument("--dp", type=int, default=1)
    ap.add_argument("--delay", type=float, default=0.0)
    a = ap.parse_args()
    me = f"127.0.0.1:{a.port}"

    async def chat(request: web.Request) -> web.Response:
        body = json.loads(await request.read())
        if a.delay:
            await asyncio.sleep(a.delay)
        return web.json_response(answer(body), headers={"X-Served-By": me})

    async def models(request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": a.model,
                                                               "object": "model"}]})

    async def info(request: web.Request) -> web.Response:
        if a.max_running is None:
            return web.json_response({}, status=404)
        return web.json_response({"max_running_requests": a.max_running, "dp_size": a.dp,
                                  "version": "echo"})

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application()
    app.add_routes([web.post("/v1/chat/completions", chat), web.get("/v1/models", models),
                    web.get("/get_server_info", info), web.get("/health", health)])
    web.run_app(app, host="127.0.0.1", port=a.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
