"""Names are checked before any work: a bad name, or a companion name a verb would write
(`X-rejects`, `X-failures`, `X-dropped`), fails with one line, nothing registered, nothing sent."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from curate.catalog.catalog import check_names
from curate.catalog.importing import import_file
from curate.errors import BadInput


def _cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "curate.cli", *args], capture_output=True,
                          text=True, timeout=120, env=env)


@pytest.mark.parametrize("name", ["name\n", "name\r\n", "\nname", "a/b", "../../x", "-x", ".x",
                                  "", "a" * 129, "name ", "na me", "x\x00"])
def test_bad_names(name):
    with pytest.raises(BadInput, match="dataset name"):
        check_names(name)


@pytest.mark.parametrize("name", ["a", "math-cot-20k", "A.b_c-1", "a" * 128])
def test_good_names(name):
    check_names(name)


def test_trailing_newline_rejected_by_register(catalog):
    with pytest.raises(BadInput, match="dataset name"):
        catalog.register("toy\n", [{"prompt": "q"}])
    assert catalog.ls() == []


def _bad_file(tmp_path):
    f = tmp_path / "in.jsonl"
    f.write_text('{"prompt": "q1"}\n{"oops"\n{"prompt": "q2"}\n')
    return f


def test_rejects_name_checked_before_anything_is_registered(tmp_path, catalog):
    long = "a" * 125        # fits; "a"*125 + "-rejects" does not
    with pytest.raises(BadInput, match="-rejects"):
        import_file(catalog, _bad_file(tmp_path), long, skip_bad=True)
    assert catalog.ls() == []
    # without --skip-bad no rejects are written, so the name itself is all that counts
    with pytest.raises(BadInput, match=r"in.jsonl:2"):
        import_file(catalog, _bad_file(tmp_path), long)
    ref, rejects, _ = import_file(catalog, _bad_file(tmp_path), "a" * 120, skip_bad=True)
    assert ref.rows == 2 and rejects.name == "a" * 120 + "-rejects"


def test_cli_import_trailing_newline_and_long_rejects(tmp_path, home):
    f = _bad_file(tmp_path)
    for name, extra in (("toy\n", []), ("a" * 125, ["--skip-bad"])):
        r = _cli("import", str(f), "--name", name, *extra)
        assert r.returncode == 2 and r.stderr.strip().count("\n") == 0, r.stderr
        assert "dataset name" in r.stderr and "Traceback" not in r.stderr
    assert not (home / "store").exists() or not any((home / "store").iterdir())


class _Counting(BaseHTTPRequestHandler):
    hits: list[str] = []

    def _any(self):
        type(self).hits.append(f"{self.command} {self.path}")
        body = json.dumps({"data": [{"id": "m"}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _any

    def log_message(self, *a):
        pass


@pytest.fixture
def counting_server():
    _Counting.hits = []
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Counting)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}/v1", _Counting.hits
    srv.shutdown()


@pytest.mark.parametrize("name", ["../../x", "x\n", "a" * 125])   # the last: x-failures too long
def test_generate_bad_name_sends_no_request(tmp_path, home, counting_server, name):
    url, hits = counting_server
    p = tmp_path / "p.jsonl"
    p.write_text("".join(json.dumps({"prompt": f"What is {i}+1?", "reference": str(i + 1)}) + "\n"
                         for i in range(3)))
    r = _cli("generate", "--task", "math", "--name", name, "--prompts", str(p),
             "--teacher", f"openai:{url}", "--max-tokens", "4")
    assert r.returncode == 2 and r.stderr.strip().count("\n") == 0, r.stderr
    assert "dataset name" in r.stderr
    assert hits == []
    # the library function checks too (a notebook user gets the same answer)
    from curate.catalog import Catalog
    from curate.curation.generate import generate_traces

    with pytest.raises(BadInput, match="dataset name"):
        generate_traces(Catalog(home), name, str(p), f"openai:{url}", progress=False)
    assert hits == [] and Catalog(home).ls() == []


def test_countdown_bad_name_fails_before_generating(home):
    r = _cli("generate", "--task", "countdown", "--name", "../x", "-n", "3")
    assert r.returncode == 2 and "dataset name" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("cfg,n,match", [
    ({"temperature": float("nan")}, None, "--temperature must be >= 0, got nan"),
    ({"temperature": -0.5}, None, "--temperature must be >= 0"),
    ({"top_p": 0.0}, None, r"--top-p must be \(0, 1\]"),
    ({"top_p": 1.5}, None, r"--top-p must be \(0, 1\]"),
    ({"min_p": float("inf")}, None, r"--min-p must be \[0, 1\]"),
    ({"timeout": -1.0}, None, "--timeout must be > 0"),
    ({}, -5, "-n must be at least 1"),          # was a traceback
])
def test_generate_bad_sampling_sends_no_request(tmp_path, home, counting_server, cfg, n, match):
    """Sampling a server would reject or misread (NaN is not JSON) is one line, before any
    request; -n -5 was a traceback."""
    from curate.catalog import Catalog
    from curate.curation.generate import GenerateConfig, generate_traces
    from curate.errors import CurateError

    url, hits = counting_server
    p = tmp_path / "p.jsonl"
    p.write_text(json.dumps({"prompt": "What is 1+1?", "reference": "2"}) + "\n")
    with pytest.raises(CurateError, match=match):
        generate_traces(Catalog(home), "g", str(p), f"openai:{url}", GenerateConfig(**cfg), n=n,
                        progress=False)
    assert hits == [] and Catalog(home).ls() == []
