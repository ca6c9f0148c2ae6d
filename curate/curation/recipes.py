"""YAML recipes: a named list of steps run one after another, each registered in the catalog.

```yaml
name: math-cot-20k
params: {n: 20480, seed: 0}
steps:
  - id: verify
    step: verify                          # a step in curate.curation.steps
    input: "${steps.generate.output}"     # or inputs: [...]; omitted for source steps
    with: {timeout: 5}
    output: math-cot-20k-verified
```
`${params.x}` takes a recipe parameter (the whole value keeps its type, inside a longer
string it is text); `${steps.ID.output}` the exact `name@version` an earlier step wrote.
Resumable: every finished step is recorded as a `recipe-step` run with a fingerprint of
(step, resolved parameters, resolved input versions, output name); a rerun skips steps
whose fingerprint already produced a dataset still in the catalog, so after a failure it
starts again at the step that failed.
"""

from __future__ import annotations

import copy
import hashlib
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from curate.errors import BadInput, CurateError
from curate.formats import yamlfile
from curate.record import stable_json

_REF = re.compile(r"\$\{([^}]+)\}")
STEP_KEYS = {"id", "step", "input", "inputs", "with", "output", "kind"}
COMPANIONS = ("-rejects", "-failures", "-dropped")   # datasets a step may write beside its output


def parse_value(text: str) -> Any:
    """A `--set` value: YAML scalars and lists (`3`, `0.6`, `true`, `[a, b]`), else text."""
    try:
        return yamlfile.loads(text, "--set")
    except BadInput:
        return text


def apply_overrides(recipe: dict, overrides: dict[str, Any] | list[str] | None) -> dict:
    """`key=value` overrides: `x` or `params.x` sets a parameter; other dotted paths
    (`steps.ID.with.k`) set a field of the recipe."""
    if not overrides:
        return recipe
    items = overrides.items() if isinstance(overrides, dict) else [
        split_override(o) for o in overrides]
    r = copy.deepcopy(recipe)
    for key, value in items:
        parts = key.split(".")
        if parts[0] == "steps" and len(parts) >= 3:
            st = next((s for s in r["steps"] if s.get("id") == parts[1]), None)
            if st is None:
                raise BadInput(f"--set {key}: no step with id {parts[1]!r}")
            target, path = st, parts[2:]
        else:
            if parts[0] == "params":
                parts = parts[1:]
            target, path = r.setdefault("params", {}), parts
        for p in path[:-1]:
            target = target.setdefault(p, {}) if isinstance(target, dict) else None
            if not isinstance(target, dict):
                break
        if not isinstance(target, dict):
            raise BadInput(f"--set {key}: {'.'.join(parts[:-1]) or key} is not a mapping")
        target[path[-1]] = value
    return r


def split_override(o: str) -> tuple[str, Any]:
    """`KEY=VALUE` from `--set` as (key, parsed value); a one-line BadInput otherwise."""
    if "=" not in o:
        raise BadInput(f"--set {o!r}: expected key=value")
    k, v = o.split("=", 1)
    if not k.strip():
        raise BadInput(f"--set {o!r}: empty key")
    return k.strip(), parse_value(v)


def _kind(v: Any) -> str:
    return {bool: "true/false", int: "a number", float: "a number", str: "text", list: "a list",
            dict: "a mapping", type(None): "empty"}.get(type(v), type(v).__name__)


