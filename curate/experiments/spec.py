"""The experiment file: reading, `--set` overrides, `${params.x}` substitution, validation.

```yaml
kind: experiment                  # (or an `arms:` key) tells `curate run` it is one
name: data-structure
params: {rows: 20480}             # ${params.x} anywhere below takes these
base: Qwen/Qwen3-14B-Base         # shared base model: a folder, a hub id, or tiny:FOLDER
                                  # (a tiny local model, built there when absent; a relative
                                  # FOLDER is inside the workspace, $CURATE_HOME)
threads: null                     # torch CPU threads (tiny models run fastest on 1)
data:                             # recipes run first, each resumable per step
  - recipe: ../recipes/countdown-cot-20k.yaml
    set: {n: 20480}
arms:
  - name: countdown-cot
    method: sft                   # sft (mixture:) or grpo (prompts:)
    mixture: {from: ["countdown-cot-20k:${params.rows}"], variant: cot, seed: 0, shuffle: false}
    train: {epochs: 8, batch_size: 4, global_batch: 256, save_at: [10, 20, 40], shuffle: false}
                                  # global_batch: rows a step over every process; the
                                  # accumulation is derived (256 / (4 x processes)), so the
                                  # schedule is the file's on 1 process or under torchrun
eval: {suite: p3}                 # + samples, limit, max_new_tokens, temperature, batch_size,
                                  #   teacher ("vllm:{model}": serve each checkpoint)
probes:                           # each optional; run on each arm's final model vs the base
  ti: {formula: icml}             # per checkpoint, from the evals
  kl: {texts: benchmark:math500, limit: 100}
  pca-shift: {texts: benchmark:math500, k: 100}
  rank-shift: {texts: benchmark:math500}
```

profiles:                         # named sets of parameters (and arms), e.g. a CPU smoke
  tiny:                           # run: --set profile=tiny
    select: [countdown-cot]
    params: {base: "tiny:tiny-base", rows: 256}
```

Relative paths of files that exist (recipes, `local:` suite files, probe text files) are found
from the current folder, else from the experiment file's folder or the one above it (the
repository root); `output` is taken from the current folder, `tiny:` from the workspace.
Overrides: `--set profile=NAME` applies a profile first; `--set x=v` sets a parameter;
`--set select=a,b` runs only those arms; a dotted path sets any field, arms by name:
`--set arms.countdown-cot.train.max_steps=40`, `--set eval.limit=8`, `--set probes.kl=null`.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

from curate.curation.recipes import split_override
from curate.errors import BadInput
from curate.formats import yamlfile

TOP_KEYS = {"kind", "name", "description", "params", "base", "data", "arms", "eval", "probes",
            "output", "select", "comparison", "profiles", "threads"}
ARM_KEYS = {"name", "method", "mixture", "prompts", "train", "description"}
METHODS = ("sft", "grpo")
PROBES = ("ti", "kl", "pca-shift", "rank-shift")
_REF = re.compile(r"\$\{params\.([A-Za-z0-9_.\-]+)\}")


def is_experiment(path: str | Path) -> bool:
    """Whether a YAML file is an experiment (`kind: experiment` or an `arms:` key); a file
    that cannot be read is not (the recipe loader then says why, in one line)."""
    try:
        data = yamlfile.load(path)
    except BadInput:
        return False
    return isinstance(data, dict) and (data.get("kind") == "experiment" or "arms" in data)


def apply_overrides(spec: dict, overrides: list[str] | dict[str, Any] | None) -> dict:
    """`key=value` overrides (see the module docstring); a one-line error on a bad path."""
    if not overrides:
        return spec
    items = overrides.items() if isinstance(overrides, dict) else [
        o if isinstance(o, tuple) else split_override(o) for o in overrides]
    out = copy.deepcopy(spec)
    for key, value in items:
        parts = key.split(".")
        if parts[0] == "select":
            out["select"] = _names(value)
            continue
        if parts[0] not in TOP_KEYS or (len(parts) == 1 and parts[0] == "params"):
            parts = ["params", *(parts[1:] if parts[0] == "params" else parts)]
        target: Any = out
        path = parts
        if parts[0] == "arms" and len(parts) >= 2:
            arm = next((a for a in out.get("arms") or [] if a.get("name") == parts[1]), None)
            if arm is None:
                raise BadInput(f"--set {key}: no arm named {parts[1]!r} (arms: "
                               f"{', '.join(a.get('name', '?') for a in out.get('arms') or [])})")
            target, path = arm, parts[2:]
            if not path:
                raise BadInput(f"--set {key}: name a field of the arm")
        for p in path[:-1]:
            if not isinstance(target.get(p), dict):
                target[p] = {}
            target = target[p]
        target[path[-1]] = value
    return out


def apply_profile(spec: dict, overrides: list[str] | dict[str, Any] | None) -> tuple[dict, list]:
    """Take `profile=NAME` out of the overrides and apply that profile's params and select."""
    items = list(overrides.items()) if isinstance(overrides, dict) else [
        split_override(o) for o in overrides or []]
    names = [v for k, v in items if k == "profile"]
    rest = [(k, v) for k, v in items if k != "profile"]
    out = copy.deepcopy(spec)
    profiles = out.get("profiles") or {}
    for name in names:
        prof = profiles.get(name)
        if not isinstance(prof, dict):
            raise BadInput(f"--set profile={name}: no such profile (profiles: "
                           f"{', '.join(profiles) or 'none'})")
        bad = set(prof) - {"params", "select", "description"}
        if bad:
            raise BadInput(f"profile {name}: unknown key(s) {sorted(bad)} (params, select)")
        out.setdefault("params", {}).update(prof.get("params") or {})
        if prof.get("select"):
            out["select"] = _names(prof["select"])
    return out, rest


