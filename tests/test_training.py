"""Training from the catalog: mixtures with lineage, SFT on Countdown-CoT with checkpoints in
the catalog and lineage back to the teacher, a few GRPO steps with the Countdown reward, and
bad input refused before any training starts."""

from __future__ import annotations

import json
import shutil

import pytest
from typer.testing import CliRunner

from curate.errors import BadInput, CurateError, NotFound


@pytest.fixture
def cd(catalog):
    """40 Countdown-CoT traces (3 numbers, solution path only) in the catalog."""
    from curate.curation.countdown_generate import generate_countdown

    return generate_countdown(catalog, "cd", 40, numbers=3, seed=0, optimal_only=True,
                              progress=False)


def _runs(catalog, kind="train"):
    return catalog.sql(f"SELECT * FROM runs WHERE kind = '{kind}'")


# -- mixtures ------------------------------------------------------------------------------
def test_parse_component():
    from curate.training.mixtures import Component, parse_component

    assert parse_component("cd:30") == Component("cd", count=30)
    assert parse_component("cd@ab12:0.5") == Component("cd@ab12", ratio=0.5)
    assert parse_component("cd") == Component("cd")
    for bad in ("cd:0", "cd:1.5", "cd:x", ":3", ""):
        with pytest.raises(BadInput):
            parse_component(bad)


def test_mix_variants_lineage_and_determinism(catalog, cd):
    from curate.record import THINK_CLOSE
    from curate.training.mixtures import build_mixture

    catalog.register("other", [{"prompt": f"q{i}", "answer_text": f"a{i}", "reference": str(i)}
                               for i in range(10)], kind="traces")
    cot = build_mixture(catalog, "mix-cot", ["cd:30", "other:0.5"], seed=1)  # as stored
    assert cot.kind == "mixture" and cot.rows == 35
    lin = catalog.lineage(cot.spec)
    assert lin[0]["step"] == "mix" and set(lin[0]["parents"]) == {
        cd.spec, catalog.resolve("other").spec}
    assert lin[0]["counts"]["per_component"] == {cd.spec: 30,
                                                 catalog.resolve("other").spec: 5}
    # same inputs and seed -> the same version
    assert build_mixture(catalog, "mix-cot", ["cd:30", "other:0.5"], seed=1).version == cot.version
    rows = catalog.get(cot).to_list()
    assert {r["component"] for r in rows} == {cd.spec, catalog.resolve("other").spec}
    thinks = [r for r in rows if r["component"] == cd.spec]
    assert all(THINK_CLOSE in r["messages"][-1]["content"] for r in thinks)
    nocot = catalog.get(build_mixture(catalog, "mix-nocot", ["cd:30"], variant="nocot")).to_list()
    assert all("<think>" not in r["messages"][-1]["content"] and "\\boxed{" in
               r["messages"][-1]["content"] for r in nocot)
    # a mixture with messages only can be mixed again, as is or as nocot
    cot_only = build_mixture(catalog, "mix-cot-only", ["cd:20"], variant="cot")
    again = catalog.get(build_mixture(catalog, "mix-again", [f"{cot_only.spec}:10"],
                                      variant="nocot")).to_list()
    assert len(again) == 10 and all(THINK_CLOSE not in r["messages"][-1]["content"]
                                    for r in again)
    # the same as a recipe step
    from curate.curation.steps import get_step

    ref = get_step("mix")(catalog, ["cd:10"], {"variant": "cot", "seed": 2}, "rec-mix")
    assert ref.kind == "mixture" and ref.rows == 10


def test_mix_bad_input(catalog, cd):
    from curate.training.mixtures import build_mixture

    with pytest.raises(NotFound, match="nope"):
        build_mixture(catalog, "m", ["cd:5", "nope:5"])
    nocot = build_mixture(catalog, "cd-nocot", ["cd"], variant="nocot")
    with pytest.raises(BadInput, match=f"{nocot.spec}: variant cot needs reasoning"):
        build_mixture(catalog, "m", [nocot.spec], variant="cot")
    with pytest.raises(BadInput, match="has 40 rows; 41 requested"):
        build_mixture(catalog, "m", ["cd:41"])
    catalog.register("bare", [{"problem": "x"}], kind="problems")
    with pytest.raises(BadInput, match="neither `messages` nor `prompt`"):
        build_mixture(catalog, "m", ["bare"])
    with pytest.raises(BadInput, match="unknown variant"):
        build_mixture(catalog, "m", ["cd"], variant="short")
    assert not catalog.exists("m")


