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


def _steps(arm: dict, world: int, monkeypatch) -> int:
    """The steps the arm's options plan with `world` processes (what train_sft plans)."""
    from curate.experiments.runner import train_options
    from curate.training.mixtures import parse_component
    from curate.training.schedules import global_batch, plan

    monkeypatch.setenv("WORLD_SIZE", str(world))
    o = train_options(arm, progress=False)
    rows = parse_component(arm["mixture"]["from"][0]).count
    return plan(rows, global_batch(o.batch_size, o.grad_accum, world), o.epochs).steps


@pytest.mark.parametrize("world", [1, 2, 8])
def test_data_structure_is_the_papers_schedule(world, monkeypatch):
    """P3: 20,480 rows, 256 a step, 8 epochs = 640 steps on 1 process or under torchrun."""
    from curate.experiments import load_experiment

    spec = load_experiment(REPO / "experiments" / "data-structure.yaml")
    assert spec["select"] == ["math-cot", "math-nocot", "numina", "countdown-cot"]
    arm = next(a for a in spec["arms"] if a["name"] == "math-cot")
    t = arm["train"]
    assert t["save_at"] == [10, 20, 40, 80, 160, 320, 480, 640] and t["shuffle"] is False
    assert _steps(arm, world, monkeypatch) == 640


@pytest.mark.parametrize("world", [1, 8])
def test_repeated_exposure_arms_take_640_steps(world, monkeypatch):
    from curate.experiments import load_experiment

    spec = load_experiment(REPO / "experiments" / "repeated-exposure.yaml")
    steps = {arm["name"]: _steps(arm, world, monkeypatch) for arm in spec["arms"]}
    assert steps == {"S1": 640, "S2": 640, "S3": 640}
    tiny = load_experiment(REPO / "experiments" / "repeated-exposure.yaml", ["profile=tiny"])
    monkeypatch.setenv("WORLD_SIZE", "1")
    assert {a["name"]: _steps(a, 1, monkeypatch) for a in tiny["arms"]} == {
        "S1": 64, "S2": 64, "S3": 64}


def test_global_batch_that_the_processes_cannot_make_is_refused(monkeypatch):
    from curate.experiments.runner import train_options

    arm = {"name": "a", "method": "sft", "train": {"batch_size": 4, "global_batch": 256}}
    monkeypatch.setenv("WORLD_SIZE", "3")          # 256 / (4 x 3) is not whole
    with pytest.raises(BadInput, match="not a multiple of batch_size 4 x 3 process"):
        train_options(arm, progress=False)
    monkeypatch.setenv("WORLD_SIZE", "1")
    assert train_options(arm, progress=False).grad_accum == 64
    import torch

    # one process seeing 8 GPUs (transformers' DataParallel): 256 / (4 x 8)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 8)
    assert train_options(arm, progress=False).grad_accum == 8
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(BadInput, match="gives 32 rows a step, not global_batch 256"):
        train_options({**arm, "train": {**arm["train"], "grad_accum": 8}}, progress=False)
    assert train_options({**arm, "train": {**arm["train"], "grad_accum": 64}},
                         progress=False).grad_accum == 64


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


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """The tiny experiment killed while scoring its fourth model, then run again twice."""
    from curate.catalog import Catalog
    from curate.experiments import load_experiment, run_experiment
    from curate.probes import evaluation

    root = tmp_path_factory.mktemp("tiny-experiment")
    catalog = Catalog(root / "home")
    spec = load_experiment(_tiny_experiment(root))
    real_eval = evaluation.evaluate_model
    calls = {"n": 0}

    def dies_on_the_fourth(*a, **kw):  # base, cot@2, cot@3 scored; killed scoring nocot@2
        calls["n"] += 1
        if calls["n"] == 4:
            raise Killed()
        return real_eval(*a, **kw)

    out: dict = {"catalog": catalog, "spec": spec}
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(evaluation, "evaluate_model", dies_on_the_fourth)
        with pytest.raises(Killed):
            run_experiment(catalog, spec, progress=False)
    out["after_kill"] = {
        "train_ok": _count(catalog, "SELECT count(*) n FROM runs WHERE kind = 'train' AND "
                                    "status = 'ok'"),
        "evals": _count(catalog, "SELECT count(*) n FROM runs WHERE kind = 'eval'"),
        "experiment": catalog.sql("SELECT status FROM runs WHERE kind = 'experiment'")}
    out["res"] = run_experiment(catalog, spec, progress=False)
    out["probes_after_resume"] = _count(catalog, "SELECT count(*) n FROM probes")
    out["again"] = run_experiment(catalog, spec, progress=False)
    return out


