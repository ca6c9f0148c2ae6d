"""Where a step runs: in this process (the default) or on a datatrove executor.

`ExecutorSpec` is what `--executor local|slurm|ray [--tasks N] [--workers W]` (and the Slurm
options) parse into; `run_op` sends a batch op to the in-process runner or to the executor
driver. Importing this module does not import datatrove.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from typing import Any

from curate.errors import BadInput

KINDS = ("local", "slurm", "ray")


@dataclass
class ExecutorSpec:
    """A datatrove executor and its sizing.

    kind: local (processes on this machine), slurm (sbatch job arrays; the catalog home must be
    on a filesystem the nodes share), ray (the cluster at $RAY_ADDRESS, or a local one).
    tasks: shards of the input (default: 2 per local worker; one per row group elsewhere).
    workers: tasks run at once (default: the CPU count locally, no limit elsewhere).
    Slurm: partition, time, cpus_per_task, mem_per_cpu_gb, gpus_per_task, sbatch_args,
    env_command (shell lines that set up the environment on the node; default: this venv),
    dry_run (write the sbatch scripts and stop). Ray: cpus_per_task, mem_per_cpu_gb,
    gpus_per_task.
    """

    kind: str = "local"
    tasks: int | None = None
    workers: int | None = None
    partition: str | None = None
    time: str = "24:00:00"
    cpus_per_task: int = 1
    mem_per_cpu_gb: float = 2.0
    gpus_per_task: int = 0
    sbatch_args: dict[str, Any] = field(default_factory=dict)
    env_command: str | None = None
    dry_run: bool = False
    poll_s: float = 30.0
    batch_rows: int = 2048

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise BadInput(f"--executor {self.kind!r}: use one of {', '.join(KINDS)}")
        for name in ("tasks", "workers"):
            v = getattr(self, name)
            if v is not None and int(v) < 1:
                raise BadInput(f"--{name} must be at least 1, got {v}")
        if self.kind == "slurm" and not self.partition and not self.dry_run:
            raise BadInput("--executor slurm needs --partition")

    def default_workers(self) -> int:
        if self.workers:
            return int(self.workers)
        return (os.cpu_count() or 1) if self.kind == "local" else -1

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def executor_spec(kind: str | None, tasks: int | None = None, workers: int | None = None,
                  **slurm: Any) -> ExecutorSpec | None:
    """The CLI's options as an ExecutorSpec; None (in-process) when no --executor is given."""
    if not kind:
        if tasks or workers:
            raise BadInput("--tasks and --workers need --executor local|slurm|ray")
        return None
    args = {k: v for k, v in slurm.items() if v is not None}
    if isinstance(args.get("sbatch_args"), list):
        pairs = {}
        for item in args["sbatch_args"]:
            k, sep, v = str(item).partition("=")
            if not sep or not k:
                raise BadInput(f"--sbatch-arg {item!r}: expected KEY=VALUE")
            pairs[k] = v
        args["sbatch_args"] = pairs
    return ExecutorSpec(kind=kind, tasks=tasks, workers=workers, **args)


def run_op(catalog, spec: str, output: str, op, executor: ExecutorSpec | None = None,
           progress: bool = False, batch_rows: int | None = None):
    """Apply batch op `op` to catalog version `spec`, registering `output` (a DatasetRef).
    `batch_rows` sizes the in-process batches (the executor's are `executor.batch_rows`)."""
    if executor is None:
        from curate.curation.executors.inprocess import BATCH_ROWS, run_inprocess

        return run_inprocess(catalog, spec, output, op, progress=progress,
                             batch_rows=batch_rows or BATCH_ROWS)
    from curate.curation.executors.driver import run_op_executor

    return run_op_executor(catalog, spec, output, op, executor)
