"""The executor options shared by `curate run` and the verbs that process datasets."""

from __future__ import annotations

import typer

from curate.commands._common import console, esc

EXECUTOR = typer.Option(None, "--executor", help="Run on datatrove: local | slurm | ray "
                        "(default: in this process, streamed batch by batch).")
TASKS = typer.Option(None, "--tasks", help="Executor: shards of the input (same output for "
                     "any number).")
WORKERS = typer.Option(None, "--workers", help="Executor: tasks at once (local default: CPUs).")
PARTITION = typer.Option(None, "--partition", help="Slurm: partition.")
TIME = typer.Option(None, "--time", help="Slurm: time limit per task (default 24:00:00).")
CPUS = typer.Option(None, "--cpus-per-task", help="Slurm/Ray: CPUs per task.")
MEM = typer.Option(None, "--mem-per-cpu-gb", help="Slurm/Ray: memory per CPU in GB.")
GPUS = typer.Option(None, "--gpus-per-task", help="Slurm/Ray: GPUs per task.")
SBATCH = typer.Option(None, "--sbatch-arg", help="Slurm: extra #SBATCH KEY=VALUE "
                      "(repeatable), e.g. account=proj.")
DRY_RUN = typer.Option(False, "--dry-run", help="Slurm: write the sbatch scripts, submit "
                       "nothing.")


def spec_from(executor, tasks, workers, partition, time, cpus, mem, gpus, sbatch, dry_run):
    """The options as an ExecutorSpec (None: in-process)."""
    from curate.curation.executors.run import executor_spec

    return executor_spec(executor, tasks, workers, partition=partition, time=time,
                         cpus_per_task=cpus, mem_per_cpu_gb=mem, gpus_per_task=gpus,
                         sbatch_args=list(sbatch or []) or None, dry_run=dry_run or None)


def dry_run_done(ref) -> bool:
    """Print what a --dry-run wrote; True when `ref` is such a result (nothing registered)."""
    from curate.curation.executors.driver import DryRun

    if not isinstance(ref, DryRun):
        return False
    console.print("dry run: nothing submitted; sbatch scripts:")
    for p in ref.scripts:
        console.print(f"  {esc(p)}")
    return True
