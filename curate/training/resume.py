"""Resuming a killed training run from its newest checkpoint (transformers' Trainer
`resume_from_checkpoint`), with disk for one optimizer state.

Checkpoints are saved whole (weights, optimizer, scheduler, scaler, RNG, trainer state:
`save_only_model=False`); after each save `PruneOlderState` deletes the optimizer, scheduler,
scaler and RNG files from the older `checkpoint-N` folders, so those stay the dense
model-only checkpoints the evals read (weights, tokenizer, `trainer_state.json`) and only the
newest one can be resumed: disk holds about one optimizer state whatever the number of
checkpoints.

The output folder also holds `curate-run.json`: the catalog run the folder belongs to and the
run's key (method, model, exact data version, options, step plan). `plan_resume` reads it
when `--resume` is given: the same key continues the same catalog run from the newest
resumable checkpoint (one run row, its checkpoints before and after the kill, the lineage of
an uninterrupted run); another key (another data version or schedule) is refused in one line.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from curate.errors import BadInput
from curate.redact import scrub_obj
from curate.training.ranks import process_rank

RUN_FILE = "curate-run.json"
# what `Trainer._save_checkpoint` writes besides the model and trainer_state.json when
# save_only_model is off: optimizer / scheduler / scaler files (optimizer_0 folders under FSDP,
# global_stepN folders under DeepSpeed) and one RNG file per process
STATE_PATTERNS = ("optimizer*", "scheduler.pt", "scaler.pt", "rng_state*.pth", "global_step*")
IGNORED_OPTIONS = ("resume", "overwrite", "progress")
_CKPT = re.compile(r"checkpoint-(\d+)$")


def checkpoint_folders(output: str | Path) -> list[tuple[int, Path]]:
    """(step, folder) of the `checkpoint-N` folders in `output`, in step order."""
    out = Path(output)
    if not out.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in out.iterdir()
             if p.is_dir() and (m := _CKPT.match(p.name))]
    return sorted(found)


def state_files(folder: str | Path) -> list[Path]:
    """The optimizer / scheduler / scaler / RNG files (or folders) of a checkpoint."""
    folder = Path(folder)
    return sorted({p for pat in STATE_PATTERNS for p in folder.glob(pat)})


def resumable(folder: str | Path) -> bool:
    """A complete checkpoint a Trainer can continue from: its trainer state (written last,
    whole) and an optimizer state."""
    folder = Path(folder)
    try:  # written last, not atomically: a kill mid-write leaves it cut short
        json.loads((folder / "trainer_state.json").read_text())
    except (OSError, ValueError):
        return False
    return any(p.name.startswith(("optimizer", "global_step")) for p in state_files(folder))


def newest_resumable(output: str | Path) -> tuple[int, Path] | None:
    """(step, folder) of the newest resumable checkpoint in `output`, or None."""
    for step, folder in reversed(checkpoint_folders(output)):
        if resumable(folder):
            return step, folder
    return None


def prune_older_state(output: str | Path, keep_step: int) -> list[Path]:
    """Delete the resume-only files of every checkpoint older than `keep_step`; the paths
    removed. The weights, tokenizer and trainer_state.json stay."""
    gone = []
    for step, folder in checkpoint_folders(output):
        if step >= keep_step:
            continue
        for p in state_files(folder):
            if p.is_dir():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)
            gone.append(p)
    return gone


class PruneOlderState(TrainerCallback):
    """After each save, only the newest checkpoint keeps its optimizer, scheduler and RNG
    state (runs after the save is complete, so a kill in between leaves an older resumable
    one). Each node's local process 0 prunes its own disk."""

    def on_save(self, args, state, control, **kwargs):
        if state.is_local_process_zero:
            prune_older_state(args.output_dir, state.global_step)


# -- the run's identity in its folder ------------------------------------------------------
def run_key(method: str, model: str, data: str, options: dict[str, Any],
            plan: dict[str, Any] | None) -> dict[str, Any]:
    """What must match for a run to continue in the same folder: method, model, exact data
    version, the options (but resume / overwrite / progress) and the step plan."""
    return {"method": method, "model": model, "data": data,
            "options": {k: v for k, v in options.items() if k not in IGNORED_OPTIONS},
            "plan": plan}


def read_run_file(output: str | Path) -> dict[str, Any] | None:
    p = Path(output) / RUN_FILE
    if not p.is_file():
        return None
    try:
        return json.loads(p.read_text())
    except (OSError, ValueError):
        return None


def write_run_file(output: str | Path, run_id: str | None, key: dict[str, Any]) -> None:
    """Record the run and its key in the output folder (atomically)."""
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / f".{RUN_FILE}.{os.getpid()}"
    tmp.write_text(json.dumps({"run_id": run_id, "key": scrub_obj(key)}, indent=1,
                              sort_keys=True, default=str))
    os.replace(tmp, out / RUN_FILE)


