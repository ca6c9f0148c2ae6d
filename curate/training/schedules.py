"""Step budgets and the repeated-exposure vs one-pass comparison (P3, Table 1).

At a fixed number of optimiser steps, repeated exposure trains K epochs on N/K unique rows,
one pass trains one epoch on N rows: `exposure_subset` draws the N/K rows (seeded), and
`plan` gives the steps a schedule takes so the two can be checked to match.

The batch a step sees is global: per-device batch x gradient accumulation x processes
(`global_batch`); P3 trains 20,480 rows at 256 a step (micro-batch 4 on 8 GPUs, accumulation
8): 80 steps an epoch, 640 in 8 epochs. `parse_steps` / `check_save_at` handle the dense
checkpoint lists (10, 20, 40, ..., 640) the dip-and-recovery analysis evaluates.
"""

from __future__ import annotations

import math
import random
from dataclasses import asdict, dataclass

from curate.errors import BadInput


@dataclass(frozen=True)
class Plan:
    rows: int                 # unique rows trained on
    exposures: int            # times each row is seen (epochs over the subset)
    batch_size: int           # global batch: per-device batch x accumulation x devices
    steps_per_epoch: int
    steps: int                # optimiser steps in total

    def to_dict(self) -> dict:
        return asdict(self)


def global_batch(per_device: int, grad_accum: int = 1, world_size: int = 1) -> int:
    """Rows per optimiser step: per-device batch x accumulation steps x processes."""
    for name, v in (("--batch-size", per_device), ("--grad-accum", grad_accum),
                    ("world size", world_size)):
        if v < 1:
            raise BadInput(f"{name} must be at least 1")
    return per_device * grad_accum * world_size


def parse_steps(text: str | list | tuple | None) -> list[int]:
    """`"10,20,40"` (or a list) -> sorted unique positive steps; a one-line error otherwise."""
    if text is None or text == "":
        return []
    items = text if isinstance(text, (list, tuple)) else str(text).split(",")
    out = set()
    for item in items:
        try:
            v = int(str(item).strip())
        except ValueError:
            raise BadInput(f"--save-at: {item!r} is not a step number (e.g. 10,20,40)") from None
        if v < 1:
            raise BadInput(f"--save-at: steps must be at least 1, got {v}")
        out.add(v)
    return sorted(out)


def check_save_at(save_at: list[int], total_steps: int | None) -> None:
    """Refuse checkpoint steps the run never reaches (they would silently not exist)."""
    if total_steps is None or not save_at:
        return
    beyond = [s for s in save_at if s > total_steps]
    if beyond:
        raise BadInput(f"--save-at {','.join(map(str, beyond))}: beyond the run's "
                       f"{total_steps} steps (raise --epochs / --max-steps or drop them)")


def steps_per_epoch(rows: int, batch_size: int) -> int:
    """Optimiser steps in one pass over `rows` (the last partial batch is a step)."""
    if batch_size < 1:
        raise BadInput("batch size must be at least 1")
    return math.ceil(rows / batch_size) if rows else 0


def plan(rows: int, batch_size: int, epochs: float = 1.0, exposures: int = 1,
         max_steps: int | None = None) -> Plan:
    """The schedule for `epochs` passes at `exposures` K: N//K unique rows seen K x epochs times.

    `batch_size` is the global batch (`global_batch`); `max_steps` caps the total as the
    trainer does.
    """
    if exposures < 1:
        raise BadInput("--exposures must be at least 1")
    if epochs <= 0:
        raise BadInput("--epochs must be more than 0")
    unique = rows // exposures
    if unique < 1:
        raise BadInput(f"--exposures {exposures} leaves no rows of {rows}")
    per = steps_per_epoch(unique, batch_size)
    total = math.ceil(per * epochs * exposures)
    return Plan(unique, exposures, batch_size, per, min(total, max_steps) if max_steps else total)


def exposure_subset(n: int, exposures: int, seed: int = 0) -> list[int]:
    """Row indices of the N//K unique rows a K-exposure run trains on (seeded, sorted)."""
    if exposures < 1:
        raise BadInput("--exposures must be at least 1")
    if exposures == 1:
        return list(range(n))
    return sorted(random.Random(f"exposures:{seed}:{n}:{exposures}").sample(
        range(n), max(1, n // exposures)))


def equal_step_pair(rows: int, batch_size: int, exposures: int) -> tuple[Plan, Plan]:
    """(one pass over `rows`, K exposures to rows//K) at the same batch size; their steps
    differ by at most K - 1 (rounding of the last batch)."""
    return plan(rows, batch_size, 1.0, 1), plan(rows, batch_size, 1.0, exposures)
