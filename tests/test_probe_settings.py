"""Probe settings: TI undefined when the math gain is cancellation, TI from a user's own score
table with a stated scale, P1's non-thinking prompt form, the model's own responses for
prompt-only rows, the attention implementation and library versions recorded, and probe rows
linked to the checkpoint they measured."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tiny_lm import build_tiny, finetune
from typer.testing import CliRunner

from curate.cli import app
from curate.errors import BadInput
from curate.probes.transfer import compute_ti

BASE = {"m1": ("math", 20.0), "m2": ("math", 20.0), "o1": ("other", 30.0),
        "o2": ("other", 40.0), "n1": ("non", 60.0)}


# -- TI: a math gain that is cancellation is no gain ---------------------------------------
@pytest.mark.parametrize("formula,m1,m2", [
    ("icml", 25.0, 15.002),   # +5 and -4.998 at equal headroom: DI_math = 1e-4
    ("icml", 21.0, 19.0005),  # a smaller pair, the same cancellation
    ("v1", 25.0, 15.001),     # relative gains +0.25 and -0.24995: ΔR_math = 2.5e-5
])
def test_ti_undefined_when_math_gain_cancels(formula, m1, m2):
    model = dict(BASE, m1=("math", m1), m2=("math", m2), o1=("other", 40.0))
    r = compute_ti(model, BASE, formula=formula)
    assert r["ti"] == {"other": None, "non": None}
    assert "mostly cancellation" in r["reason"] and r["groups"]["math"]["share"] < 0.01
    assert abs(r["ti_unguarded"]["other"]) > 1000  # what used to be printed as TI
    forced = compute_ti(model, BASE, formula=formula, min_math_share=0.0)
    assert forced["ti"] == forced["ti_unguarded"] and forced["reason"] is None


def test_ti_defined_when_the_math_gain_is_real():
    # both improve: share 1; one improves far more than the other drops: share above 0.1
    for m1, m2 in ((30.0, 25.0), (40.0, 18.0)):
        model = dict(BASE, m1=("math", m1), m2=("math", m2))
        for formula in ("icml", "v1"):
            r = compute_ti(model, BASE, formula=formula)
            assert r["reason"] is None and r["ti"]["other"] is not None
            assert r["groups"]["math"]["share"] >= 0.1
    with pytest.raises(BadInput, match="min-math-share"):
        compute_ti(BASE, BASE, min_math_share=2)


# -- TI from a score table with an explicit scale ------------------------------------------
def _table(path: Path, rows: list[dict]) -> str:
    if path.suffix == ".csv":
        cols = list(rows[0])
        path.write_text(",".join(cols) + "\n" + "\n".join(
            ",".join(str(r[c]) for c in cols) for r in rows) + "\n")
    else:
        path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return str(path)


WEAK = [  # a weak model in percent: every score is below 1 %
    {"model": "base", "benchmark": "m1", "group": "math", "score": 0.2},
    {"model": "base", "benchmark": "m2", "group": "math", "score": 0.5},
    {"model": "base", "benchmark": "o1", "group": "other", "score": 0.3},
    {"model": "ft", "benchmark": "m1", "group": "math", "score": 0.4},
    {"model": "ft", "benchmark": "m2", "group": "math", "score": 0.6},
    {"model": "ft", "benchmark": "o1", "group": "other", "score": 0.33},
]


def test_score_table_scale_is_stated_not_guessed(catalog, tmp_path):
    from curate.probes.runner import run_ti
    from curate.probes.transfer import scores_from_file

    pct = _table(tmp_path / "weak.csv", WEAK)
    rows = scores_from_file(pct, "percent")
    assert [r["value"] for r in rows][:2] == [0.2, 0.5]  # not multiplied by 100
    frac = _table(tmp_path / "weak.jsonl", [dict(r, score=r["score"] / 100) for r in WEAK])
    assert [r["value"] for r in scores_from_file(frac, "fraction")] == pytest.approx(
        [r["value"] for r in rows])
    res = run_ti(catalog, "ft", "base", formula="v1", scores=pct, scale="percent")
    # v1 is scale-free: math (1 + 0.2) / 2 = 0.6, other 0.1 -> 16.67 %
    assert res["ti"]["other"] == pytest.approx(0.1 / 0.6 * 100)
    (row,) = catalog.sql("SELECT params, texts FROM probes WHERE probe = 'ti'")
    assert json.loads(row["params"])["scale"] == "percent" and row["texts"] == pct
    with pytest.raises(BadInput, match="scale is stated"):
        scores_from_file(pct, None)
    bad = _table(tmp_path / "bad.jsonl", WEAK[:2] + [dict(WEAK[2], score=57)])
    with pytest.raises(BadInput, match=r"bad.jsonl:3: score 57.0 is outside 0–1 \(fraction\) \(field 'score'\)"):
        scores_from_file(bad, "fraction")
    for broken, match in (([dict(WEAK[0], group="misc")], "unknown group"),
                          ([{"model": "a", "benchmark": "b", "group": "math"}], "missing score"),
                          ([dict(WEAK[0], score="n/a")], "not a number"),
                          ([dict(WEAK[0], score=-1)], "outside")):
        with pytest.raises(BadInput, match=match):
            scores_from_file(_table(tmp_path / "x.jsonl", broken), "percent")
    r = CliRunner().invoke(app, ["probe", "ti", "--model", "ft", "--base", "base", "--scores",
                                 pct, "--scale", "percent", "--formula", "v1", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["ti"]["other"] == pytest.approx(0.1 / 0.6 * 100)


NORMAL = [  # model M and base B in percent, two benchmarks per group
    ("M", "math500", "math", 62.4), ("M", "aime24", "math", 13.3), ("M", "gpqa", "other", 35.1),
    ("M", "mmlu", "other", 55.2), ("M", "ifeval", "non", 70.0), ("M", "coqa", "non", 60.5),
    ("B", "math500", "math", 50.2), ("B", "aime24", "math", 6.7), ("B", "gpqa", "other", 33.0),
    ("B", "mmlu", "other", 56.0), ("B", "ifeval", "non", 72.0), ("B", "coqa", "non", 61.0)]


def _rows(table, div=1.0):
    return [{"model": m, "benchmark": b, "group": g, "score": v / div} for m, b, g, v in table]


@pytest.mark.parametrize("formula", ["icml", "v1"])
@pytest.mark.parametrize("table,model,base", [(NORMAL, "M", "B"), (
    [(r["model"], r["benchmark"], r["group"], r["score"]) for r in WEAK], "ft", "base")])
def test_the_same_scores_give_the_same_ti_in_either_scale(catalog, tmp_path, formula, table,
                                                          model, base):
    from curate.probes.runner import run_ti

    pct = _table(tmp_path / "p.csv", _rows(table))
    frac = _table(tmp_path / "f.jsonl", _rows(table, 100.0))
    a = run_ti(catalog, model, base, formula=formula, scores=pct, scale="percent")
    b = run_ti(catalog, model, base, formula=formula, scores=frac, scale="fraction")
    assert a["ti"]["other"] is not None and a["reason"] is None
    for g in ("other", "non"):   # WEAK has no non-reasoning benchmark: None in both
        assert (b["ti"][g] is None) == (a["ti"][g] is None)
        if a["ti"][g] is not None:
            assert b["ti"][g] == pytest.approx(a["ti"][g], rel=1e-9, abs=1e-9)
    # NORMAL by hand (v1): math (12.2/50.2 + 6.6/6.7) / 2, other (2.1/33 - 0.8/56) / 2
    if table is NORMAL and formula == "v1":
        dm = (12.2 / 50.2 + 6.6 / 6.7) / 2
        assert a["ti"]["other"] == pytest.approx((2.1 / 33.0 - 0.8 / 56.0) / 2 / dm * 100)
        assert a["ti"]["non"] == pytest.approx((-2.0 / 72.0 - 0.5 / 61.0) / 2 / dm * 100)
    # a weak model's real percent scores are all below 1: a warning, never a rescaling
    weak = table is not NORMAL
    assert any("pass --scale fraction" in w for w in a["warnings"]) == weak
    assert not any("pass --scale fraction" in w for w in b["warnings"])


def test_score_table_neighbours(catalog, tmp_path):
    """Percent over 100 and fractions over 1 refused on their row; a second score for a model
    and benchmark refused naming both rows; a base row missing for one benchmark leaves that
    benchmark out with a warning; no base rows at all is a one-line NotFound."""
    from curate.errors import NotFound
    from curate.probes.runner import run_ti
    from curate.probes.transfer import scores_from_file

    rows = _rows(NORMAL)
    over = _table(tmp_path / "over.csv", [dict(rows[0], score=101)] + rows[1:])
    with pytest.raises(BadInput, match=r"over.csv:2: score 101.0 is outside 0–100 \(percent\)"):
        scores_from_file(over, "percent")
    with pytest.raises(BadInput, match=r"over.csv:2: score 101.0 is outside 0–1 \(fraction\)"):
        scores_from_file(over, "fraction")
    for second in (20.0, rows[0]["score"]):   # a different score, or the same one twice
        dup = _table(tmp_path / "dup.csv", rows + [dict(rows[0], score=second)])
        with pytest.raises(BadInput, match=r"dup.csv:14: a second score for model 'M' on "
                                           r"'math500' \(the first is on row 2\)"):
            scores_from_file(dup, "percent")
    no_row = _table(tmp_path / "norow.csv", [r for r in rows if (r["model"], r["benchmark"])
                                             != ("B", "aime24")])
    res = run_ti(catalog, "M", "B", formula="icml", scores=no_row, scale="percent")
    assert "left out (no base score): aime24" in res["warnings"]
    assert [b["benchmark"] for b in res["benchmarks"] if b["group"] == "math"] == ["math500"]
    no_base = _table(tmp_path / "nobase.csv", [r for r in rows if r["model"] == "M"])
    with pytest.raises(NotFound, match="no eval scores for base 'B'"):
        run_ti(catalog, "M", "B", scores=no_base, scale="percent")
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-m", "curate.cli", "--home", str(tmp_path / "h"),
                        "probe", "ti", "--model", "M", "--base", "B", "--scores",
                        str(tmp_path / "dup.csv"), "--scale", "percent"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and "a second score" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_v1_says_when_every_math_base_score_is_zero():
    base = {"m1": ("math", 0.0), "m2": ("math", 0.0), "o1": ("other", 25.0)}
    model = {"m1": ("math", 10.0), "m2": ("math", 0.0), "o1": ("other", 30.0)}
    r = compute_ti(model, base, formula="v1")
    assert r["ti"] == {"other": None, "non": None}
    assert r["reason"].startswith("every math benchmark (m1, m2) has a base score of 0")
    assert "no math benchmarks scored" not in r["reason"]
    assert compute_ti(model, base, formula="icml")["ti"]["other"] is not None
    none = compute_ti({"o1": ("other", 30.0)}, {"o1": ("other", 25.0)}, formula="v1")
    assert none["reason"].startswith("no math benchmarks scored for both")


def test_evals_hold_fractions_a_weak_model_is_not_rescaled(catalog):
    from curate.probes.transfer import eval_rows_from_catalog

    for model, vals in (("weak", (0.002, 0.005)), ("odd", (0.5, 57.0))):
        for bench, v in zip(("m1", "m2"), vals):
            catalog.insert("evals", {"model": model, "benchmark": bench, "domain": "math",
                                     "metric": "accuracy", "value": v})
    assert [r["value"] for r in eval_rows_from_catalog(catalog, ["weak"])] == pytest.approx(
        [0.2, 0.5])
    with pytest.raises(BadInput, match=r"odd on m2\): accuracy 57.0 is outside \[0, 1\]"):
        eval_rows_from_catalog(catalog, ["odd"])


# -- KL / rank shift: P1's prompt form, the model's own responses ----------------------------
def test_nothink_prompt_form(tmp_path):
    from curate.models import load_tokenizer
    from curate.probes.token_kl import NOTHINK_BLOCK, render_input

    tok = load_tokenizer(str(build_tiny(tmp_path / "m")))
    think, _ = render_input(tok, "What is 2 + 3?")
    nothink, templated = render_input(tok, "What is 2 + 3?", nothink=True)
    assert templated and nothink == think + NOTHINK_BLOCK  # the template's own switch
    tok.chat_template = "{% for m in messages %}<|user|>\n{{ m['content'] }}<|end|>\n" \
                        "{% endfor %}{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
    plain, _ = render_input(tok, "q")
    assert render_input(tok, "q", nothink=True)[0] == plain + NOTHINK_BLOCK  # appended
    assert render_input(tok, "q", chat_template=False, nothink=True) == ("q" + NOTHINK_BLOCK,
                                                                        False)


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    root = tmp_path_factory.mktemp("pair")
    base = build_tiny(root / "base")
    ft = finetune(base, root / "ft", ["What is 2 + 3? <think>2 plus 3 is 5.</think> \\boxed{5}"],
                  steps=10)
    return str(base), str(ft)


def test_prompt_only_rows_are_answered_and_probe_rows_link_checkpoints(pair, catalog, tmp_path):
    from curate.probes.runner import run_shift_probe

    base, ft = pair
    catalog.insert("checkpoints", {"id": "ck-ft", "run_id": "r", "path": ft, "step": 10,
                                   "model": base})
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("\n".join(json.dumps({"task": "math", "prompt": f"What is {i} + 2?"})
                                 for i in range(3)) + "\n" + json.dumps(
        {"task": "math", "prompt": "What is 9 + 1?", "response": "\\boxed{10}"}) + "\n")
    for probe in ("kl", "rank-shift"):
        res = run_shift_probe(catalog, probe, "ck-ft", base, str(prompts), nothink=True,
                              gen_max_tokens=6, plot=False, progress=False)
        setup = res["setup"]
        assert setup["generated"] == 3 and setup["nothink"] is True
        assert setup["decoding"] == "greedy" and setup["gen_max_tokens"] == 6
        answers = __import__("pyarrow.parquet").parquet.read_table(setup["responses"]).to_pylist()
        assert len(answers) == 3 and all(a["input"].endswith("<think>\n\n</think>\n\n")
                                         for a in answers)
    rows = catalog.sql("SELECT probe, checkpoint_id, base_checkpoint_id, params FROM probes")
    assert {(r["probe"], r["checkpoint_id"], r["base_checkpoint_id"]) for r in rows} == {
        ("kl", "ck-ft", None), ("rank-shift", "ck-ft", None)}
    nothing = tmp_path / "empty.jsonl"
    nothing.write_text(json.dumps({"task": "t", "prompt": ""}) + "\n")
    with pytest.raises(BadInput, match="rows need a prompt"):
        run_shift_probe(catalog, "kl", ft, base, str(nothing), plot=False, progress=False)


def test_pca_attention_implementation_and_versions_recorded(pair, catalog, tmp_path):
    import sklearn
    import torch
    import transformers

    from curate.probes.runner import run_shift_probe

    base, ft = pair
    texts = tmp_path / "t.jsonl"
    texts.write_text("\n".join(json.dumps({"task": "math", "text": "What is 2 + 3? " * (1 + i)})
                               for i in range(6)) + "\n")
    ds = {}
    for impl in ("eager", "sdpa"):
        res = run_shift_probe(catalog, "pca-shift", ft, base, str(texts), k=6,
                              attn_implementation=impl, plot=False, progress=False)
        assert res["setup"]["attn_implementation"] == impl
        assert res["setup"]["versions"] == {
            "torch": torch.__version__, "transformers": transformers.__version__,
            "sklearn": sklearn.__version__, "numpy": __import__("numpy").__version__}
        ds[impl] = res["d"]["math"]
    params = [json.loads(r["params"]) for r in catalog.sql(
        "SELECT params FROM probes WHERE probe = 'pca-shift' ORDER BY created")]
    assert [p["attn_implementation"] for p in params] == ["eager", "sdpa"]
    assert all(p["versions"]["sklearn"] == sklearn.__version__ for p in params)
    with pytest.raises(BadInput, match="unknown attention implementation"):
        run_shift_probe(catalog, "pca-shift", ft, base, str(texts), attn_implementation="fast")