# -- SFT -----------------------------------------------------------------------------------
def test_cli_mix_and_sft_registers_checkpoints_and_lineage(home, catalog, cd, tiny, tmp_path):
    """The shapes scripts use: `curate mix NAME --from DATASET:COUNT`, `curate train sft
    --mixture --model --output --max-steps --save-steps --epochs --learning-rate`."""
    from curate.cli import app
    from curate.training.callbacks import checkpoint_lineage

    runner = CliRunner()
    res = runner.invoke(app, ["mix", "cd-mix", "--from", "cd:32", "--variant", "cot", "--json"])
    assert res.exit_code == 0, res.output
    mix = json.loads(res.stdout)
    out = tmp_path / "sft"
    res = runner.invoke(app, ["train", "sft", "--mixture", "cd-mix", "--model", str(tiny),
                              "--output", str(out), "--max-steps", "4", "--save-steps", "2",
                              "--epochs", "1", "--learning-rate", "1e-3", "--batch-size", "4",
                              "--max-length", "512", "--logging-steps", "1", "--json"])
    assert res.exit_code == 0, res.output
    run = json.loads(res.stdout)
    assert run["steps"] == 4 and run["device"] == "cpu" and run["bf16"] is False
    assert run["roundtrip"]["checked"] > 0 and run["roundtrip"]["lost"] == 0
    assert run["truncation"]["over_max_length"] == 0

    cks = catalog.sql("SELECT * FROM checkpoints ORDER BY step, path")
    # the last step is the final model, saved and registered once (not checkpoint-4 as well)
    assert [c["step"] for c in cks] == [2, 4]
    assert [json.loads(c["metrics"])["final"] for c in cks] == [False, True]
    assert not (out / "checkpoint-4").exists()
    assert {c["mixture"] for c in cks} == {mix["spec"]}
    assert all(c["run_id"] == run["run_id"] and c["tokens_seen"] > 0 and c["loss"] > 0
               for c in cks)
    assert (out / "checkpoint-2" / "config.json").exists() and (out / "config.json").exists()
    curve = json.loads(cks[-1]["metrics"])["loss_curve"]
    assert [p["step"] for p in curve] == [1, 2, 3, 4]
    assert cks[0]["tokens_seen"] < cks[1]["tokens_seen"]
    assert run["plan"] == {"rows": 32, "exposures": 1, "batch_size": 4, "steps_per_epoch": 8,
                           "steps": 4, "world_size": 1}
    (r,) = _runs(catalog)
    assert r["status"] == "ok" and json.loads(r["inputs"]) == [mix["spec"]]
    assert json.loads(r["config"])["options"]["learning_rate"] == 1e-3

    # checkpoint -> run -> mixture -> traces -> teacher
    chain = checkpoint_lineage(catalog, str(out / "checkpoint-2"))
    assert chain[0]["step"] == 2 and chain[1]["run"] == run["run_id"]
    assert [e.get("dataset") for e in chain[2:]] == [mix["spec"], cd.spec]
    assert chain[-1]["step"] == "generate" and chain[-1]["params"]["teacher"] == "search"
    res = runner.invoke(app, ["train", "lineage", cks[0]["id"], "--json"])
    assert res.exit_code == 0 and json.loads(res.stdout)[-1]["params"]["teacher"] == "search"
    res = runner.invoke(app, ["catalog", "lineage", str(out / "checkpoint-2"), "--json"])
    assert res.exit_code == 0 and json.loads(res.stdout)[-1]["params"]["teacher"] == "search"


def test_sft_packing_and_exposures(catalog, cd, tiny, tmp_path):
    from curate.training.sft import SFTOptions, train_sft

    res = train_sft(catalog, "cd", str(tiny), tmp_path / "packed",
                    SFTOptions(max_steps=2, batch_size=1, max_length=1024, packing=True,
                               exposures=4, progress=False))
    assert res["steps"] == 2 and res["tokens_seen"] > 1024  # >1 row packed per sequence
    assert json.loads(_runs(catalog)[0]["config"])["lengths"]["rows"] == 10  # 40 // 4


def test_schedules_equal_steps():
    from curate.training.schedules import equal_step_pair, exposure_subset, plan

    one, rep = equal_step_pair(20480, 32, 8)
    assert one.steps == rep.steps == 640 and rep.rows == 2560 and rep.exposures == 8
    assert plan(20480, 256, epochs=8).steps == 640
    sub = exposure_subset(100, 4, seed=3)
    assert len(sub) == 25 and sub == exposure_subset(100, 4, seed=3)
    with pytest.raises(BadInput):
        plan(3, 1, exposures=4)