def _names(value: Any) -> list[str]:
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if isinstance(value, list):
        return [str(v) for v in value]
    raise BadInput("--set select=NAME[,NAME]: arm names")


def substitute(value: Any, params: dict, where: str) -> Any:
    """`${params.x}` replaced in strings (a whole-string reference keeps the value's type)."""
    if isinstance(value, dict):
        return {k: substitute(v, params, where) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, params, where) for v in value]
    if not isinstance(value, str):
        return value

    def lookup(name: str) -> Any:
        cur: Any = params
        for p in name.split("."):
            if not isinstance(cur, dict) or p not in cur:
                raise BadInput(f"{where}: ${{params.{name}}} is not a parameter (known: "
                               f"{', '.join(sorted(params)) or 'none'})")
            cur = cur[p]
        return cur

    whole = _REF.fullmatch(value)
    if whole:
        return lookup(whole.group(1))
    return _REF.sub(lambda m: str(lookup(m.group(1))), value)


def validate(spec: Any, source: str) -> dict:
    """Shape checks whose messages name the file, the arm and the field."""
    if not isinstance(spec, dict):
        raise BadInput("an experiment must be a mapping", file=source)
    unknown = set(spec) - TOP_KEYS
    if unknown:
        raise BadInput(f"unknown key(s) {sorted(unknown)} (known: {sorted(TOP_KEYS)})",
                       file=source)
    spec.setdefault("name", Path(source).stem)
    if not spec.get("base"):
        raise BadInput("no base model (base: PATH | HUB_ID | tiny:FOLDER)", file=source,
                       field="base")
    arms = spec.get("arms")
    if not isinstance(arms, list) or not arms:
        raise BadInput("no arms", file=source, field="arms")
    names = set()
    for i, arm in enumerate(arms, 1):
        where = f"arm {arm.get('name', i) if isinstance(arm, dict) else i}"
        if not isinstance(arm, dict) or not arm.get("name"):
            raise BadInput(f"arm {i} needs a name", file=source, field="arms")
        if arm["name"] in names:
            raise BadInput(f"two arms named {arm['name']!r}", file=source, field="arms")
        names.add(arm["name"])
        bad = set(arm) - ARM_KEYS
        if bad:
            raise BadInput(f"{where}: unknown key(s) {sorted(bad)} (known: {sorted(ARM_KEYS)})",
                           file=source, field="arms")
        arm.setdefault("method", "sft")
        if arm["method"] not in METHODS:
            raise BadInput(f"{where}: method must be one of {', '.join(METHODS)}", file=source,
                           field="method")
        if arm["method"] == "sft" and not (arm.get("mixture") or {}).get("from"):
            raise BadInput(f"{where}: an sft arm needs mixture.from (DATASET[:COUNT], ...)",
                           file=source, field="mixture")
        if arm["method"] == "grpo" and not arm.get("prompts"):
            raise BadInput(f"{where}: a grpo arm needs prompts (a catalog dataset or a "
                           "mixture)", file=source, field="prompts")
        if arm.get("train") is not None and not isinstance(arm["train"], dict):
            raise BadInput(f"{where}: train must be a mapping", file=source, field="train")
        arm.setdefault("train", {})
    unknown_sel = set(spec.get("select") or []) - names
    if unknown_sel:
        raise BadInput(f"select: no arm(s) {sorted(unknown_sel)} (arms: {sorted(names)})",
                       file=source, field="select")
    ev = spec.get("eval")
    if not isinstance(ev, dict) or not ev.get("suite"):
        raise BadInput("eval needs a suite (eval: {suite: p3 | local:FILE,...})", file=source,
                       field="eval")
    probes = spec.get("probes") or {}
    if not isinstance(probes, dict):
        raise BadInput("probes must be a mapping", file=source, field="probes")
    for name, cfg in probes.items():
        if name not in PROBES:
            raise BadInput(f"unknown probe {name!r} ({', '.join(PROBES)})", file=source,
                           field="probes")
        if cfg is not None and not isinstance(cfg, dict):
            raise BadInput(f"probes.{name} must be a mapping (or null to skip it)",
                           file=source, field="probes")
        if name != "ti" and cfg and not cfg.get("texts"):
            raise BadInput(f"probes.{name} needs texts", file=source, field="probes")
    for i, d in enumerate(spec.get("data") or [], 1):
        if not isinstance(d, dict) or not d.get("recipe"):
            raise BadInput(f"data entry {i} needs a recipe", file=source, field="data")
    return spec


