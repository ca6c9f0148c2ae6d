"""Curation steps on datatrove's real Local executor give the same rows, order, per-reason
counts and version as the in-process verbs, whatever the task count; group filters see whole
problems when a problem's samples are spread over shards; a killed run resumes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curate.curation.executors.run import ExecutorSpec
from curate.record import TRACE_SCHEMA, empty_trace, stable_json

PROBLEMS, SAMPLES = 36, 4
LOOP = "so we add again and again " * 40


def _row(p: int, s: int) -> dict:
    """Math problems (answers right, wrong, unclosed, truncated, looping) and Countdown ones."""
    pid = f"p{p:03d}"
    if p % 6 == 5:   # countdown: numbers [p, 2, 3] target p*2+3
        ref = stable_json({"numbers": [p, 2, 3], "target": p * 2 + 3})
        ans = f"{p} * 2 + 3" if s % 2 == 0 else f"{p} + 2 + 3"
        return empty_trace(id=f"{pid}-{s}", problem_id=pid, task="countdown", source="syn",
                           prompt=f"Use {p}, 2, 3 to make {p * 2 + 3}.", reasoning=f"try {s}",
                           answer_text=ans, reference=ref, sample_index=s,
                           finish_reason="stop", completion_tokens=20 + s)
    right = (p + s) % 3 != 0
    reasoning = " ".join(f"Step {k}: consider {p * k + s} and {k * s + p}."
                         for k in range(1 + (p * 7 + s) % 5))
    answer = f"The answer is \\boxed{{{p + (0 if right else 1)}}}."
    finish = "stop"
    if (p, s) in ((4, 1), (10, 2)):
        answer, finish = "", "length"                       # truncated, thinking unclosed
    if (p, s) in ((7, 0), (13, 3)):
        reasoning = LOOP                                     # a degenerate loop
    return empty_trace(id=f"{pid}-{s}", problem_id=pid if p != 8 else None, task="math",
                       source="syn", prompt=f"What is {p} + 0? Mention aime.",
                       reasoning=reasoning, answer_text=answer, reference=str(p),
                       sample_index=s, finish_reason=finish,
                       completion_tokens=None if p % 9 == 0 else 100 + 13 * ((p * s) % 7))


@pytest.fixture
def spread(catalog, tmp_path):
    """The traces in sample-major order (a problem's samples lie far apart), written as 3
    files with small row groups: 15 units, each problem's rows in several of them."""
    rows = [_row(p, s) for s in range(SAMPLES) for p in range(PROBLEMS)]
    table = pa.Table.from_pylist(rows, schema=TRACE_SCHEMA)
    files = []
    for i, (a, b) in enumerate([(0, 50), (50, 100), (100, len(rows))]):
        f = tmp_path / f"in-{i}.parquet"
        pq.write_table(table.slice(a, b - a), f, row_group_size=10)
        files.append(f)
    return catalog.adopt("spread", files)


@pytest.fixture
def bench(tmp_path):
    p = tmp_path / "bench.jsonl"
    p.write_text(json.dumps({"text": "What is 12 + 0? Mention aime."}) + "\n"
                 + json.dumps({"text": "Use 17, 2, 3 to make 37."}) + "\n")
    return f"file:{p}:text"


LOCAL = ExecutorSpec("local", tasks=3, workers=2, batch_rows=16)


def _same(catalog, a, b):
    """Same version, rows, lineage, card; the dropped rows kept as the same version too."""
    assert a.version == b.version and a.rows == b.rows
    la, lb = catalog.lineage(a)[0], catalog.lineage(b)[0]
    da, db = la["counts"].pop("dropped_version", 0), lb["counts"].pop("dropped_version", 0)
    assert (da is None) == (db is None) and (da == 0) == (db == 0)
    if da:
        assert da.split("@")[1] == db.split("@")[1]
        assert catalog.lineage(da)[0]["counts"]["kept_as"] == a.name
    assert la["counts"] == lb["counts"] and la["params"] == lb["params"]
    assert la["step"] == lb["step"] and la["parents"] == lb["parents"]
    assert catalog.table(a).to_pylist() == catalog.table(b).to_pylist()
    sa, sb = catalog.show(a), catalog.show(b)
    assert sa["card"] == sb["card"]
    return la["counts"]


def test_verify_filter_decontaminate_variant_match_in_process(catalog, spread, bench):
    from curate.curation.decontaminate import decontaminate_dataset
    from curate.curation.filters import filter_dataset
    from curate.curation.variants import make_variant
    from curate.curation.verify import verify_dataset

    v1 = verify_dataset(catalog, spread.spec, "v1", progress=False, use_cache=False, workers=1)
    v2 = verify_dataset(catalog, spread.spec, "v2", executor=LOCAL, use_cache=False)
    counts = _same(catalog, v1, v2)
    assert counts["verified"] and counts["wrong"] and counts["reasons"]

    fp = {"verified_only": True, "require_closed_think": True, "max_repetition": 0.5}
    f1 = filter_dataset(catalog, v1.spec, "f1", **fp)
    f2 = filter_dataset(catalog, v1.spec, "f2", executor=LOCAL, **fp)
    counts = _same(catalog, f1, f2)
    assert counts["dropped"]["wrong"] and counts["dropped"]["repetition"] == 2

    for keep in (False, True):
        dp = {"benchmarks": [bench], "n": 5, "drop": not keep}
        d1 = decontaminate_dataset(catalog, v1.spec, f"d1{keep}", **dp)
        d2 = decontaminate_dataset(catalog, v1.spec, f"d2{keep}", executor=LOCAL, **dp)
        counts = _same(catalog, d1, d2)
        assert counts["per_benchmark"] == {bench: 8}
        report = catalog.show(d2)["stats"]["decontamination"]
        assert [e["row"] for e in report["examples"][bench]] == [12, 17, 48]

    n1 = make_variant(catalog, f1.spec, "nocot", "n1")
    n2 = make_variant(catalog, f1.spec, "nocot", "n2", executor=LOCAL)
    _same(catalog, n1, n2)


@pytest.mark.parametrize("fp", [
    {"pass_rate_min": 0.3, "pass_rate_max": 0.8, "k_per_problem": 2, "strategy": "random",
     "seed": 3},
    {"k_per_problem": 1, "strategy": "shortest", "drop_finish_reasons": []},
])
def test_group_filters_see_whole_problems_across_shards(catalog, spread, fp):
    from curate.curation.filters import drop_reasons, filter_dataset
    from curate.curation.verify import verify_dataset

    v = verify_dataset(catalog, spread.spec, "v", progress=False, use_cache=False, workers=1)
    f1 = filter_dataset(catalog, v.spec, "f1", **fp)
    f2 = filter_dataset(catalog, v.spec, "f2", executor=ExecutorSpec(
        "local", tasks=4, workers=2, batch_rows=8), **fp)
    f3 = filter_dataset(catalog, v.spec, "f3", executor=ExecutorSpec(
        "local", tasks=1, workers=1), **fp)
    _same(catalog, f1, f2)
    _same(catalog, f1, f3)
    rows = catalog.table(v).to_pylist()             # the reference: all rows at once
    want = [r["id"] for r, why in zip(rows, drop_reasons(rows, _params(fp))) if why is None]
    assert catalog.table(f2).column("id").to_pylist() == want
    kept = catalog.table(f2).to_pylist()
    if fp.get("k_per_problem"):
        per = {}
        for r in kept:
            if r["problem_id"] is not None:
                per[r["problem_id"]] = per.get(r["problem_id"], 0) + 1
        assert max(per.values()) == fp["k_per_problem"]


def _params(fp):
    from curate.curation.filters import check_params

    return check_params(fp)


def test_a_bad_row_in_a_worker_is_one_line_and_nothing_registered(catalog, spread):
    from curate.curation.variants import make_variant
    from curate.errors import BadInput, CurateError

    with pytest.raises(CurateError) as e:
        make_variant(catalog, spread.spec, "short", "bad", short_field="solution",
                     executor=LOCAL)
    msg = str(e.value)
    assert "no 'solution'" in msg and spread.spec in msg and "\n" not in msg
    with pytest.raises(BadInput) as e2:
        make_variant(catalog, spread.spec, "short", "bad", short_field="solution")
    assert str(e2.value) == f"{spread.spec}:0: row has no 'solution' for the short variant " \
        "(field 'solution')"
    assert not catalog.exists("bad")


def _cli(home, *args, env_path=None, **kw):
    env = {**os.environ, "CURATE_HOME": str(home), "PYTHONPATH": os.environ.get(
        "PYTHONPATH", "") or str(__import__("pathlib").Path(__file__).resolve().parents[1])}
    if env_path is not None:
        env["PATH"] = env_path
    env.update(kw.pop("env", {}))
    return subprocess.Popen([sys.executable, "-m", "curate.cli", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, **kw)


def test_killed_executor_run_resumes_with_the_same_version(home, catalog, spread):
    """kill -9 of the whole process group once some tasks finished; the rerun runs only the
    missing tasks and registers the version the in-process verb gives."""
    from curate.curation.filters import filter_dataset

    fp = {"require_closed_think": True, "max_repetition": 0.5, "k_per_problem": 2,
          "strategy": "random"}
    want = filter_dataset(catalog, spread.spec, "want", **fp)
    args = ["filter", spread.spec, "--name", "got", "--closed-think", "--max-repetition",
            "0.5", "--k", "2", "--executor", "local", "--tasks", "6", "--workers", "1", "--json"]
    proc = _cli(home, *args)
    staging = home / "staging"
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        done = list(staging.glob("filter-*/logs/*/completions/*"))
        if len(done) >= 2:
            break
        time.sleep(0.05)
    assert proc.poll() is None, proc.communicate()
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not catalog.exists("got")
    finished_before = len(list(staging.glob("filter-*/logs/*/completions/*")))
    out, err = _cli(home, *args).communicate(timeout=300)
    ref = json.loads(out)
    assert ref["version"] == want.version and ref["rows"] == want.rows
    got_counts = catalog.lineage(f"got@{ref['version']}")[0]["counts"]
    want_counts = catalog.lineage(want)[0]["counts"]
    assert got_counts.pop("dropped_version").split("@")[1] == \
        want_counts.pop("dropped_version").split("@")[1]
    assert got_counts == want_counts
    ids = catalog.table(f"got@{ref['version']}").column("id").to_pylist()
    assert len(ids) == len(set(ids)) == want.rows
    assert finished_before >= 2 and not list(staging.glob("filter-*"))


def test_ray_cluster_gives_the_local_executors_version(catalog, spread):
    """The same group filter on a real local Ray cluster (2 CPUs) and on the Local executor."""
    ray = pytest.importorskip("ray")
    from curate.curation.filters import filter_dataset

    fp = {"k_per_problem": 2, "strategy": "random", "require_closed_think": True}
    local = filter_dataset(catalog, spread.spec, "local", executor=LOCAL, **fp)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             object_store_memory=80 * 2**20)
    try:
        on_ray = filter_dataset(catalog, spread.spec, "on-ray", executor=ExecutorSpec(
            "ray", tasks=3, workers=2, mem_per_cpu_gb=0.25, batch_rows=16), **fp)
    finally:
        ray.shutdown()
    _same(catalog, local, on_ray)


def test_unreachable_ray_address_is_one_line_not_a_hang(home, catalog, spread, tmp_path):
    """RAY_ADDRESS naming no cluster: ray.init retried for minutes; now one line at once.
    Neighbours: ray:// form, a malformed address; none registers anything."""
    import socket

    pytest.importorskip("ray")
    from curate.curation.executors.driver import check_ray_address
    from curate.errors import BadInput, CurateError

    with socket.socket() as s:           # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    for addr in (f"127.0.0.1:{port}", f"ray://127.0.0.1:{port}"):
        with pytest.raises(CurateError, match=f"no Ray cluster answers at RAY_ADDRESS={addr}"):
            check_ray_address(addr)
    for addr in ("127.0.0.1", "ray://:10001", "host:notaport"):
        with pytest.raises(BadInput, match="expected HOST:PORT"):
            check_ray_address(addr)
    check_ray_address(None)
    check_ray_address("auto")
    env = {**os.environ, "RAY_ADDRESS": f"127.0.0.1:{port}"}
    out, err = _cli(home, "filter", spread.spec, "--name", "x", "--k", "1", "--executor", "ray",
                    env=env).communicate(timeout=120)
    assert "no Ray cluster answers" in err and "Traceback" not in err
    assert not catalog.exists("x")


def test_slurm_dry_run_writes_the_sbatch_scripts(home, catalog, spread, monkeypatch):
    """No cluster: the scripts datatrove's Slurm executor would submit, one per stage, with
    the partition, time, array size, extra #SBATCH lines, this venv and this catalog."""
    import dill

    from curate.curation.executors.driver import DryRun
    from curate.curation.filters import filter_dataset

    monkeypatch.setenv("CURATE_HOME", str(home))
    ex = ExecutorSpec("slurm", tasks=4, partition="cpu", time="2:00:00",
                      sbatch_args={"account": "proj"}, dry_run=True)
    out = filter_dataset(catalog, spread.spec, "slurmy", executor=ex, k_per_problem=1)
    assert isinstance(out, DryRun) and not catalog.exists("slurmy")
    assert [p.parent.name for p in out.scripts] == ["keys", "decide", "apply"]
    for p in out.scripts:
        text = p.read_text()
        for line in ("#SBATCH --partition=cpu", "#SBATCH --time=2:00:00",
                     "#SBATCH --array=0-3", "#SBATCH --account=proj",
                     f"launch_pickled_pipeline {p.parent / 'executor.pik'}",
                     f"export CURATE_HOME={home}"):
            assert line in text, (line, text)
        assert json.loads((p.parent / "ranks_to_run.json").read_text()) == [0, 1, 2, 3]
        with open(p.parent / "executor.pik", "rb") as f:
            pickled = dill.load(f)
        assert pickled.world_size == 4 and type(pickled.pipeline[-1]).__name__ in (
            "WriteUnits", "DecideGroups")
    # the same command with --executor local finishes the job from the same staging folder
    ref = filter_dataset(catalog, spread.spec, "slurmy", executor=ExecutorSpec(
        "local", tasks=4, workers=2), k_per_problem=1)
    want = filter_dataset(catalog, spread.spec, "want", k_per_problem=1)
    assert ref.version == want.version


FAKE_SBATCH = """#!/bin/bash
# a one-node stand-in for Slurm's sbatch: runs every array task of the script now, in order
for a in "$@"; do case $a in --export=*) export "${a#--export=ALL,}";; esac; done
file="${@: -1}"
last=$(sed -n 's/^#SBATCH --array=0-\\([0-9]*\\).*/\\1/p' "$file")
id=$((1000 + RANDOM))
echo "$id $*" >> "$(dirname "$0")/submitted"
for i in $(seq 0 "${last:-0}"); do
  SLURM_ARRAY_JOB_ID=$id SLURM_JOB_ID=$id SLURM_ARRAY_TASK_ID=$i SLURM_NODELIST=localhost \\
    SLURM_NODEID=0 bash "$file" >/dev/null 2>&1
done
echo "Submitted batch job $id"
"""
FAKE_SRUN = """#!/bin/bash
while [[ $1 == -* ]]; do case $1 in -n|-N) shift 2;; *) shift;; esac; done
exec "$@"
"""


def _bin(tmp_path, **tools):
    d = tmp_path / "bin"
    d.mkdir(exist_ok=True)
    for name, text in tools.items():
        (d / name).write_text(text)
        (d / name).chmod(0o755)
    return d


def test_slurm_submission_waits_for_the_chain_and_registers(home, catalog, spread, tmp_path,
                                                            monkeypatch):
    """The submitting path without a cluster: sbatch runs each array task on this machine
    (through the real sbatch script, srun line and launch_pickled_pipeline), squeue knows no
    job; the driver submits the keys -> decide -> apply chain with its dependencies, waits,
    and registers the in-process version."""
    from curate.curation.filters import filter_dataset

    b = _bin(tmp_path, sbatch=FAKE_SBATCH, srun=FAKE_SRUN, squeue="#!/bin/bash\nexit 0\n",
             scontrol="#!/bin/bash\necho localhost\n")   # show hostnames
    monkeypatch.setenv("PATH", f"{b}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("CURATE_HOME", str(home))
    fp = {"k_per_problem": 1, "require_closed_think": True}
    ref = filter_dataset(catalog, spread.spec, "on-slurm", executor=ExecutorSpec(
        "slurm", tasks=2, partition="cpu", poll_s=0.1), **fp)
    assert ref.version == filter_dataset(catalog, spread.spec, "want", **fp).version
    jobs = [j.split() for j in (b / "submitted").read_text().splitlines()]
    stages = [j for j in jobs if "--export=ALL,RUN_OFFSET=0" in j]   # the others merge stats
    assert len(stages) == 3 and len(jobs) == 6
    (keys, *_), (decide, *d_args), (_, *a_args) = stages
    assert f"--dependency=afterok:{keys}" in d_args          # decide waits for keys,
    assert f"--dependency=afterok:{decide}" in a_args        # apply for decide
    assert not list(home.glob("staging/filter-*"))


@pytest.mark.parametrize("sbatch,match", [
    (None, "sbatch not found on this machine"),                       # not a login node
    ("#!/bin/bash\necho 'sbatch: error: invalid partition specified: cpu' >&2\nexit 1\n",
     r"sbatch refused the job \(exit 1\)"),
    ("#!/bin/bash\nexit 0\n", "sbatch's reply has no job id"),            # a site wrapper
])
def test_slurm_submission_failures_are_one_line(home, catalog, spread, tmp_path, monkeypatch,
                                                sbatch, match):
    from curate.curation.filters import filter_dataset
    from curate.errors import CurateError

    b = _bin(tmp_path, **({"sbatch": sbatch} if sbatch else {}))
    monkeypatch.setenv("PATH", str(b))
    monkeypatch.setenv("CURATE_HOME", str(home))
    with pytest.raises(CurateError, match=match) as e:
        filter_dataset(catalog, spread.spec, "x", k_per_problem=1,
                       executor=ExecutorSpec("slurm", tasks=2, partition="cpu"))
    assert "\n" not in str(e.value) and not catalog.exists("x")


def test_slurm_without_sbatch_on_the_command_line(home, catalog, spread, tmp_path):
    out, err = _cli(home, "filter", spread.spec, "--name", "x", "--k", "1", "--executor",
                    "slurm", "--partition", "cpu",
                    env_path=str(_bin(tmp_path))).communicate(timeout=300)
    assert "sbatch not found on this machine" in err and "Traceback" not in err


def test_executor_cli_options(home, catalog, spread):
    out, err = _cli(home, "filter", spread.spec, "--name", "x", "--tasks", "2").communicate(
        timeout=120)
    assert "--tasks and --workers need --executor" in err
    out, err = _cli(home, "filter", spread.spec, "--name", "x", "--executor", "spark") \
        .communicate(timeout=120)
    assert "use one of local, slurm, ray" in err
    out, err = _cli(home, "filter", spread.spec, "--name", "x", "--executor", "slurm") \
        .communicate(timeout=120)
    assert "needs --partition" in err and "Traceback" not in err


def test_recipe_on_the_executor_gives_the_in_process_versions(catalog, spread):
    """`curate run RECIPE --executor local`: every dataset step on datatrove, same outputs."""
    from curate.curation.recipes import run_recipe, validate

    def recipe(suffix):
        return validate({"name": f"r{suffix}", "steps": [
            {"id": "v", "step": "verify", "input": spread.spec, "with": {"use_cache": False},
             "output": f"v{suffix}"},
            {"id": "f", "step": "filter", "input": "${steps.v.output}",
             "with": {"verified_only": True, "k_per_problem": 1}, "output": f"f{suffix}"},
            {"id": "n", "step": "variant", "input": "${steps.f.output}",
             "with": {"variant": "nocot"}, "output": f"n{suffix}"}]})

    plain = run_recipe(catalog, recipe("a"))
    on_ex = run_recipe(catalog, recipe("b"), executor=ExecutorSpec("local", tasks=2, workers=2))
    assert [r.version for r in plain] == [r.version for r in on_ex]


def test_verify_commits_each_batch(catalog, spread, monkeypatch):
    """A verify run that dies mid-way keeps the verdicts of every batch it finished (the
    rerun redoes at most the batch it was in), and registers nothing."""
    import sqlite3

    from curate.curation import verify as V

    calls = {"n": 0}
    real = V.VerifyOp.apply

    def dying(self, batch, row0):
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt("killed")
        return real(self, batch, row0)

    monkeypatch.setattr(V.VerifyOp, "apply", dying)
    monkeypatch.setattr("curate.curation.executors.inprocess.BATCH_ROWS", 16)
    with pytest.raises(KeyboardInterrupt):
        V.verify_dataset(catalog, spread.spec, "v", workers=1, progress=False)
    db = catalog.cache_dir("verify") / "results.sqlite"
    kept = sqlite3.connect(db).execute("select count(*) from verdicts").fetchone()[0]
    assert kept >= 30 and not catalog.exists("v")      # 3 batches of 16, 5/6 math
