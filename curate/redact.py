"""The one function that keeps secrets out of what curate prints, logs, caches and records.

`scrub(text)` replaces with `***`:
- every known secret value: values registered with `register_secret` (API keys a client was
  given, URL passwords) and the values of environment variables named like secrets
  (`*_API_KEY`, `*_KEY`, `*_TOKEN`, `*_SECRET`, `*_PASSWORD`, `HF_TOKEN`, ...; 8+ characters);
- URL user-info (`scheme://user:KEY@host` -> `scheme://***@host`);
- `Authorization:` / `Proxy-Authorization:` header values and `Bearer` / `Basic` credentials;
- token shapes: Hugging Face `hf_...`, OpenAI-style `sk-...`, GitHub `ghp_...`/`github_pat_...`,
  Slack `xox?-...`, AWS access key ids, Groq `gsk_...`;
- values of query parameters whose name holds a secret word (`?key=`, `?auth=`, `&sig=`,
  `X-Amz-Signature=`, `?access_token=`) and of secret-named fields (`"password": ...`).

Error texts, URLs, teacher specs, run configs and errors, lineage parameters, request-cache
failures and printed errors all pass through it (`scrub_obj` for nested data).
"""

from __future__ import annotations

import os
import re
from typing import Any

MASK = "***"
MIN_SECRET = 8       # shorter values (e.g. OPENAI_API_KEY=EMPTY for local servers) are not secret

_SECRET_ENV = re.compile(
    r"(^|_)(API_?KEY|KEY|TOKEN|SECRET|PASSWORD|PASSWD|PASS|PAT|CREDENTIALS?|AUTH_TOKEN)($|_)",
    re.I)
_registered: set[str] = set()

_KEY_NAMES = (r"api[_-]?key|apikey|access[_-]?token|auth[_-]?token|refresh[_-]?token|token|"
              r"password|passwd|secret|client[_-]?secret|private[_-]?key|signature|sig|key")

# a query parameter is secret when its name contains one of these (URLs are where keys hide
# in plain sight: Google's ?key=, Firebase's ?auth=, S3's X-Amz-Signature, Azure's sig=)
_QUERY_WORDS = r"key|token|auth|secret|passw|sig|credential|session|code"

_PATTERNS: list[tuple[re.Pattern, str]] = [
    # URL user-info: keep the scheme and host, drop user and password
    (re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)[^/\s@'\"<>]+@"), r"\1" + MASK + "@"),
    # Authorization headers, as text, JSON or Python reprs
    (re.compile(r"(?i)((?:proxy-)?authorization['\"]?\s*[:=]\s*['\"]?)[^'\"\r\n,}]+"),
     r"\1" + MASK),
    (re.compile(r"(?i)\b(bearer)(\s+)[A-Za-z0-9._~+/\-]{6,}=*"), r"\1\2" + MASK),
    (re.compile(r"(?i)\b(basic)(\s+)(?=[A-Za-z0-9+/]*[0-9+/=])[A-Za-z0-9+/]{8,}=*"),
     r"\1\2" + MASK),
    # token shapes
    (re.compile(r"\bhf_[A-Za-z0-9]{16,}"), MASK),
    (re.compile(r"\bsk-[A-Za-z0-9_\-]{12,}"), MASK),
    (re.compile(r"\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{20,}|\bgithub_pat_[A-Za-z0-9_]{20,}"),
     MASK),
    (re.compile(r"\bxox[abprs]-[A-Za-z0-9\-]{10,}"), MASK),
    (re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"), MASK),
    (re.compile(r"\bgsk_[A-Za-z0-9]{20,}"), MASK),
    # query parameters whose name holds a secret word: ?api_key=, &token=, ?auth=, ?key=,
    # &X-Amz-Signature=, &X-Amz-Security-Token=, &sig= (SAS), ?access_token=, ?apiKey=
    (re.compile(rf"(?i)([?&;][^=&#\s'\"<>]*?(?:{_QUERY_WORDS})[^=&#\s'\"<>]*=)[^&#\s'\"<>]+"),
     r"\1" + MASK),
    # secret-named fields: "api_key": "...", api_key='...', password=...
    (re.compile(rf"(?i)(['\"](?:{_KEY_NAMES})['\"]\s*:\s*['\"])[^'\"]+(['\"])"),
     r"\1" + MASK + r"\2"),
    (re.compile(rf"(?i)\b((?:{_KEY_NAMES})\s*=\s*['\"]?)(?!\*\*\*)[^\s'\",&)]{{6,}}"),
     r"\1" + MASK),
]


def register_secret(value: str | None) -> None:
    """Remember a secret this process was given (API key, URL password) so every later
    `scrub` removes it wherever it appears, whatever its shape."""
    if value and len(value) >= MIN_SECRET:
        _registered.add(value)


def known_secrets() -> list[str]:
    """Registered values and secret-named environment variables' values, longest first."""
    found = set(_registered)
    for name, value in os.environ.items():
        if value and len(value) >= MIN_SECRET and _SECRET_ENV.search(name):
            found.add(value)
    return sorted(found, key=len, reverse=True)


def scrub(text: Any, extra: tuple[str, ...] | list[str] = ()) -> Any:
    """`text` with every secret replaced by `***` (non-strings are returned unchanged)."""
    if not isinstance(text, str) or not text:
        return text
    values = [v for v in [*extra, *known_secrets()] if v and len(v) >= 4]
    for value in values:
        if value in text:
            text = text.replace(value, MASK)
    for value in values:  # a text cut to length may end in the first part of a secret
        for k in range(len(value) - 1, 5, -1):
            if text.endswith(value[:k]):
                text = text[:-k] + MASK
                break
    for pattern, repl in _PATTERNS:
        text = pattern.sub(repl, text)
    return text


def scrub_values(text: Any) -> Any:
    """Only the exact known secret values (cheap; safe on model output and row data)."""
    if not isinstance(text, str) or not text:
        return text
    for value in known_secrets():
        if value in text:
            text = text.replace(value, MASK)
    return text


_SECRET_FIELD = re.compile(r"(?i)(api[_-]?key|apikey|access[_-]?token|auth[_-]?token|"
                           r"refresh[_-]?token|hf[_-]?token|password|passwd|secret|"
                           r"client[_-]?secret|private[_-]?key|authorization)")


def scrub_obj(obj: Any) -> Any:
    """`scrub` applied to every string inside nested dicts, lists and tuples (keys too); a
    string under a secret-named key (`api_key`, `password`, `hf_token`, ...) is masked whole."""
    if isinstance(obj, str):
        return scrub(obj)
    if isinstance(obj, dict):
        return {scrub(k) if isinstance(k, str) else k:
                MASK if isinstance(v, str) and v and isinstance(k, str)
                and _SECRET_FIELD.fullmatch(k) else scrub_obj(v)
                for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(scrub_obj(v) for v in obj)
    return obj


def split_userinfo(url: str) -> tuple[str, str | None, str | None]:
    """(url without user-info, user, password) of an http(s) URL."""
    from urllib.parse import unquote, urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url, None, None
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = host + (f":{parts.port}" if parts.port else "")
    return (urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment)),
            unquote(parts.username or ""), unquote(parts.password or "") or None)
