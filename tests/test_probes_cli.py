"""`curate probe ...`, `curate eval RUN` over checkpoints and `curate report` end to end."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from tiny_lm import build_local, build_tiny, finetune
from typer.testing import CliRunner

from curate.cli import app

TEXTS = [{"task": "math", "prompt": f"What is {i} + 2?",
          "response": f"<think>Wait, {i} plus 2 is {i + 2}.</think> \\boxed{{{i + 2}}}"}
         for i in range(5)] + [
         {"task": "other", "prompt": f"Which option {i}? A) red B) blue",
          "response": "The answer is \\boxed{B}. So yes."} for i in range(5)]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli-models")
    base = build_tiny(root / "base")
    ft = finetune(base, root / "ft", [r["prompt"] + " " + r["response"] for r in TEXTS[:5]],
                  steps=10)
    ft2 = finetune(base, root / "ft2", [r["prompt"] + " " + r["response"] for r in TEXTS[:5]],
                   steps=25)
    other = build_local(root / "other", texts=["a different corpus entirely"] * 20,
                        vocab_size=290)
    texts = root / "texts.jsonl"
    texts.write_text("\n".join(json.dumps(r) for r in TEXTS))
    suite = root / "arith.jsonl"
    suite.write_text("\n".join(json.dumps({"problem": f"What is {i} + 2?", "answer": str(i + 2)})
                               for i in range(3)))
    return {"base": str(base), "ft": str(ft), "ft2": str(ft2), "other": str(other),
            "texts": str(texts), "suite": str(suite)}


def _run(args):
    r = CliRunner().invoke(app, args)
    return r


def test_probe_kl_pca_rank_cli(setup, catalog):
    s = setup
    r = _run(["probe", "kl", "--model", s["ft"], "--base", s["base"], "--texts", s["texts"],
              "--json"])
    assert r.exit_code == 0, r.output
    kl = json.loads(r.stdout)
    assert kl["overall"]["kl_released"] > 0 and kl["overall"]["kl_full"] > 0
    assert Path(kl["plot_path"]).is_file()
    r = _run(["probe", "kl", "--model", s["base"], "--base", s["base"], "--texts", s["texts"],
              "--json", "--fixed"])
    assert json.loads(r.stdout)["overall"]["kl_full"] == pytest.approx(0, abs=1e-9)
    r = _run(["probe", "pca-shift", "--model", s["ft"], "--base", s["base"], "--texts",
              s["texts"], "--json"])
    assert r.exit_code == 0, r.output
    pca = json.loads(r.stdout)
    assert set(pca["d"]) == {"math", "other"} and pca["d"]["math"] > 0
    r = _run(["probe", "rank-shift", "--model", s["ft"], "--base", s["base"], "--texts",
              s["texts"], "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["inferred"] is True
    probes = catalog.sql("SELECT probe, plot_path FROM probes ORDER BY created")
    assert [p["probe"] for p in probes] == ["kl", "kl", "pca-shift", "rank-shift"]
    runs = catalog.sql("SELECT status FROM runs WHERE kind = 'probe'")
    assert {r["status"] for r in runs} == {"ok"}


def test_probe_bad_inputs(setup, home):
    s = setup
    r = _run(["probe", "kl", "--model", s["other"], "--base", s["base"], "--texts", s["texts"]])
    assert r.exit_code != 0 and "different tokenizers" in str(r.exception)
    r = _run(["probe", "kl", "--model", s["ft"], "--base", s["base"], "--texts", "nope.jsonl"])
    assert "not found" in str(r.exception)
    r = _run(["probe", "ti", "--model", "x", "--base", "y"])
    assert "no 'accuracy' evals" in str(r.exception)
    # through the real entry point: one line on stderr, exit 2, no traceback
    exe = Path(__file__).resolve().parents[1] / ".venv" / "bin" / "curate"
    p = subprocess.run([str(exe), "--home", str(home), "probe", "kl", "--model", s["other"],
                        "--base", s["base"], "--texts", s["texts"]], capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 2 and "different tokenizers" in p.stderr
    assert "Traceback" not in p.stderr


def _insert_evals(catalog, model, scores):
    for bench, (group, value) in scores.items():
        catalog.insert("evals", {"model": model, "benchmark": bench, "domain": group,
                                 "metric": "accuracy", "value": value})


def test_probe_ti_cli(catalog):
    _insert_evals(catalog, "base", {"m1": ("math", 0.2), "m2": ("math", 0.5),
                                    "o1": ("other", 0.3), "n1": ("non", 0.6)})
    _insert_evals(catalog, "ft", {"m1": ("math", 0.4), "m2": ("math", 0.6),
                                  "o1": ("other", 0.33), "n1": ("non", 0.54)})
    r = _run(["probe", "ti", "--model", "ft", "--base", "base", "--formula", "v1", "--json"])
    assert r.exit_code == 0, r.output
    res = json.loads(r.stdout)
    assert res["ti"]["other"] == pytest.approx(0.1 / 0.6 * 100)
    assert res["ti"]["non"] == pytest.approx(-0.1 / 0.6 * 100)
    r = _run(["probe", "ti", "--model", "ft", "--base", "base"])
    assert r.exit_code == 0 and "TI" in r.stdout
    _insert_evals(catalog, "flat", {"m1": ("math", 0.2), "m2": ("math", 0.5),
                                    "o1": ("other", 0.4), "n1": ("non", 0.6)})
    r = _run(["probe", "ti", "--model", "flat", "--base", "base", "--json"])
    res = json.loads(r.stdout)
    assert res["ti"] == {"other": None, "non": None} and "no math gain" in res["reason"]
    assert "NaN" not in r.stdout


def test_eval_run_checkpoints_and_report(setup, catalog, tmp_path):
    s = setup
    for step, path in ((10, s["ft"]), (20, s["ft2"])):
        catalog.insert("checkpoints", {"id": f"ck{step}", "run_id": "run1", "path": path,
                                       "step": step, "model": s["base"]})
    r = _run(["eval", "run1", "--suite", f"local:{s['suite']}", "--max-new-tokens", "8",
              "--temperature", "0", "--json"])
    assert r.exit_code == 0, r.output
    res = json.loads(r.stdout)
    traj = res["trajectory"]["arith"]
    assert traj["step"] == [0, 10, 20] and len(traj["mean_response_tokens"]) == 3
    assert Path(res["plot_path"]).is_file()
    steps = catalog.sql("SELECT DISTINCT step, checkpoint_id FROM evals ORDER BY step")
    assert [(x["step"], x["checkpoint_id"]) for x in steps] == [(0, None), (10, "ck10"),
                                                                 (20, "ck20")]
    # KL over the model's own responses, straight from eval's per-sample outputs
    outputs = res["evals"][-1]["benchmarks"]["arith"]["outputs"]
    r = _run(["probe", "kl", "--model", s["ft2"], "--base", s["base"], "--texts", outputs,
              "--json"])
    assert r.exit_code == 0, r.output
    kl = json.loads(r.stdout)
    assert list(kl["tasks"]) == ["arith"] and kl["overall"]["n_samples"] == 3
    # a probe and a TI so the report has every section
    _run(["probe", "pca-shift", "--model", s["ft"], "--base", s["base"], "--texts", s["texts"]])
    _insert_evals(catalog, "b", {"m": ("math", 0.2), "o": ("other", 0.3)})
    _insert_evals(catalog, "f", {"m": ("math", 0.4), "o": ("other", 0.35)})
    _run(["probe", "ti", "--model", "f", "--base", "b"])
    catalog.register("toy", [{"x": 1}, {"x": 2}], kind="rows")
    out = tmp_path / "report"
    r = _run(["report", "--out", str(out)])
    assert r.exit_code == 0, r.output
    pages = {p.name: p.read_text() for p in out.glob("*.html")}
    assert {"index.html", "lineage.html", "datasets.html", "runs.html", "evals.html",
            "probes.html"} <= set(pages)
    assert "toy" in pages["datasets.html"] and "Transferability Index" in pages["probes.html"]
    assert "pca-shift" in pages["probes.html"] and "data:image/png;base64," in pages["probes.html"]
    assert "<svg" in pages["evals.html"]  # score and length against step
    for text in pages.values():
        assert "src=\"http" not in text and "<script" not in text
    shot = _screenshot(out / "index.html", tmp_path / "shot.png")
    if shot is None:
        import warnings

        warnings.warn("chromium is not installed: the report screenshot was not checked",
                      stacklevel=1)
    else:
        _check_screenshot(shot)


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    return None


def _screenshot(page: Path, png: Path) -> Path | None:
    exe = _chromium()
    if exe is None:
        return None
    from curate.dashboard.screenshot import screenshot

    return screenshot(page, png, exe=exe)


def _check_screenshot(png: Path) -> None:
    """The page rendered with its plots: a large PNG with many colours (not a blank page)."""
    from PIL import Image

    im = Image.open(png).convert("RGB")
    assert im.size[0] >= 1000
    colours = im.getcolors(maxcolors=1 << 20)
    assert colours is None or len(colours) > 200


def test_pca_shift_on_registry_benchmarks(setup, catalog, shared_data):
    s = setup
    r = _run(["probe", "pca-shift", "--model", s["ft"], "--base", s["base"], "--texts",
              "benchmark:math500,benchmark:aime24", "--k", "8", "--json"])
    assert r.exit_code == 0, r.output
    res = json.loads(r.stdout)
    assert set(res["d"]) == {"math500", "aime24"}
    assert res["tasks"]["math500"]["k"] == 8 and res["tasks"]["math500"]["group"] == "math"
    assert set(res["groups"]) == {"math"}


def test_screenshot_reports_page_errors(tmp_path):
    from curate.dashboard.screenshot import find_chromium, screenshot
    from curate.errors import CurateError

    if find_chromium() is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    bad = tmp_path / "bad.html"
    bad.write_text("<html><body><p>x</p><script>undefinedFn()</script></body></html>")
    with pytest.raises(CurateError, match="undefinedFn"):
        screenshot(bad, tmp_path / "bad.png", height=300)