def validate(recipe: Any, source: str = "recipe") -> dict:
    """Shape and type checks with messages that name the recipe, the step and the field."""
    if not isinstance(recipe, dict):
        raise BadInput(f"a recipe must be a mapping with name, params, steps, not {_kind(recipe)}",
                       file=source)
    if recipe.get("steps") is not None and not isinstance(recipe["steps"], list):
        raise BadInput(f"'steps' must be a list of steps, not {_kind(recipe['steps'])}",
                       file=source)
    if not recipe.get("steps"):
        raise BadInput("recipe has no steps", file=source)
    recipe.setdefault("name", Path(source).stem)
    if not isinstance(recipe["name"], str) or not recipe["name"].strip():
        raise BadInput(f"'name' must be text, not {_kind(recipe['name'])}", file=source)
    if recipe.get("params") is None:
        recipe["params"] = {}
    if not isinstance(recipe["params"], dict):
        raise BadInput(f"'params' must be a mapping, not {_kind(recipe['params'])}", file=source)
    bad = [k for k in recipe["params"] if not isinstance(k, str)]
    if bad:
        raise BadInput(f"params: names must be text, not {bad[0]!r}", file=source)
    ids = set()
    for i, st in enumerate(recipe["steps"], 1):
        if not isinstance(st, dict):
            raise BadInput(f"step {i} must be a mapping, not {_kind(st)}", file=source)
        unknown = {str(k) for k in st} - STEP_KEYS
        if unknown:
            raise BadInput(f"step {i}: unknown key(s) {sorted(unknown)} "
                           f"(known: {sorted(STEP_KEYS)})", file=source)
        for k in ("step", "output"):
            if not st.get(k):
                raise BadInput(f"step {i}: missing {k!r}", file=source)
        for k in ("id", "step", "output", "input", "kind"):
            if st.get(k) is not None and not isinstance(st[k], str):
                if k == "id" and isinstance(st[k], int) and not isinstance(st[k], bool):
                    st[k] = str(st[k])
                    continue
                raise BadInput(f"step {i}: {k!r} must be text, not {_kind(st[k])}", file=source)
        st.setdefault("id", st["step"])
        if st["id"] in ids:
            raise BadInput(f"step {i}: duplicate id {st['id']!r}", file=source)
        ids.add(st["id"])
        if st.get("with") is not None and not isinstance(st["with"], dict):
            raise BadInput(f"step {st['id']}: 'with' must be a mapping, not {_kind(st['with'])}",
                           file=source)
        inputs = st.get("inputs")
        if inputs is not None and not (isinstance(inputs, list)
                                       and all(isinstance(x, str) for x in inputs)):
            raise BadInput(f"step {st['id']}: 'inputs' must be a list of dataset names",
                           file=source)
    return recipe


# Types of the step parameters that several steps share (checked before any step runs, so a
# wrong type names its step and field instead of surfacing as a Python error mid-recipe).
_INT = ("n", "seed", "limit", "samples", "max_tokens", "top_k", "numbers", "workers",
        "tensor_parallel", "data_parallel", "max_model_len", "k_per_problem", "concurrency",
        "max_retries", "beam_width", "max_nodes", "max_target", "max_number", "min_tokens",
        "batch_size", "ngram", "tasks")
_NUMBER = ("temperature", "top_p", "min_p", "timeout", "threshold", "min_pass_rate",
           "max_pass_rate", "ratio")
_BOOL = ("skip_bad", "use_cache", "enable_thinking", "verified_only", "require_closed_think",
         "skip_missing", "shuffle", "optimal_only", "answer_tag", "unanchored",
         "last_number_fallback", "force")
_TEXT = ("task", "teacher", "path", "kind", "variant", "strategy", "heuristic", "split",
         "prompts", "model", "prompt_field", "reference_field", "id_field", "api_key_env",
         "system", "prompt_template", "semantics", "style", "short_field", "layout",
         "executor", "unclosed", "rule")
_TEXT_LIST = ("benchmarks", "drop_finish_reasons", "stop", "server_args")
_MAPPING = ("chat_template_kwargs", "extra_body", "subset")
PARAM_TYPES: dict[str, str] = {**dict.fromkeys(_INT, "int"), **dict.fromkeys(_NUMBER, "number"),
                               **dict.fromkeys(_BOOL, "bool"), **dict.fromkeys(_TEXT, "text"),
                               **dict.fromkeys(_TEXT_LIST, "text list"),
                               **dict.fromkeys(_MAPPING, "mapping")}
_WANT = {"int": "a whole number", "number": "a number", "bool": "true or false", "text": "text",
         "text list": "a list of text", "mapping": "a mapping"}


def _type_ok(want: str, v: Any) -> bool:
    if v is None:
        return True
    if want == "int":
        return isinstance(v, int) and not isinstance(v, bool)
    if want == "number":
        return isinstance(v, (int, float)) and not isinstance(v, bool)
    if want == "bool":
        return isinstance(v, bool)
    if want == "text":
        return isinstance(v, str)
    if want == "text list":
        return isinstance(v, list) and all(isinstance(x, str) for x in v) or isinstance(v, str)
    return isinstance(v, dict)