def _flat(obj: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(obj, dict):
        out: dict[str, Any] = {}
        for k, v in obj.items():
            out.update(_flat(v, f"{prefix}{k}."))
        return out
    return {prefix[:-1]: obj}


def key_differences(before: dict[str, Any], now: dict[str, Any]) -> list[str]:
    """'field X (was Y)' for each field of the key that changed."""
    a = _flat(json.loads(json.dumps(before, default=str)))
    b = _flat(json.loads(json.dumps(now, default=str)))
    return [f"{k} {b.get(k)!r} (was {a.get(k)!r})" for k in sorted(set(a) | set(b))
            if a.get(k) != b.get(k)]


def plan_resume(catalog, output: str | Path, key: dict[str, Any], overwrite: bool,
                ) -> dict[str, Any]:
    """What `--resume` does with `output`: {"checkpoint": folder or None, "step": int,
    "run_id": the catalog run to continue or None (start one)}.

    Nothing in the folder (or no folder): a fresh run. A folder of another run (another key)
    is refused (BadInput, one line naming the fields that differ); so is a folder without
    curate's run file, or one whose run finished already (with `overwrite` each of these
    three starts over instead), and one whose run is still training in a live process."""
    out = Path(output)
    fresh = {"checkpoint": None, "step": 0, "run_id": None}
    if not out.is_dir() or not any(out.iterdir()):
        return fresh
    info = read_run_file(out)
    if info is None:
        if overwrite:
            return fresh
        raise BadInput(f"--resume: {out} holds no curate training run (no {RUN_FILE}); give an "
                       "empty --output, or --overwrite to train into it from the start")
    diff = key_differences(info.get("key") or {}, scrub_obj(key))
    if diff and overwrite:
        return fresh
    if diff:
        raise BadInput(f"--resume: {out} holds a run with other settings: {'; '.join(diff)}; "
                       "resume with the same settings or give another --output")
    run_id = info.get("run_id")
    row = (catalog.sql("SELECT status, host, process FROM runs WHERE id = ?", [run_id])
           or [None])[0] if run_id else None
    if row and row["status"] == "running" and _alive(row) and process_rank() == 0:
        raise BadInput(f"--resume: the run in {out} is still training (run {run_id}, "
                       f"process {row['process']}); wait for it or stop it first")
    if row and row["status"] == "ok":
        if overwrite:
            return fresh
        raise BadInput(f"--resume: the run in {out} finished already (run {run_id}); nothing "
                       "to resume (give another --output, or --overwrite to train it again)")
    found = newest_resumable(out)
    return {"checkpoint": found[1] if found else None, "step": found[0] if found else 0,
            "run_id": run_id if row else None}


def _alive(row: dict[str, Any]) -> bool:
    """Whether the process a `running` run row names still runs on this host."""
    import socket

    from curate.catalog.catalog import process_alive

    return bool(row.get("process")) and row.get("host") == socket.gethostname() \
        and process_alive(row["process"])


def prior_checkpoints(catalog, run_id: str | None, upto: int) -> list[dict[str, Any]]:
    """The checkpoints a continued run registered before its kill, at steps up to `upto`
    (where it continues), as `CatalogCallback` rows."""
    if not run_id or not upto:
        return []
    rows = catalog.sql("SELECT id, path, step, tokens_seen, loss FROM checkpoints WHERE "
                       "run_id = ? AND step <= ? ORDER BY step, created", [run_id, upto])
    by_step = {r["step"]: {**r, "final": False} for r in rows}
    return [by_step[s] for s in sorted(by_step)]


def begin(catalog, output: str | Path, key: dict[str, Any], resume: bool, overwrite: bool,
          log=None) -> dict[str, Any]:
    """Where a run starts: `plan_resume` with `resume`, else from step 0. Starting from step 0
    in a folder that holds checkpoints strips their resume state (they are another run's and
    must never be continued by a later `--resume`). Returns plan_resume's dict with the
    checkpoint as a string (what `Trainer.train(resume_from_checkpoint=)` takes)."""
    cont = (plan_resume(catalog, output, key, overwrite) if resume
            else {"checkpoint": None, "step": 0, "run_id": None})
    if cont["checkpoint"] is None and process_rank() == 0:
        prune_older_state(output, keep_step=1 << 62)
    if cont["checkpoint"] is not None and log:
        log(f"resuming from {cont['checkpoint']} (step {cont['step']})")
    return {**cont, "checkpoint": str(cont["checkpoint"]) if cont["checkpoint"] else None}


def open_run(writer, cont: dict[str, Any], output: str | Path, key: dict[str, Any],
             config: dict[str, Any], inputs: list[str], name: str) -> str | None:
    """The catalog run: the resumed one marked running again, or a new one; recorded with the
    key in the output folder (rank 0)."""
    if cont["run_id"]:
        run = cont["run_id"]
        writer.reopen_run(run)
    else:
        run = writer.start_run("train", config=config, inputs=inputs, name=name)
    if process_rank() == 0:
        write_run_file(output, run, key)
    return run