def _find(value: str, root: Path) -> str:
    """An existing file: from the current folder, else the experiment's folder or its parent
    (unchanged when found nowhere: the step that reads it names it)."""
    p = Path(value).expanduser()
    if p.is_absolute():
        return str(p)
    for cand in (Path.cwd() / p, root / p, root.parent / p):
        if cand.exists():
            return str(cand.resolve())
    return value


def _here(value: str) -> str:
    """A folder to create: from the current folder."""
    return str(Path(value).expanduser().resolve())


def resolve_paths(spec: dict, root: Path) -> dict:
    """Relative paths in the spec made absolute (see the module docstring)."""
    for d in spec.get("data") or []:
        d["recipe"] = _find(d["recipe"], root)
    base = str(spec["base"])
    if base.startswith("tiny:"):
        pass  # built inside the workspace when relative (see runner.ensure_base)
    elif base.startswith((".", "/", "~")) or Path(base).exists():
        spec["base"] = _find(base, root)
    suite = spec["eval"]["suite"]
    if suite.startswith("local:"):
        spec["eval"]["suite"] = "local:" + ",".join(
            _find(f, root) for f in suite[6:].split(",") if f)
    for cfg in (spec.get("probes") or {}).values():
        if cfg and cfg.get("texts"):
            cfg["texts"] = ",".join(
                _find(t, root) if Path(t).suffix in (".jsonl", ".json", ".parquet")
                else t for t in str(cfg["texts"]).split(","))
    if spec.get("output"):
        spec["output"] = _here(spec["output"])
    return spec


def load_experiment(path: str | Path, overrides: list[str] | dict[str, Any] | None = None,
                    ) -> dict:
    """Read an experiment YAML, apply a profile, `--set` overrides and `${params.x}`, validate
    it and resolve its relative paths; the result is what `run_experiment` takes.

    Raises `BadInput` (one line naming the file, and the arm or field) for a missing file,
    invalid YAML, an unknown key, arm, profile or parameter, or an arm without its data.

    Example:
        >>> spec = load_experiment("experiments/data-structure.yaml",
        ...                        ["profile=tiny", "arms.countdown-cot.train.max_steps=8"])
        >>> spec["select"]
        ['countdown-cot', 'countdown-nocot']
    """
    p = Path(path)
    raw = yamlfile.load(p)
    if not isinstance(raw, dict):
        raise BadInput("an experiment must be a mapping", file=str(p))
    raw = json.loads(json.dumps(raw, default=str))  # YAML anchors become separate copies
    raw, rest = apply_profile(raw, overrides)
    spec = apply_overrides(raw, rest)
    params = spec.get("params") or {}
    if not isinstance(params, dict):
        raise BadInput("params must be a mapping", file=str(p), field="params")
    body = {k: v for k, v in spec.items() if k != "params"}
    spec = {**substitute(body, params, str(p)), "params": params}
    spec = validate(spec, str(p))
    spec = resolve_paths(spec, p.resolve().parent)
    spec["_path"] = str(p.resolve())
    return spec