def test_tiny_experiment_killed_then_resumed(tiny_run):
    catalog, res, again = tiny_run["catalog"], tiny_run["res"], tiny_run["again"]
    killed = tiny_run["after_kill"]
    assert killed["train_ok"] == 2 and killed["evals"] == 3
    assert [r["status"] for r in killed["experiment"]] == ["failed"]
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
    assert again["evaluated"] == 0 and again["already_scored"] == 5
    assert all(a["reused"] and not a["probes"] for a in again["arms"].values())
    assert _count(catalog, "SELECT count(*) n FROM probes") == tiny_run["probes_after_resume"]
    (last,) = catalog.sql("SELECT inputs, metrics FROM runs WHERE kind = 'experiment' "
                          "ORDER BY started DESC LIMIT 1")
    assert json.loads(last["inputs"]) == [res["arms"]["cot"]["data"], res["arms"]["nocot"]["data"]]
    assert json.loads(last["metrics"])["trained"] == []


def test_comparison_data_trace_back_to_their_rows(tiny_run):
    from curate.experiments.compare import comparison, experiments

    catalog, res = tiny_run["catalog"], tiny_run["res"]
    (exp,) = experiments(catalog)
    assert exp["name"] == "tiny-ds" and exp["status"] == "ok" and exp["runs"] == 3
    c = comparison(catalog, "tiny-ds")
    assert c["arms"] == ["cot", "nocot"] and c["groups"] == ["math", "other", "non"]
    assert c["eval_key"] == res["eval_key"]
    by_group = c["series"]["by_group"]
    assert [(s["arm"], s["group"]) for s in by_group] == [
        (a, g) for a in ("cot", "nocot") for g in ("math", "other", "non")]
    assert all(s["steps"] == [0, 2, 3] and len(s["score"]) == len(s["tokens"]) == 3
               for s in by_group)
    # a series is its rows: the SQL shown on the page gives back exactly these ids and values
    rows = catalog.sql(c["sql"]["evals"]["query"], c["sql"]["evals"]["params"])
    byid = {r["id"]: r for r in rows}
    for s in c["series"]["by_benchmark"]:
        assert [100 * byid[i]["value"] for i in s["ids"]] == s["score"]
        assert [byid[i]["mean_response_tokens"] for i in s["ids"]] == s["tokens"]
        assert byid[s["ids"][0]]["arm"] == "base" and byid[s["ids"][0]]["step"] == 0
    assert {(t["arm"], t["step"], t["formula"]) for t in c["ti"]} == {
        (a, st, f) for a in ("cot", "nocot") for st in (2, 3) for f in ("icml", "v1")}
    ti_ids = {r["id"] for r in catalog.sql(c["sql"]["ti"]["query"], c["sql"]["ti"]["params"])}
    assert {t["probe_id"] for t in c["ti"]} == ti_ids
    assert {(p["arm"], p["probe"]) for p in c["probes"]} == {
        (a, p) for a in ("cot", "nocot") for p in ("kl", "pca-shift", "rank-shift")}


