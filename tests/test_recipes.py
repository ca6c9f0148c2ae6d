"""Recipes: substitution, step registry, each step registered, resume after a failure, CLI,
and the math recipes end to end (from an imported traces file, and with a tiny teacher)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from curate.cli import app
from curate.curation.recipes import apply_overrides, load_recipe, run_recipe, substitute
from curate.curation.steps import get_step, list_steps
from curate.errors import BadInput, CurateError, NotFound

REPO = Path(__file__).resolve().parents[1]
BENCH_Q = ("A rectangular garden has a perimeter of forty meters and its length is three "
           "meters more than its width what is the area of the garden in square meters")


def _files(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A prompts file, a traces file (2 samples per problem) and a local benchmark file."""
    problems = [
        ("p1", "What is one half of one?", r"\frac{1}{2}", "Half of 1 is 1/2."),
        ("p2", "What is two plus two?", "4", "2+2=4."),
        ("p3", "What is two plus two ?!", "4", "Same as p2."),            # duplicate
        ("p4", BENCH_Q + "?", "99", "Solve it."),                         # contaminated
        ("p5", "What is three times three?", "9", "3*3=9."),
    ]
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("".join(json.dumps({"problem_id": p, "prompt": q, "answer": a,
                                           "solution": s}) + "\n" for p, q, a, s in problems))
    traces = tmp_path / "traces.jsonl"
    lines = []
    for pid, q, a, _ in problems:
        for k, ans in enumerate([a, "7"]):
            lines.append(json.dumps({
                "id": f"{pid}-{k}", "problem_id": pid, "task": "math", "prompt": q,
                "reference": a, "reasoning": f"Let me think about {q}",
                "answer_text": f"The result is \\boxed{{{ans}}}.",
                "finish_reason": "length" if (pid == "p5" and k == 0) else "stop",
                "completion_tokens": 20 + k, "sample_index": k}))
    traces.write_text("\n".join(lines) + "\n")
    bench = tmp_path / "bench.jsonl"
    bench.write_text(json.dumps({"problem": BENCH_Q, "answer": "99"}) + "\n")
    return prompts, traces, bench


def _recipe(tmp_path, traces, bench, filter_with=None) -> Path:
    r = {
        "name": "mini",
        "params": {"traces": str(traces), "seed": 0, "bench": f"file:{bench}"},
        "steps": [
            {"id": "imp", "step": "import", "with": {"path": "${params.traces}", "kind": "traces"},
             "output": "mini-raw"},
            {"id": "verify", "step": "verify", "input": "${steps.imp.output}",
             "with": {"workers": 1}, "output": "mini-verified"},
            {"id": "filter", "step": "filter", "input": "${steps.verify.output}",
             "with": filter_with or {"verified_only": True, "k_per_problem": 1,
                                     "seed": "${params.seed}"},
             "output": "mini-filtered"},
            {"id": "dedup", "step": "dedup", "input": "${steps.filter.output}",
             "output": "mini-dedup"},
            {"id": "decon", "step": "decontaminate", "input": "${steps.dedup.output}",
             "with": {"benchmarks": ["${params.bench}"], "n": 8}, "output": "mini-clean"},
            {"id": "nocot", "step": "variant", "input": "${steps.decon.output}",
             "with": {"variant": "nocot"}, "output": "mini-nocot"},
        ],
    }
    import yaml

    p = tmp_path / "mini.yaml"
    p.write_text(yaml.safe_dump(r))
    return p


def test_substitution_keeps_types_and_interpolates():
    params = {"n": 3, "name": "x", "bench": ["a", "b"]}
    assert substitute("${params.n}", params, {}, "w") == 3
    assert substitute("out-${params.name}-${params.n}", params, {}, "w") == "out-x-3"
    assert substitute({"b": "${params.bench}"}, params, {}, "w") == {"b": ["a", "b"]}
    assert substitute("${steps.s.output}", params, {"s": "d@v"}, "w") == "d@v"
    with pytest.raises(BadInput, match="not a recipe parameter"):
        substitute("${params.nope}", params, {}, "w")
    with pytest.raises(BadInput, match="has not run"):
        substitute("${steps.later.output}", params, {}, "w")


