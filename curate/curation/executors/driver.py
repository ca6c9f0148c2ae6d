"""The executor driver: plan units, run the datatrove pipelines, adopt the shards.

Only the driver touches the catalog: it resolves the input version, plans units over its part
files (`units.py`), runs the pipeline(s) of `dtsteps.py` under datatrove's Local, Slurm or Ray
executor, merges the tasks' stats into the step's counts, and adopts the per-unit shards, in
unit order, as the output version (`Catalog.adopt`: no re-encoding).

Resume: everything lives in a staging folder keyed by the input version, the op and its
parameters, the task count and the code version (`$CURATE_HOME/staging/STEP-KEY/`). datatrove
writes a completion marker per finished task; a rerun of the same command runs only the tasks
without one (a task whose shards went missing loses its marker first) and registers the same
version. The folder is removed once the version is recorded.

Group ops run three pipelines: keys per unit (rows bucketed by problem), one task per bucket
deciding whole problems, then the decisions applied per unit, so a problem's samples meet
wherever its rows are.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from curate.catalog.content_id import canonical_schema
from curate.curation.executors.inprocess import (
    check_output_names,
    input_schema,
    no_rows_left,
    record_dropped,
)
from curate.curation.executors.ops import BatchOp, dropped, dropped_schema
from curate.curation.executors.run import ExecutorSpec
from curate.curation.executors.units import Unit, plan_units, task_units
from curate.errors import BadInput, CurateError
from curate.record import stable_json


@dataclass
class DryRun:
    """What `--dry-run` wrote instead of submitting (Slurm): one sbatch script per stage."""
    scripts: list[Path]
    staging: Path

    @property
    def spec(self) -> str:
        return f"(dry run: {len(self.scripts)} sbatch script(s) under {self.staging})"


@dataclass
class Stage:
    name: str
    pipeline: list
    expected: dict[int, list[Path]]            # rank -> files it must have left
    apply_step: object | None = None          # the step whose stats are the op's tallies
    executor: object | None = field(default=None, repr=False)
    tasks: int | None = None                  # this stage's task count (default: the run's)

    def n_tasks(self, default: int) -> int:
        return int(self.tasks or default)


def _require_datatrove() -> None:
    try:
        import datatrove  # noqa: F401
    except ImportError:
        raise CurateError("--executor needs datatrove: pip install 'curate-traces[ray]' "
                          "or 'datatrove>=0.10'") from None


def staging_dir(catalog, ref, op: BatchOp, tasks: int, n_units: int, out_schema) -> Path:
    from curate.catalog.catalog import code_version

    raw = stable_json({"input": ref.spec, "op": op.key(), "tasks": tasks, "units": n_units,
                       "schema": canonical_schema(out_schema), "code": code_version()})
    key = hashlib.sha256(raw.encode()).hexdigest()[:16]
    return catalog.home / "staging" / f"{op.step}-{key}"


def default_tasks(ex: ExecutorSpec, workers: int, row_groups: int) -> int:
    if ex.tasks:
        return int(ex.tasks)
    if ex.kind == "local":
        return max(1, workers) * 2
    return max(1, min(row_groups, 512))


def run_op_executor(catalog, spec: str, output: str, op: BatchOp, ex: ExecutorSpec):
    """Run `op` over version `spec` on the executor `ex` and adopt the result as `output`."""
    _require_datatrove()
    from curate.curation.executors import dtsteps as D

    check_output_names(op, output)
    ref = catalog.resolve(spec)
    files = catalog.files(ref)
    schema = input_schema(catalog, ref)
    op.check(schema, ref.spec)
    out_schema = op.output_schema(schema)
    workers = ex.default_workers()
    tasks = default_tasks(ex, workers, len(plan_units(files)))
    units = plan_units(files, min_units=tasks)
    if not units:
        raise no_rows_left(op.step, output, 0, {})
    stage_root = staging_dir(catalog, ref, op, tasks, len(units), out_schema)
    stage_root.mkdir(parents=True, exist_ok=True)
    (stage_root / "plan.json").write_text(json.dumps({
        "input": ref.spec, "output": output, "op": op.key(), "tasks": tasks,
        "units": len(units), "executor": ex.to_dict()}, indent=1, default=str))
    out, errors = stage_root / "out", stage_root / "errors"
    side = stage_root / "dropped"
    side_args = {"dropped_dir": str(side), "dropped_schema": dropped_schema(schema)} \
        if op.drops and op.keep_dropped else {}
    shutil.rmtree(errors, ignore_errors=True)   # failures of an earlier attempt

    def per_rank(folder: Path, suffix: str = ".parquet") -> dict[int, list[Path]]:
        return {r: [folder / f"{u.name}{suffix}" for u in task_units(units, r, tasks)]
                for r in range(tasks)}

    if op.needs_groups:
        keys, decisions = stage_root / "keys", stage_root / "decisions"
        apply_step = D.ApplyDecided(op, str(decisions), tasks)
        stages = [
            Stage("keys", [D.ReadUnits(units, op.key_columns(schema), ex.batch_rows),
                           D.GroupKeys(op, tasks),
                           D.WriteUnits(str(keys), D.keys_schema(op), str(errors), True)],
                  per_rank(keys)),
            Stage("decide", [D.DecideGroups(op, str(keys), str(decisions), str(errors),
                                            len(units))],
                  {r: [decisions / f"bucket-{r:05d}.parquet"] for r in range(tasks)}),
            Stage("apply", [D.ReadUnits(units, None, ex.batch_rows), apply_step,
                            D.WriteUnits(str(out), out_schema, str(errors), **side_args)],
                  per_rank(out), apply_step)]
    else:
        apply_step = D.ApplyOp(op)
        stages = [Stage("apply", [D.ReadUnits(units, op.read_columns(schema), ex.batch_rows),
                                  apply_step, D.WriteUnits(str(out), out_schema, str(errors),
                                                           **side_args)],
                        per_rank(out), apply_step)]

    dry = launch_stages(stages, ex, stage_root, tasks, workers, f"curate-{op.step}")
    if dry is not None:
        return dry
    tallies = _merged_tallies(stage_root / "logs" / "apply", tasks, stages[-1].apply_step)
    notes = []
    for u in units:
        sidecar = out / f"{u.name}.json"
        if sidecar.is_file():
            notes.extend(json.loads(sidecar.read_text()))
    n_in, n_out = tallies.pop("rows_in", 0), tallies.pop("rows_out", 0)
    n_side = tallies.pop("rows_dropped_kept", 0)
    if n_in != ref.rows:
        raise CurateError(f"executor read {n_in} rows of {ref.spec}, which has {ref.rows}; "
                          f"staging folder {stage_root} is inconsistent: remove it and rerun")
    if not n_out:
        raise no_rows_left(op.step, output, n_in, dropped(tallies))
    fin = op.finish(n_in, n_out, dict(tallies), notes)
    side_files = [side / f"{u.name}.parquet" for u in units
                  if (side / f"{u.name}.parquet").is_file()]
    fin = record_dropped(catalog, op, output, side_files, n_side, ref.spec, fin)
    new = catalog.adopt(output, [out / f"{u.name}.parquet" for u in units], kind=op.kind,
                        parents=[ref.spec], step=op.step, params=fin.params, counts=fin.counts,
                        card=fin.card, stats=fin.stats, keep_source=True)
    shutil.rmtree(stage_root, ignore_errors=True)
    return new


# -- running the stages -----------------------------------------------------------------------

def _heal(logging_dir: Path, expected: dict[int, list[Path]]) -> int:
    """Forget the completion of tasks whose output files are gone; returns how many."""
    n = 0
    for rank, paths in expected.items():
        marker = logging_dir / "completions" / f"{rank:05d}"
        if marker.exists() and not all(p.is_file() for p in paths):
            marker.unlink()
            (logging_dir / "stats" / f"{rank:05d}.json").unlink(missing_ok=True)
            n += 1
    return n


def _incomplete(logging_dir: Path, tasks: int) -> list[int]:
    return [r for r in range(tasks) if not (logging_dir / "completions" / f"{r:05d}").exists()]


def _failure(stage_root: Path, logging_dir: Path, missing: list[int], tasks: int) -> CurateError:
    errs = []
    for p in sorted((stage_root / "errors").glob("task-*.json")):
        with contextlib.suppress(OSError, ValueError):
            errs.append(json.loads(p.read_text()))
    user = [e for e in errs if e.get("user_error")]
    if user:
        return CurateError(user[0]["message"])
    first = f" (first: {errs[0]['type']}: {errs[0]['message'][:300]})" if errs else ""
    return CurateError(f"{len(missing)} of {tasks} executor task(s) did not finish{first}; "
                       f"logs in {logging_dir}/logs. Run the same command again: finished "
                       "tasks are kept and only the missing ones run.")


@contextlib.contextmanager
def _stderr_to(path: Path):
    """datatrove's task loggers print to standard error; keep that in the staging log."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sys.stderr.flush()
    saved = os.dup(2)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    old_stderr = sys.stderr
    try:
        os.dup2(fd, 2)
        sys.stderr = open(fd, "w", closefd=False, buffering=1)  # noqa: SIM115
        yield
    finally:
        sys.stderr.flush()
        sys.stderr = old_stderr
        os.dup2(saved, 2)
        os.close(saved)
        os.close(fd)