def check_params(where: str, with_: dict[str, Any]) -> None:
    """BadInput naming the step and the field when a shared parameter has the wrong type."""
    for k, v in with_.items():
        want = PARAM_TYPES.get(k)
        if want and not _type_ok(want, v):
            raise BadInput(f"{where}: parameter {k!r} must be {_WANT[want]}, not {_kind(v)} "
                           f"({v!r:.60})")


def preflight(recipe: dict) -> None:
    """Everything that can be checked before the first step runs: step names, parameter
    references, the types of shared parameters, and every dataset name the steps will write
    (and their `-rejects` / `-failures` / `-dropped` companions)."""
    from curate.catalog.catalog import check_names
    from curate.curation.steps import list_steps

    params = recipe.get("params", {})
    outputs: dict[str, str] = {}
    known = list_steps()
    for st in recipe["steps"]:
        where = f"recipe {recipe['name']}, step {st['id']}"
        if st["step"] not in known:
            raise BadInput(f"{where}: unknown step {st['step']!r}; known steps: "
                           f"{', '.join(known)}")
        check_params(where, substitute(st.get("with") or {}, params, outputs, where))
        substitute(st.get("inputs", st.get("input")), params, outputs, where)
        output = substitute(st["output"], params, outputs, where)
        if not isinstance(output, str):
            raise BadInput(f"{where}: 'output' must be a dataset name, not {_kind(output)}")
        try:
            check_names(output, *(output + s for s in COMPANIONS))
        except BadInput as e:
            raise BadInput(f"{where}: {e}") from None
        outputs[st["id"]] = f"{output}@pending"


def load_recipe(path: str | Path, overrides: dict[str, Any] | list[str] | None = None) -> dict:
    """Read a YAML recipe (bounded: see `curate.formats.yamlfile`), apply `--set` overrides
    and check what can be checked before any step runs (`preflight`)."""
    p = Path(path)
    if not p.exists() and not p.is_symlink():
        raise BadInput("no such recipe file", file=str(p))
    data = yamlfile.load(p)
    recipe = validate(data, str(p))
    recipe = apply_overrides(recipe, overrides)
    validate(recipe, str(p))
    preflight(recipe)
    recipe["_path"] = str(p.resolve())
    return recipe


def substitute(value: Any, params: dict, outputs: dict[str, str], where: str) -> Any:
    """Replace `${params.x}` / `${steps.ID.output}` in a value (recursively)."""
    if isinstance(value, dict):
        return {k: substitute(v, params, outputs, where) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, params, outputs, where) for v in value]
    if not isinstance(value, str):
        return value

    def lookup(ref: str) -> Any:
        parts = ref.strip().split(".")
        if parts[0] == "params" and len(parts) >= 2:
            cur: Any = params
            for p in parts[1:]:
                if not isinstance(cur, dict) or p not in cur:
                    raise BadInput(f"{where}: ${{{ref}}} is not a recipe parameter "
                                   f"(known: {', '.join(sorted(params))})")
                cur = cur[p]
            return cur
        if parts[0] == "steps" and len(parts) == 3 and parts[2] == "output":
            if parts[1] not in outputs:
                raise BadInput(f"{where}: ${{{ref}}} refers to a step that has not run before "
                               f"this one (earlier steps: {', '.join(outputs) or 'none'})")
            return outputs[parts[1]]
        raise BadInput(f"{where}: cannot resolve ${{{ref}}} (use ${{params.NAME}} or "
                       "${steps.ID.output})")

    whole = _REF.fullmatch(value)
    if whole:
        return lookup(whole.group(1))
    return _REF.sub(lambda m: str(lookup(m.group(1))), value)


def fingerprint(step: str, params: dict, inputs: list[str], output: str) -> str:
    raw = stable_json({"step": step, "params": params, "inputs": inputs, "output": output})
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


def _previous(catalog, fp: str) -> str | None:
    """The output of an earlier successful run of the same step fingerprint, if still there."""
    rows = catalog.sql(
        "SELECT outputs FROM runs WHERE kind='recipe-step' AND status='ok' AND "
        f"json_extract_string(config, '$.fingerprint')='{fp}' ORDER BY finished DESC")
    import json

    for r in rows:
        outs = json.loads(r["outputs"]) if isinstance(r["outputs"], str) else r["outputs"]
        for spec in outs or []:
            if catalog.exists(spec):
                return spec
    return None