def test_truncation_counted_never_silent(catalog, cd, tiny, tmp_path):
    from curate.training.sft import SFTOptions, prepare_sft

    heard = []
    # the default refuses a run that would cut more than 5% of its rows, naming the shares
    with pytest.raises(BadInput, match=r"rows \(\d+\.\d%\) are longer than --max-length 410;"
                                       r" \d+ of \d+ tokens \(\d+\.\d%\) would be cut.*"
                                       r"--overflow truncate"):
        prepare_sft(catalog, "cd", str(tiny), tmp_path / "o",
                    SFTOptions(max_length=410, progress=False), log=heard.append)
    assert heard and heard[0].startswith("truncation: ")  # reported before anything trains
    prep = prepare_sft(catalog, "cd", str(tiny), tmp_path / "o",
                       SFTOptions(max_length=410, overflow="truncate", progress=False))
    rep = prep["lengths"]
    assert 0 < rep["over_max_length"] < rep["rows"] and rep["truncated"] == rep["over_max_length"]
    assert rep["tokens_cut"] >= rep["over_max_length"]
    assert rep["rows_share"] == rep["over_max_length"] / rep["rows"] > 0.05
    assert rep["tokens_share"] == rep["tokens_cut"] / rep["tokens"]
    # a limit above the share lets auto truncate; none over the length: nothing to refuse
    auto = prepare_sft(catalog, "cd", str(tiny), tmp_path / "o",
                       SFTOptions(max_length=410, truncate_limit=1.0, progress=False))
    assert auto["lengths"]["truncated"] == rep["over_max_length"]
    fits = prepare_sft(catalog, "cd", str(tiny), tmp_path / "o",
                       SFTOptions(max_length=rep["max"], truncate_limit=0.0, progress=False))
    assert fits["lengths"]["over_max_length"] == 0 and fits["lengths"]["rows_share"] == 0.0
    dropped = prepare_sft(catalog, "cd", str(tiny), tmp_path / "o",
                          SFTOptions(max_length=410, overflow="drop", progress=False))
    assert len(dropped["conversations"]) == rep["rows"] - rep["over_max_length"]
    with pytest.raises(BadInput, match="longer than --max-length 410"):
        prepare_sft(catalog, "cd", str(tiny), tmp_path / "o",
                    SFTOptions(max_length=410, overflow="error", progress=False))


def _with_template(tiny, tmp_path, template: str):
    from transformers import AutoTokenizer

    dst = tmp_path / "model-copy"
    shutil.copytree(tiny, dst)
    tok = AutoTokenizer.from_pretrained(dst)
    tok.chat_template = template
    tok.save_pretrained(dst)
    return dst


def test_sft_bad_input_fails_before_training(catalog, cd, tiny, tmp_path):
    from curate.training.sft import SFTOptions, train_sft
    from curate.training.tiny import CHAT_TEMPLATE

    opts = SFTOptions(max_steps=1, progress=False)
    with pytest.raises(NotFound, match="not found"):
        train_sft(catalog, "cd", str(tmp_path / "no-such-model"), tmp_path / "o1", opts)
    with pytest.raises(NotFound, match="dataset nope not found"):
        train_sft(catalog, "nope", str(tiny), tmp_path / "o2", opts)
    catalog.register("no-msgs", [{"prompt": "p", "reference": "r"}], kind="problems")
    with pytest.raises(BadInput, match="no `messages` column"):
        train_sft(catalog, "no-msgs", str(tiny), tmp_path / "o3", opts)
    catalog.register("no-assistant", [{"messages": [{"role": "user", "content": "hi"}]}],
                     kind="mixture")
    with pytest.raises(BadInput, match="no assistant turn"):
        train_sft(catalog, "no-assistant", str(tiny), tmp_path / "o4", opts)
    # a template without {% generation %} markers, unknown to TRL
    plain = CHAT_TEMPLATE.replace("{% generation %}", "").replace("{% endgeneration %}", "")
    with pytest.raises(CurateError, match="no \\{% generation %\\} markers"):
        train_sft(catalog, "cd", str(_with_template(tiny, tmp_path / "a", plain)),
                  tmp_path / "o5", opts)
    # a template that drops the reasoning from the assistant turn
    strip = CHAT_TEMPLATE.replace("{{ m['content'] }}<|end|>",
                                  "{{ m['content'].split('</think>')[-1] }}<|end|>", 1)
    lossy = _with_template(tiny, tmp_path / "b", strip)
    with pytest.raises(CurateError, match="drops the reasoning"):
        train_sft(catalog, "cd", str(lossy), tmp_path / "o6", opts)
    (tmp_path / "o7").mkdir()
    (tmp_path / "o7" / "x").write_text("x")
    with pytest.raises(BadInput, match="not empty"):
        train_sft(catalog, "cd", str(tiny), tmp_path / "o7", opts)
    assert _runs(catalog) == []  # nothing started
    # the explicit opt-out trains anyway
    from curate.training.sft import prepare_sft

    prep = prepare_sft(catalog, "cd", str(lossy), tmp_path / "o8",
                       SFTOptions(allow_lost_reasoning=True, progress=False))
    assert prep["roundtrip"]["lost"] == prep["roundtrip"]["checked"] > 0


