"""A killed training run continues from its newest checkpoint (`--resume`): it starts at the
checkpoint's step, ends at the planned steps with the weights of an uninterrupted run, one
catalog run with its checkpoints before and after the kill; only the newest checkpoint keeps
the optimizer state; another run's settings are refused in one line."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from transformers import TrainerCallback

from curate.errors import BadInput


class Killed(KeyboardInterrupt):
    pass


class KillAt(TrainerCallback):
    """Dies at the end of step `step` (after the checkpoints before it are saved)."""

    def __init__(self, step: int):
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            raise Killed()


class StartAt(TrainerCallback):
    def __init__(self):
        self.steps: list[int] = []

    def on_train_begin(self, args, state, control, **kwargs):
        self.steps.append(state.global_step)


@pytest.fixture
def cd(catalog):
    from curate.curation.countdown_generate import generate_countdown

    return generate_countdown(catalog, "cd", 24, numbers=3, seed=0, optimal_only=True,
                              progress=False)


def _opts(**kw):
    from curate.training.sft import SFTOptions

    base = dict(batch_size=2, max_length=1536, learning_rate=1e-3, logging_steps=1,
                max_steps=6, save_steps=2, shuffle=False, seed=0, progress=False)
    return SFTOptions(**{**base, **kw})


def _with(monkeypatch, *extra):
    """Train with these callbacks added to the trainer."""
    from curate.training import sft

    real = sft.build_trainer

    def build(*a, **kw):
        trainer = real(*a, **kw)
        for cb in extra:
            trainer.add_callback(cb)
        return trainer

    monkeypatch.setattr(sft, "build_trainer", build)


def _weights(folder):
    from safetensors.torch import load_file

    return load_file(str(folder / "model.safetensors"))


@pytest.mark.parametrize("shuffle,batch", [
    (False, 2), pytest.param(True, 8, marks=pytest.mark.slow)])
def test_killed_sft_resumes_at_its_checkpoint_and_ends_as_an_uninterrupted_run(
        catalog, cd, tiny, tmp_path, monkeypatch, shuffle, batch):
    """Fixed order (P3), or a seeded shuffle resumed in its second epoch (24 rows, 8 a step):
    the resumed run trains the same remaining batches, so its weights are those of the run
    never killed."""
    from curate.training.resume import resumable, state_files
    from curate.training.sft import train_sft

    opts = dict(shuffle=shuffle, batch_size=batch)
    whole = train_sft(catalog, "cd", str(tiny), tmp_path / "whole", _opts(**opts))
    with monkeypatch.context() as mp:
        _with(mp, KillAt(5))
        with pytest.raises(Killed):
            train_sft(catalog, "cd", str(tiny), tmp_path / "run", _opts(**opts))
    run = tmp_path / "run"
    # while killed: only the newest checkpoint (4) keeps optimizer / scheduler / RNG state
    assert state_files(run / "checkpoint-2") == [] and resumable(run / "checkpoint-4")
    assert (run / "checkpoint-2" / "model.safetensors").is_file()
    names = {p.name for p in state_files(run / "checkpoint-4")}
    assert {"optimizer.pt", "scheduler.pt"} <= names and any(n.startswith("rng_state")
                                                              for n in names)
    [died] = catalog.sql("SELECT id, status FROM runs WHERE name = 'sft:run'")
    assert died["status"] == "failed"

    start = StartAt()
    with monkeypatch.context() as mp:
        _with(mp, start)
        res = train_sft(catalog, "cd", str(tiny), run, _opts(**opts, resume=True))
    assert start.steps == [4] and res["resumed_from"] == 4 and res["steps"] == 6
    # the same weights as the run that was never killed (fixed order, fixed seed, CPU)
    a, b = _weights(tmp_path / "whole"), _weights(run)
    assert a.keys() == b.keys()
    for k in a:
        assert (a[k] - b[k]).abs().max().item() <= 1e-6, k
    base = _weights(tiny)  # training moved them far more than that tolerance
    assert max((a[k] - base[k]).abs().max().item() for k in a if k in base) > 1e-3
    # one run, the lineage of an uninterrupted one: its checkpoints before and after the kill
    runs = catalog.sql("SELECT id, status, inputs FROM runs WHERE name = 'sft:run'")
    assert [(r["id"], r["status"]) for r in runs] == [(died["id"], "ok")]
    assert res["run_id"] == died["id"]
    assert [c["step"] for c in res["checkpoints"]] == [2, 4, 6]
    rows = catalog.sql("SELECT step, run_id FROM checkpoints WHERE run_id = ? ORDER BY step",
                       [died["id"]])
    assert [r["step"] for r in rows] == [2, 4, 6]
    assert runs[0]["inputs"] == catalog.sql("SELECT inputs FROM runs WHERE id = ?",
                                            [whole["run_id"]])[0]["inputs"]
    metrics = catalog.sql("SELECT metrics FROM runs WHERE id = ?", [died["id"]])[0]["metrics"]
    curve = json.loads(metrics)["loss_curve"]
    assert [p["step"] for p in curve] == list(range(1, 7))
    # finished: no checkpoint keeps resume state (the dense model-only checkpoints stay)
    for r in (run, tmp_path / "whole"):
        assert state_files(r / "checkpoint-2") == state_files(r / "checkpoint-4") == []
        assert (r / "checkpoint-4" / "model.safetensors").is_file()


def test_resume_refuses_another_runs_folder(catalog, cd, tiny, tmp_path, monkeypatch):
    from curate.curation.countdown_generate import generate_countdown
    from curate.training.sft import train_sft

    run = tmp_path / "run"
    with monkeypatch.context() as mp:
        _with(mp, KillAt(3))
        with pytest.raises(Killed):
            train_sft(catalog, "cd", str(tiny), run, _opts())
    # a SIGKILL leaves the run `running`: resumable once its process is gone, refused while
    # it lives (two trainers in one folder)
    from curate.catalog.catalog import process_identity
    from curate.training.resume import plan_resume, read_run_file

    key = read_run_file(run)["key"]
    for proc, alive in (("0:999999999:1", False), (process_identity(), True)):
        with catalog.connect() as con:
            con.execute("UPDATE runs SET status = 'running', process = ? WHERE kind = 'train'",
                        [proc])
        if alive:
            with pytest.raises(BadInput, match="is still training"):
                plan_resume(catalog, run, key, overwrite=False)
        else:
            assert plan_resume(catalog, run, key, overwrite=False)["step"] == 2
    # another schedule, another learning rate
    with pytest.raises(BadInput, match=r"--resume: .* other settings: .*max_steps 8 \(was 6\)"):
        train_sft(catalog, "cd", str(tiny), run, _opts(max_steps=8, resume=True))
    with pytest.raises(BadInput, match=r"options\.learning_rate 0\.002 \(was 0\.001\)"):
        train_sft(catalog, "cd", str(tiny), run, _opts(learning_rate=2e-3, resume=True))
    # another version of the data under the same name
    generate_countdown(catalog, "cd", 24, numbers=3, seed=1, optimal_only=True, progress=False)
    with pytest.raises(BadInput, match=r"--resume: .*\bdata 'cd@\w+' \(was 'cd@\w+'\)"):
        train_sft(catalog, "cd", str(tiny), run, _opts(resume=True))
    # a folder curate did not train into; a run that finished
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("x")
    with pytest.raises(BadInput, match="holds no curate training run"):
        train_sft(catalog, "cd", str(tiny), tmp_path / "other", _opts(resume=True))
    assert catalog.sql("SELECT count(*) n FROM runs WHERE kind = 'train'")[0]["n"] == 1


def test_resume_with_nothing_to_resume_trains_from_the_start_and_cli_refuses_finished(
        home, catalog, cd, tiny, tmp_path):
    from curate.training.sft import train_sft

    res = train_sft(catalog, "cd", str(tiny), tmp_path / "new",
                    _opts(max_steps=2, save_steps=None, resume=True))
    assert res["resumed_from"] is None and res["steps"] == 2
    r = subprocess.run([sys.executable, "-m", "curate.cli", "--home", str(home), "train", "sft",
                        "--mixture", "cd", "--model", str(tiny), "--output",
                        str(tmp_path / "new"), "--max-steps", "2", "--batch-size", "2",
                        "--max-length", "1536", "--learning-rate", "1e-3", "--logging-steps",
                        "1", "--no-shuffle", "--resume"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 2, r.stderr
    assert "finished already" in r.stderr and "Traceback" not in r.stderr


def test_killed_grpo_resumes_at_its_checkpoint(catalog, cd, tiny, tmp_path, monkeypatch):
    """`train grpo --resume`: the same path as SFT (start step, one run, pruned state)."""
    from curate.training import resume
    from curate.training.grpo import GRPOOptions, train_grpo

    def opts(**kw):
        return GRPOOptions(num_generations=4, batch_size=4, max_completion_length=16,
                           max_steps=2, save_steps=1, limit=8, shuffle=False,
                           progress=False, **kw)

    start = StartAt()

    def with_callbacks(*cbs):
        class Prune(resume.PruneOlderState):
            def on_train_begin(self, *a, **kw):
                for cb in cbs:
                    cb.on_train_begin(*a, **kw)

            def on_step_end(self, *a, **kw):
                for cb in cbs:
                    cb.on_step_end(*a, **kw)
        return Prune

    # (no weights compared: the untrained tiny model earns no reward, so GRPO does not move it;
    # the SFT test above compares weights)
    with monkeypatch.context() as mp:
        mp.setattr(resume, "PruneOlderState", with_callbacks(KillAt(2)))
        with pytest.raises(Killed):
            train_grpo(catalog, "cd", str(tiny), tmp_path / "run", opts())
    assert resume.resumable(tmp_path / "run" / "checkpoint-1")
    with monkeypatch.context() as mp:
        mp.setattr(resume, "PruneOlderState", with_callbacks(start))
        res = train_grpo(catalog, "cd", str(tiny), tmp_path / "run", opts(resume=True))
    assert start.steps == [1] and res["resumed_from"] == 1 and res["steps"] == 2
    assert [c["step"] for c in res["checkpoints"]] == [1, 2]
    runs = catalog.sql("SELECT status FROM runs WHERE name = 'grpo:run'")
    assert [r["status"] for r in runs] == ["ok"]
    assert resume.state_files(tmp_path / "run" / "checkpoint-1") == []


@pytest.mark.slow
def test_cli_sigkilled_run_resumes(home, catalog, cd, tiny, tmp_path):
    """A real kill: `curate train sft` SIGKILLed once a checkpoint is resumable (its run left
    `running`, any later checkpoint perhaps half-written), then `--resume` finishes it in the
    same run."""
    import signal
    import time

    from curate.training.resume import newest_resumable, state_files

    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "curate.cli", "--home", str(home), "train", "sft", "--mixture",
           "cd", "--model", str(tiny), "--output", str(out), "--max-steps", "24",
           "--save-steps", "2", "--batch-size", "2", "--max-length", "1536",
           "--learning-rate", "1e-3", "--logging-steps", "1", "--no-shuffle", "--json"]
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while newest_resumable(out) is None and p.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    p.send_signal(signal.SIGKILL)
    p.wait()
    step, folder = newest_resumable(out)
    assert step < 24
    [row] = catalog.sql("SELECT id, status FROM runs WHERE kind = 'train'")
    assert row["status"] == "running"
    r = subprocess.run(cmd + ["--resume"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    assert res["run_id"] == row["id"] and res["resumed_from"] >= step and res["steps"] == 24
    assert [c["step"] for c in res["checkpoints"]] == list(range(2, 25, 2))
    assert all(state_files(f) == [] for f in out.glob("checkpoint-*"))
