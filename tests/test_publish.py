"""Hub publishing: exported folders load with `datasets`, cards parse with `huggingface_hub`
and carry the provenance, `curate publish` fails cleanly offline / without a token and
refuses contaminated rows, and `curate import hf:` reads an export back."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import datasets
import pytest
from huggingface_hub import DatasetCard
from typer.testing import CliRunner

from curate.catalog import Catalog
from curate.catalog.export import export_dataset
from curate.cli import app
from curate.errors import CurateError
from curate.record import empty_trace, messages_for, stable_json

runner = CliRunner()
SECRET = "hf_thisIsNotARealTokenButMustNeverBePrinted42"
SYSTEM = "You are a careful mathematician. Think step by step."


def _math_rows() -> list[dict]:
    sampling = stable_json({"temperature": 0.6, "top_p": 0.95, "max_tokens": 32768, "seed": 0})
    rows = []
    for i in range(8):
        ok = i % 4 != 3
        prompt, reasoning, answer = f"What is {i} + {i}?", f"Adding {i} and {i} gives {2 * i}.", \
            f"The answer is \\boxed{{{2 * i if ok else 2 * i + 1}}}."
        rows.append(empty_trace(
            id=f"m{i}", problem_id=f"p{i}", task="math", source="math", prompt=prompt,
            reasoning=reasoning, answer_text=answer, final_answer=str(2 * i), reference=str(2 * i),
            verified=ok, verify_detail=stable_json({"verifier": "math-verify/0.9.0",
                                                    "reason": "ok" if ok else "wrong_value"}),
            teacher="vllm:Qwen/QwQ-32B@abc123", sampling=sampling, sample_index=0,
            finish_reason="stop", prompt_tokens=20, completion_tokens=100 + 37 * i,
            metadata="{}", messages=messages_for(prompt, reasoning, answer, "cot", SYSTEM)))
    return rows


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    from curate.curation.countdown_generate import generate_countdown
    from curate.curation.decontaminate import decontaminate_dataset
    from curate.curation.filters import filter_dataset
    from curate.curation.variants import make_variant

    root = tmp_path_factory.mktemp("publish")
    cat = Catalog(root / "home")
    generate_countdown(cat, "cd", 50, numbers=3, progress=False, workers=1)
    make_variant(cat, "cd", "nocot", "cd-nocot")
    generate_countdown(cat, "cd-test", 12, numbers=3, split="test", progress=False, workers=1)
    cat.register("math-raw", _math_rows(), step="generate", params={
        "task": "math", "teacher": "vllm:Qwen/QwQ-32B", "revision": "abc123", "engine": "vllm",
        "prompts": "hf:org/math-prompts@0123abcd", "system": SYSTEM,
        "sampling": {"temperature": 0.6, "top_p": 0.95, "max_tokens": 32768}},
        counts={"in": 8, "out": 8, "dropped": {}})
    filter_dataset(cat, "math-raw", "math-verified", verified_only=True)
    bench = root / "bench.jsonl"
    bench.write_text(json.dumps({"question": cat.get("cd")[3]["prompt"], "answer": "1"}) + "\n")
    decontaminate_dataset(cat, "cd", "cd-flagged", benchmarks=[f"file:{bench}"], drop=False)
    return root, cat


def _env(root, **over) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    env.update(CURATE_HOME=str(root / "home"), HF_HOME=str(root / "hf-home"), **over)
    return env


def _cli(root, *args, **env):
    return subprocess.run([sys.executable, "-m", "curate.cli", *args], capture_output=True,
                          text=True, timeout=120, env=_env(root, **env))


def _counts(cat) -> tuple:
    return (cat.sql("SELECT count(*) AS n FROM publications")[0]["n"],
            cat.sql("SELECT count(*) AS n FROM datasets")[0]["n"])


def test_export_loads_cot_and_nocot(built, tmp_path):
    root, cat = built
    out = export_dataset(cat, "cd", tmp_path / "out")
    assert (out / "README.md").is_file() and (out / "token_lengths.png").stat().st_size > 1000
    cot = datasets.load_dataset(str(out), cache_dir=str(tmp_path / "hf"))
    assert list(cot) == ["train"] and cot["train"].num_rows == 50
    assert cot["train"][0]["reasoning"] and "<think>" in cot["train"][0]["messages"][-1]["content"]
    nocot = datasets.load_dataset(str(out), "nocot", cache_dir=str(tmp_path / "hf"))
    row = nocot["train"][0]
    assert nocot["train"].num_rows == 50 and row["reasoning"] is None
    assert "<think>" not in row["messages"][-1]["content"]
    test = export_dataset(cat, "cd-test", tmp_path / "test")  # rows say split=test
    assert list(datasets.load_dataset(str(test), cache_dir=str(tmp_path / "hf"))) == ["test"]


def test_card_yaml_and_provenance(built, tmp_path):
    root, cat = built
    out = export_dataset(cat, "cd", tmp_path / "out", repo_id="org/cd", license="mit")
    card = DatasetCard.load(out / "README.md")
    meta = card.data.to_dict()
    assert [c["config_name"] for c in meta["configs"]] == ["cot", "nocot"]
    assert meta["configs"][0]["default"] is True
    assert meta["license"] == "mit" and meta["size_categories"] == ["n<1K"]
    assert meta["task_categories"] == ["text-generation"]
    feats = {f["name"] for f in meta["dataset_info"][1]["features"]}
    assert {"problem", "messages", "reasoning"} <= feats and "prompt" not in feats
    text = card.text
    for needle in ("countdown-ast/1", "| search |", "max_nodes", "| variant |",
                   "curate variant cd --nocot --name cd-nocot", "Countdown generator: 50",
                   'load_dataset("org/cd", "nocot")', "token_lengths.png",
                   "curate publish cd@"):
        assert needle in text, needle

    m = export_dataset(cat, "math-verified", tmp_path / "math")
    text = DatasetCard.load(m / "README.md").text
    for needle in ("vllm:Qwen/QwQ-32B@abc123", "vLLM", "| temperature | 0.6 |", "32768",
                   "math-verify/0.9.0", SYSTEM, "hf:org/math-prompts@0123abcd",
                   "wrong: 2", "completion tokens (teacher-reported)", "| filter |",
                   "curate generate --task math --teacher vllm:Qwen/QwQ-32B --name math-raw "
                   "--prompts hf:org/math-prompts@0123abcd"):
        assert needle in text, needle


def test_decontamination_in_card_and_refused(built, tmp_path, monkeypatch):
    from curate.catalog.publish import publish

    root, cat = built
    out = export_dataset(cat, "cd-flagged", tmp_path / "out")
    text = (out / "README.md").read_text()
    assert "## Decontamination" in text and "still carrying a contamination flag" in text
    monkeypatch.setenv("HF_TOKEN", SECRET)
    before = _counts(cat)
    with pytest.raises(CurateError, match="contaminated"):
        publish(cat, "cd-flagged", "org/cd")
    pub = publish(cat, "cd-flagged", "org/cd", allow_contaminated=True,
                  dry_run=tmp_path / "dry")
    assert pub.folder and (tmp_path / "dry" / "README.md").is_file()
    assert _counts(cat) == before


def _one_line_failure(r, *needles):
    assert r.returncode == 2, (r.stdout, r.stderr)
    err = r.stderr.strip()
    assert err.count("\n") == 0 and "Traceback" not in err, err
    assert SECRET not in r.stdout + r.stderr
    for n in needles:
        assert n in err, err


def test_publish_without_token_or_network_changes_nothing(built):
    root, cat = built
    before = _counts(cat)
    _one_line_failure(_cli(root, "publish", "cd", "--repo", "org/cd"), "no Hugging Face token")
    _one_line_failure(_cli(root, "publish", "cd", "--repo", "org/cd", HF_TOKEN=SECRET,
                           HF_HUB_OFFLINE="1"), "HF_HUB_OFFLINE")
    _one_line_failure(_cli(root, "publish", "cd", "--repo", "org/cd", HF_TOKEN=SECRET,
                           HF_ENDPOINT="http://127.0.0.1:9"), "failed before any upload",
                      "catalog unchanged")
    _one_line_failure(_cli(root, "publish", "cd", "--repo", "not a repo", HF_TOKEN=SECRET),
                      "ORG/NAME")
    assert _counts(cat) == before
    staged = root / "home" / "cache" / "publish"
    assert not staged.exists() or not any(staged.iterdir())


def test_publish_records_commit(built, monkeypatch):
    import curate.catalog.publish as pubmod

    root, cat = built
    seen = {}

    class Info:
        oid, commit_url = "f" * 40, "https://huggingface.co/datasets/org/cd/commit/fff"

    def fake_upload(folder, repo, token, private, revision, message):
        seen["files"] = sorted(str(p.relative_to(folder)) for p in folder.rglob("*")
                               if p.is_file())
        seen["args"] = (repo, private, revision, token == SECRET)
        return Info()

    monkeypatch.setenv("HF_TOKEN", SECRET)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(pubmod, "upload", fake_upload)
    monkeypatch.setattr(pubmod, "preflight", lambda token, what: None)
    pub = pubmod.publish(cat, "cd", "org/cd", private=True, revision="v1")
    assert pub.commit_sha == "f" * 40 and pub.configs == ["cot", "nocot"]
    assert "README.md" in seen["files"] and "data/nocot/train-00000-of-00001.parquet" in seen[
        "files"] and seen["args"] == ("org/cd", True, "v1", True)
    rows = cat.sql("SELECT * FROM publications")
    assert rows[-1]["commit_sha"] == "f" * 40 and rows[-1]["dataset"].startswith("cd@")
    assert rows[-1]["revision"] == "v1" and rows[-1]["private"] is True


def test_cli_dry_run_export_json_and_import_hf(built, tmp_path):
    root, cat = built
    env = {"CURATE_HOME": str(root / "home")}
    r = runner.invoke(app, ["publish", "cd", "--repo", "org/cd", "--dry-run",
                            str(tmp_path / "dry"), "--json"], env=env)
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["configs"] == ["cot", "nocot"]
    r = runner.invoke(app, ["export", "cd", str(tmp_path / "out"), "--json"], env=env)
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["configs"]["nocot"]["splits"] == {"train": 50}
    r = runner.invoke(app, ["import", f"hf:{tmp_path / 'out'}:nocot", "--name", "back",
                            "--kind", "traces", "--json"], env=env)
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["rows"] == 50
    back, orig = cat.table("back"), cat.table("cd-nocot")
    assert back.schema.field("messages").type == orig.schema.field("messages").type
    assert back.column("id").to_pylist() == orig.column("id").to_pylist()
    lin = cat.lineage("back")[0]
    assert lin["step"] == "import" and lin["params"]["config"] == "nocot"
    for verb in (["publish", "--help"], ["export", "--help"], ["import", "--help"]):
        assert runner.invoke(app, verb).exit_code == 0


def test_recipe_copied_with_overrides(catalog, tmp_path):
    from pathlib import Path

    from curate.curation.recipes import load_recipe, run_recipe

    path = Path(__file__).resolve().parents[1] / "recipes" / "countdown-cot-20k.yaml"
    run_recipe(catalog, load_recipe(path, ["n=30", "test_n=6", "numbers=3"]))
    out = export_dataset(catalog, "countdown-cot-20k", tmp_path / "out")
    assert (out / "recipe.yaml").read_text() == path.read_text()
    text = (out / "README.md").read_text()
    assert "curate run recipe.yaml --set n=30 --set numbers=3 --set test_n=6" in text
    ds = datasets.load_dataset(str(out), "nocot", cache_dir=str(tmp_path / "hf"))
    assert ds["train"].num_rows == 30


def test_export_shards_by_bytes_with_small_row_groups(tmp_path, monkeypatch):
    """Shards stay under SHARD_BYTES and row groups under ROW_GROUP_BYTES / ROW_GROUP_ROWS,
    whatever the row size (long traces, tiny rows, one huge row)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from curate.catalog import export

    monkeypatch.setattr(export, "SHARD_BYTES", 300_000)
    monkeypatch.setattr(export, "ROW_GROUP_BYTES", 40_000)
    for sizes in ([2_000] * 500, [20] * 5_000, [10] * 50 + [900_000] + [10] * 50):
        t = pa.table({"id": [str(i) for i in range(len(sizes))],
                      "reasoning": ["x" * k for k in sizes]})
        out = tmp_path / str(len(sizes))
        files = export.write_config_shards(t, out, "cot")
        back = pa.concat_tables([pq.read_table(out / f) for f in files])
        assert back.equals(t)
        assert all(f.endswith(f"-of-{len(files):05d}.parquet") for f in files)
        for f in files:
            md = pq.ParquetFile(out / f).metadata
            groups = [md.row_group(i) for i in range(md.num_row_groups)]
            assert all(g.num_rows <= export.ROW_GROUP_ROWS for g in groups)
            t_back = pq.read_table(out / f)
            start = 0
            for g in groups:                                # only a single huge row may pass
                assert g.num_rows == 1 or t_back.slice(start, g.num_rows).nbytes <= 40_000
                start += g.num_rows
            if md.num_rows > 1:
                assert pq.read_table(out / f).nbytes <= 300_000 + 40_000


