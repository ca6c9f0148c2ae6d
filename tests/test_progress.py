"""Progress and messages: one helper (curate.progress) draws a bar in a terminal and writes a
line per interval to a log; training shows its steps with the loss; third-party noise is quiet
unless -v; server start-up says what it is doing."""

from __future__ import annotations

import io
import re
import time

import pytest


def _log_progress(monkeypatch, interval="0.1"):
    monkeypatch.setenv("CURATE_PROGRESS", "log")
    monkeypatch.setenv("CURATE_PROGRESS_INTERVAL", interval)


def test_log_lines_at_an_interval_even_while_stuck(monkeypatch):
    from curate.progress import Progress

    _log_progress(monkeypatch)
    out = io.StringIO()
    with Progress(stream=out) as bar:
        task = bar.add_task("generate", total=1000)
        bar.advance(task, 100)
        time.sleep(0.35)          # nothing advances: the heartbeat still writes lines
        bar.update(task, advance=50, in_flight=64)
        time.sleep(0.25)
    lines = out.getvalue().splitlines()
    assert lines[0] == "[generate] started: 1,000 to do"
    beats = [ln for ln in lines[1:] if ln.startswith("[generate] ")]
    assert len(beats) >= 4
    assert re.match(r"\[generate\] 100/1,000 \(10\.0%\) · [\d.,]+/s · elapsed \d+s · ETA \d+s",
                    beats[0]), beats[0]
    assert "150/1,000 (15.0%)" in lines[-1] and "in_flight 64" in lines[-1]


def test_finished_task_writes_its_last_line_once(monkeypatch):
    from curate.progress import Progress

    _log_progress(monkeypatch, "30")
    out = io.StringIO()
    with Progress(stream=out) as bar:
        t = bar.add_task("verify", total=3)
        for _ in range(3):
            bar.advance(t)
    lines = out.getvalue().splitlines()
    assert len(lines) == 2 and lines[1].startswith("[verify] 3/3 (100.0%)")
    assert "ETA" not in lines[1]


def test_resumed_work_does_not_inflate_the_rate(monkeypatch):
    from curate.progress import _Task

    t = _Task("generate", total=100, completed=90, base=90)
    t.start -= 10.0
    t.completed = 95
    assert "0.50/s" in t.line() and "ETA 10s" in t.line()


def test_off_and_track(monkeypatch):
    from curate.progress import Progress, track

    monkeypatch.setenv("CURATE_PROGRESS", "off")
    out = io.StringIO()
    with Progress(stream=out) as bar:
        bar.advance(bar.add_task("x", total=2), 2)
    assert out.getvalue() == ""
    assert list(track(range(5), "t")) == [0, 1, 2, 3, 4]


def test_status_says_what_it_is_doing(monkeypatch):
    from curate.progress import Status

    _log_progress(monkeypatch, "0.1")
    out = io.StringIO()
    with Status("starting vllm server", stream=out) as st:
        time.sleep(0.15)
        st.update("starting vllm server: Loading safetensors checkpoint shards: 50%")
        time.sleep(0.15)
        st.update("vllm server ready")
    text = out.getvalue()
    assert text.startswith("starting vllm server · 0s")
    assert "Loading safetensors checkpoint shards: 50% · " in text
    assert text.splitlines()[-1].startswith("vllm server ready · ")


def test_last_log_line_of_a_server(tmp_path):
    from curate.curation.teachers.servers import last_log_line

    log = tmp_path / "vllm.log"
    log.write_bytes(b"INFO starting\n\x1b[32mINFO\x1b[0m Loading weights\r"
                    b"Loading safetensors checkpoint shards:  50% 1/2\r\n\n")
    assert last_log_line(log) == "Loading safetensors checkpoint shards:  50% 1/2"
    assert last_log_line(tmp_path / "missing.log") == ""


def test_verbose_flag_anywhere_and_quiet_env(monkeypatch):
    import os

    from curate.cli import _lift_verbose
    from curate.console import QUIET_ENV, quiet_third_party

    monkeypatch.delenv("CURATE_VERBOSE", raising=False)
    assert _lift_verbose(["train", "sft", "-v", "--max-steps", "2"]) == \
        ["train", "sft", "--max-steps", "2"]
    assert os.environ["CURATE_VERBOSE"] == "1"
    assert _lift_verbose(["run", "--", "-v"]) == ["run", "--", "-v"]
    for k in QUIET_ENV:
        monkeypatch.delenv(k, raising=False)
    quiet_third_party(verbose=True)
    assert "HF_HUB_DISABLE_PROGRESS_BARS" not in os.environ
    quiet_third_party(verbose=False)
    assert os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] == "1"
    assert os.environ["TRANSFORMERS_VERBOSITY"] == "error"
    assert os.environ["HF_HUB_VERBOSITY"] == "error"