def test_comparison_page_in_a_browser(tiny_run, tmp_path):
    """The dashboard's experiment page: written, linked from the index, and (with Debian's
    chromium) opened headless without page errors."""
    from curate.dashboard import write_dashboard
    from curate.dashboard.screenshot import find_chromium, screenshot

    index = write_dashboard(tiny_run["catalog"], tmp_path / "report")
    page = index.parent / "experiment-tiny-ds.html"
    html = page.read_text()
    assert "experiment-tiny-ds.html" in (index.parent / "experiments.html").read_text()
    for text in ("score against step", "response length against step", "Transferability Index",
                 "rows behind these charts", "json_extract_string(config, &#39;$.tags.eval_key"):
        assert text in html, text
    assert html.count("<svg") >= 6 and "data:image/png;base64," in html
    if find_chromium() is None:
        pytest.skip("chromium is not installed (Debian: apt-get install -y chromium)")
    png = screenshot(page, tmp_path / "experiment.png", width=1300, height=2400)
    assert png.stat().st_size > 20_000


def test_killed_while_training_retrains_only_that_arm(catalog, tmp_path, monkeypatch):
    """Killed before the second arm's training starts: the first arm is reused, the second
    trained (from the start: it had no checkpoint)."""
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
    assert res["arms"]["nocot"]["resumed_from"] is None
    assert res["already_scored"] == 3 and res["evaluated"] == 2  # base + cot@2,3; nocot@2,3