# -- rewards and GRPO ----------------------------------------------------------------------
def test_rewards():
    from curate.training.rewards import (
        countdown_reward,
        default_rewards,
        format_reward,
        keep_think_tokens,
    )

    ref = json.dumps({"numbers": [3, 5, 7], "target": 22})
    good = "<think>\n3*5=15, 15+7=22\n</think>\n\nThe equation is 3*5+7.\n\n\\boxed{3*5+7}"
    assert countdown_reward([good, good.replace("3*5+7}", "3*7+5}"), "no answer"],
                            reference=[ref] * 3) == [1.0, 0.0, 0.0]
    chat = [[{"role": "assistant", "content": good}]]
    assert countdown_reward(chat, reference=[ref]) == [1.0]
    assert format_reward([good, "\\boxed{1}", "<think>never closed \\boxed{1}",
                          "prefilled think</think> \\boxed{2}"]) == [1.0, 0.0, 0.0, 1.0]
    assert default_rewards({"countdown"}) == ["countdown"]  # format is opt-in (P1: none)
    assert default_rewards({"math"}) == ["math"] and default_rewards({"math", "countdown"}) == [
        "correct"]

    class Tok:  # decodes ids to text the way a tokenizer with special think tokens would
        pad_token, eos_token, bos_token = "<pad>", "<|end|>", "<s>"

        def decode(self, ids, skip_special_tokens=False):
            return good + "<|end|><pad>"

    wrapped = keep_think_tokens(format_reward, Tok())
    assert wrapped(["stripped: 15+7=22 \\boxed{3*5+7}"], completion_ids=[[1, 2]]) == [1.0]
    assert wrapped.__name__ == "format_reward"


def test_grpo_few_steps_with_countdown_reward(catalog, cd, tiny, tmp_path):
    from curate.training.grpo import GRPOOptions, train_grpo

    res = train_grpo(catalog, "cd", str(tiny), tmp_path / "grpo",
                     GRPOOptions(num_generations=4, batch_size=4, max_completion_length=24,
                                 max_steps=2, save_steps=1, limit=8, progress=False))
    assert res["steps"] == 2 and res["rewards"] == ["countdown"]
    assert res["vllm"] is False
    cks = catalog.sql("SELECT step, mixture, metrics FROM checkpoints ORDER BY step")
    assert [c["step"] for c in cks] == [1, 2] and {c["mixture"] for c in cks} == {cd.spec}
    curve = json.loads(cks[-1]["metrics"])["loss_curve"]
    assert all("rewards/countdown_reward/mean" in p for p in curve)
    (r,) = _runs(catalog)
    assert r["status"] == "ok" and json.loads(r["config"])["method"] == "grpo"


def test_grpo_bad_input(catalog, tiny, tmp_path):
    from curate.training.grpo import GRPOOptions, train_grpo

    catalog.register("no-ref", [{"prompt": "p"}], kind="problems")
    with pytest.raises(BadInput, match="no reference column"):
        train_grpo(catalog, "no-ref", str(tiny), tmp_path / "g", GRPOOptions(progress=False))
    with pytest.raises(BadInput, match="multiple of --num-generations"):
        train_grpo(catalog, "no-ref", str(tiny), tmp_path / "g",
                   GRPOOptions(num_generations=3, batch_size=4))
    catalog.register("with-ref", [{"prompt": "p", "reference": "1"}], kind="problems")
    with pytest.raises(BadInput, match="unknown reward"):
        train_grpo(catalog, "with-ref", str(tiny), tmp_path / "g", GRPOOptions(rewards=["bleu"]))
    assert _runs(catalog) == []