def test_overrides():
    r = {"params": {"n": 1}, "steps": [{"id": "a", "step": "x", "output": "o", "with": {}}]}
    r2 = apply_overrides(r, ["n=5", "params.m=[1, 2]", "steps.a.with.k=true"])
    assert r2["params"] == {"n": 5, "m": [1, 2]} and r2["steps"][0]["with"] == {"k": True}
    assert r["params"] == {"n": 1}
    with pytest.raises(BadInput):
        apply_overrides(r, ["novalue"])


def test_step_registry():
    assert {"import", "verify", "filter", "dedup", "decontaminate", "variant", "sample",
            "generate"} <= set(list_steps())
    with pytest.raises(NotFound, match="known steps"):
        get_step("nonsense")


def test_bad_recipes_are_one_line_errors(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("steps: [{step: verify}]\n")
    with pytest.raises(BadInput, match="missing 'output'"):
        load_recipe(p)
    p.write_text("name: x\nsteps:\n  - {step: verify, output: o, wiht: {}}\n")
    with pytest.raises(BadInput, match="unknown key"):
        load_recipe(p)
    with pytest.raises(BadInput, match="no such recipe"):
        load_recipe(tmp_path / "missing.yaml")


BOMB = "".join(
    [f"{c}: &{c} [" + ", ".join([f"*{p}"] * 9 if p else ['"lol"'] * 9) + "]\n"
     for p, c in zip([None, *"abcdefgh"], "abcdefghi")]
) + "steps: [{step: verify, output: o, with: {x: *i}}]\n"


@pytest.mark.parametrize("text,line", [
    ("name: x\nsteps:\n  - {step: verify, output: o\n", 4),           # unclosed flow mapping
    ("name: x\nsteps:\n  - step: verify\n   output: o\n", 4),        # bad indentation
    ("name: x\nparams: {n: 1}\nsteps:\n\t- {step: verify, output: o}\n", 4),   # a tab
    ("name: x\nname: y\nsteps: [{step: verify, output: o}]\n", 2),   # a key given twice
])
def test_invalid_yaml_names_the_line(tmp_path, text, line):
    p = tmp_path / "bad.yaml"
    p.write_text(text)
    with pytest.raises(BadInput, match=rf"bad.yaml:{line}: invalid YAML"):
        load_recipe(p)


@pytest.mark.parametrize("text", [
    BOMB,                                                          # 9^9 "lol"s from 0.5 KB
    "a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [" + ", ".join(["*a"] * 10) + "]\n"
    "c: &c [" + ", ".join(["*b"] * 10) + "]\nd: &d [" + ", ".join(["*c"] * 10) + "]\n"
    "e: &e [" + ", ".join(["*d"] * 10) + "]\nsteps: [{step: verify, output: o}]\n",
    "a: &a {k1: x, k2: x, k3: x, k4: x}\nb: &b {" +                 # mappings, not lists
    ", ".join(f"m{i}: *a" for i in range(50)) + "}\nc: &c {" +
    ", ".join(f"n{i}: *b" for i in range(50)) + "}\nd: {" +
    ", ".join(f"o{i}: *c" for i in range(50)) + "}\nsteps: [{step: verify, output: o}]\n",
    "a: &a [*a]\nsteps: [{step: verify, output: o}]\n",            # an alias inside itself
])
def test_yaml_alias_bombs_fail_at_once(tmp_path, text):
    p = tmp_path / "bomb.yaml"
    p.write_text(text)
    with pytest.raises(BadInput, match=r"bomb.yaml:\d+: (YAML aliases expand to more than|a YAML alias refers to itself)"):
        load_recipe(p)


def test_yaml_size_is_bounded(tmp_path):
    p = tmp_path / "huge.yaml"
    p.write_text("steps: [{step: verify, output: o}]\n# " + "x" * (1 << 20) + "\n")
    with pytest.raises(BadInput, match="huge.yaml: YAML document larger than"):
        load_recipe(p)
    (tmp_path / "adir.yaml").mkdir()
    with pytest.raises(BadInput, match="is a directory"):
        load_recipe(tmp_path / "adir.yaml")


def test_cli_alias_bomb_is_one_line(tmp_path, home):
    import subprocess
    import sys

    p = tmp_path / "bomb.yaml"
    p.write_text(BOMB)
    assert len(BOMB) < 600
    r = subprocess.run([sys.executable, "-m", "curate.cli", "run", str(p)], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 2 and r.stderr.strip().count("\n") == 0, r.stderr
    assert "alias" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("recipe,match", [
    ("steps: {verify: o}", "'steps' must be a list of steps, not a mapping"),
    ("params: [1, 2]\nsteps: [{step: verify, output: o}]", "'params' must be a mapping, not a list"),
    ("steps: [verify]", "step 1 must be a mapping, not text"),
    ("steps: [{step: verify, output: [a, b]}]", "step 1: 'output' must be text, not a list"),
    ("steps: [{step: [verify], output: o}]", "step 1: 'step' must be text, not a list"),
    ("steps: [{id: {a: 1}, step: verify, output: o}]", "step 1: 'id' must be text"),
    ("steps: [{step: verify, output: o, inputs: x}]", "'inputs' must be a list"),
    ("steps: [{step: verify, output: o, with: [1]}]", "'with' must be a mapping, not a list"),
    ("name: [x]\nsteps: [{step: verify, output: o}]", "'name' must be text"),
    ("params: {n: many}\nsteps: [{step: sample, output: o, with: {n: '${params.n}'}}]",
     "step sample: parameter 'n' must be a whole number, not text"),
    ("steps: [{step: verify, output: o, with: {timeout: soon}}]",
     "parameter 'timeout' must be a number, not text"),
    ("steps: [{step: filter, output: o, with: {verified_only: 'yes'}}]",
     "parameter 'verified_only' must be true or false, not text"),
    ("steps: [{step: generate, output: o, with: {seed: 1.5}}]",
     "parameter 'seed' must be a whole number, not a number"),
    ("steps: [{step: decontaminate, output: o, with: {benchmarks: {a: 1}}}]",
     "parameter 'benchmarks' must be a list of text"),
    ("steps: [{step: verify, output: '../x'}]", "dataset name '../x'"),
    ("steps: [{step: verify, output: '" + "a" * 120 + "'}]", "-failures"),
    ("steps: [{step: verify, output: o, input: '${steps.later.output}'}, "
     "{id: later, step: verify, output: p}]", "not run before"),
    # a misspelt step name was found only when its turn came, after earlier steps had run
    ("steps: [{step: verify, output: o}, {id: t, step: smaple, output: p}]",
     "step t: unknown step 'smaple'; known steps:"),
])
def test_wrong_types_name_the_field_before_any_step_runs(tmp_path, catalog, recipe, match):
    p = tmp_path / "r.yaml"
    p.write_text(recipe + "\n")
    with pytest.raises(BadInput, match=re.escape(match) if "'" in match else match):
        load_recipe(p)
    assert catalog.ls() == []


def test_set_overrides_with_wrong_types_are_one_line(tmp_path):
    p = tmp_path / "r.yaml"
    p.write_text("params: {n: 3}\nsteps: [{id: s, step: sample, output: o, with: {n: '${params.n}'}}]\n")
    with pytest.raises(BadInput, match="parameter 'n' must be a whole number"):
        load_recipe(p, ["n=three"])
    with pytest.raises(BadInput, match="steps.s.output.x: steps.s.output is not a mapping"):
        load_recipe(p, ["steps.s.output.x=1"])
    assert load_recipe(p, ["n=4"])["params"]["n"] == 4


def test_recipe_runs_registers_each_step_and_resumes(catalog, tmp_path):
    _, traces, bench = _files(tmp_path)
    # A typo in the filter step: the run stops there with a clear message.
    bad = _recipe(tmp_path, traces, bench, filter_with={"verified_onyl": True})
    with pytest.raises(CurateError, match=r"step 3/6 'filter' \(filter\) failed: .*verified_onyl"):
        run_recipe(catalog, load_recipe(bad))
    assert catalog.exists("mini-verified") and not catalog.exists("mini-filtered")
    failed = catalog.sql("SELECT count(*) AS n FROM runs WHERE kind='recipe-step' AND status='failed'")
    assert failed[0]["n"] == 1
    # Fixed: the rerun reuses import and verify and resumes at the filter step.
    logs: list[str] = []
    refs = run_recipe(catalog, load_recipe(_recipe(tmp_path, traces, bench)), log=logs.append)
    assert [r.name for r in refs] == ["mini-raw", "mini-verified", "mini-filtered", "mini-dedup",
                                      "mini-clean", "mini-nocot"]
    assert sum("reusing" in line for line in logs) == 2
    # p1, p2 verified (p3 duplicates p2, p4 contaminated); p5's correct sample was truncated
    final = catalog.table(refs[-1]).to_pylist()
    assert sorted(r["problem_id"] for r in final) == ["p1", "p2"]
    assert all(r["reasoning"] is None and "<think>" not in r["messages"][-1]["content"]
               for r in final)
    lin = {e["step"]: e for e in catalog.lineage(refs[-1])}
    assert lin["filter"]["counts"]["dropped"] == {"finish_reason_length": 1, "wrong": 5}
    assert lin["dedup"]["counts"]["dropped"] == {"exact_duplicate": 1}
    assert lin["decontaminate"]["counts"]["per_benchmark"] == {f"file:{bench}": 1}
    # Unchanged rerun: every step is reused.
    logs.clear()
    again = run_recipe(catalog, load_recipe(_recipe(tmp_path, traces, bench)), log=logs.append)
    assert again == refs and sum("reusing" in line for line in logs) == 6


def test_cli_run_json(home, tmp_path):
    _, traces, bench = _files(tmp_path)
    r = CliRunner().invoke(app, ["run", str(_recipe(tmp_path, traces, bench)), "--set", "seed=1",
                                 "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output[r.output.index("{"):])
    assert out["params"]["seed"] == 1 and out["outputs"][-1]["name"] == "mini-nocot"


def _math_overrides(prompts, bench) -> list[str]:
    return [f"prompts={prompts}", "n_queries=5", "n=3", f"benchmarks=[file:{bench}]",
            "skip_missing_benchmarks=true", "max_tokens=1000"]


def test_math_recipes_from_imported_traces(catalog, tmp_path):
    """The real recipe files, with generation replaced by importing a traces file."""
    prompts, traces, bench = _files(tmp_path)
    gen = ["steps.generate.step=import",
           f"steps.generate.with={{path: {traces}, kind: traces}}"]
    cot = run_recipe(catalog, load_recipe(REPO / "recipes/math-cot-20k.yaml",
                                          _math_overrides(prompts, bench) + gen))
    assert cot[-1].name == "math-cot-20k"
    rows = catalog.table(cot[-1]).to_pylist()
    assert sorted(r["problem_id"] for r in rows) == ["p1", "p2"]
    assert all("<think>" in r["messages"][-1]["content"] for r in rows)
    nocot = run_recipe(catalog, load_recipe(REPO / "recipes/math-nocot-20k.yaml",
                                            _math_overrides(prompts, bench) + gen))
    assert [r.spec for r in nocot[:-1]] == [r.spec for r in cot[:-1]]   # shared steps reused
    assert all("<think>" not in r["messages"][-1]["content"]
               for r in catalog.table(nocot[-1]).to_pylist())
    numina = run_recipe(catalog, load_recipe(REPO / "recipes/numina-20k.yaml",
                                             _math_overrides(prompts, bench) + gen))
    short = {r["problem_id"]: r["messages"][-1]["content"]
             for r in catalog.table(numina[-1]).to_pylist()}
    assert short == {"p1": "Half of 1 is 1/2.", "p2": "2+2=4."}


def test_math_recipe_with_tiny_teacher(catalog, tmp_path):
    """`curate run recipes/math-cot-20k.yaml` end to end with a tiny local transformers teacher:
    the teacher is launched with `transformers serve`, and it was taught these five answers
    first, so rows verify and every step (verify, filter, dedup, decontaminate, sample, cot)
    has something to do."""
    from tiny_lm import finetune
    from transformers import AutoTokenizer

    from curate.training.tiny import build_tiny_model

    prompts, _, bench = _files(tmp_path)
    template = "{problem}\nPlease reason step by step, and put your final answer within \\boxed{}."
    rows = [json.loads(x) for x in prompts.read_text().splitlines()]
    base = build_tiny_model(tmp_path / "tiny", texts=[r["prompt"] for r in rows] * 4 + [
        "<think>\nLet me think.\n</think>\n\nThe answer is \\boxed{4}."] * 4)
    tok = AutoTokenizer.from_pretrained(base)
    convs = [tok.apply_chat_template([
        {"role": "user", "content": template.replace("{problem}", r["prompt"])},
        {"role": "assistant", "content": "<think>\nLet me think.\n</think>\n\n"
                                         f"The answer is \\boxed{{{r['answer']}}}."}],
        tokenize=False) for r in rows]
    model = finetune(base, tmp_path / "taught", convs, steps=150, lr=5e-3, add_special_tokens=False)
    over = _math_overrides(prompts, bench) + [f"teacher=transformers:{model}", "samples=2",
                                              "max_tokens=40", "n=2", "temperature=0.1"]
    args = ["run", str(REPO / "recipes/math-cot-20k.yaml"), "--json"]
    for o in over:
        args += ["--set", o]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, (r.output, r.exception)
    out = json.loads(r.output[r.output.index("{"):])
    assert out["outputs"][-1]["name"] == "math-cot-20k"
    final = catalog.table("math-cot-20k").to_pylist()
    assert len(final) == 2 and all(x["verified"] for x in final)   # p1, p2|p3, p5 left; n=2
    assert all("<think>" in x["messages"][-1]["content"] for x in final)
    assert {x["problem_id"] for x in final} <= {"p1", "p2", "p3", "p5"}        # p4 contaminated
    raw = catalog.table("math-cot-raw").to_pylist()
    assert len(raw) == 10 and json.loads(raw[0]["metadata"])["engine"] == "transformers-serve"


def test_generate_dispatches_on_task_and_countdown_verifies(catalog, tmp_path):
    """`generate` is shared: task countdown goes to the Countdown helper's search teacher; its
    traces then pass through the verify and filter steps."""
    import yaml

    r = {"name": "cd", "params": {"n": 6},
         "steps": [
             {"id": "gen", "step": "generate", "with": {"task": "countdown", "teacher": "search",
                                                        "n": "${params.n}", "seed": 3},
              "output": "cd-raw"},
             {"id": "verify", "step": "verify", "input": "${steps.gen.output}",
              "with": {"workers": 1}, "output": "cd-verified"},
             {"id": "filter", "step": "filter", "input": "${steps.verify.output}",
              "with": {"verified_only": True}, "output": "cd-clean"}]}
    p = tmp_path / "cd.yaml"
    p.write_text(yaml.safe_dump(r))
    refs = run_recipe(catalog, load_recipe(p))
    rows = catalog.table(refs[1]).to_pylist()
    assert rows and all(r["verified"] is True for r in rows)
    assert json.loads(rows[0]["verify_detail"])["verifier"].startswith("countdown")
    with pytest.raises(CurateError, match="no implementation for task 'chess'"):
        get_step("generate")(catalog, [], {"task": "chess"}, "x")


def test_step_registry_is_explicit_and_complete():
    """Steps come from the explicit STEP_MODULES list (no source scanning at run time); every
    module that registers a step is on it, and every listed module registers one."""
    from pathlib import Path

    import curate
    from curate.curation import steps

    root = Path(curate.__file__).parent
    using = sorted(
        "curate." + ".".join(p.relative_to(root).with_suffix("").parts)
        for p in root.rglob("*.py")
        if "@step(" in p.read_text(encoding="utf-8") and p.name != "steps.py")
    assert sorted(steps.STEP_MODULES) == using
    assert not hasattr(steps, "step_modules") and not hasattr(steps, "STEP_PACKAGES")
    assert {"import", "verify", "filter", "dedup", "decontaminate", "variant", "generate",
            "mix"} <= set(list_steps())


def documented_commands(recipe: Path) -> list[list[str]]:
    """The `curate ...` commands in a recipe's header comment (backslash continuations
    joined), as argument lists."""
    import shlex

    lines, cmds, cur = recipe.read_text().splitlines(), [], ""
    for line in lines:
        if not line.startswith("#"):
            break
        text = line[1:].strip()
        if cur or text.startswith("curate "):
            cur += " " + text.rstrip("\\").strip()
            if not text.endswith("\\"):
                cmds.append(shlex.split(cur.strip()))
                cur = ""
    return cmds


def test_documented_math_smoke_run_finishes(tmp_path, monkeypatch):
    """The CPU smoke run in recipes/math-cot-20k.yaml's header, run exactly as written from a
    fresh folder: a tiny teacher taught the smoke prompts, then every step of the recipe
    (import, generate through `transformers serve`, verify, filter, dedup, decontaminate,
    sample, cot) keeps rows, and the final dataset is verified CoT."""
    from curate.catalog import Catalog

    cmds = [c for c in documented_commands(REPO / "recipes" / "math-cot-20k.yaml")
            if "recipes/smoke" in " ".join(c)]
    assert [c[:3] for c in cmds] == [["curate", "train", "tiny-model"],
                                     ["curate", "run", "recipes/math-cot-20k.yaml"]]
    (tmp_path / "recipes").symlink_to(REPO / "recipes")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CURATE_HOME", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    for cmd in cmds:
        r = CliRunner().invoke(app, cmd[1:])
        assert r.exit_code == 0, (cmd, r.output[-3000:])
    cat = Catalog(tmp_path / ".curate")
    steps = [e["step"] for e in cat.lineage("math-cot-20k")]
    assert steps[:7] == ["variant", "sample", "decontaminate", "dedup", "filter", "verify",
                         "generate"]
    final = cat.table("math-cot-20k").to_pylist()
    assert len(final) == 4 and all(x["verified"] for x in final)
    assert all(x["messages"][-1]["content"].startswith("<think>") for x in final)


# -- issue 14 (tester's pass): every YAML file a person gives goes through the bounded reader --

def _run_cli(path):
    from typer.testing import CliRunner

    from curate.cli import app

    return CliRunner().invoke(app, ["run", str(path)])


@pytest.mark.parametrize("name,content,match", [
    ("deep.yaml", "x: " + "[" * 20000 + "]" * 20000 + "\nsteps: []\n", "YAML nested too deeply"),
    ("map.yaml", "x: " + "{a: " * 5000 + "1" + "}" * 5000 + "\n", "YAML nested too deeply"),
    ("utf.yaml", b"name: x\nsteps: []\n# \xff\n", "not valid UTF-8"),
    ("nul.yaml", "name: x\nsteps: []\n\x00\n", r"nul.yaml:3: invalid YAML: character U\+0000"),
    ("bell.yaml", "name: x\x07\nsteps: []\n", r"bell.yaml:1: invalid YAML: character U\+0007"),
    ("exp.yaml", "kind: experiment\n" + BOMB, r"exp.yaml:\d+: YAML aliases expand"),
    ("arms.yaml", "a: &a [*a]\narms: [*a]\n", r"arms.yaml:1: a YAML alias refers to itself"),
])
def test_recipe_and_experiment_files_are_read_with_bounds(tmp_path, home, name, content, match):
    """`curate run` first asks whether the file is an experiment: that read, and the
    experiment loader's, went through plain yaml.safe_load (a traceback for deep nesting,
    bad UTF-8 or a NUL; an alias bomb expanded by the experiment loader's copy)."""
    p = tmp_path / name
    p.write_bytes(content if isinstance(content, bytes) else content.encode())
    r = _run_cli(p)
    assert isinstance(r.exception, BadInput), r.exception
    assert re.search(match, str(r.exception)), str(r.exception)


def test_recipe_paths_that_are_not_files(tmp_path, home):
    """A FIFO would block the reader forever, /dev/zero would fill memory; a link loop is
    not 'no such file'."""
    import os

    os.mkfifo(tmp_path / "fifo.yaml")
    (tmp_path / "zero.yaml").symlink_to("/dev/zero")
    (tmp_path / "loop.yaml").symlink_to("loop.yaml")
    (tmp_path / "dir.yaml").mkdir()
    for name, what in [("fifo.yaml", "not a regular file (a FIFO)"),
                       ("zero.yaml", "not a regular file (a device)"),
                       ("loop.yaml", "symbolic link loop"),
                       ("dir.yaml", "is a directory, not a YAML file")]:
        r = _run_cli(tmp_path / name)
        assert isinstance(r.exception, BadInput) and what in str(r.exception), r.exception


def test_experiment_set_values_are_bounded():
    from curate.curation.recipes import parse_value

    bomb = "[&a [x,x,x,x,x,x,x,x,x,x], &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a], " \
           "&c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b], &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c], " \
           "&e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d], [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]]"
    assert parse_value(bomb) == bomb          # text, as any value that is not YAML
    assert parse_value("[10, 20]") == [10, 20]


def test_step_notes_name_benchmarks_a_decontamination_could_not_check(catalog, tmp_path,
                                                                      monkeypatch):
    """Offline with skip_missing, the step's summary line looked like a clean check; the
    recipe log now names what was not checked (kind: any unavailable benchmark, one or
    several, and none when all were checked)."""
    from curate.curation.decontaminate import decontaminate_dataset
    from curate.curation.recipes import step_notes

    monkeypatch.setenv("CURATE_BENCHMARK_DIR", str(tmp_path / "none"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setattr("curate.corpora.benchmarks.REPO", tmp_path)   # no ../shared/data
    monkeypatch.setattr("datasets.config.HF_DATASETS_CACHE", tmp_path / "hf")  # nor a cache
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "hub"))
    bench = tmp_path / "bench.jsonl"
    bench.write_text(json.dumps({"id": "b1", "question": "What is the sum of two and three "
                                 "apples in the basket today?", "answer": "5"}) + "\n")
    catalog.register("rows", [{"prompt": f"Question {i}: what is {i} plus {i}?",
                               "answer_text": str(2 * i)} for i in range(4)], kind="traces")
    clean = decontaminate_dataset(catalog, "rows", "rows-clean", benchmarks=[f"file:{bench}"],
                                  progress=False)
    assert step_notes(catalog, clean) == []
    for names in (["aime25"], ["aime25", "gpqa-diamond"]):
        ref = decontaminate_dataset(catalog, "rows", "rows-" + str(len(names)),
                                    benchmarks=[f"file:{bench}", *names], skip_missing=True,
                                    progress=False)
        notes = step_notes(catalog, ref)
        assert len(notes) == 1 and notes[0].startswith(f"not checked against {', '.join(names)} ")
