"""One async client for every OpenAI-compatible backend (vLLM, SGLang, transformers serve, hosted).

aiohttp rather than httpx: at 64 connections httpx's pool tops out near 300 requests/s on one
core, aiohttp above 2,500 (benchmarks/client_overhead.py), and the client must never be what
limits a fast server. Retries: 408 / 429 / 5xx / connection errors / timeouts, with exponential
backoff, jitter and `Retry-After`; a 4xx that will not change is final at once; 401 / 403 / 404
stop the whole run (every other request would fail the same way).
"""

from __future__ import annotations

import asyncio
import base64
import json
import random
import time
from dataclasses import dataclass, field
from typing import Any

from curate.errors import CurateError
from curate.redact import known_secrets, register_secret, scrub, split_userinfo

RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}
FATAL_STATUS = {401, 403, 404}
CONTEXT_HINTS = ("context length", "context_length", "maximum context", "max_model_len",
                 "too long", "prompt is too long", "longer than the maximum")


@dataclass
class ClientConfig:
    concurrency: int = 64
    timeout: float = 1800.0            # seconds per request: long traces take minutes
    max_retries: int = 8
    backoff: float = 0.5               # first wait; doubles, capped at max_backoff, with jitter
    max_backoff: float = 30.0
    api_key: str | None = field(default=None, repr=False)


@dataclass
class Outcome:
    ok: bool
    data: dict[str, Any] | None = None
    status: int | None = None
    reason: str | None = None         # on failure: http_400, context_length, timeout, ...
    error: str | None = None
    final: bool = False               # a failure that a retry will not change
    attempts: int = 0
    latency_s: float = 0.0


class FatalTeacherError(CurateError):
    """A failure every request would share (auth, unknown model, wrong URL)."""


def _short(text: str, n: int = 300) -> str:
    """One line of at most `n` characters, secrets removed first (error bodies may echo the
    Authorization header back)."""
    return " ".join(scrub(text).split())[:n]


def classify_4xx(status: int, text: str) -> str:
    low = text.lower()
    if any(h in low for h in CONTEXT_HINTS):
        return "context_length"
    return f"http_{status}"


class ChatClient:
    """`async with ChatClient(base_url, cfg) as c: await c.chat(body)`."""

    def __init__(self, base_url: str, cfg: ClientConfig | None = None):
        # credentials in the URL (http://user:KEY@host/v1) are sent as basic auth and kept
        # out of base_url, which appears in messages and records
        self.base_url, self._user, self._password = split_userinfo(base_url.rstrip("/"))
        self.cfg = cfg or ClientConfig()
        register_secret(self.cfg.api_key)
        register_secret(self._password)
        if self._user is not None:  # what basic auth sends: base64 of user:password
            register_secret(base64.b64encode(
                f"{self._user}:{self._password or ''}".encode()).decode())
        self._session = None
        self._secrets: list[bytes] = []
        self.in_flight = 0

    async def __aenter__(self) -> ChatClient:
        import aiohttp

        headers = {"Content-Type": "application/json"}
        if self.cfg.api_key:
            headers["Authorization"] = f"Bearer {self.cfg.api_key}"
        auth = None
        if self._user is not None and not self.cfg.api_key:
            auth = aiohttp.BasicAuth(self._user, self._password or "")
        conn = aiohttp.TCPConnector(limit=self.cfg.concurrency, ttl_dns_cache=300)
        self._session = aiohttp.ClientSession(
            connector=conn, headers=headers, auth=auth,
            timeout=aiohttp.ClientTimeout(total=self.cfg.timeout))
        self._secrets = [v.encode() for v in known_secrets()]
        return self

    async def __aexit__(self, *exc) -> None:
        if self._session is not None:
            await self._session.close()

    @property
    def root_url(self) -> str:
        """The server root, for endpoints outside the OpenAI `/v1` tree (`/version`, ...)."""
        return self.base_url[:-3] if self.base_url.endswith("/v1") else self.base_url

    async def get_json(self, path: str, timeout: float = 10.0, root: bool = False) -> Any | None:
        """GET a JSON endpoint (model list, version); None when absent or unreachable."""
        import aiohttp

        try:
            async with self._session.get((self.root_url if root else self.base_url) + path,
                                         timeout=aiohttp.ClientTimeout(total=timeout)) as r:
                if r.status in (401, 403):
                    raise FatalTeacherError(f"{self.base_url}{path}: HTTP {r.status} (check the "
                                            "API key in the environment)")
                if r.status != 200:
                    return None
                return json.loads(await r.read())
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError):
            return None

    def _without_secrets(self, raw: bytes) -> bytes:
        """A response that echoes a key we sent (or hold) gets it masked before it can reach
        rows, cache or catalog."""
        for v in self._secrets:
            if v in raw:
                raw = raw.replace(v, b"***")
        return raw

    async def chat(self, body: dict[str, Any], path: str = "/chat/completions") -> Outcome:
        """POST with retries; returns an Outcome, raising only for run-wide failures."""
        import aiohttp

        payload = json.dumps(body, ensure_ascii=False).encode()
        attempt, wait, start = 0, self.cfg.backoff, time.monotonic()
        last = Outcome(ok=False)
        while True:
            attempt += 1
            self.in_flight += 1
            try:
                async with self._session.post(self.base_url + path, data=payload) as r:
                    raw = await r.read()
                    status = r.status
                    retry_after = r.headers.get("Retry-After")
            except asyncio.TimeoutError:
                last = Outcome(False, reason="timeout",
                               error=f"no answer within {self.cfg.timeout:g} s")
                status, retry_after = None, None
            except aiohttp.ClientError as e:
                last = Outcome(False, reason="connection_error", error=_short(f"{type(e).__name__}: {e}"))
                status, retry_after = None, None
            finally:
                self.in_flight -= 1
            if status == 200:
                raw = self._without_secrets(raw)
                try:
                    data = json.loads(raw)
                    data["choices"][0]
                    return Outcome(True, data, 200, attempts=attempt,
                                   latency_s=time.monotonic() - start)
                except (ValueError, KeyError, IndexError, TypeError):
                    last = Outcome(False, status=200, reason="bad_response",
                                   error=_short(raw.decode("utf-8", "replace")))
            elif status is not None:
                text = raw.decode("utf-8", "replace")
                if status in FATAL_STATUS:
                    raise FatalTeacherError(f"{self.base_url}{path}: HTTP {status}: {_short(text, 200)}"
                                            + (" (check the API key in the environment)"
                                               if status in (401, 403) else ""))
                if status not in RETRY_STATUS:
                    return Outcome(False, status=status, reason=classify_4xx(status, text),
                                   error=_short(text), final=True, attempts=attempt,
                                   latency_s=time.monotonic() - start)
                last = Outcome(False, status=status, reason=f"http_{status}", error=_short(text))
            if attempt > self.cfg.max_retries:
                last.attempts = attempt
                last.latency_s = time.monotonic() - start
                return last
            delay = min(wait, self.cfg.max_backoff) * (0.5 + random.random())
            if retry_after:
                try:
                    delay = max(delay, min(float(retry_after), self.cfg.max_backoff))
                except ValueError:
                    pass
            await asyncio.sleep(delay)
            wait *= 2
