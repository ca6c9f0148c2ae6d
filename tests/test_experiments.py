"""Experiments: the file (profiles, overrides, paths), and a tiny experiment run end to end on
CPU, killed part-way and run again: nothing that finished is trained or scored twice."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from curate.errors import BadInput

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "experiments" / "data" / "tiny"


# -- the file --------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["data-structure", "repeated-exposure", "sft-vs-rl"])
def test_shipped_experiments_load_at_paper_scale_and_tiny(name):
    from curate.experiments import is_experiment, load_experiment

    path = REPO / "experiments" / f"{name}.yaml"
    assert is_experiment(path) and not is_experiment(REPO / "recipes" / "countdown-cot-20k.yaml")
    paper = load_experiment(path)
    tiny = load_experiment(path, ["profile=tiny"])
    assert not paper["base"].startswith("tiny:") and tiny["base"].startswith("tiny:")
    assert tiny["eval"]["suite"].startswith("local:")
    assert all(Path(f).is_file() for f in tiny["eval"]["suite"][6:].split(","))
    assert all(Path(d["recipe"]).is_file() for d in paper.get("data") or [])


def test_data_structure_is_the_papers_schedule():
    from curate.experiments import load_experiment
    from curate.training.schedules import global_batch, plan

    spec = load_experiment(REPO / "experiments" / "data-structure.yaml")
    assert spec["select"] == ["math-cot", "math-nocot", "numina", "countdown-cot"]
    t = next(a for a in spec["arms"] if a["name"] == "math-cot")["train"]
    assert t["save_at"] == [10, 20, 40, 80, 160, 320, 480, 640] and t["shuffle"] is False
    assert plan(20480, global_batch(t["batch_size"], t["grad_accum"], 8), t["epochs"]).steps == 640


def test_repeated_exposure_arms_take_640_steps():
    from curate.experiments import load_experiment
    from curate.training.mixtures import parse_component
    from curate.training.schedules import global_batch, plan

    spec = load_experiment(REPO / "experiments" / "repeated-exposure.yaml")
    steps = {}
    for arm in spec["arms"]:
        rows = parse_component(arm["mixture"]["from"][0]).count
        t = arm["train"]
        steps[arm["name"]] = plan(rows, global_batch(t["batch_size"], t["grad_accum"], 8),
                                  t["epochs"]).steps
    assert steps == {"S1": 640, "S2": 640, "S3": 640}


def test_overrides_profiles_and_bad_files(tmp_path):
    from curate.experiments import load_experiment

    path = REPO / "experiments" / "data-structure.yaml"
    spec = load_experiment(path, ["profile=tiny", "arms.countdown-cot.train.max_steps=3",
                                  "eval.limit=2", "rows=64", "probes.kl=null"])
    arms = {a["name"]: a for a in spec["arms"]}
    # one arm's override leaves the arms that share its YAML anchor alone
    assert arms["countdown-cot"]["train"]["max_steps"] == 3
    assert "max_steps" not in arms["countdown-nocot"]["train"]
    assert spec["eval"]["limit"] == 2 and spec["probes"]["kl"] is None
    assert arms["countdown-cot"]["mixture"]["from"] == ["countdown-cot-20k:64"]
    assert spec["select"] == ["countdown-cot", "countdown-nocot"]
    for overrides, match in ((["profile=huge"], "no such profile"),
                             (["arms.nope.train.epochs=1"], "no arm named 'nope'"),
                             (["select=nope"], r"select: no arm\(s\) \['nope'\]"),
                             (["probes.kl.texts="], "probes.kl needs texts"),
                             (["eval.suite="], "eval needs a suite")):
        with pytest.raises(BadInput, match=match):
            load_experiment(path, overrides)
    bad = tmp_path / "bad.yaml"
    for body, match in (({"kind": "experiment", "base": "x", "arms": [{"name": "a"}],
                          "eval": {"suite": "p3"}}, "an sft arm needs mixture.from"),
                        ({"kind": "experiment", "base": "x", "arms": [
                            {"name": "a", "method": "dpo"}], "eval": {"suite": "p3"}},
                         "method must be one of sft, grpo"),
                        ({"kind": "experiment", "arms": [{"name": "a"}]}, "no base model"),
                        ({"kind": "experiment", "base": "x", "arms": [], "eval": {}}, "no arms"),
                        ({"kind": "experiment", "base": "${params.nope}", "arms": [
                            {"name": "a", "mixture": {"from": ["d"]}}], "eval": {"suite": "p3"}},
                         r"\$\{params.nope\} is not a parameter"),
                        ({"kind": "experiment", "base": "x", "colour": 1}, "unknown key")):
        bad.write_text(yaml.safe_dump(body))
        with pytest.raises(BadInput, match=match):
            load_experiment(bad)


# -- a tiny experiment, killed and resumed --------------------------------------------------
def _tiny_experiment(tmp_path: Path) -> Path:
    suite = ",".join(str(TINY / f) for f in ("countdown.jsonl", "arith.jsonl", "choice.jsonl"))
    spec = {
        "kind": "experiment", "name": "tiny-ds",
        "params": {"rows": 16},
        "base": f"tiny:{tmp_path / 'base'}", "threads": 1,
        "data": [{"recipe": str(REPO / "recipes" / "countdown-cot-20k.yaml"),
                  "set": {"n": 48, "test_n": 4, "numbers": 3}}],
        "arms": [{"name": "cot", "mixture": {"from": ["countdown-cot-20k:${params.rows}"],
                                             "variant": "cot", "shuffle": False},
                  "train": {"max_steps": 3, "save_at": [2], "batch_size": 4,
                            "max_length": 4096, "learning_rate": 3e-3, "shuffle": False}},
                 {"name": "nocot", "mixture": {"from": ["countdown-nocot-20k:${params.rows}"],
                                               "variant": "nocot"},
                  "train": {"max_steps": 3, "save_at": [2], "batch_size": 4,
                            "learning_rate": 3e-3}}],
        "eval": {"suite": f"local:{suite}", "limit": 2, "max_new_tokens": 8},
        "probes": {"ti": {"formulas": ["icml", "v1"]},
                   "kl": {"texts": str(TINY / "arith.jsonl"), "limit": 2, "gen_max_tokens": 6},
                   "pca-shift": {"texts": str(TINY / "choice.jsonl"), "k": 3},
                   "rank-shift": {"texts": str(TINY / "arith.jsonl"), "limit": 2,
                                  "gen_max_tokens": 6}},
    }
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


class Killed(KeyboardInterrupt):
    pass


def _count(catalog, sql, *params):
    return catalog.sql(sql, list(params))[0]["n"]


def test_tiny_experiment_killed_then_resumed(catalog, tmp_path, monkeypatch):
    from curate.experiments import load_experiment, run_experiment
    from curate.probes import evaluation

    spec = load_experiment(_tiny_experiment(tmp_path))
    real_eval = evaluation.evaluate_model
    calls = {"n": 0}

    def dies_on_the_fourth(*a, **kw):  # base, cot@2, cot@3 scored; killed scoring nocot@2
        calls["n"] += 1
        if calls["n"] == 4:
            raise Killed()
        return real_eval(*a, **kw)

    monkeypatch.setattr(evaluation, "evaluate_model", dies_on_the_fourth)
    with pytest.raises(Killed):
        run_experiment(catalog, spec, progress=False)
    assert _count(catalog, "SELECT count(*) n FROM runs WHERE kind = 'train' AND status = 'ok'") == 2
    assert _count(catalog, "SELECT count(*) n FROM runs WHERE kind = 'eval'") == 3
    (exp,) = catalog.sql("SELECT status FROM runs WHERE kind = 'experiment'")
    assert exp["status"] == "failed"

    monkeypatch.setattr(evaluation, "evaluate_model", real_eval)
    res = run_experiment(catalog, spec, progress=False)
    # nothing that finished was trained again, nothing scored was scored again
    assert res["arms"]["cot"]["reused"] and res["arms"]["nocot"]["reused"]
    assert _count(catalog, "SELECT count(*) n FROM runs WHERE kind = 'train'") == 2
    assert res["evaluated"] == 2 and res["already_scored"] == 3
    per_model = catalog.sql("SELECT model, count(*) n FROM runs r JOIN (SELECT DISTINCT run_id, "
                            "model FROM evals) e ON e.run_id = r.id GROUP BY model")
    assert len(per_model) == 5 and {r["n"] for r in per_model} == {1}
    # every checkpoint scored on the three groups, base as step 0, the final model once
    rows = catalog.sql("SELECT json_extract_string(config, '$.tags.arm') arm, step, domain "
                       "FROM evals WHERE metric = 'accuracy' ORDER BY arm, step, domain")
    got = sorted({(r["arm"], r["step"]) for r in rows})
    assert got == [("base", 0), ("cot", 2), ("cot", 3), ("nocot", 2), ("nocot", 3)]
    assert {r["domain"] for r in rows} == {"math", "other", "non"}
    # TI per checkpoint (both formulas), shift probes of each final model, linked to it
    ti = catalog.sql("SELECT checkpoint_id FROM probes WHERE probe = 'ti'")
    assert len(ti) == 8
    finals = {a["checkpoints"][-1]["id"] for a in res["arms"].values()}
    shifts = catalog.sql("SELECT probe, checkpoint_id FROM probes WHERE probe <> 'ti'")
    assert sorted(p["probe"] for p in shifts) == ["kl", "kl", "pca-shift", "pca-shift",
                                                  "rank-shift", "rank-shift"]
    assert {p["checkpoint_id"] for p in shifts} == finals
    # lineage: a final checkpoint -> its train run -> the arm's mixture -> the traces
    from curate.training.callbacks import checkpoint_lineage

    chain = checkpoint_lineage(catalog, res["arms"]["cot"]["checkpoints"][-1]["id"])
    assert chain[2]["dataset"] == res["arms"]["cot"]["data"]
    assert chain[-1]["params"]["teacher"] == "search"

    # a third run does nothing at all
    again = run_experiment(catalog, spec, progress=False)
    assert again["evaluated"] == 0 and again["already_scored"] == 5
    assert all(a["reused"] and not a["probes"] for a in again["arms"].values())
    assert _count(catalog, "SELECT count(*) n FROM probes") == 14
    (last,) = catalog.sql("SELECT inputs, metrics FROM runs WHERE kind = 'experiment' "
                          "ORDER BY started DESC LIMIT 1")
    assert json.loads(last["inputs"]) == [res["arms"]["cot"]["data"], res["arms"]["nocot"]["data"]]
    assert json.loads(last["metrics"])["trained"] == []


def test_killed_while_training_retrains_only_that_arm(catalog, tmp_path, monkeypatch):
    from curate.experiments import load_experiment, run_experiment
    from curate.training import sft

    spec = load_experiment(_tiny_experiment(tmp_path), ["probes=null", "eval.limit=1"])
    real = sft.train_sft
    calls = {"n": 0}

    def dies_on_the_second(*a, **kw):
        calls["n"] += 1
        if calls["n"] == 2:
            raise Killed()
        return real(*a, **kw)

    monkeypatch.setattr(sft, "train_sft", dies_on_the_second)
    with pytest.raises(Killed):
        run_experiment(catalog, spec, progress=False)
    monkeypatch.setattr(sft, "train_sft", real)
    res = run_experiment(catalog, spec, progress=False)
    assert res["arms"]["cot"]["reused"] and not res["arms"]["nocot"]["reused"]
    assert res["already_scored"] == 3 and res["evaluated"] == 2  # base + cot@2,3; nocot@2,3
