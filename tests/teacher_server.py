"""A real `transformers serve` on loopback, and a counting / fault-injecting proxy in front of it.

The proxy forwards every request unchanged to the real server and counts, per request seed,
how many chat completions the server answered; it can answer 500 for a while or 400 for
prompts containing a marker, to exercise the client's retry rules.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_serve(model: Path, port: int, log: Path, timeout: float = 120.0) -> subprocess.Popen:
    """`transformers serve MODEL` on 127.0.0.1:port, ready when /health answers."""
    exe = Path(sys.executable).parent / "transformers"
    with open(log, "ab") as out:
        proc = subprocess.Popen([str(exe), "serve", str(model), "--host", "127.0.0.1",
                                 "--port", str(port), "--device", "cpu", "--log-level", "warning"],
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"transformers serve exited: {Path(log).read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as r:
                if r.status == 200:
                    return proc
        except OSError:
            time.sleep(0.3)
    stop(proc)
    raise RuntimeError("transformers serve did not become healthy")


def stop(proc: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


class Proxy:
    """aiohttp proxy in a background thread: `answered[seed]` counts the server's answers."""

    def __init__(self, upstream: str):
        self.upstream = upstream.rstrip("/")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self.answered: Counter = Counter()
        self.received = 0
        self.fail_500_first = 0          # answer 500 to the first N chat requests
        self.fail_400_marker: str | None = None
        self.auth: set[str] = set()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        self._ready.wait(10)

    def _run(self) -> None:
        from aiohttp import ClientSession, ClientTimeout, web

        async def handle(request: web.Request) -> web.Response:
            body = await request.read()
            path = request.path
            if request.method == "POST" and path.endswith("/chat/completions"):
                self.auth.add(request.headers.get("Authorization", ""))
                self.received += 1
                data = json.loads(body)
                if self.received <= self.fail_500_first:
                    return web.json_response({"error": "overloaded"}, status=500)
                text = json.dumps(data.get("messages"))
                if self.fail_400_marker and self.fail_400_marker in text:
                    return web.json_response({"error": "bad request"}, status=400)
            async with ClientSession(timeout=ClientTimeout(total=300)) as s:
                try:
                    async with s.request(request.method, self.upstream + path, data=body,
                                         headers={"Content-Type": "application/json"}) as r:
                        out = await r.read()
                        status = r.status
                except OSError:
                    return web.json_response({"error": "upstream down"}, status=502)
            if request.method == "POST" and path.endswith("/chat/completions") and status == 200:
                self.answered[json.loads(body).get("seed")] += 1
            return web.Response(body=out, status=status, content_type="application/json")

        async def main() -> None:
            app = web.Application(client_max_size=64 * 1024 * 1024)
            app.router.add_route("*", "/{tail:.*}", handle)
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", self.port).start()
            self._ready.set()
            while True:
                await asyncio.sleep(3600)

        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(main())
