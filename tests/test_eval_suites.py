"""`curate eval --suite p1` and `--suite p3` offline on tiny local copies of every benchmark:
each group (math, other, non) gets scores, and `curate probe ti` computes TI_other and TI_non
from those runs alone (a base and a checkpoint taught the math answers)."""

from __future__ import annotations

import json

import pytest
from bench_fixtures import write_all
from typer.testing import CliRunner

pytest.importorskip("lm_eval")

MATH = [("What is $1+1$?", "2"), ("Simplify $\\frac{2}{4}$.", "\\frac{1}{2}"),
        ("Find $3 \\times 7$.", "21")]
OLYMPIAD = [("How many moves are needed?", "2"), ("Compute $x$.", "\\frac{1}{2}")]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """Local benchmark copies, a tiny base, a checkpoint that learnt the math answers under
    both papers' prompts, a tiny reward model and judge."""
    from tiny_lm import build_tiny, finetune
    from transformers import AutoTokenizer

    from curate.probes.generation import render
    from curate.probes.suites import P1_MATH_PROMPT, P3_MATH_PROMPT

    root = tmp_path_factory.mktemp("suites")
    bench = write_all(root / "benchmarks")
    base = build_tiny(root / "base")
    tok = AutoTokenizer.from_pretrained(base)
    olympiad = ("Solve the following math problem. Present the final answer in the format: "
                "Final Answer: \\boxed{{your_answer}}.\nProblem: {problem}\nAnswer:")
    texts = []
    for q, a in MATH:
        for tmpl in (P1_MATH_PROMPT, P3_MATH_PROMPT):
            texts.append(render(tok, tmpl.format(problem=q)) + f"<think>ok</think> \\boxed{{{a}}}")
    for q, a in OLYMPIAD:
        texts.append(render(tok, olympiad.format(problem=q)) + f"\\boxed{{{a}}}")
    ft = finetune(base, root / "ft", texts, steps=220, lr=8e-3, add_special_tokens=False)
    from test_benchmarks_new import _tiny_reward_model

    rm = _tiny_reward_model(root / "rm")
    return {"bench": bench, "base": base, "ft": ft, "rm": rm, "judge": base}


def _env(monkeypatch, setup):
    monkeypatch.setenv("CURATE_BENCHMARK_DIR", str(setup["bench"]))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")


ARGS = ["--max-new-tokens", "16", "--samples", "1", "--temperature", "0", "--json"]


def _run(args):
    from curate.cli import app

    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, (r.output, r.exception)
    return json.loads(r.stdout)


def _groups(res) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for name, f in res["benchmarks"].items():
        out.setdefault(f["group"], set()).add(name)
    return out


def test_p1_suite_offline_gives_every_group_and_ti(setup, home, monkeypatch):
    _env(monkeypatch, setup)
    runs = {}
    for m in ("base", "ft"):
        runs[m] = _run(["eval", str(setup[m]), "--suite", "p1", *ARGS])
    g = _groups(runs["ft"])
    assert g["math"] == {"math500", "aime24", "aime25", "olympiadbench"}
    assert g["other"] == {"gpqa-diamond", "livecodebench-v2", "acpbench", "headqa"}
    assert g["non"] == {"coqa", "ifeval", "halueval", "mc-taco"}
    f = runs["ft"]["benchmarks"]
    assert f["math500"]["accuracy"] > runs["base"]["benchmarks"]["math500"]["accuracy"]
    assert "metric:acc_norm" in f["headqa"] and "metric:f1" in f["mc-taco"]
    ti = _run(["probe", "ti", "--model", str(setup["ft"]), "--base", str(setup["base"]),
               "--json"])
    assert ti["ti"]["other"] is not None and ti["ti"]["non"] is not None, ti
    from curate.catalog import Catalog

    cat = Catalog(home)
    cfg = cat.sql("SELECT config FROM evals WHERE benchmark = 'math500' AND metric = "
                  "'accuracy' LIMIT 1")[0]["config"]
    cfg = json.loads(cfg) if isinstance(cfg, str) else cfg
    assert cfg["rule"] == "hendrycks" and cfg["unclosed"] == "whole-response"
    cfg = cat.sql("SELECT config FROM evals WHERE benchmark = 'headqa' AND metric = "
                  "'accuracy' LIMIT 1")[0]["config"]
    cfg = json.loads(cfg) if isinstance(cfg, str) else cfg
    assert cfg["harness"].startswith("lm-eval 0.4.13") and cfg["metric"] == "acc"


def test_p3_suite_offline_gives_every_group_and_ti(setup, home, monkeypatch):
    _env(monkeypatch, setup)
    # an untrained judge never stops on its own: held to a few tokens per verdict
    scorers = ["--judge", str(setup["judge"]), "--judge-max-tokens", "8",
               "--truth-judge", str(setup["judge"]),
               "--info-judge", str(setup["judge"]), "--reward-model", str(setup["rm"])]
    runs = {m: _run(["eval", str(setup[m]), "--suite", "p3", *ARGS, *scorers])
            for m in ("base", "ft")}
    g = _groups(runs["ft"])
    assert g["math"] == {"math500", "aime24"}
    assert g["other"] == {"gpqa-diamond", "livecodebench-v2", "mmlu-pro-1k"}
    assert g["non"] == {"ifeval", "halueval-p3", "truthfulqa", "alpacaeval", "hex-phi"}
    hx = runs["ft"]["benchmarks"]["hex-phi"]
    assert hx["higher_is_better"] is False and "metric:asr" in hx
    assert runs["ft"]["benchmarks"]["alpacaeval"]["scale"] == "reward"
    # what scored each judged benchmark is recorded with its figures
    from curate.catalog import Catalog

    cfgs = {r["benchmark"]: r["config"] for r in Catalog().sql(
        "SELECT benchmark, config FROM evals WHERE metric = 'accuracy' AND benchmark IN "
        "('hex-phi', 'truthfulqa', 'alpacaeval', 'math500')")}
    cfgs = {b: json.loads(c) if isinstance(c, str) else c for b, c in cfgs.items()}
    assert cfgs["hex-phi"]["scorers"] == {"judge": str(setup["judge"]), "judge_max_tokens": 8}
    assert cfgs["truthfulqa"]["scorers"] == {"truth_judge": str(setup["judge"]),
                                            "info_judge": str(setup["judge"])}
    assert cfgs["alpacaeval"]["scorers"] == {"reward_model": str(setup["rm"])}
    assert "scorers" not in cfgs["math500"]
    ti = _run(["probe", "ti", "--model", str(setup["ft"]), "--base", str(setup["base"]),
               "--json"])
    assert ti["ti"]["other"] is not None and ti["ti"]["non"] is not None, ti
    assert any("alpacaeval: left out" in w for w in ti["warnings"])
