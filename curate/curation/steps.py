"""The registry of recipe steps.

A step is `fn(catalog, inputs: list[str], params: dict, output: str) -> DatasetRef`,
registered with `@step("name")` in one of the modules listed in `STEP_MODULES`. The list is
explicit: a new step module is added to it (a test checks every module using `@step(` is
listed). The modules are imported the first time a step is looked up, so importing this
module stays cheap. `generate` is shared by several tasks: register a task's generator with
`@step("generate", task="countdown")`; `get_step("generate")` returns a dispatcher on
`params["task"]` (default `math`). A step that can run on a datatrove executor takes an
`executor=` keyword (an `ExecutorSpec` or None); `run_recipe` passes it only to those.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from curate.errors import BadInput, NotFound

StepFn = Callable[[Any, list[str], dict, str], Any]

STEPS: dict[str, StepFn] = {}
SHARED_STEPS = {"generate"}       # steps implemented per task, dispatched on params["task"]
TASK_STEPS: dict[str, dict[str, StepFn]] = {}

# Every module that registers steps, imported on the first lookup.
STEP_MODULES = [
    "curate.curation.curation_steps",
    "curate.curation.countdown_steps",
    "curate.curation.teacher_steps",
    "curate.training.mixtures",
]
_loaded = False


def step(name: str, task: str | None = None) -> Callable[[StepFn], StepFn]:
    """Register a step function under `name` (and, for shared steps, a task)."""
    def deco(fn: StepFn) -> StepFn:
        t = task
        if t is None and name in SHARED_STEPS:  # a generator registered without its task
            t = "countdown" if "countdown" in fn.__module__ else "math"
        if t is None:
            STEPS[name] = fn
        else:
            TASK_STEPS.setdefault(name, {})[t] = fn
        return fn
    return deco


def load_step_modules() -> None:
    global _loaded
    if _loaded:
        return
    for mod in STEP_MODULES:
        importlib.import_module(mod)
    _loaded = True


def _dispatcher(name: str) -> StepFn:
    def run(catalog, inputs: list[str], params: dict, output: str, executor=None):
        task = str(params.get("task") or "math")
        impls = TASK_STEPS.get(name, {})
        if task not in impls:
            raise NotFound(f"step {name!r} has no implementation for task {task!r}; "
                           f"known tasks: {', '.join(sorted(impls)) or 'none'}")
        return call_step(impls[task], catalog, inputs, params, output, executor)
    run.__name__ = f"{name}_dispatch"
    return run


def takes_executor(fn: StepFn) -> bool:
    import inspect

    return "executor" in inspect.signature(fn).parameters


def call_step(fn: StepFn, catalog, inputs: list[str], params: dict, output: str,
              executor=None):
    """Run a step; `executor` goes to steps that take it (others run in-process)."""
    if executor is not None and takes_executor(fn):
        return fn(catalog, inputs, params, output, executor=executor)
    return fn(catalog, inputs, params, output)


def get_step(name: str) -> StepFn:
    """The step function for `name`; a clear error listing known steps otherwise."""
    if name not in STEPS and name not in TASK_STEPS:
        load_step_modules()
    if name in STEPS:
        return STEPS[name]
    if name in TASK_STEPS:
        return _dispatcher(name)
    known = sorted(set(STEPS) | set(TASK_STEPS))
    raise NotFound(f"unknown step {name!r}; known steps: {', '.join(known)}")


def list_steps() -> list[str]:
    load_step_modules()
    return sorted(set(STEPS) | set(TASK_STEPS))


def one_input(name: str, inputs: list[str]) -> str:
    """The single input of a one-input step."""
    if len(inputs) != 1:
        raise BadInput(f"step {name!r} takes exactly one input, got {len(inputs)}")
    return inputs[0]
