"""Several OpenAI-compatible endpoints serving the same model, used as one client.

`openai:URL1,URL2,...` spreads requests over the endpoints (each request goes to the one with
the fewest requests in flight) and fails over: a request whose endpoint cannot be reached goes
to another at once, and the unreachable endpoint rests (2 s, doubling to 60 s) before it is
tried again. Retries, backoff and final failures keep `ChatClient`'s rules, counted per
request across endpoints. A request's key does not depend on the endpoint that served it, so
results and resumption are the same as with one endpoint.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import replace
from typing import Any

from curate.curation.teachers.client import ChatClient, ClientConfig, Outcome

REST_S, MAX_REST_S = 2.0, 60.0
UNREACHABLE = ("connection_error",)


class EndpointPool:
    """`async with EndpointPool(urls, cfg) as pool: await pool.chat(body)`."""

    def __init__(self, urls: list[str], cfg: ClientConfig | None = None):
        self.cfg = cfg or ClientConfig()
        one_try = replace(self.cfg, max_retries=0)   # retries are the pool's, across endpoints
        self.clients = [ChatClient(u, one_try) for u in urls]
        self.rest_until = [0.0] * len(urls)
        self.failures = [0] * len(urls)
        self.served = [0] * len(urls)
        self._next = 0

    async def __aenter__(self) -> EndpointPool:
        for c in self.clients:
            await c.__aenter__()
        return self

    async def __aexit__(self, *exc) -> None:
        for c in self.clients:
            await c.__aexit__(*exc)

    @property
    def base_url(self) -> str:
        return ",".join(c.base_url for c in self.clients)

    @property
    def in_flight(self) -> int:
        return sum(c.in_flight for c in self.clients)

    def rest(self, i: int) -> None:
        self.failures[i] += 1
        self.rest_until[i] = time.monotonic() + min(REST_S * 2 ** (self.failures[i] - 1),
                                                    MAX_REST_S)

    def _pick(self, avoid: set[int]) -> int | None:
        """The awake endpoint with the fewest requests in flight (round robin on ties)."""
        now = time.monotonic()
        awake = [i for i in range(len(self.clients)) if self.rest_until[i] <= now]
        choice = [i for i in awake if i not in avoid] or awake
        if not choice:
            return None
        n = len(self.clients)
        best = min(choice, key=lambda i: (self.clients[i].in_flight, (i - self._next) % n))
        self._next = (best + 1) % n
        return best

    async def get_json(self, path: str, timeout: float = 10.0, root: bool = False) -> Any | None:
        """From the first endpoint that answers."""
        for c in self.clients:
            out = await c.get_json(path, timeout=timeout, root=root)
            if out is not None:
                return out
        return None

    async def chat(self, body: dict[str, Any], path: str = "/chat/completions") -> Outcome:
        attempt, wait, start = 0, self.cfg.backoff, time.monotonic()
        tried: set[int] = set()
        while True:
            i = self._pick(tried)
            if i is None:                     # every endpoint is resting: wait for the first
                await asyncio.sleep(max(0.05, min(self.rest_until) - time.monotonic()))
                continue
            out = await self.clients[i].chat(body, path)
            attempt += 1
            if out.ok or out.final:
                self.failures[i] = 0
                self.served[i] += out.ok
                out.attempts, out.latency_s = attempt, time.monotonic() - start
                return out
            if out.reason in UNREACHABLE:
                self.rest(i)
            tried.add(i)
            if attempt > self.cfg.max_retries:
                out.attempts, out.latency_s = attempt, time.monotonic() - start
                return out
            now = time.monotonic()
            if out.reason in UNREACHABLE and any(
                    j not in tried and self.rest_until[j] <= now for j in range(len(self.clients))):
                continue                      # fail over at once
            if len(tried) >= len(self.clients):
                tried.clear()
            await asyncio.sleep(min(wait, self.cfg.max_backoff) * (0.5 + random.random()))
            wait *= 2


def make_client(base_url: str, cfg: ClientConfig):
    """A ChatClient for one URL, an EndpointPool for `URL1,URL2,...`."""
    urls = [u.strip() for u in base_url.split(",") if u.strip()]
    return EndpointPool(urls, cfg) if len(urls) > 1 else ChatClient(urls[0], cfg)
