"""An OpenAI-compatible server that answers instantly (raw ASGI on uvicorn + httptools + uvloop).

It stands in for an infinitely fast engine so that what is measured is the client alone.
Run: python benchmarks/_instant_server.py PORT
"""

import json
import sys

ANSWER = json.dumps({
    "id": "x", "object": "chat.completion", "model": "instant",
    "choices": [{"index": 0, "finish_reason": "stop", "message": {
        "role": "assistant", "content": "<think>2 plus 3 is 5.</think> The answer is \\boxed{5}."}}],
    "usage": {"prompt_tokens": 20, "completion_tokens": 16, "total_tokens": 36}}).encode()
MODELS = json.dumps({"object": "list", "data": [{"id": "instant", "object": "model"}]}).encode()
OK = b'{"status":"ok"}'


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    more = True
    while more:
        more = (await receive()).get("more_body", False)
    path = scope["path"]
    body = ANSWER if path.endswith("/chat/completions") else MODELS if path.endswith("/models") \
        else OK if path == "/health" else None
    status = 200 if body is not None else 404
    body = body or b"{}"
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="error",
                http="httptools", loop="uvloop", access_log=False)
