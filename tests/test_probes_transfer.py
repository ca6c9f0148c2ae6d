"""The Transferability Index against values worked out by hand for both formulas."""

from __future__ import annotations

import math

import pytest

from curate.errors import BadInput, NotFound
from curate.probes.transfer import compute_ti, ti_table, transferability_index

# Hand-made scores (percent): two math, two other-reasoning, one non-reasoning benchmark.
BASE = {"m1": ("math", 20.0), "m2": ("math", 50.0), "o1": ("other", 30.0),
        "o2": ("other", 40.0), "n1": ("non", 60.0)}
MODEL = {"m1": ("math", 40.0), "m2": ("math", 60.0), "o1": ("other", 33.0),
         "o2": ("other", 38.0), "n1": ("non", 54.0)}


def _rows(scores, model):
    return [{"model": model, "benchmark": b, "group": g, "value": v} for b, (g, v) in scores.items()]


ROWS = _rows(BASE, "base") + _rows(MODEL, "ft")


def test_v1_by_hand():
    r = transferability_index(ROWS, "ft", "base", formula="v1")
    # math: (20/20 + 10/50)/2 = 0.6; other: (3/30 - 2/40)/2 = 0.025; non: -6/60 = -0.1
    assert r["groups"]["math"]["delta_rel"] == pytest.approx(0.6)
    assert r["groups"]["other"]["delta_rel"] == pytest.approx(0.025)
    assert r["ti"]["other"] == pytest.approx(0.025 / 0.6 * 100)      # 4.1667
    assert r["ti"]["non"] == pytest.approx(-0.1 / 0.6 * 100)         # -16.667
    assert r["reason"] is None


def test_icml_by_hand():
    r = transferability_index(ROWS, "ft", "base", formula="icml")
    # math: Δ = 20, 10; σ (population) = 5; z = 4, 2; s = 2, √2; w = 80, 50 (/130)
    di_math = (80 * 2 + 50 * math.sqrt(2)) / 130
    # other: Δ = 3, -2; σ = 2.5; z = 1.2, -0.8; w = 70, 60 (/130)
    di_other = (70 * math.sqrt(1.2) - 60 * math.sqrt(0.8)) / 130
    # non: one benchmark, σ_non = 0 -> pooled σ over all five Δ = sqrt(424/5)
    di_non = -math.sqrt(6 / math.sqrt(424 / 5))
    assert r["groups"]["math"]["di"] == pytest.approx(di_math)
    assert r["groups"]["other"]["di"] == pytest.approx(di_other)
    assert r["groups"]["non"]["di"] == pytest.approx(di_non)
    assert r["ti"]["other"] == pytest.approx(di_other / di_math * 100)   # 9.976
    assert r["ti"]["non"] == pytest.approx(di_non / di_math * 100)       # -45.48
    assert r["groups"]["non"]["sigma_source"] == "pooled"
    assert any("σ_non" in w for w in r["warnings"])


def test_icml_sample_std():
    r = transferability_index(ROWS, "ft", "base", formula="icml", ddof=1)
    s = math.sqrt(50)  # sample std of (20, 10)
    di_math = (80 * math.sqrt(20 / s) + 50 * math.sqrt(10 / s)) / 130
    assert r["groups"]["math"]["di"] == pytest.approx(di_math)


@pytest.mark.parametrize("formula", ["v1", "icml"])
def test_no_math_gain_is_reported_not_nan(formula):
    same_math = dict(MODEL, m1=("math", 20.0), m2=("math", 50.0))
    r = compute_ti(same_math, BASE, formula=formula)
    assert r["ti"] == {"other": None, "non": None}
    assert "no math gain" in r["reason"]
    for row in ti_table(r):
        for v in row.values():
            assert not (isinstance(v, float) and math.isnan(v))


def test_math_got_worse_is_no_gain():
    worse = dict(MODEL, m1=("math", 10.0), m2=("math", 40.0))
    for formula in ("v1", "icml"):
        assert "no math gain" in compute_ti(worse, BASE, formula=formula)["reason"]


def test_zero_base_score_left_out_of_v1():
    base = dict(BASE, o2=("other", 0.0))
    r = compute_ti(MODEL, base, formula="v1")
    assert r["groups"]["other"]["delta_rel"] == pytest.approx(0.1)  # only o1 left
    assert any("base score is 0" in w for w in r["warnings"])
    r2 = compute_ti(MODEL, base, formula="icml")  # absolute gains: a zero base is fine
    assert r2["ti"]["other"] is not None and math.isfinite(r2["ti"]["other"])


def test_missing_benchmarks_and_groups():
    model = {k: v for k, v in MODEL.items() if k not in ("n1", "o2")}
    r = compute_ti(model, BASE, formula="icml")
    assert r["ti"]["non"] is None and r["ti"]["other"] is not None
    assert any("no model score" in w for w in r["warnings"])
    no_math = {k: v for k, v in MODEL.items() if not k.startswith("m")}
    r = compute_ti(no_math, BASE, formula="v1")
    assert r["ti"] == {"other": None, "non": None} and "no math" in r["reason"]


def test_bad_inputs():
    with pytest.raises(BadInput, match="formula"):
        transferability_index(ROWS, "ft", "base", formula="v3")
    with pytest.raises(NotFound, match="nope"):
        transferability_index(ROWS, "nope", "base")
    with pytest.raises(BadInput, match="percent"):
        compute_ti({"m1": ("math", 140.0)}, {"m1": ("math", 20.0)})
    with pytest.raises(BadInput, match="group"):
        transferability_index([{"model": "a", "benchmark": "x", "group": "weird", "value": 1}],
                              "a", "a")


def test_unireason_group_averages_v1():
    # The paper's UniReason-RL group averages (ICML table) as one benchmark per group: v1 on
    # averages is the ratio of relative gains.
    base = {"math": ("math", 27.7), "other": ("other", 30.2), "non": ("non", 45.7)}
    rl = {"math": ("math", 53.8), "other": ("other", 51.0), "non": ("non", 53.2)}
    r = compute_ti(rl, base, formula="v1")
    assert r["ti"]["other"] == pytest.approx((51.0 / 30.2 - 1) / (53.8 / 27.7 - 1) * 100)
