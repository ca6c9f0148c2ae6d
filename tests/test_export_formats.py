"""Exports trainers load as they are: every config of one export has the same columns and
each trains a real TRL `SFTTrainer` step (also for imported traces that had no `messages`);
`--format verl` writes verl's RL parquet schema and `--format llamafactory` a sharegpt
`dataset_info.json`; the card's length section counts tokens with a named tokenizer (or says
words) and shows where common --max-length values cut."""

from __future__ import annotations

import json
from pathlib import Path

import datasets
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from curate.cli import app


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    from curate.catalog import Catalog
    from curate.catalog.importing import import_file
    from curate.curation.countdown_generate import generate_countdown
    from curate.curation.variants import make_variant
    from curate.training.tiny import build_tiny_model

    root = tmp_path_factory.mktemp("formats")
    cat = Catalog(root / "home")
    generate_countdown(cat, "cd", 12, numbers=3, seed=0, optimal_only=True, progress=False)
    make_variant(cat, "cd", "nocot", "cd-nocot")
    traces = root / "traces.jsonl"   # imported traces: no messages, a string prompt
    traces.write_text("\n".join(json.dumps({
        "prompt": f"What is {i} + {i}?", "reasoning": f"{i} plus {i} is {2 * i}.",
        "answer_text": f"\\boxed{{{2 * i}}}", "reference": str(2 * i)}) for i in range(6)))
    import_file(cat, traces, "imp", kind="traces")
    make_variant(cat, "imp", "nocot", "imp-nocot")
    return root, cat, build_tiny_model(root / "tiny")


def _export(root, spec, out, *extra):
    r = CliRunner().invoke(app, ["export", spec, str(out), "--json", *extra],
                           env={"CURATE_HOME": str(root / "home")})
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def _sft_step(model: Path, ds, out: Path) -> float:
    from trl import SFTConfig, SFTTrainer

    args = SFTConfig(output_dir=str(out), max_steps=1, per_device_train_batch_size=2,
                     max_length=256, report_to="none", save_strategy="no", logging_steps=1,
                     disable_tqdm=True, dataloader_num_workers=0, bf16=False, use_cpu=True)
    trainer = SFTTrainer(model=str(model), args=args, train_dataset=ds)
    return trainer.train().training_loss


@pytest.mark.parametrize("spec", ["cd", "imp"])
def test_trl_configs_share_columns_and_each_trains(ws, tmp_path, spec):
    root, _, tiny = ws
    out = tmp_path / "out"
    res = _export(root, spec, out)
    assert list(res["configs"]) == ["cot", "nocot"]
    loaded = {c: datasets.load_dataset(str(out), c, split="train",
                                       cache_dir=str(tmp_path / "hf")) for c in res["configs"]}
    feats = {c: d.features for c, d in loaded.items()}
    assert feats["cot"] == feats["nocot"]
    assert "prompt" not in feats["cot"] and "messages" in feats["cot"]
    assert loaded["cot"][0]["messages"][-1]["content"].startswith("<think>")
    assert "<think>" not in loaded["nocot"][0]["messages"][-1]["content"]
    for c, d in loaded.items():
        loss = _sft_step(tiny, d, tmp_path / f"sft-{c}")
        assert loss > 0


def test_verl_schema(ws, tmp_path):
    root, cat, tiny = ws
    out = tmp_path / "verl"
    res = _export(root, "cd", out, "--format", "verl")
    assert list(res["configs"]) == ["cot"]                      # prompts: one config
    files = sorted(out.glob("data/cot/train-*.parquet"))
    t = pq.read_table(files)
    assert t.column_names == ["data_source", "prompt", "ability", "reward_model", "extra_info"]
    rows = t.to_pylist()
    src = cat.table("cd").to_pylist()
    assert len(rows) == len({r["problem_id"] for r in src})     # one row per problem
    r0 = rows[0]
    assert r0["data_source"] == "curate/countdown" and r0["ability"] == "countdown"
    assert r0["prompt"] == [{"role": "user", "content": src[0]["prompt"]}]
    assert r0["reward_model"] == {"style": "rule", "ground_truth": src[0]["reference"]}
    assert r0["extra_info"]["index"] == 0 and r0["extra_info"]["split"] == "train"
    try:   # verl's own loader where it imports (it is not installed in CI)
        from omegaconf import OmegaConf
        from transformers import AutoTokenizer
        from verl.utils.dataset.rl_dataset import RLHFDataset
    except ImportError:
        return
    ds = RLHFDataset(data_files=[str(f) for f in files],
                     tokenizer=AutoTokenizer.from_pretrained(tiny),
                     config=OmegaConf.create({"max_prompt_length": 512,
                                              "filter_overlong_prompts": True}))
    assert len(ds) == len(rows) and ds[0]["data_source"] == "curate/countdown"


def test_llamafactory_dataset_info(ws, tmp_path):
    root, _, _ = ws
    out = tmp_path / "lf"
    _export(root, "imp", out, "--format", "llamafactory")
    info = json.loads((out / "dataset_info.json").read_text())
    assert set(info) == {"imp_cot", "imp_nocot"}
    e = info["imp_cot"]
    assert e["formatting"] == "sharegpt" and e["columns"] == {"messages": "messages"}
    assert e["tags"]["role_tag"] == "role" and e["tags"]["assistant_tag"] == "assistant"
    folder = out / e["file_name"]
    assert folder.is_dir() and all(f.suffix == ".parquet" for f in folder.iterdir())
    for row in pq.read_table(sorted(folder.iterdir())).to_pylist():
        roles = [m["role"] for m in row["messages"]]
        body = roles[1:] if roles[0] == "system" else roles
        assert body == ["user", "assistant"] * (len(body) // 2) and len(body) % 2 == 0
    ds = datasets.load_dataset(str(out), "cot", split="train", cache_dir=str(tmp_path / "hf"))
    assert ds.num_rows == 6


def test_card_counts_tokens_and_shows_cuts(ws, tmp_path):
    root, _, tiny = ws
    out = tmp_path / "tok"
    _export(root, "cd", out, "--tokenizer", str(tiny))
    card = (out / "README.md").read_text()
    assert "tokens of the whole conversation (tiny, chat template)" in card
    assert "> 2,048" in card and "> 32,768" in card
    assert str(root) not in card and str(tmp_path) not in card
    words = tmp_path / "words"
    _export(root, "cd", words)       # the search teacher has no tokenizer: words, said so
    card = (words / "README.md").read_text()
    assert "whitespace words of the training target" in card
    assert "Lengths are in words, not tokens" in card and "> 2,048" not in card
