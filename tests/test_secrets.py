"""Secrets never reach output, logs, cache or catalog: a teacher that echoes the Authorization
header (401, 400, inside answers) and a key in the URL's user-info, run through `curate
generate` and `curate export`; then every byte the workspace holds is searched."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from curate.redact import register_secret, scrub, scrub_obj, split_userinfo

sys.path.insert(0, str(Path(__file__).resolve().parent))
import echo_openai_server  # noqa: E402

KEY = "sk-curatetest-" + "Zq7" * 10             # an OpenAI-shaped key
URLKEY = "urlpass-9f8e7d6c5b4a"                  # a password in the URL's user-info


def forms(secret: str, user: str = "user") -> list[str]:
    """The shapes a secret travels in: as is, and inside basic auth."""
    return [secret, base64.b64encode(f"{user}:{secret}".encode()).decode()]


def everything_in(home: Path) -> str:
    """Every table of the catalog, every Parquet row and every other file under `home`."""
    out = []
    con = duckdb.connect(str(home / "catalog.duckdb"), read_only=True)
    for (t,) in con.execute("SELECT table_name FROM information_schema.tables").fetchall():
        out.append(str(con.execute(f'SELECT * FROM "{t}"').fetchall()))
    con.close()
    for f in home.rglob("*"):
        if not f.is_file():
            continue
        if f.suffix == ".parquet":
            out.append(str(pq.read_table(f).to_pylist()))
        out.append(f.read_bytes().decode("latin-1"))
    return "\n".join(out)


def generate(tmp_path: Path, home: Path, teacher: str, name: str, env_key: str | None):
    prompts = tmp_path / "p.jsonl"
    prompts.write_text("".join(json.dumps({"prompt": p, "problem_id": f"q{i}", "reference": "2"})
                               + "\n" for i, p in enumerate(
                                   ["What is 1+1?", "bad: 3-1?", "What is 4/2?"])))
    env = {**os.environ, "CURATE_HOME": str(home)}
    env.pop("OPENAI_API_KEY", None)
    if env_key:
        env["OPENAI_API_KEY"] = env_key
    return subprocess.run([sys.executable, "-m", "curate.cli", "generate", "--task", "math",
                           "--prompts", str(prompts), "--teacher", teacher, "--name", name,
                           "--max-tokens", "16", "--max-retries", "0"],
                          env=env, capture_output=True, text=True, timeout=300)


def assert_nowhere(secrets: list[str], *texts: str) -> None:
    for s in secrets:
        for t in texts:
            assert s not in t, f"secret {s[:6]}... found in: ...{t[max(0, t.find(s) - 80):][:200]}"


@pytest.mark.parametrize("mode", ["echo401", "echo400", "mixed", "echo200"])
def test_echoed_api_key_never_stored_or_printed(tmp_path, mode):
    server, url = echo_openai_server.start(mode)
    home = tmp_path / "home"
    try:
        r = generate(tmp_path, home, f"openai:{url}", "g", env_key=KEY)
    finally:
        server.shutdown()
    if mode in ("echo401", "echo400"):
        assert r.returncode == 2, r.stderr
        assert "***" in r.stderr and len(r.stderr.strip().splitlines()[-1]) < 1000
    else:
        assert r.returncode == 0, r.stderr
    assert_nowhere(forms(KEY), r.stdout, r.stderr, everything_in(home))
    con = duckdb.connect(str(home / "catalog.duckdb"), read_only=True)
    status = con.execute("SELECT status, error FROM runs").fetchall()
    con.close()
    assert status and status[0][0] == ("failed" if mode in ("echo401", "echo400") else "ok")
    if mode == "mixed":   # the failure kept in g-failures says what happened, key masked
        errors = pq.read_table(next((home / "store" / "g-failures").rglob("*.parquet")),
                               columns=["error"]).column("error").to_pylist()
        assert errors == ['{"error": {"message": "bad request from Bearer ***", '
                          '"headers": {"Authorization": "***"}}}']


@pytest.mark.parametrize("mode", ["ok", "echo401"])
def test_key_in_url_userinfo(tmp_path, mode):
    server, url = echo_openai_server.start(mode)
    home = tmp_path / "home"
    teacher = "openai:" + url.replace("http://", f"http://user:{URLKEY}@")
    try:
        r = generate(tmp_path, home, teacher, "u", env_key=None)
        assert r.returncode == (0 if mode == "ok" else 2), r.stderr
        texts = [r.stdout, r.stderr, everything_in(home)]
        if mode == "ok":
            out = tmp_path / "export"
            e = subprocess.run([sys.executable, "-m", "curate.cli", "export", "u", str(out)],
                               env={**os.environ, "CURATE_HOME": str(home)},
                               capture_output=True, text=True, timeout=300)
            assert e.returncode == 0, e.stderr
            card = (out / "README.md").read_text()
            assert "openai:http://***@127.0.0.1" in card
            texts += [e.stdout, e.stderr, card]
            texts += [f.read_bytes().decode("latin-1") for f in out.rglob("*") if f.is_file()]
    finally:
        server.shutdown()
    assert_nowhere(forms(URLKEY), *texts)


def test_scrub_kinds():
    register_secret("registered-value-123")
    os.environ["CURATE_TEST_API_KEY"] = "env-value-abcdef-42"
    try:
        cases = {
            "Bearer sk-abcdefghijklmnop1234": "Bearer ***",
            "authorization: Basic dXNlcjpwYXNzd29yZDE=": "authorization: ***",
            "https://me:pw123456@host/v1/x": "https://***@host/v1/x",
            "GET /a?api_key=abc123xyz&b=1": "GET /a?api_key=***&b=1",
            # a query parameter whose name holds a secret word, not only the exact names
            "http://h/v1?auth=Zq9xLm2Vb7&model=m": "http://h/v1?auth=***&model=m",
            "https://h/v1?apiKey=abc&key=def": "https://h/v1?apiKey=***&key=***",
            "s3://b/o?X-Amz-Signature=ab12&X-Amz-Security-Token=t0k&X-Amz-Date=1":
                "s3://b/o?X-Amz-Signature=***&X-Amz-Security-Token=***&X-Amz-Date=1",
            "https://acct.blob/c?sv=2020&sig=abc%3D": "https://acct.blob/c?sv=2020&sig=***",
            "token=ghp_abcdefghijklmnopqrstuvwxyz012345": "token=***",
            "hub hf_AbCdEfGhIjKlMnOpQrStUv": "hub ***",
            "got registered-value-123 and env-value-abcdef-42": "got *** and ***",
            '{"api_key": "plainvalue"}': '{"api_key": "***"}',
            "no Hugging Face token: set HF_TOKEN": "no Hugging Face token: set HF_TOKEN",
            "basic auth failed for the token count": "basic auth failed for the token count",
        }
        cases["error: got registered-val"] = "error: got ***"     # cut to length mid-secret
        for text, want in cases.items():
            assert scrub(text) == want, text
        assert scrub_obj({"teacher": "openai:http://u:pw123456@h/v1", "hf_token": "x" * 8,
                          "key": "prompt"}) == {"teacher": "openai:http://***@h/v1",
                                                "hf_token": "***", "key": "prompt"}
        assert split_userinfo("http://u:p%40ss@127.0.0.1:8000/v1") == \
            ("http://127.0.0.1:8000/v1", "u", "p@ss")
    finally:
        del os.environ["CURATE_TEST_API_KEY"]


@pytest.mark.parametrize("param", ["auth", "key", "access_token", "X-Api-Key"])
def test_key_in_the_url_query(tmp_path, param):
    """A key in the teacher URL's query string (?auth= was stored whole in runs.config; only
    the exact names api_key/token/... were masked) is masked in every output, table and file."""
    server, url = echo_openai_server.start("ok")
    home = tmp_path / "home"
    secret = "qs9Vb7Nc4Rt8Yp3Wk6Lm2"
    try:
        r = generate(tmp_path, home, f"openai:{url}?{param}={secret}", "q", env_key=None)
    finally:
        server.shutdown()
    assert r.returncode in (0, 2), r.stderr
    assert_nowhere([secret], r.stdout, r.stderr, everything_in(home))
