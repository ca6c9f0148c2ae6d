"""The training settings the papers used: a fixed data order, checkpoints at a list of steps
(the final model once), the step planner over processes and the rank-0 catalog gate, and the
chat-template round trip rendering exactly one think block whatever the template's form."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from curate.errors import BadInput, CurateError

TRL_TEMPLATES = Path(__import__("trl").__file__).parent / "chat_templates"


@pytest.fixture
def cd(catalog):
    from curate.curation.countdown_generate import generate_countdown

    return generate_countdown(catalog, "cd", 24, numbers=3, seed=0, optimal_only=True,
                              progress=False)


def _opts(**kw):
    from curate.training.sft import SFTOptions

    base = dict(batch_size=2, max_length=1536, learning_rate=1e-3, logging_steps=1,
                progress=False)
    return SFTOptions(**{**base, **kw})


# -- steps ---------------------------------------------------------------------------------
def test_planner_counts_every_process(monkeypatch, catalog, cd, tiny, tmp_path):
    from curate.training.schedules import check_save_at, global_batch, parse_steps, plan
    from curate.training.sft import prepare_sft

    # P3: micro-batch 4 on 8 GPUs with accumulation 8 = 256 a step; 20,480 rows x 8 epochs
    assert global_batch(4, 8, 8) == 256
    assert plan(20480, global_batch(4, 8, 8), epochs=8).steps == 640
    assert plan(20480, global_batch(32, 1, 1), epochs=1).steps == 640
    assert plan(2560, global_batch(4, 1, 8), epochs=8).steps == 640
    assert plan(20480, 256, epochs=8, max_steps=100).steps == 100
    with pytest.raises(BadInput):
        global_batch(4, 0, 2)
    assert parse_steps("40, 10,20,20") == [10, 20, 40] and parse_steps(None) == []
    for bad in ("10,x", "0", "-5"):
        with pytest.raises(BadInput, match="--save-at"):
            parse_steps(bad)
    with pytest.raises(BadInput, match="--save-at 800: beyond the run's 640 steps"):
        check_save_at([10, 640, 800], 640)
    # under torchrun WORLD_SIZE=2: 24 rows at 2 x 1 x 2 = 4 a step
    monkeypatch.setenv("WORLD_SIZE", "2")
    prep = prepare_sft(catalog, "cd", str(tiny), tmp_path / "o", _opts(epochs=2))
    assert prep["plan"] == {"rows": 24, "exposures": 1, "batch_size": 4, "steps_per_epoch": 6,
                            "steps": 12, "world_size": 2}
    with pytest.raises(BadInput, match="beyond the run's 12 steps"):
        prepare_sft(catalog, "cd", str(tiny), tmp_path / "o", _opts(epochs=2, save_at="6,13"))


def test_planner_counts_the_gpus_of_one_process(monkeypatch, catalog, cd, tiny, tmp_path):
    """One process seeing several GPUs: transformers' Trainer takes per-device batch x GPUs a
    micro-step (nn.DataParallel), so the plan counts them (it counted 1: 8 GPUs gave a global
    batch 8 times the one planned); under torchrun the processes count, not the GPUs."""
    import torch

    from curate.training import ranks
    from curate.training.sft import prepare_sft

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 3)
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert ranks.replicas() == 3
    prep = prepare_sft(catalog, "cd", str(tiny), tmp_path / "o", _opts(epochs=1))
    assert prep["plan"]["world_size"] == 3 and prep["plan"]["steps"] == 4   # 24 / (2 x 3)
    monkeypatch.setenv("WORLD_SIZE", "2")                 # torchrun: a GPU per process
    assert ranks.replicas() == 2
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.delenv("WORLD_SIZE")
    assert ranks.replicas() == 1


def test_rank_gate_writes_nothing_off_rank_zero(monkeypatch, catalog):
    from types import SimpleNamespace

    from curate.training.callbacks import CatalogCallback
    from curate.training.ranks import SilentWriter, catalog_writer, process_rank

    assert catalog_writer(catalog) is catalog and process_rank() == 0
    for rank in (1, 3):
        w = catalog_writer(catalog, rank=rank)
        assert isinstance(w, SilentWriter)
        run = w.start_run("train", config={}, inputs=[])
        assert run is None
        cb = CatalogCallback(w, run, "m", "mix@v")
        state = SimpleNamespace(global_step=3, num_input_tokens_seen=10, epoch=1.0)
        assert cb.record("/tmp/x", state, final=True)["id"] is None
        w.finish_run(run, "ok")
    monkeypatch.setenv("RANK", "1")
    assert isinstance(catalog_writer(catalog), SilentWriter)
    assert catalog.sql("SELECT * FROM runs") == [] and catalog.sql("SELECT * FROM checkpoints") == []


def test_save_at_list_and_final_once_no_shuffle(catalog, cd, tiny, tmp_path):
    """--save-at 1,3 with --save-steps 2 over 3 steps: checkpoints 1 and 2, the final model at
    3 once; --no-shuffle gives TRL a sequential sampler (P3's fixed order)."""
    from torch.utils.data import RandomSampler, SequentialSampler

    from curate.training.sft import build_trainer, device_settings, prepare_sft, train_sft

    res = train_sft(catalog, "cd", str(tiny), tmp_path / "run",
                    _opts(max_steps=3, save_steps=2, save_at="1,3", shuffle=False))
    assert [c["step"] for c in res["checkpoints"]] == [1, 2, 3]
    assert [c["final"] for c in res["checkpoints"]] == [False, False, True]
    rows = catalog.sql("SELECT step FROM checkpoints ORDER BY step")
    assert [r["step"] for r in rows] == [1, 2, 3]
    assert sorted(p.name for p in (tmp_path / "run").glob("checkpoint-*")) == [
        "checkpoint-1", "checkpoint-2"]
    dev = device_settings()
    for shuffle, kind in ((False, SequentialSampler), (True, RandomSampler)):
        opts = _opts(shuffle=shuffle, max_steps=1)
        prep = prepare_sft(catalog, "cd", str(tiny), tmp_path / f"s{shuffle}", opts)
        trainer = build_trainer(prep, opts, dev)
        assert isinstance(trainer._get_train_sampler(), kind)
        assert trainer.args.train_sampling_strategy == ("random" if shuffle else "sequential")


# -- one think block -----------------------------------------------------------------------
CONV = [{"role": "user", "content": "Numbers: [3, 5, 7] Target: 22"},
        {"role": "assistant", "content": "<think>\n3*5=15, 15+7=22\n</think>\n\n\\boxed{3*5+7}"}]


def _trl(name: str) -> str:
    return (TRL_TEMPLATES / f"{name}.jinja").read_text()


@pytest.mark.parametrize("name,form", [
    ("tiny", "inline"),                          # curate's own template: the content as is
    ("qwen3_training", "inline"),                # splits `</think>` out of the content
    ("deepseek_r1_distill_training", "inline"),  # renders the content, no reasoning field
    ("qwen3_8_training", "reasoning_content"),   # always renders its own think block
    ("qwen3_6_training", "inline"),
])
def test_training_template_renders_exactly_one_think_block(tiny, name, form):
    from curate.models import load_tokenizer
    from curate.training.sft import choose_think_form, think_roundtrip, to_think_form
    from curate.training.tiny import CHAT_TEMPLATE

    tok = load_tokenizer(str(tiny))
    template = CHAT_TEMPLATE if name == "tiny" else _trl(name)
    trip = choose_think_form(tok, [CONV], template)
    assert trip["form"] == form and trip["kept"] == trip["checked"] == 1
    text = tok.apply_chat_template(to_think_form(CONV, form), chat_template=template,
                                   tokenize=False)
    assert text.count("<think>") == 1 and text.count("</think>") == 1
    assert "3*5=15, 15+7=22" in text and text.count("\\boxed{3*5+7}") == 1
    if name == "qwen3_8_training":  # inline, this template doubles the block (the old bug)
        inline = think_roundtrip(tok, [CONV], template, form="inline")
        assert inline["extra_blocks"] == 1 and inline["first_extra"].startswith("2 think blocks")


def test_template_that_doubles_the_block_is_refused(catalog, cd, tiny, tmp_path):
    """A template that always writes an empty think block and has no reasoning field: both
    forms render two blocks, so training refuses before loading the model."""
    from curate.training.sft import prepare_sft
    from curate.training.tiny import CHAT_TEMPLATE

    doubled = CHAT_TEMPLATE.replace("{% generation %}{{ m['content'] }}",
                                    "{% generation %}<think>\n\n</think>\n\n{{ m['content'] }}")
    dst = tmp_path / "doubled"
    shutil.copytree(tiny, dst)
    cfg = json.loads((dst / "tokenizer_config.json").read_text())
    cfg["chat_template"] = doubled
    (dst / "tokenizer_config.json").write_text(json.dumps(cfg))
    (dst / "chat_template.jinja").unlink(missing_ok=True)
    with pytest.raises(CurateError, match="renders 2 think blocks for 1 reasoning turn"):
        prepare_sft(catalog, "cd", str(dst), tmp_path / "o", _opts())


def test_reasoning_field_form_trains(catalog, cd, tiny, tmp_path):
    """A model whose template needs the separate field trains on it: one step, one block."""
    from curate.training.sft import train_sft

    dst = tmp_path / "q8"
    shutil.copytree(tiny, dst)
    (dst / "chat_template.jinja").write_text(_trl("qwen3_8_training"))
    cfg = json.loads((dst / "tokenizer_config.json").read_text())
    cfg.pop("chat_template", None)
    (dst / "tokenizer_config.json").write_text(json.dumps(cfg))
    res = train_sft(catalog, "cd", str(dst), tmp_path / "run", _opts(max_steps=1))
    assert res["think_form"] == "reasoning_content" and res["steps"] == 1
    (run,) = catalog.sql("SELECT config FROM runs WHERE kind = 'train'")
    assert json.loads(run["config"])["think_form"] == "reasoning_content"


# -- a real 2-process run ------------------------------------------------------------------
@pytest.mark.slow
def test_torchrun_two_processes_on_cpu(home, catalog, cd, tiny, tmp_path):
    """`torchrun --nproc_per_node 2` on CPU (gloo): the plan counts both processes, one run
    row and one row per checkpoint are written (rank 0), the final model once (~40 s)."""
    from curate.training.mixtures import build_mixture

    mix = build_mixture(catalog, "m", ["cd:16"], variant="cot")
    torchrun = Path(sys.executable).with_name("torchrun")
    if not torchrun.exists():
        pytest.skip("torchrun not installed beside this python")
    cmd = [str(torchrun), "--nproc_per_node", "2", "-m", "curate.cli", "train", "sft",
           "--mixture", mix.spec, "--model", str(tiny), "--output", str(tmp_path / "out"),
           "--max-steps", "3", "--save-at", "2", "--batch-size", "2", "--max-length", "1536",
           "--no-shuffle", "--json"]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    res = json.loads(p.stdout)  # only rank 0 prints
    assert res["plan"]["world_size"] == 2 and res["plan"]["batch_size"] == 4
    assert len(catalog.sql("SELECT * FROM runs WHERE kind = 'train'")) == 1
    rows = catalog.sql("SELECT step FROM checkpoints ORDER BY step")
    assert [r["step"] for r in rows] == [2, 3]


def test_old_runs_with_the_last_step_twice_are_evaluated_once():
    from curate.probes.evaluation import one_per_step

    cks = [{"id": "a", "step": 10}, {"id": "b", "step": 20}, {"id": "c", "step": 40},
           {"id": "final", "step": 40}, {"id": "d", "step": 30}]
    assert [(c["id"], c["step"]) for c in one_per_step(cks)] == [
        ("a", 10), ("b", 20), ("d", 30), ("final", 40)]


# -- GRPO as P1 ran it (DAPO-style) --------------------------------------------------------
def test_dynamic_sampling_drops_constant_groups():
    import torch

    from curate.training.dapo import group_keep_mask

    nan = float("nan")
    # groups of 4: all right, all wrong, mixed, mixed only through a NaN (counted as 0)
    correct = torch.tensor([1, 1, 1, 1, 0, 0, 0, 0, 1, 0, 1, 0, 1, nan, 1, 1.0])
    overlong = torch.tensor([0, -.5, 0, 0] + [0] * 12)  # varies inside group 1 only
    r = torch.stack([correct, overlong], dim=1)
    keep = group_keep_mask(r, 4, columns=[0])  # P1 filters on accuracy alone
    assert keep.view(4, 4)[:, 0].tolist() == [False, False, True, True]
    assert keep.tolist() == [x for g in (0, 0, 1, 1) for x in [bool(g)] * 4]
    # on the weighted total, the overlong penalty makes group 1 non-constant
    assert group_keep_mask(r, 4).view(4, 4)[:, 0].tolist() == [True, False, True, True]
    assert group_keep_mask(r, 4, weights=[1.0, 0.0]).view(4, 4)[:, 0].tolist() == [
        False, False, True, True]


def test_grpo_p1_settings_map_to_trl_options():
    from pathlib import Path

    from curate.training.grpo import GRPOOptions, grpo_config, reward_plan, use_vllm

    opts = GRPOOptions(num_generations=16, batch_size=16, max_completion_length=20480,
                       warmup_steps=10, dynamic_sampling=True, overlong_buffer=4096,
                       mask_truncated=True, shuffle=False, save_at="5,10", vllm_mode="server",
                       vllm_server="http://127.0.0.1:8000")
    opts.validate()
    names, weights = reward_plan(opts, {"math"})
    assert names == ["math", "overlong"] and weights == [1.0, 1.0]
    cfg = grpo_config(opts, Path("/tmp/x"), {"bf16": False, "device": "cpu"}, False, weights)
    assert (cfg.epsilon, cfg.epsilon_high, cfg.beta, cfg.loss_type) == (0.2, 0.28, 0.0, "dapo")
    assert cfg.mask_truncated_completions and cfg.shuffle_dataset is False
    assert cfg.warmup_steps == 10 and cfg.learning_rate == 1e-6 and cfg.weight_decay == 0.1
    assert cfg.vllm_mode == "server" and cfg.vllm_server_base_url == "http://127.0.0.1:8000"
    assert cfg.reward_weights == [1.0, 1.0] and cfg.temperature == 1.0
    fmt = GRPOOptions(format_reward=True, overlong_buffer=8, overlong_penalty=0.5,
                      max_completion_length=64)
    assert reward_plan(fmt, {"countdown"}) == (["countdown", "format", "overlong"],
                                               [1.0, 1.0, 0.5])
    for bad, match in ((dict(vllm_server="http://x"), "needs --vllm-mode server"),
                       (dict(epsilon=0.3, epsilon_high=0.2), "--epsilon-high"),
                       (dict(overlong_buffer=2048, max_completion_length=1024), "overlong"),
                       (dict(save_at="3,x"), "--save-at")):
        with pytest.raises(BadInput, match=match):
            GRPOOptions(**bad).validate()
    import torch

    if not torch.cuda.is_available():
        with pytest.raises(CurateError, match="needs a CUDA GPU"):
            use_vllm("on", "server", "http://127.0.0.1:8000")
        assert use_vllm("auto", "server") is False  # no GPU: plain generate, no URL needed


def test_grpo_dapo_run_on_cpu(catalog, cd, tiny, tmp_path):
    """Dynamic sampling, the overlong buffer and masked truncation in a real 2-step run: an
    untrained model gets every Countdown answer wrong, so every group is dropped."""
    from curate.training.grpo import GRPOOptions, train_grpo

    res = train_grpo(catalog, "cd", str(tiny), tmp_path / "grpo",
                     GRPOOptions(num_generations=4, batch_size=4, max_completion_length=24,
                                 max_steps=2, save_at="1", limit=8, dynamic_sampling=True,
                                 overlong_buffer=8, mask_truncated=True, warmup_steps=1,
                                 shuffle=False, progress=False))
    assert res["rewards"] == ["countdown", "overlong"] and res["steps"] == 2
    assert [c["step"] for c in res["checkpoints"]] == [1, 2]
    (ck,) = catalog.sql("SELECT metrics FROM checkpoints WHERE step = 2")
    curve = json.loads(ck["metrics"])["loss_curve"]
    assert all(p["dynamic_sampling/dropped_groups"] == 1.0 for p in curve)
    assert all("rewards/soft_overlong_punishment_reward/mean" in p for p in curve)
    assert all(p["loss"] == 0.0 for p in curve)  # nothing left to learn from


@pytest.mark.gpu
def test_grpo_vllm_colocate_on_gpu(catalog, cd, tiny, tmp_path):
    """The GPU path: vLLM colocated generation (skipped without CUDA and vllm)."""
    import importlib.util

    import torch

    if not torch.cuda.is_available() or importlib.util.find_spec("vllm") is None:
        pytest.skip("needs CUDA and vllm")
    from curate.training.grpo import GRPOOptions, train_grpo

    res = train_grpo(catalog, "cd", str(tiny), tmp_path / "grpo",
                     GRPOOptions(num_generations=4, batch_size=4, max_completion_length=32,
                                 max_steps=2, limit=8, vllm="on", dynamic_sampling=True,
                                 progress=False))
    assert res["vllm"] is True and res["steps"] == 2