def launch_stages(stages: list[Stage], ex: ExecutorSpec, stage_root: Path, tasks: int,
                  workers: int, job_name: str) -> DryRun | None:
    """Run datatrove pipelines one after another (Slurm: as a dependency chain) with
    `tasks` tasks each (a stage's own `tasks` where it sets one), logging under
    `stage_root/logs/STAGE`; tasks already marked complete (whose expected files are all
    there) are skipped. Raises CurateError naming the failure (a worker's user error as its
    own line) when a task did not finish; a Slurm dry run returns the scripts instead. For
    other curate pipelines too (dedup's MinHash stages)."""
    for st in stages:
        _heal(stage_root / "logs" / st.name, st.expected)
    if ex.kind == "slurm":
        return _launch_slurm(stages, ex, stage_root, tasks, workers, job_name)
    for st in stages:
        logging_dir = stage_root / "logs" / st.name
        n = st.n_tasks(tasks)
        if _incomplete(logging_dir, n):
            st.executor = _executor(st, ex, logging_dir, n, workers)
            with _stderr_to(stage_root / "logs" / "executor.log"):
                try:
                    st.executor.run()
                except Exception:
                    pass      # the task's error is in errors/; reported below
        missing = _incomplete(logging_dir, n)
        if missing:
            raise _failure(stage_root, logging_dir, missing, n)
    return None


