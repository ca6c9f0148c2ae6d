"""The dataset card's "How to rebuild it" is runnable as written: every command of a
pipeline's card (import, verify, filter, dedup, decontaminate, variant), run in a fresh
workspace beside the input files, remakes the exported version with the same content id;
no local absolute path is left in the card."""

from __future__ import annotations

import json
import re
import shlex

import pytest
from typer.testing import CliRunner

from curate.cli import app


def rebuild_block(card: str) -> list[list[str]]:
    """The bash commands of the card's "How to rebuild it" section (step by step)."""
    sec = card[card.index("## How to rebuild it"):]
    blocks = re.findall(r"```bash\n(.*?)```", sec, flags=re.S)
    return [shlex.split(line) for line in blocks[-1].splitlines()
            if line.strip() and not line.startswith("#")]


def test_defaults_in_rebuild_match_the_library():
    from curate.catalog.rebuild import DEFAULTS
    from curate.curation import decontaminate, dedup, filters

    assert DEFAULTS["filter"] == filters.DEFAULTS
    assert DEFAULTS["dedup"] == dedup.DEFAULTS
    assert DEFAULTS["decontaminate"] == {k: v for k, v in decontaminate.DEFAULTS.items()
                                         if k != "benchmarks"}


def test_portable_paths():
    from curate.catalog.rebuild import portable

    assert portable("/home/me/data/x.jsonl") == "x.jsonl"
    assert portable("transformers:/models/tiny") == "transformers:tiny"
    assert portable("file:/tmp/b.jsonl") == "file:b.jsonl"
    assert portable("openai:http://10.0.0.1:8000/v1") == "openai:http://10.0.0.1:8000/v1"
    assert portable({"a": ["/x/y.z", "math500"]}) == {"a": ["y.z", "math500"]}


def test_every_rebuild_command_runs_and_remakes_the_version(tmp_path, monkeypatch):
    work, fresh = tmp_path / "made-here", tmp_path / "elsewhere"
    work.mkdir()
    rows = [{"prompt": f"What is {i} + {i}?", "reasoning": f"{i} plus {i} is {2 * i}.",
             "answer_text": f"So \\boxed{{{2 * i if i % 5 else 2 * i + 1}}}.",
             "reference": str(2 * i), "completion_tokens": 10 + i} for i in range(20)]
    rows.append({**rows[3], "answer_text": "So \\boxed{6}!"})          # a near duplicate
    (work / "traces.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    (work / "bench.jsonl").write_text(json.dumps({"question": "What is 7 + 7?",
                                                  "answer": "14"}) + "\n")
    home = work / "ws"
    env = {"CURATE_HOME": str(home), "CURATE_PROGRESS": "off"}

    def cli(*args, env=env):
        r = CliRunner().invoke(app, list(args), env=env)
        assert r.exit_code == 0, (args, r.output[-2000:])
        return r

    cli("import", str(work / "traces.jsonl"), "--name", "raw", "--kind", "traces")
    cli("verify", "raw", "--name", "ver", "--timeout", "7", "--workers", "1")
    cli("filter", "ver", "--name", "clean", "--verified-only", "--max-tokens", "28",
        "--set", "repetition_ngram=6")
    cli("dedup", "clean", "--name", "dd", "--threshold", "0.5", "--set", "num_perm=64")
    cli("decontaminate", "dd", "--name", "dc", "--benchmarks", f"file:{work / 'bench.jsonl'}",
        "--n", "4", "--min-coverage", "0")
    cli("variant", "dc", "--nocot", "--name", "final")
    from curate.catalog import Catalog

    want = Catalog(home).resolve("final").version
    cli("export", "final", str(work / "out"))
    card = (work / "out" / "README.md").read_text()
    assert str(tmp_path) not in card, "a local absolute path is in the card"
    cmds = rebuild_block(card)
    verbs = [c[1] for c in cmds]
    assert verbs == ["import", "verify", "filter", "dedup", "decontaminate", "variant",
                     "export"], cmds
    # run them as written, elsewhere, with the input files beside us (named, not pathed)
    fresh.mkdir()
    for f in ("traces.jsonl", "bench.jsonl"):
        (fresh / f).write_text((work / f).read_text())
    monkeypatch.chdir(fresh)
    env2 = {"CURATE_HOME": str(fresh / "ws"), "CURATE_PROGRESS": "off"}
    for c in cmds[:-1]:
        cli(*c[1:], env=env2)
    assert Catalog(fresh / "ws").resolve("final").version == want


@pytest.mark.parametrize("step_params,expect", [
    ({"step": "filter", "params": {"verified_only": True, "drop_finish_reasons": [],
                                   "k_per_problem": 2, "strategy": "shortest",
                                   "require_think": True}},
     "curate filter src --name out --keep-length --verified-only --k 2 --strategy shortest "
     "--set require_think=true"),
    ({"step": "dedup", "params": {"field": "prompt", "minhash": False, "threshold": 0.6,
                                  "unit": "word"}},
     "curate dedup src --name out --exact-only --set unit=word"),
    ({"step": "decontaminate", "params": {"benchmarks": ["math500", "file:/abs/b.jsonl"],
                                          "n": 12, "drop": False, "skip_missing": True}},
     "curate decontaminate src --name out --benchmarks math500,file:b.jsonl --n 12 --keep "
     "--skip-missing"),
    ({"step": "verify", "params": {"timeout": 5.0, "math_options": {"unclosed":
                                                                      "whole-response"}}},
     "curate verify src --name out --unclosed whole-response"),
])
def test_step_commands(step_params, expect):
    from curate.catalog.rebuild import step_command

    e = {"dataset": "out@abc", "parents": ["src@def"], **step_params}
    assert step_command(e) == expect
