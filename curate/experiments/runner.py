"""Running an experiment: data, arms, checkpoints, evals, TI, probes; resumable at each level.

Order: the data recipes the selected arms need (each resumable per step), the base model
evaluated once (step 0), then per arm: its mixture (a content-addressed version: the same
draw is the same version), training with dense checkpoints, every checkpoint evaluated, TI of
each checkpoint against the base, and the KL / PCA-shift / rank-shift probes of its final model
against the base.

Resuming: a training run is reused when a finished `train` run carries the arm's fingerprint
(method, base, exact data version, training options) and its checkpoints are still on disk;
otherwise the arm trains into a folder named by that fingerprint, continuing a killed run
there from its newest checkpoint (the one that keeps its optimizer, scheduler and RNG state:
`curate.training.resume`), the same catalog run, or from the start when there is none. A model's eval
is skipped per benchmark when `evals` already holds its score under the experiment's eval key
(suite, decoding overrides and the suite files' content); a TI or probe row is skipped when
one exists for the checkpoint with the same settings. Only the experiment writes these tags,
so a figure on the comparison page traces back to its rows by them.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

from curate.errors import BadInput, CurateError
from curate.record import stable_json

EVAL_KEYS = {"suite", "samples", "limit", "max_new_tokens", "temperature", "batch_size",
             "teacher", "device", "dtype"}
SHIFT_KEYS = {"texts", "limit", "k", "seed", "max_length", "pooling", "released",
              "chat_template", "nothink", "top", "attn_implementation", "gen_max_tokens",
              "device", "dtype", "batch_size"}
TI_KEYS = {"formula", "formulas", "ddof", "min_math_share"}


def key_of(obj: Any) -> str:
    """A short content key of a JSON-able object."""
    return hashlib.sha256(stable_json(obj).encode()).hexdigest()[:16]


def _file_digest(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]


# -- the pieces ------------------------------------------------------------------------------
def ensure_base(base: str, log, home: Path | None = None) -> str:
    """The base model's path or hub id; `tiny:FOLDER` builds a tiny local model there once (a
    relative FOLDER inside the workspace `home`)."""
    if not base.startswith("tiny:"):
        return base
    path = Path(base[5:]).expanduser()
    if not path.is_absolute() and home is not None:
        path = Path(home) / path
    if not (path / "config.json").is_file():
        from curate.training.tiny import build_tiny_model

        log(f"base: building a tiny model in {path}")
        build_tiny_model(path)
    return str(path.resolve())


def datasets_used(arms: list[dict]) -> set[str]:
    """Catalog dataset names the arms draw from."""
    from curate.training.mixtures import parse_component

    names = set()
    for arm in arms:
        for src in _mixture_cfg(arm).get("from") or []:
            names.add(parse_component(str(src)).dataset.split("@")[0])
        if isinstance(arm.get("prompts"), str):
            names.add(arm["prompts"].split("@")[0].split(":")[0])
    return names


def _mixture_cfg(arm: dict) -> dict:
    if arm["method"] == "grpo" and isinstance(arm.get("prompts"), dict):
        return arm["prompts"]
    return arm.get("mixture") or {}


def run_data(catalog, spec: dict, arms: list[dict], log, executor=None) -> list[str]:
    """Run the data recipes whose outputs the arms use (each step resumes); their outputs.
    `executor` (an ExecutorSpec) runs their dataset steps on datatrove (not a Slurm dry run:
    the arms need the data)."""
    if executor is not None and executor.dry_run:
        raise BadInput("an experiment cannot run on a Slurm dry run: its arms need the data")
    from curate.curation.recipes import load_recipe, run_recipe

    wanted = datasets_used(arms)
    done = []
    for d in spec.get("data") or []:
        recipe = load_recipe(d["recipe"], d.get("set") or {})
        outputs = {str(st["output"]) for st in recipe["steps"]}
        plain = {o for o in outputs if "${" not in o}
        if plain and not plain & wanted and len(plain) == len(outputs):
            continue
        log(f"data: recipe {recipe['name']}")
        refs = run_recipe(catalog, recipe, log=lambda s: log(f"  {s}"), executor=executor)
        done += [r.spec for r in refs]
    return done


def arm_data(catalog, spec: dict, arm: dict) -> str:
    """The arm's training data: its mixture (built, or the same version found again) or, for
    GRPO, its prompts dataset (a name, or a mixture drawn like an SFT arm's)."""
    from curate.training.mixtures import build_mixture

    if arm["method"] == "grpo" and isinstance(arm.get("prompts"), str):
        return catalog.resolve(arm["prompts"]).spec
    cfg = _mixture_cfg(arm)
    unknown = set(cfg) - {"from", "variant", "seed", "shuffle", "name"}
    if unknown:
        raise BadInput(f"arm {arm['name']}: unknown mixture key(s) {sorted(unknown)} "
                       "(from, variant, seed, shuffle, name)")
    ref = build_mixture(catalog, cfg.get("name") or f"{spec['name']}-{arm['name']}",
                        [str(c) for c in cfg["from"]], variant=cfg.get("variant"),
                        seed=int(cfg.get("seed", 0)), shuffle=bool(cfg.get("shuffle", True)))
    return ref.spec


def accumulation_for(arm: str, global_batch: Any, per_device: Any,
                     grad_accum: Any = None) -> int:
    """Gradient accumulation steps giving `global_batch` rows a step with `per_device` rows
    per model copy over the copies training now (`ranks.replicas()`: the processes under
    torchrun / accelerate, else the GPUs one process's DataParallel uses, else 1), so a file's
    schedule (P3: 256 a step, 640 steps) holds however it is run. Raises BadInput when the processes cannot make the batch evenly,
    or when the arm also gives a `grad_accum` that disagrees."""
    from curate.training.ranks import replicas

    world = replicas()
    try:
        gb, per = int(global_batch), int(per_device)
    except (TypeError, ValueError):
        raise BadInput(f"arm {arm}: global_batch and batch_size must be whole numbers, got "
                       f"{global_batch!r} and {per_device!r}") from None
    if gb < 1 or per < 1 or gb % (per * world):
        raise BadInput(f"arm {arm}: global_batch {gb} is not a multiple of batch_size {per} x "
                       f"{world} process(es) or GPUs; change batch_size or their number")
    accum = gb // (per * world)
    if grad_accum is not None and int(grad_accum) != accum:
        raise BadInput(f"arm {arm}: grad_accum {grad_accum} with batch_size {per} on {world} "
                       f"process(es) or GPUs gives {per * int(grad_accum) * world} rows a step, not "
                       f"global_batch {gb}; give one of the two")
    return accum


def train_options(arm: dict, progress: bool):
    """SFTOptions / GRPOOptions from the arm's `train:` mapping (unknown keys refused)."""
    if arm["method"] == "sft":
        from curate.training.sft import SFTOptions as cls
    else:
        from curate.training.grpo import GRPOOptions as cls
    known = {f.name for f in fields(cls)} - {"overwrite", "resume", "progress"} | {"global_batch"}
    cfg = dict(arm.get("train") or {})
    unknown = set(cfg) - known
    if unknown:
        raise BadInput(f"arm {arm['name']}: unknown train option(s) {sorted(unknown)} for "
                       f"{arm['method']} (known: {', '.join(sorted(known))})")
    if isinstance(cfg.get("save_at"), list):
        cfg["save_at"] = ",".join(str(s) for s in cfg["save_at"])
    if "global_batch" in cfg:
        cfg["grad_accum"] = accumulation_for(arm["name"], cfg.pop("global_batch"),
                                             cfg.get("batch_size", cls.batch_size),
                                             cfg.get("grad_accum"))
    opts = cls(**cfg, overwrite=True, progress=progress)
    opts.validate()
    return opts


def previous_training(catalog, fp: str) -> dict | None:
    """A finished train run with this fingerprint whose checkpoints are all still on disk."""
    runs = catalog.sql("SELECT id FROM runs WHERE kind = 'train' AND status = 'ok' AND "
                       "json_extract_string(config, '$.tags.fingerprint') = ? "
                       "ORDER BY finished DESC", [fp])
    for r in runs:
        cks = checkpoints_of(catalog, r["id"])
        if cks and all(Path(c["path"]).is_dir() for c in cks):
            return {"run_id": r["id"], "checkpoints": cks}
    return None


def checkpoints_of(catalog, run_id: str) -> list[dict[str, Any]]:
    """One checkpoint per step of a run, in step order (the final model for the last step)."""
    from curate.probes.evaluation import one_per_step

    rows = catalog.sql("SELECT id, path, step, metrics FROM checkpoints WHERE run_id = ? "
                       "ORDER BY step, created", [run_id])
    for r in rows:
        m = json.loads(r["metrics"]) if isinstance(r["metrics"], str) else (r["metrics"] or {})
        r["final"] = bool(m.get("final"))
        r.pop("metrics", None)
    return one_per_step(rows)


def train_arm(catalog, spec: dict, arm: dict, base: str, data: str, root: Path, log,
              force: bool, progress: bool) -> dict[str, Any]:
    """Reuse a finished run of this exact arm, or train it; {run_id, checkpoints, reused}."""
    opts = train_options(arm, progress)
    fp = key_of({"experiment": spec["name"], "arm": arm["name"], "method": arm["method"],
                 "base": base, "data": data, "options": {k: v for k, v in asdict(opts).items()
                                                        if k not in ("overwrite", "resume",
                                                                     "progress")}})
    prev = None if force else previous_training(catalog, fp)
    if prev:
        log(f"arm {arm['name']}: trained already (run {prev['run_id']}, "
            f"{len(prev['checkpoints'])} checkpoints), reusing it")
        return {**prev, "reused": True, "fingerprint": fp}
    out = root / arm["name"] / fp[:12]
    tags = {"experiment": spec["name"], "arm": arm["name"], "fingerprint": fp}
    opts.resume = not force    # a killed run of this arm continues from its newest checkpoint
    log(f"arm {arm['name']}: training ({arm['method']}) on {data} -> {out}")
    if arm["method"] == "sft":
        from curate.training.sft import train_sft

        res = train_sft(catalog, data, base, out, opts, log=lambda s: log(f"  {s}"), tags=tags)
    else:
        from curate.training.grpo import train_grpo

        res = train_grpo(catalog, data, base, out, opts, tags=tags)
    return {"run_id": res["run_id"], "checkpoints": checkpoints_of(catalog, res["run_id"]),
            "reused": False, "fingerprint": fp, "resumed_from": res.get("resumed_from")}


class EvalPlan:
    """The suite loaded once, its key, and which benchmarks a model still lacks."""

    def __init__(self, cfg: dict):
        from curate.probes.evaluation import prepare

        unknown = set(cfg) - EVAL_KEYS
        if unknown:
            raise BadInput(f"eval: unknown key(s) {sorted(unknown)} (known: "
                           f"{', '.join(sorted(EVAL_KEYS))})")
        self.cfg = cfg
        self.suite = cfg["suite"]
        self.entries = prepare(self.suite, cfg.get("samples"), cfg.get("limit"),
                               cfg.get("max_new_tokens"), cfg.get("temperature"))
        files = {s.path: _file_digest(s.path) for s, _, _ in self.entries if s.path}
        self.key = key_of({k: cfg.get(k) for k in ("suite", "samples", "limit",
                                                     "max_new_tokens", "temperature",
                                                     "teacher")} | {"files": files})
        self.benchmarks = [s.benchmark for s, _, _ in self.entries]

    def missing(self, catalog, model_name: str) -> list:
        rows = catalog.sql("SELECT DISTINCT benchmark FROM evals WHERE model = ? AND metric = "
                           "'accuracy' AND json_extract_string(config, '$.tags.eval_key') = ?",
                           [model_name, self.key])
        have = {r["benchmark"] for r in rows}
        return [e for e in self.entries if e[0].benchmark not in have]

    def rows(self, catalog, models: list[str]) -> list[dict[str, Any]]:
        """Accuracy rows of `models` under this key, in percent, for TI."""
        marks = ", ".join("?" * len(models))
        from curate.probes.transfer import ti_value

        rows = catalog.sql(f"SELECT model, benchmark, domain, value, config FROM evals WHERE "
                           f"metric = 'accuracy' AND json_extract_string(config, "
                           f"'$.tags.eval_key') = ? AND model IN ({marks}) ORDER BY created",
                           [self.key, *models])
        # lower-is-better scores (HEx-PHI's ASR) enter as 100 - score; rewards are left out
        out = [{"model": r["model"], "benchmark": r["benchmark"], "group": r["domain"],
                "value": ti_value(r["benchmark"], float(r["value"]), r.get("config"))}
               for r in rows if r["value"] is not None]
        return [r for r in out if r["value"] is not None]


def evaluate(catalog, plan: EvalPlan, path: str, tags: dict, log, progress: bool, *,
             step: int | None, checkpoint_id: str | None = None,
             train_run: str | None = None) -> bool:
    """Score `path` on the benchmarks it lacks under the plan's key; False when none lacked."""
    from curate.probes.evaluation import evaluate_model, model_name

    todo = plan.missing(catalog, model_name(path))
    if not todo:
        return False
    teacher = plan.cfg.get("teacher")
    log(f"  eval step {step}: {', '.join(s.benchmark for s, _, _ in todo)}")
    evaluate_model(catalog, path, plan.suite, step=step, checkpoint_id=checkpoint_id,
                   train_run=train_run, prepared=todo, progress=progress,
                   teacher=teacher.format(model=path) if teacher else None,
                   device=plan.cfg.get("device"), dtype=plan.cfg.get("dtype"),
                   batch_size=int(plan.cfg.get("batch_size", 8)),
                   tags={**tags, "eval_key": plan.key})
    return True


def ti_formulas(cfg: dict | None) -> list[str]:
    if cfg is None:
        return []
    unknown = set(cfg) - TI_KEYS
    if unknown:
        raise BadInput(f"probes.ti: unknown key(s) {sorted(unknown)} ({', '.join(TI_KEYS)})")
    f = cfg.get("formulas") or cfg.get("formula") or "icml"
    return [f] if isinstance(f, str) else list(f)


def ti_for(catalog, plan: EvalPlan, ck: dict, base_name: str, cfg: dict, tags: dict,
           ) -> list[str]:
    """TI of a checkpoint against the base from this experiment's evals (each formula once)."""
    from curate.probes.evaluation import model_name
    from curate.probes.runner import run_ti

    name = model_name(ck["path"])
    made = []
    for formula in ti_formulas(cfg):
        have = catalog.sql("SELECT id FROM probes WHERE probe = 'ti' AND checkpoint_id = ? AND "
                           "json_extract_string(params, '$.tags.eval_key') = ? AND "
                           "json_extract_string(params, '$.formula') = ?",
                           [ck["id"], plan.key, formula])
        if have:
            continue
        rows = plan.rows(catalog, [name, base_name])
        if not {r["model"] for r in rows} >= {name, base_name}:
            continue
        res = run_ti(catalog, name, base_name, formula=formula, ddof=int(cfg.get("ddof", 0)),
                     min_math_share=float(cfg.get("min_math_share", 0.1)), rows=rows,
                     tags={**tags, "eval_key": plan.key, "step": ck["step"]})
        made.append(res["probe_id"])
    return made


def probe_final(catalog, probe: str, cfg: dict, final: dict, base: str, tags: dict, log,
                progress: bool) -> str | None:
    """A shift probe of the arm's final model against the base, unless already recorded."""
    from curate.probes.runner import run_shift_probe

    unknown = set(cfg) - SHIFT_KEYS
    if unknown:
        raise BadInput(f"probes.{probe}: unknown key(s) {sorted(unknown)} (known: "
                       f"{', '.join(sorted(SHIFT_KEYS))})")
    key = key_of({"probe": probe, **cfg})
    have = catalog.sql("SELECT id FROM probes WHERE probe = ? AND checkpoint_id = ? AND "
                       "json_extract_string(params, '$.tags.key') = ?",
                       [probe, final["id"], key])
    if have:
        return None
    log(f"  probe {probe}")
    kw = {k: v for k, v in cfg.items() if k != "texts"}
    res = run_shift_probe(catalog, probe, final["path"], base, str(cfg["texts"]),
                          progress=progress, tags={**tags, "key": key}, **kw)
    return res["probe_id"]


# -- the whole experiment ----------------------------------------------------------------------
def run_experiment(catalog, spec: dict, log: Callable[[str], None] | None = None,
                   force: bool = False, progress: bool = True,
                   executor=None) -> dict[str, Any]:
    """Run (or resume) an experiment loaded by `load_experiment`.

    Returns {experiment, run_id, data, arms {name: {data, train_run, reused, resumed_from
    (the step a killed training continued from, or None), checkpoints [{id, step, path}],
    probes [ids]}}, evaluated, already_scored, eval_key, seconds}: the
    models scored now vs found scored, the arms trained now vs reused. `force` retrains every
    arm. `executor` (an `ExecutorSpec`, from `curate run EXP --executor ...`) runs the data
    recipes' dataset steps on datatrove. Raises `BadInput` for an unknown training, eval or
    probe option (before any work on that arm), `NotFound` for a missing dataset or model,
    and `CurateError` naming the experiment for any other failure (the run is recorded as
    failed; run it again to resume).

    Example:
        >>> spec = load_experiment("experiments/data-structure.yaml", ["profile=tiny"])
        >>> res = run_experiment(Catalog(), spec)
        >>> res["arms"]["countdown-cot"]["checkpoints"][-1]["step"]
        29
    """
    from curate.training.ranks import world_size

    if world_size() > 1:
        raise BadInput(f"experiment {spec['name']}: run it in one process, not under torchrun / "
                       f"accelerate launch ({world_size()} processes here: every one would run "
                       "the data recipes and record each evaluation again); an arm's "
                       "global_batch keeps the file's schedule on one process. To train an arm "
                       "on several GPUs: torchrun ... -m curate.cli train sft, then curate eval")
    log = log or (lambda s: None)
    t0 = time.perf_counter()
    name = spec["name"]
    select = spec.get("select") or []
    arms = [a for a in spec["arms"] if not select or a["name"] in select]
    root = Path(spec.get("output") or Path(catalog.home) / "experiments" / name)
    config = {k: v for k, v in spec.items() if not k.startswith("_")} | {
        "file": spec.get("_path"), "arms_run": [a["name"] for a in arms]}
    summary: dict[str, Any] = {"experiment": name, "arms": {}, "evaluated": 0,
                               "already_scored": 0}
    threads = _set_threads(spec.get("threads"))
    try:
        return _run(catalog, spec, arms, root, config, summary, log, force, progress, t0,
                    executor)
    finally:
        _set_threads(threads)


def _set_threads(n: int | None) -> int | None:
    """Set torch's CPU threads to `n` (None: leave them); the previous count."""
    if not n:
        return None
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(int(n))
    return before


def _run(catalog, spec, arms, root, config, summary, log, force, progress, t0, executor=None):
    name = spec["name"]
    summary["data"] = run_data(catalog, spec, arms, log, executor)
    data = {arm["name"]: arm_data(catalog, spec, arm) for arm in arms}
    run_id = catalog.start_run("experiment", config=config, inputs=list(data.values()),
                               name=name)
    summary["run_id"] = run_id
    try:
        base = ensure_base(str(spec["base"]), log, Path(catalog.home))
        plan = EvalPlan(spec["eval"])
        from curate.probes.evaluation import model_name

        base_name = model_name(base)
        tags = {"experiment": name}
        log(f"base {base}: eval on {plan.suite}")
        done = evaluate(catalog, plan, base, {**tags, "arm": "base"}, log, progress, step=0)
        summary["evaluated" if done else "already_scored"] += 1
        probes = spec.get("probes") or {}
        for arm in arms:
            arm_tags = {**tags, "arm": arm["name"]}
            tr = train_arm(catalog, spec, arm, base, data[arm["name"]], root, log, force,
                           progress)
            info = {"data": data[arm["name"]], "train_run": tr["run_id"], "reused": tr["reused"],
                    "resumed_from": tr.get("resumed_from"),
                    "checkpoints": [{"id": c["id"], "step": c["step"], "path": c["path"]}
                                    for c in tr["checkpoints"]], "probes": []}
            for ck in tr["checkpoints"]:
                done = evaluate(catalog, plan, ck["path"], arm_tags, log, progress,
                                step=ck["step"], checkpoint_id=ck["id"], train_run=tr["run_id"])
                summary["evaluated" if done else "already_scored"] += 1
                if probes.get("ti") is not None:  # `ti: {}` for the defaults, null to skip
                    info["probes"] += ti_for(catalog, plan, ck, base_name, probes["ti"],
                                             arm_tags)
            final = tr["checkpoints"][-1]
            for probe in ("kl", "pca-shift", "rank-shift"):
                if probes.get(probe):
                    pid = probe_final(catalog, probe, probes[probe], final, base, arm_tags,
                                      log, progress)
                    if pid:
                        info["probes"].append(pid)
            summary["arms"][arm["name"]] = info
        summary["seconds"] = round(time.perf_counter() - t0, 1)
        summary["eval_key"] = plan.key
    except BaseException as e:
        catalog.finish_run(run_id, "failed", error=(str(e) or repr(e)).splitlines()[0][:500])
        if isinstance(e, (CurateError, KeyboardInterrupt)):
            raise
        raise CurateError(f"experiment {name}: {type(e).__name__}: {e}. Run it again: "
                          "finished arms, evals and probes are reused") from e
    catalog.finish_run(run_id, "ok", outputs=[a["train_run"] for a in summary["arms"].values()],
                       metrics={k: summary[k] for k in ("evaluated", "already_scored",
                                                        "seconds", "eval_key")} | {
                           "trained": [a for a, i in summary["arms"].items() if not i["reused"]],
                           "reused": [a for a, i in summary["arms"].items() if i["reused"]]})
    return summary