def test_large_publish_uses_the_large_folder_upload(tmp_path, monkeypatch):
    import huggingface_hub

    from curate.catalog import publish as pubmod

    calls = []

    class Api:
        def __init__(self, endpoint=None, token=None):
            pass

        def create_repo(self, *a, **k):
            calls.append("create_repo")

        def upload_folder(self, **k):
            calls.append(("upload_folder", k["repo_type"]))
            return type("C", (), {"oid": "abc", "commit_url": "u"})()

        def upload_large_folder(self, **k):
            calls.append(("upload_large_folder", k["repo_type"], k["private"]))

        def repo_info(self, repo, repo_type=None, revision=None):
            return type("I", (), {"sha": "def"})()

    monkeypatch.setattr(huggingface_hub, "HfApi", Api)
    small = tmp_path / "small"
    small.mkdir()
    (small / "README.md").write_text("x")
    assert pubmod.upload(small, "o/r", "tok", False, None, "m").oid == "abc"
    big = tmp_path / "big"
    (big / "data").mkdir(parents=True)
    for i in range(pubmod.LARGE_FILES + 1):
        (big / "data" / f"{i}.parquet").write_bytes(b"p")
    info = pubmod.upload(big, "o/r", "tok", True, None, "m")
    assert info.oid == "def" and "o/r/commit/def" in info.commit_url
    assert calls == ["create_repo", ("upload_folder", "dataset"), "create_repo",
                     ("upload_large_folder", "dataset", True)]
