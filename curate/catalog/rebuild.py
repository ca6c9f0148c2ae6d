"""The dataset card's "How to rebuild it": one runnable `curate` command per step, with every
recorded parameter as a flag (`--set KEY=VALUE` for library options without a flag of their
own), and no local absolute paths (a file is named by its file name: put it beside you).

Steps made only inside recipes (`sample`, `import-select`, `join`) are rebuilt by the recipe,
which the card gives first; side outputs (`-dropped`, `-failures`, `-rejects`) come with the
step that wrote them.
"""

from __future__ import annotations

import json
import os
import re
import shlex
from typing import Any

# generate: recorded parameter -> flag
GENERATE_FLAGS = (("prompts", "--prompts"), ("n", "-n"), ("samples", "--samples"),
                  ("max_tokens", "--max-tokens"), ("temperature", "--temperature"),
                  ("top_p", "--top-p"), ("top_k", "--top-k"), ("min_p", "--min-p"),
                  ("seed", "--seed"), ("system", "--system"),
                  ("prompt_template", "--prompt-template"), ("max_model_len", "--max-model-len"),
                  ("tensor_parallel", "--tensor-parallel"), ("data_parallel", "--data-parallel"))
SIDE_STEPS = re.compile(r"-(dropped|failures|rejects)$")
RECIPE_ONLY = ("sample", "import-select", "join")
_SCHEME_PATH = re.compile(r"^([A-Za-z][\w+.-]*:)(/.*)$")
# an absolute path inside text: starts after a space, bracket, quote, '=', ',' or ':' (not
# after a letter or '/', so URLs stay), two or more segments
_EMBEDDED = re.compile(r"(?:(?<=[\s(\[{'\"=,:])|^)(?:/[\w.\-~+]+)+/([\w.\-~+]+)")


