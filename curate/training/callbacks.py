"""Checkpoints into the catalog: a `TrainerCallback` that records each save (path, step,
tokens seen, loss, the loss curve so far) against its run and its mixture, and the walk back
from a checkpoint to the teacher: checkpoint -> run -> mixture -> traces -> teacher."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from curate.errors import NotFound

LOG_KEYS = ("loss", "grad_norm", "learning_rate", "reward", "num_tokens", "entropy",
            "mean_token_accuracy", "completions/mean_length", "completions/clipped_ratio",
            "frac_reward_zero_std", "dynamic_sampling/dropped_groups")


def _num(v: Any) -> Any:
    try:
        return float(v)
    except (TypeError, ValueError):
        return v


def register_checkpoint(catalog, *, run_id: str, path: str | Path, step: int, model: str,
                        mixture: str, tokens_seen: int | None, loss: float | None,
                        metrics: dict[str, Any] | None = None) -> str:
    """One row in `checkpoints`; returns its id."""
    return catalog.insert("checkpoints", {
        "run_id": run_id, "path": str(Path(path).resolve()), "step": int(step), "model": model,
        "mixture": mixture, "tokens_seen": None if tokens_seen is None else int(tokens_seen),
        "loss": None if loss is None else float(loss), "metrics": metrics or {}})


class CatalogCallback(TrainerCallback):
    """Keeps the loss curve from the trainer's logs and registers every saved checkpoint."""

    def __init__(self, catalog, run_id: str, model: str, mixture: str,
                 extra: dict[str, Any] | None = None,
                 prior: list[dict[str, Any]] | None = None):
        self.catalog, self.run_id, self.model, self.mixture = catalog, run_id, model, mixture
        self.extra = extra or {}
        self.curve: list[dict[str, Any]] = []
        # a resumed run: the checkpoints its first attempt registered (`resume.prior_checkpoints`)
        self.checkpoints: list[dict[str, Any]] = list(prior or [])

    @staticmethod
    def _point(logs: dict[str, Any], step: int, tokens: int | None) -> dict[str, Any] | None:
        if not logs or not any(k in logs for k in LOG_KEYS) or "train_loss" in logs:
            return None
        point = {"step": step, **{k: _num(v) for k, v in logs.items()
                                  if k in LOG_KEYS or k.startswith("rewards/")}}
        if tokens:
            point["tokens_seen"] = tokens
        return point

    def on_train_begin(self, args, state, control, **kwargs):
        """A run resumed at step k: the loss curve up to k from the restored trainer state, and
        checkpoint k registered if the kill came between its save and its registration."""
        if not state.global_step:
            return
        if not self.curve:
            for logs in state.log_history:
                point = self._point(logs, int(logs.get("step", 0)), logs.get("num_input_tokens_seen"))
                if point:
                    self.curve.append(point)
        folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        if (state.is_world_process_zero and folder.is_dir()
                and not any(c["step"] == state.global_step for c in self.checkpoints)):
            self.record(folder, state)

    def on_log(self, args, state, control, logs=None, **kwargs):
        point = self._point(logs or {}, state.global_step, state.num_input_tokens_seen)
        if point:
            self.curve.append(point)

    def last_loss(self) -> float | None:
        for p in reversed(self.curve):
            if p.get("loss") is not None:
                return float(p["loss"])
        return None

    def record(self, path: str | Path, state, final: bool = False) -> dict[str, Any]:
        """Register `path` as the checkpoint at `state.global_step`."""
        tokens = state.num_input_tokens_seen or None
        metrics = {"loss_curve": list(self.curve), "epoch": state.epoch, "final": final,
                   **self.extra}
        cid = register_checkpoint(self.catalog, run_id=self.run_id, path=path,
                                  step=state.global_step, model=self.model, mixture=self.mixture,
                                  tokens_seen=tokens, loss=self.last_loss(), metrics=metrics)
        row = {"id": cid, "path": str(Path(path).resolve()), "step": state.global_step,
               "tokens_seen": tokens, "loss": self.last_loss(), "final": final}
        self.checkpoints.append(row)
        return row

    def on_save(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            self.record(Path(args.output_dir) / f"checkpoint-{state.global_step}", state)


class SaveAtCallback(TrainerCallback):
    """Checkpoints at a list of steps (10, 20, 40, ...) besides any `save_steps` cadence, and
    none at the last step: the final model is saved and registered once, by the trainer's
    caller, so the last step is never evaluated twice. Runs after transformers' own flow
    callback, so it has the last word on `should_save`."""

    def __init__(self, save_at: list[int] | None = None):
        self.save_at = set(save_at or [])

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step in self.save_at:
            control.should_save = True
        if state.max_steps and state.global_step >= state.max_steps:
            control.should_save = False
        return control


def find_checkpoint(catalog, ref: str) -> dict[str, Any]:
    """A checkpoint row by id, by its folder, or by a run's output folder (its final one)."""
    rows = catalog.sql("SELECT * FROM checkpoints ORDER BY created")
    hits = [r for r in rows if r["id"] == ref]
    if not hits and Path(ref).exists():
        target = str(Path(ref).resolve())
        hits = [r for r in rows if r["path"] == target]
    if not hits:
        raise NotFound(f"no checkpoint {ref!r} in the catalog (give a checkpoint id or folder)")
    return hits[-1]


def checkpoint_lineage(catalog, ref: str) -> list[dict[str, Any]]:
    """checkpoint -> run -> each dataset it read and their ancestors (to the teacher)."""
    ck = find_checkpoint(catalog, ref)
    run = (catalog.sql("SELECT * FROM runs WHERE id = ?", [str(ck["run_id"])]) or [{}])[0]
    metrics = json.loads(ck["metrics"]) if isinstance(ck.get("metrics"), str) else ck.get("metrics")
    out: list[dict[str, Any]] = [{
        "checkpoint": ck["id"], "path": ck["path"], "step": ck["step"], "model": ck["model"],
        "tokens_seen": ck["tokens_seen"], "loss": ck["loss"],
        "final": bool((metrics or {}).get("final")), "parents": [f"run:{ck['run_id']}"]}]
    inputs = json.loads(run["inputs"]) if run.get("inputs") else []
    datasets = [i for i in inputs if catalog.exists(i)]
    out.append({"run": ck["run_id"], "kind": run.get("kind"), "status": run.get("status"),
                "config": json.loads(run["config"]) if run.get("config") else {},
                "parents": datasets or ([ck["mixture"]] if ck.get("mixture") else [])})
    for spec in out[-1]["parents"]:
        out.extend(catalog.lineage(spec))
    return out


class ProgressCallback(TrainerCallback):
    """The step bar with the loss (and learning rate) in a terminal, or one line per interval
    in a log (`curate.progress`), in place of the trainer's tqdm bar and its printed log dicts.

    Use `quiet_trainer(trainer, progress)` to install it on a built trainer."""

    def __init__(self, description: str = "train"):
        self.description = description
        self.bar = None
        self.task = None

    def on_train_begin(self, args, state, control, **kwargs):
        if not state.is_world_process_zero:
            return
        from curate.progress import progress_bar

        self.bar = progress_bar(transient=False)
        self.task = self.bar.add_task(self.description, total=state.max_steps or None,
                                      completed=state.global_step)

    def on_step_end(self, args, state, control, **kwargs):
        # the last step's loss is logged after this hook: the bar completes on_train_end, so
        # its last line carries the final loss rather than the previous log's
        if self.bar is not None and not (state.max_steps and state.global_step >= state.max_steps):
            self.bar.update(self.task, completed=state.global_step)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if self.bar is None or not logs:
            return
        fields = {}
        for key, name in (("loss", "loss"), ("learning_rate", "lr"), ("reward", "reward")):
            v = logs.get(key)
            if isinstance(v, (int, float)):
                fields[name] = float(f"{v:.4g}")
        if fields:
            self.bar.update(self.task, **fields)

    def on_train_end(self, args, state, control, **kwargs):
        if self.bar is not None:
            self.bar.update(self.task, completed=state.global_step)
            self.bar.stop()
            self.bar = None


def quiet_trainer(trainer, progress: bool, description: str = "train"):
    """Replace the trainer's tqdm bar / printed log dicts with `ProgressCallback` (or nothing
    when `progress` is False). Returns the trainer."""
    from transformers.trainer_callback import PrinterCallback
    from transformers.trainer_callback import ProgressCallback as HFProgress

    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(HFProgress)
    if progress:
        trainer.add_callback(ProgressCallback(description))
    return trainer