def _resolve_inputs(catalog, st: dict, raw: list[str]) -> list[str]:
    out = []
    for spec in raw:
        try:
            out.append(catalog.resolve(spec).spec)
        except CurateError as e:
            raise BadInput(f"step {st['id']}: input {spec!r}: {e}") from None
    return out


def run_recipe(catalog, recipe: dict, log: Callable[[str], None] | None = None,
               force: bool = False, executor=None) -> list:
    """Run the steps in order; returns the DatasetRef each step wrote (or reused).

    With `executor` (an `ExecutorSpec`), steps that can run on datatrove do (the others run
    in-process); each step's output is registered before the next starts. A Slurm dry run
    stops after the first step it writes scripts for."""
    from curate.curation.steps import call_step, get_step

    log = log or (lambda s: None)
    preflight(recipe)
    name, params = recipe["name"], recipe.get("params", {})
    outputs: dict[str, str] = {}
    refs = []
    steps = recipe["steps"]
    for n, st in enumerate(steps, 1):
        where = f"recipe {name}, step {st['id']}"
        fn = get_step(st["step"])
        with_ = substitute(st.get("with") or {}, params, outputs, where)
        raw_inputs = st.get("inputs", [st["input"]] if st.get("input") else [])
        raw_inputs = substitute(raw_inputs if isinstance(raw_inputs, list) else [raw_inputs],
                                params, outputs, where)
        inputs = _resolve_inputs(catalog, st, [str(i) for i in raw_inputs])
        output = str(substitute(st["output"], params, outputs, where))
        fp = fingerprint(st["step"], with_, inputs, output)
        prev = None if force else _previous(catalog, fp)
        if prev:
            ref = catalog.resolve(prev)
            log(f"[{n}/{len(steps)}] {st['id']} ({st['step']}): unchanged, reusing {ref.spec} "
                f"({ref.rows} rows)")
            outputs[st["id"]] = ref.spec
            refs.append(ref)
            continue
        log(f"[{n}/{len(steps)}] {st['id']} ({st['step']}) -> {output} ...")
        config = {"recipe": name, "recipe_path": recipe.get("_path"), "step_id": st["id"],
                  "step": st["step"], "params": with_, "output": output, "fingerprint": fp}
        run_id = catalog.start_run("recipe-step", config=config, inputs=inputs,
                                   name=f"{name}/{st['id']}")
        t0 = time.perf_counter()
        try:
            ref = call_step(fn, catalog, inputs, dict(with_), output, executor)
        except BaseException as e:
            msg = str(e) if isinstance(e, CurateError) else f"{type(e).__name__}: {e}"
            catalog.finish_run(run_id, "failed", error=msg[:2000])
            if isinstance(e, KeyboardInterrupt):
                raise
            raise CurateError(f"recipe {name}: step {n}/{len(steps)} {st['id']!r} "
                              f"({st['step']}) failed: {msg}. Fix it and run the recipe "
                              "again: finished steps are reused and it resumes here.") from e
        if not hasattr(ref, "rows"):          # a Slurm dry run: scripts written, nothing run
            catalog.finish_run(run_id, "dry-run", error=ref.spec)
            log(f"[{n}/{len(steps)}] {st['id']}: {ref.spec}")
            refs.append(ref)
            return refs
        catalog.finish_run(run_id, "ok", outputs=[ref.spec],
                           metrics={"rows": ref.rows, "seconds": round(time.perf_counter() - t0, 3)})
        log(f"[{n}/{len(steps)}] {st['id']}: {ref.spec} ({ref.rows} rows, "
            f"{time.perf_counter() - t0:.1f}s)")
        for note in step_notes(catalog, ref):
            log(f"[{n}/{len(steps)}] {st['id']}: {note}")
        outputs[st["id"]] = ref.spec
        refs.append(ref)
    return refs


def step_notes(catalog, ref) -> list[str]:
    """What a finished step left undone that its one-line summary does not show: benchmarks
    a decontamination could not check (no local copy and the Hub unreachable, with
    `skip_missing`), named so an offline run is not mistaken for a clean one."""
    try:
        stats = catalog.show(ref).get("stats") or {}
    except Exception:  # noqa: BLE001 - notes must never fail a finished step
        return []
    gone = sorted((stats.get("decontamination") or {}).get("unavailable") or {})
    if not gone:
        return []
    return [f"not checked against {', '.join(gone)} (no local copy and the Hub unreachable; "
            "see the card, or set $CURATE_BENCHMARK_DIR)"]