def portable(v: Any) -> Any:
    """`v` with local absolute paths replaced by their last part, recursively (`/home/me/x.jsonl`
    -> `x.jsonl`, `transformers:/models/tiny` -> `transformers:tiny`); URLs are left alone."""
    if isinstance(v, dict):
        return {portable(k): portable(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [portable(x) for x in v]
    if not isinstance(v, str):
        return v
    if v.startswith("~") or (os.path.isabs(v) and "\n" not in v):
        return os.path.basename(v.rstrip("/")) or v
    m = _SCHEME_PATH.match(v)
    if m and not v.startswith(("http:", "https:")) and "\n" not in v:
        return m.group(1) + (os.path.basename(m.group(2).rstrip("/")) or m.group(2))
    return _EMBEDDED.sub(r"\1", v)


def _q(v: Any) -> str:
    if isinstance(v, list | tuple):
        v = ",".join(str(x) for x in v)
    return shlex.quote(str(portable(v)))


def _set(k: str, v: Any) -> str:
    text = v if isinstance(v, str) else json.dumps(portable(v))
    return f"--set {shlex.quote(f'{k}={portable(text)}')}"


def _options(p: dict, flags: dict[str, str], defaults: dict[str, Any],
             bools: dict[str, tuple[str, bool]], skip: tuple[str, ...] = ()) -> list[str]:
    """Flags for recorded params that differ from `defaults`: `flags` (key -> --flag VALUE),
    `bools` (key -> (--flag, the value the flag means)); the rest as --set."""
    out = []
    for k, v in p.items():
        if k in skip or (k in defaults and defaults[k] == v) or v is None:
            continue
        if k in bools:
            flag, meaning = bools[k]
            out.append(flag) if v == meaning else out.append(_set(k, v))
        elif k in flags:
            out.append(f"{flags[k]} {_q(v)}")
        else:
            out.append(_set(k, v))
    return out


# The library defaults of each step (curation's DEFAULTS; the catalog does not import
# curation, so they are repeated here and tests/test_cards.py checks they still agree): a
# recorded value equal to its default needs no flag.
DEFAULTS: dict[str, dict[str, Any]] = {
    "filter": {"verified_only": False, "drop_finish_reasons": ["length"], "min_tokens": None,
               "max_tokens": None, "require_closed_think": False, "require_think": False,
               "max_repetition": None, "repetition_ngram": 10, "tail_loop": False,
               "pass_rate_min": None, "pass_rate_max": None, "k_per_problem": None,
               "strategy": "random", "seed": 0},
    "dedup": {"field": "prompt", "exact": True, "minhash": True, "threshold": 0.6,
              "num_perm": 128, "shingle": 5, "unit": "char", "seed": 1,
              "strip_template": True, "content_check": True},
    "decontaminate": {"n": 8, "fields": ["prompt", "answer_text"], "drop": True,
                      "skip_missing": False, "examples": 3, "min_coverage": 0.5},
}


def step_command(e: dict[str, Any]) -> str | None:
    """The command that remakes lineage entry `e` (None for a side output)."""
    name = e["dataset"].split("@")[0]
    p, step = e.get("params") or {}, e.get("step")
    parents = [x.split("@")[0] for x in e.get("parents") or []]
    src = parents[0] if parents else ""
    if step is None or SIDE_STEPS.search(step or "") or SIDE_STEPS.search(name):
        return None
    if step == "generate" and p.get("task") == "countdown":
        s, c = p.get("search") or {}, p.get("config") or {}
        return (f"curate generate --task countdown --teacher {p.get('teacher', 'search')} "
                f"--name {name} -n {p.get('n')} --numbers {c.get('numbers')} "
                f"--seed {p.get('seed')} --split {p.get('split')} "
                f"--strategy {s.get('strategy')} --heuristic {s.get('heuristic')} "
                f"--max-nodes {s.get('max_nodes')} --style {s.get('style')}")
    if step == "generate" and p.get("teacher"):
        flags = [f"{flag} {_q(p[k])}" for k, flag in GENERATE_FLAGS
                 if p.get(k) is not None and not isinstance(p[k], dict | list | bool)]
        if isinstance(p.get("enable_thinking"), bool):
            flags.append("--thinking" if p["enable_thinking"] else "--no-thinking")
        flags += [f"--stop {shlex.quote(x)}" for x in p.get("stop") or []]
        if p.get("prompts") is None and src:
            flags.insert(0, f"--prompts {src}")
        return (f"curate generate --task {p.get('task')} --teacher {_q(p['teacher'])} "
                f"--name {name} " + " ".join(flags)).rstrip()
    if step == "variant":
        v = p.get("variant")
        flag = f"--short-field {p.get('short_field')}" if v == "short" else f"--{v}"
        sys_ = f" --system {shlex.quote(p['system'])}" if p.get("system") else ""
        return f"curate variant {src} {flag} --name {name}{sys_}"
    if step == "import":
        what = p.get("hf") or p.get("file") or (f"hf:{p['hub']}" if p.get("hub") else "FILE")
        extra = ""
        if p.get("layout") and not p.get("layout_detected"):
            extra += f" --layout {p['layout']}"
        if p.get("map") and not p.get("layout"):
            extra += " --map " + shlex.quote(",".join(f"{k}={v}" for k, v in p["map"].items()))
        if p.get("skip_bad"):
            extra += " --skip-bad"
        return f"curate import {_q(what)} --name {name} --kind {p.get('kind', 'problems')}{extra}"
    if step == "verify":
        opts = dict(p.get("math_options") or {})
        out = [f"curate verify {src} --name {name}"]
        if p.get("timeout") not in (None, 5, 5.0):
            out.append(f"--timeout {p['timeout']}")
        if opts.pop("unanchored", False):
            out.append("--unanchored")
        if opts.pop("last_number_fallback", False):
            out.append("--last-number")
        if opts.get("unclosed") not in (None, "no-answer"):
            out.append(f"--unclosed {opts.pop('unclosed')}")
        opts.pop("unclosed", None)
        out += [_set(k, v) for k, v in opts.items()]
        return " ".join(out)
    if step == "filter":
        q = dict(p)
        dfr = q.pop("drop_finish_reasons", ["length"])
        out = [f"curate filter {src} --name {name}"]
        if dfr == []:
            out.append("--keep-length")
        elif dfr != ["length"]:
            out.append(_set("drop_finish_reasons", dfr))
        out += _options(q, {"min_tokens": "--min-tokens", "max_tokens": "--max-tokens",
                            "max_repetition": "--max-repetition",
                            "pass_rate_min": "--pass-rate-min",
                            "pass_rate_max": "--pass-rate-max", "k_per_problem": "--k",
                            "strategy": "--strategy", "seed": "--seed"},
                        DEFAULTS["filter"],
                        {"verified_only": ("--verified-only", True),
                         "require_closed_think": ("--closed-think", True),
                         "tail_loop": ("--tail-loop", True)})
        return " ".join(out)
    if step == "dedup":
        out = [f"curate dedup {src} --name {name}"]
        out += _options(p, {"field": "--field", "threshold": "--threshold"},
                        DEFAULTS["dedup"],
                        {"minhash": ("--exact-only", False)})
        return " ".join(out)
    if step == "decontaminate":
        out = [f"curate decontaminate {src} --name {name}",
               f"--benchmarks {_q(p.get('benchmarks') or [])}"]
        out += _options(p, {"n": "--n", "fields": "--fields", "min_coverage": "--min-coverage"},
                        DEFAULTS["decontaminate"],
                        {"drop": ("--keep", False), "skip_missing": ("--skip-missing", True)},
                        skip=("benchmarks",))
        return " ".join(out)
    if step == "mix":
        comps = " ".join(f"--from {c['dataset'].split('@')[0]}:{c.get('count') or c.get('ratio') or c.get('drawn')}"
                         for c in p.get("components") or [])
        out = f"curate mix {name} {comps}"
        if p.get("variant"):
            out += f" --variant {p['variant']}"
        if p.get("seed"):
            out += f" --seed {p['seed']}"
        if p.get("shuffle") is False:
            out += " --no-shuffle"
        return out
    if step in RECIPE_ONLY:
        return f"# {name}: recipe step '{step}' (rebuilt by the recipe above)"
    return f"# {name}: step '{step}' (no command; parameters in the JSON above)"


def rebuild_commands(lineage: list[dict[str, Any]]) -> list[str]:
    """CLI commands that remake each version, oldest step first."""
    ordered = sorted(lineage, key=lambda e: str(e.get("created") or ""))
    return [c for c in (step_command(e) for e in ordered) if c]