def start_method() -> str:
    """How the Local executor starts its worker processes: `fork` where the platform has it
    (workers inherit the driver's imports: no per-worker start-up of seconds), else
    `forkserver`; `CURATE_EXECUTOR_START` overrides. The steps stay module-level, picklable
    objects either way (forkserver, Slurm and Ray re-import them)."""
    import multiprocessing

    forced = os.environ.get("CURATE_EXECUTOR_START")
    if forced:
        return forced
    return "fork" if "fork" in multiprocessing.get_all_start_methods() else "forkserver"


def _executor(st: Stage, ex: ExecutorSpec, logging_dir: Path, tasks: int, workers: int):
    if ex.kind == "local":
        from datatrove.executor import LocalPipelineExecutor

        return LocalPipelineExecutor(st.pipeline, tasks=tasks,
                                     workers=max(1, min(workers, tasks)),
                                     logging_dir=str(logging_dir), start_method=start_method())
    if ex.kind == "ray":
        try:
            import ray
        except ImportError:
            raise CurateError("--executor ray needs Ray: pip install 'curate-traces[ray]'") \
                from None
        from datatrove.executor.ray import RayPipelineExecutor

        if not ray.is_initialized():
            address = os.environ.get("RAY_ADDRESS") or None
            check_ray_address(address)
            ray.init(address=address, log_to_driver=False, include_dashboard=False)
        return RayPipelineExecutor(st.pipeline, tasks=tasks,
                                   workers=workers if workers > 0 else -1,
                                   logging_dir=str(logging_dir), cpus_per_task=ex.cpus_per_task,
                                   mem_per_cpu_gb=ex.mem_per_cpu_gb,
                                   gpus_per_task=ex.gpus_per_task)
    raise BadInput(f"unknown executor {ex.kind!r}")