def test_hub_retry_warnings_are_quiet_by_default():
    """Offline, huggingface_hub logged 'Retrying in 8s [Retry 4/5]' and the failed HEAD for
    every benchmark file tried (33 lines in the smoke recipe's decontaminate step): the Hub
    client sets its own level when imported, so quiet_third_party sets HF_HUB_VERBOSITY."""
    import os
    import subprocess
    import sys

    code = ("from curate.console import quiet_third_party; quiet_third_party(); "
            "import logging, huggingface_hub.utils._http as h; "
            "print(h.logger.getEffectiveLevel())")
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_VERBOSITY",)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, check=True).stdout.split()
    import logging

    assert out[-1] == str(logging.ERROR)


def test_console_tables_round_and_json_decodes(capsys):
    from curate.console import cell, decode_json_text, print_json

    assert cell(0.4123456) == "0.4123" and cell(1234.567) == "1,235" and cell(5e-5) == "5e-05"
    assert decode_json_text({"metrics": '{"a": 1}', "x": "[1, 2]", "s": "{not json"}) == \
        {"metrics": {"a": 1}, "x": [1, 2], "s": "{not json"}
    print_json({"v": float("nan")})
    assert '"v": null' in capsys.readouterr().out


def test_training_shows_steps_with_loss_and_no_library_noise(catalog, tmp_path, monkeypatch,
                                                             capfd):
    from curate.curation.countdown_generate import generate_countdown
    from curate.training.sft import SFTOptions, train_sft
    from curate.training.tiny import build_tiny_model

    _log_progress(monkeypatch, "0.05")
    tiny = build_tiny_model(tmp_path / "tiny")
    generate_countdown(catalog, "cd", 16, numbers=3, seed=0, optimal_only=True, progress=False)
    capfd.readouterr()
    res = train_sft(catalog, "cd", str(tiny), tmp_path / "out",
                    SFTOptions(max_steps=3, batch_size=4, max_length=512, logging_steps=1,
                               learning_rate=0.02, warmup_ratio=0.0, progress=True))
    err = capfd.readouterr()
    text = err.err + err.out
    lines = [ln for ln in text.splitlines() if ln.startswith("[train sft]")]
    assert lines and lines[0] == "[train sft] started: 3 to do"
    last = re.search(r"\[train sft\] 3/3 \(100\.0%\) .* loss ([\d.]+)", lines[-1])
    assert last, lines[-1]
    # the last line carries the last step's loss (it showed the step before's)
    assert last.group(1) == f"{res['final_loss']:.4g}", (lines, res["final_loss"])
    assert "{'loss'" not in text                       # the trainer's printed log dicts
    assert not re.search(r"\b\d/3 \[\d\d:\d\d", text)   # the trainer's tqdm step bar


def test_cli_quiet_by_default_verbose_with_v(tmp_path):
    """`curate train tiny-model` saves a model: transformers' "Writing model shards" bar is
    third-party noise, shown only with -v (before or after the verb)."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items()
           if k not in ("HF_HUB_DISABLE_PROGRESS_BARS", "TRANSFORMERS_VERBOSITY", "CURATE_VERBOSE")}
    env["CURATE_PROGRESS"] = "bar"   # tqdm would draw even into a pipe

    def run(*extra):
        p = subprocess.run([sys.executable, "-m", "curate.cli", *extra], capture_output=True,
                           text=True, env=env, timeout=300)
        assert p.returncode == 0, p.stderr
        return p.stderr

    assert "Writing model shards" not in run("train", "tiny-model", str(tmp_path / "a"))
    assert "Writing model shards" in run("train", "tiny-model", str(tmp_path / "b"), "-v")


@pytest.mark.parametrize("rate,shown", [(1234.4, "1,234/s"), (12.34, "12.3/s"), (1.0, "1.0/s"),
                                        (0.25, "0.25/s"), (0.1, "0.10/s"),
                                        (1 / 22, "1 per 22s"), (1 / 95, "1 per 1m35s"),
                                        (0.0, "?/s")])
def test_rate_is_readable_at_every_speed(rate, shown):
    """A training step every 20 s was '0.0/s' (and 0.05/s looked like nothing moved)."""
    from curate.progress import _rate, _Task

    assert _rate(rate) == shown
    t = _Task("train sft", total=20, completed=2)
    t.start -= 44.0
    assert "1 per 22s" in t.line(now=t.start + 44.0) and "0.0/s" not in t.line()