def test_arm_killed_mid_training_resumes_from_its_checkpoint(catalog, tmp_path, monkeypatch):
    """Killed at the second arm's last step, after its step-2 checkpoint: the rerun continues
    that arm from step 2 in the same catalog run (not from step 0), and its checkpoints and
    evals are those of an arm never killed."""
    from transformers import TrainerCallback

    from curate.experiments import load_experiment, run_experiment
    from curate.training import sft
    from curate.training.resume import state_files

    class KillAt3(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if "nocot" in args.output_dir and state.global_step == 3:
                raise Killed()

    class StartAt(TrainerCallback):
        def __init__(self):
            self.steps = []

        def on_train_begin(self, args, state, control, **kwargs):
            if "nocot" in args.output_dir:
                self.steps.append(state.global_step)

    spec = load_experiment(_tiny_experiment(tmp_path), ["probes=null", "eval.limit=1"])
    real = sft.build_trainer

    def with_callbacks(*cbs):
        def build(*a, **kw):
            trainer = real(*a, **kw)
            for cb in cbs:
                trainer.add_callback(cb)
            return trainer
        return build

    monkeypatch.setattr(sft, "build_trainer", with_callbacks(KillAt3()))
    with pytest.raises(Killed):
        run_experiment(catalog, spec, progress=False)
    [died] = catalog.sql("SELECT id, status, config FROM runs WHERE kind = 'train' AND "
                         "json_extract_string(config, '$.tags.arm') = 'nocot'")
    assert died["status"] == "failed"
    start = StartAt()
    monkeypatch.setattr(sft, "build_trainer", with_callbacks(start))
    res = run_experiment(catalog, spec, progress=False)
    nocot = res["arms"]["nocot"]
    assert start.steps == [2] and nocot["resumed_from"] == 2 and not nocot["reused"]
    assert nocot["train_run"] == died["id"]
    assert [c["step"] for c in nocot["checkpoints"]] == [2, 3]
    runs = catalog.sql("SELECT status FROM runs WHERE kind = 'train' AND "
                       "json_extract_string(config, '$.tags.arm') = 'nocot'")
    assert [r["status"] for r in runs] == ["ok"]
    ck2 = Path(nocot["checkpoints"][0]["path"])
    assert ck2.name == "checkpoint-2" and state_files(ck2) == []
    assert res["already_scored"] == 3 and res["evaluated"] == 2  # base + cot@2,3; nocot@2,3


EXP_BOMB = ("kind: experiment\na: &a [x, x, x, x, x, x, x, x, x, x]\n"
            + "".join(f"{n}: &{n} [" + ", ".join([f"*{p}"] * 10) + "]\n"
                      for p, n in zip("abcdefgh", "bcdefghi"))
            + "arms: *i\n")


@pytest.mark.parametrize("text", [
    EXP_BOMB,                                                     # 10^9 values under arms
    EXP_BOMB.replace("kind: experiment\n", ""),                   # found by its `arms:` key
    "kind: experiment\na: &a [*a]\narms: {x: *a}\n",              # an alias inside itself
])
def test_experiment_alias_bombs_fail_at_once(tmp_path, text):
    """An experiment is a recipe `curate run` reads: the same YAML bounds hold (a 0.5 KB
    alias bomb was a hang, copying the spec expanded it)."""
    from curate.experiments.spec import load_experiment

    p = tmp_path / "bomb.yaml"
    p.write_text(text)
    with pytest.raises(BadInput, match=r"bomb.yaml:\d+: (YAML aliases expand to more than"
                                       r"|a YAML alias refers to itself)"):
        load_experiment(p)


def test_cli_experiment_alias_bomb_is_one_line(tmp_path):
    import subprocess
    import sys

    p = tmp_path / "bomb.yaml"
    p.write_text(EXP_BOMB)
    r = subprocess.run([sys.executable, "-m", "curate.cli", "--home", str(tmp_path / "h"), "run",
                        str(p)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and r.stderr.strip().count("\n") == 0, r.stderr
    assert "alias" in r.stderr and "Traceback" not in r.stderr


def test_executor_options_run_the_data_recipes_on_datatrove(catalog, tmp_path, home):
    """`curate run EXP --executor local`: the experiment's data recipes run their dataset
    steps on the executor (the options were silently dropped); a Slurm dry run is refused in
    one line, since the arms need the data."""
    import subprocess
    import sys

    from curate.curation.executors.run import ExecutorSpec
    from curate.experiments.runner import run_data
    from curate.record import empty_trace

    catalog.register("raw", [empty_trace(id=f"{p}-{s}", problem_id=p, prompt=t)
                             for p, t in [("a", "Find the sum of all primes below 100."),
                                          ("b", "  find the sum of all  primes below 100. "),
                                          ("c", "How many sides has a hexagon?")]
                             for s in range(2)], kind="traces")
    recipe = tmp_path / "data.yaml"
    recipe.write_text(yaml.safe_dump({"name": "d", "steps": [
        {"id": "dedup", "step": "dedup", "input": "raw", "output": "deduped"}]}))
    spec = {"data": [{"recipe": str(recipe)}]}
    arms = [{"name": "x", "method": "sft", "mixture": {"from": ["deduped:4"]}}]
    (out,) = run_data(catalog, spec, arms, lambda s: None,
                      ExecutorSpec("local", tasks=2, workers=1))
    lin = catalog.lineage(out)[0]
    assert lin["params"]["engine"] == "datatrove" and lin["counts"]["dropped"] == {
        "exact_duplicate": 2}
    with pytest.raises(BadInput, match="cannot run on a Slurm dry run"):
        run_data(catalog, spec, arms, lambda s: None,
                 ExecutorSpec("slurm", partition="cpu", dry_run=True))
    exp = _tiny_experiment(tmp_path)
    r = subprocess.run([sys.executable, "-m", "curate.cli", "run", str(exp), "--executor",
                        "slurm", "--partition", "cpu", "--dry-run"], capture_output=True,
                       text=True, timeout=300, env={**__import__("os").environ,
                                                    "CURATE_HOME": str(home)})
    assert r.returncode == 2 and "--dry-run writes one recipe step" in r.stderr
    assert "Traceback" not in r.stderr


def test_an_experiment_under_torchrun_is_refused_before_any_work(catalog, tmp_path, monkeypatch):
    """Every rank would run the data recipes and record each evaluation again: refused in one
    line, nothing recorded."""
    from curate.experiments import load_experiment, run_experiment

    spec = load_experiment(_tiny_experiment(tmp_path))
    for var, n in (("WORLD_SIZE", "2"), ("WORLD_SIZE", "8")):
        monkeypatch.setenv(var, n)
        with pytest.raises(BadInput, match=f"run it in one process.*{n} processes here"):
            run_experiment(catalog, spec, progress=False)
    assert catalog.sql("SELECT count(*) AS n FROM runs")[0]["n"] == 0
    assert not catalog.ls()
