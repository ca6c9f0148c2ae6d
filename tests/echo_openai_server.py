"""A misbehaving OpenAI-compatible endpoint on loopback that echoes the request's
Authorization header back: in 401 / 400 error bodies, or inside a 200 answer.

Modes: ok | echo401 | echo400 | echo200 (the answer text carries the header) |
mixed (400 with the header for prompts containing "bad", answers otherwise).
`start(mode)` serves it from a thread and returns (server, base_url); `server.shutdown()`.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def _answer(text: str) -> dict:
    return {"id": "x", "model": "fake-model", "object": "chat.completion",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                         "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 5, "completion_tokens": 5}}


def handler(mode: str):
    class H(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def _send(self, code, obj):
            b = json.dumps(obj).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(b)))
            self.end_headers()
            self.wfile.write(b)

        def do_GET(self):
            if self.path.endswith("/models"):
                return self._send(200, {"object": "list", "data": [
                    {"id": "fake-model", "object": "model"}]})
            return self._send(404, {"error": "not found"})

        def do_POST(self):
            n = int(self.headers.get("Content-Length", 0))
            body = self.rfile.read(n).decode()
            auth = self.headers.get("Authorization", "")
            if mode == "echo401":
                return self._send(401, {"error": {"message": f"Incorrect API key provided: "
                                                             f"{auth}"}})
            if mode == "echo400" or (mode == "mixed" and "bad" in body):
                return self._send(400, {"error": {"message": f"bad request from {auth}",
                                                  "headers": {"Authorization": auth}}})
            if mode == "echo200":
                return self._send(200, _answer(f"<think>they sent {auth}</think> \\boxed{{2}}"))
            return self._send(200, _answer("<think>hmm</think> \\boxed{2}"))

    return H


def start(mode: str) -> tuple[ThreadingHTTPServer, str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler(mode))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/v1"