def check_ray_address(address: str | None, timeout_s: float = 10.0) -> None:
    """Raise CurateError at once when `address` (RAY_ADDRESS: HOST:PORT or ray://HOST:PORT)
    takes no connection: `ray.init` would retry for minutes. None, "auto" and "local" are not
    checked (a local cluster is started, or the running one found)."""
    import socket
    from urllib.parse import urlsplit

    if not address or address in ("auto", "local"):
        return
    parts = urlsplit(address if "://" in address else f"ray://{address}")
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        host, port = None, None
    if not host or not port:
        raise BadInput(f"RAY_ADDRESS={address!r}: expected HOST:PORT or ray://HOST:PORT")
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            pass
    except OSError as e:
        raise CurateError(f"--executor ray: no Ray cluster answers at RAY_ADDRESS={address} "
                          f"({e.strerror or e}); start it (ray start --head) or unset "
                          "RAY_ADDRESS to run on a local cluster") from None


def _merged_tallies(logging_dir: Path, tasks: int, apply_step) -> Counter:
    """The op's tallies summed over every task's saved datatrove stats (all of them, also
    those of tasks finished by an earlier, interrupted run)."""
    from datatrove.utils.stats import MetricStats, PipelineStats

    total = PipelineStats()
    for r in range(tasks):
        with open(logging_dir / "stats" / f"{r:05d}.json") as f:
            total += PipelineStats.from_json(json.load(f))
    name = str(apply_step)
    out: Counter = Counter()
    for st in total.stats:
        if st.name == name:
            for k, v in st.stats.items():   # a single task's stats stay raw JSON values
                out[k] += int((v if isinstance(v, MetricStats) else MetricStats.from_dict(v)).total)
    return out


# -- Slurm ------------------------------------------------------------------------------------

def slurm_env_command(ex: ExecutorSpec) -> str:
    """Shell lines run on the node before the task: this virtualenv, this catalog, this code."""
    if ex.env_command:
        return ex.env_command
    lines = []
    activate = Path(sys.prefix) / "bin" / "activate"
    if activate.is_file():
        lines.append(f"source {activate}")
    for var in ("CURATE_HOME", "PYTHONPATH", "HF_HOME", "HF_HUB_OFFLINE"):
        if os.environ.get(var):
            lines.append(f"export {var}={_sh(os.environ[var])}")
    return "\n".join(lines)


def _sh(s: str) -> str:
    import shlex

    return shlex.quote(s)


def _slurm_executor(st: Stage, ex: ExecutorSpec, logging_dir: Path, tasks: int, workers: int,
                    job_name: str, depends):
    from datatrove.executor.slurm import SlurmPipelineExecutor

    return SlurmPipelineExecutor(
        st.pipeline, tasks=tasks, time=ex.time, partition=ex.partition or "PARTITION",
        cpus_per_task=ex.cpus_per_task, mem_per_cpu_gb=ex.mem_per_cpu_gb,
        gpus_per_task=ex.gpus_per_task, workers=workers, job_name=f"{job_name}-{st.name}",
        env_command=slurm_env_command(ex), sbatch_args=dict(ex.sbatch_args),
        logging_dir=str(logging_dir), depends=depends, mail_type="NONE")


