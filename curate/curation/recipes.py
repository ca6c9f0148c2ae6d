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

import yaml

from curate.errors import BadInput, CurateError
from curate.record import stable_json

_REF = re.compile(r"\$\{([^}]+)\}")
STEP_KEYS = {"id", "step", "input", "inputs", "with", "output", "kind"}


def parse_value(text: str) -> Any:
    """A `--set` value: YAML scalars and lists (`3`, `0.6`, `true`, `[a, b]`), else text."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def apply_overrides(recipe: dict, overrides: dict[str, Any] | list[str] | None) -> dict:
    """`key=value` overrides: `x` or `params.x` sets a parameter; other dotted paths
    (`steps.ID.with.k`) set a field of the recipe."""
    if not overrides:
        return recipe
    items = overrides.items() if isinstance(overrides, dict) else [
        _split_override(o) for o in overrides]
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
            target = target.setdefault(p, {})
        target[path[-1]] = value
    return r


def _split_override(o: str) -> tuple[str, Any]:
    if "=" not in o:
        raise BadInput(f"--set {o!r}: expected key=value")
    k, v = o.split("=", 1)
    if not k.strip():
        raise BadInput(f"--set {o!r}: empty key")
    return k.strip(), parse_value(v)


def validate(recipe: Any, source: str = "recipe") -> dict:
    """Shape checks with messages that name the recipe and the step."""
    if not isinstance(recipe, dict):
        raise BadInput("a recipe must be a mapping with name, params, steps", file=source)
    if not isinstance(recipe.get("steps"), list) or not recipe["steps"]:
        raise BadInput("recipe has no steps", file=source)
    recipe.setdefault("name", Path(source).stem)
    recipe.setdefault("params", {})
    if not isinstance(recipe["params"], dict):
        raise BadInput("params must be a mapping", file=source)
    ids = set()
    for i, st in enumerate(recipe["steps"], 1):
        if not isinstance(st, dict):
            raise BadInput(f"step {i} is not a mapping", file=source)
        unknown = set(st) - STEP_KEYS
        if unknown:
            raise BadInput(f"step {i}: unknown key(s) {sorted(unknown)} "
                           f"(known: {sorted(STEP_KEYS)})", file=source)
        for k in ("step", "output"):
            if not st.get(k):
                raise BadInput(f"step {i}: missing {k!r}", file=source)
        st.setdefault("id", st["step"])
        if st["id"] in ids:
            raise BadInput(f"step {i}: duplicate id {st['id']!r}", file=source)
        ids.add(st["id"])
        if st.get("with") is not None and not isinstance(st["with"], dict):
            raise BadInput(f"step {st['id']}: 'with' must be a mapping", file=source)
    return recipe


def load_recipe(path: str | Path, overrides: dict[str, Any] | list[str] | None = None) -> dict:
    """Read a YAML recipe and apply `--set` overrides."""
    p = Path(path)
    if not p.is_file():
        raise BadInput("no such recipe file", file=str(p))
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise BadInput(f"invalid YAML: {str(e).splitlines()[0]}", file=str(p)) from None
    recipe = validate(data, str(p))
    recipe = apply_overrides(recipe, overrides)
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
               force: bool = False) -> list:
    """Run the steps in order; returns the DatasetRef each step wrote (or reused)."""
    from curate.curation.steps import get_step

    log = log or (lambda s: None)
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
            ref = fn(catalog, inputs, dict(with_), output)
        except BaseException as e:
            msg = str(e) if isinstance(e, CurateError) else f"{type(e).__name__}: {e}"
            catalog.finish_run(run_id, "failed", error=msg[:2000])
            if isinstance(e, KeyboardInterrupt):
                raise
            raise CurateError(f"recipe {name}: step {n}/{len(steps)} {st['id']!r} "
                              f"({st['step']}) failed: {msg}. Fix it and run the recipe "
                              "again: finished steps are reused and it resumes here.") from e
        catalog.finish_run(run_id, "ok", outputs=[ref.spec],
                           metrics={"rows": ref.rows, "seconds": round(time.perf_counter() - t0, 3)})
        log(f"[{n}/{len(steps)}] {st['id']}: {ref.spec} ({ref.rows} rows, "
            f"{time.perf_counter() - t0:.1f}s)")
        outputs[st["id"]] = ref.spec
        refs.append(ref)
    return refs