def write_sbatch_script(executor) -> Path:
    """What datatrove's `launch_job` writes before it calls sbatch, without calling it: the
    pickled executor, the ranks to run and the sbatch script (returned)."""
    from copy import deepcopy

    import dill
    from dill import CONTENTS_FMODE

    ranks = executor.get_incomplete_ranks()
    with executor.logging_dir.open("executor.pik", "wb") as f:
        dill.dump(deepcopy(executor), f, fmode=CONTENTS_FMODE)
    executor.save_executor_as_json()
    with executor.logging_dir.open("ranks_to_run.json", "w") as f:
        json.dump(ranks, f)
    jobs = math.ceil(len(ranks) / executor.tasks_per_job)
    max_array = min(jobs, executor.max_array_size) if executor.max_array_size != -1 else jobs
    pik = executor.logging_dir.resolve_paths("executor.pik")
    run = (f"srun -l -n {executor.nodes_per_task} launch_pickled_pipeline {pik}"
           if executor.with_srun else f"launch_pickled_pipeline {pik}")
    script = executor.get_launch_file_contents(executor.get_sbatch_args(max(1, max_array)), run)
    with executor.logging_dir.open("launch_script.slurm", "w") as f:
        f.write(script)
    return Path(executor.logging_dir.resolve_paths("launch_script.slurm"))


def _launch_slurm(stages: list[Stage], ex: ExecutorSpec, stage_root: Path, tasks: int,
                  workers: int, job_name: str) -> DryRun | None:
    prev = None
    for st in stages:
        st.executor = _slurm_executor(st, ex, stage_root / "logs" / st.name,
                                      st.n_tasks(tasks), workers, job_name, prev)
        prev = st.executor
    if ex.dry_run:
        return DryRun([write_sbatch_script(st.executor) for st in stages], stage_root)
    final = stages[-1]
    n_final = final.n_tasks(tasks)
    if _incomplete(stage_root / "logs" / final.name, n_final):
        _submit(final.executor, stage_root)   # submits the dependency chain first
        job_ids = [str(st.executor.job_id) for st in stages
                   if st.executor.job_id not in (None, -1)]
        while _incomplete(stage_root / "logs" / final.name, n_final):
            time.sleep(ex.poll_s)
            if job_ids and not _slurm_alive(job_ids):
                time.sleep(5)       # completion files may land just after the job ends
                break
    for st in stages:
        logging_dir = stage_root / "logs" / st.name
        n = st.n_tasks(tasks)
        missing = _incomplete(logging_dir, n)
        if missing:
            raise _failure(stage_root, logging_dir, missing, n)
    return None


def _submit(executor, stage_root: Path) -> None:
    """datatrove's sbatch submission, its failures as one line: no sbatch on this machine,
    sbatch refusing the job (its own message is printed above by sbatch), or an sbatch reply
    without a job id."""
    where = f"the sbatch scripts are under {stage_root / 'logs'}"
    try:
        executor.run()
    except FileNotFoundError as e:
        raise CurateError(f"--executor slurm: {e.filename or 'sbatch'} not found on this machine: "
                          "run on a Slurm login node (sbatch and squeue on PATH), or add "
                          "--dry-run to write the sbatch scripts only") from None
    except subprocess.CalledProcessError as e:
        raise CurateError(f"--executor slurm: sbatch refused the job (exit {e.returncode}); "
                          f"{where}. Fix the options (--partition, --time, --sbatch-arg) and "
                          "run the same command again") from None
    except (IndexError, ValueError) as e:
        raise CurateError(f"--executor slurm: sbatch's reply has no job id ({e}); {where}")\
            from None


def _slurm_alive(job_ids: list[str]) -> bool:
    """Whether any of the jobs (or their array tasks) is still pending or running."""
    try:
        out = subprocess.run(["squeue", "-h", "-j", ",".join(job_ids), "-o", "%i"],
                             capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return True   # cannot tell: keep waiting
    return bool(out.stdout.strip())   # finished jobs are unknown to squeue (empty, or an error)


__all__ = ["DryRun", "Stage", "launch_stages", "run_op_executor", "write_sbatch_script", "Unit"]
