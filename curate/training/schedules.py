"""Step budgets and the repeated-exposure vs one-pass comparison (P3, Table 1).

At a fixed number of optimiser steps, repeated exposure trains K epochs on N/K unique rows,
one pass trains one epoch on N rows: `exposure_subset` draws the N/K rows (seeded), and
`plan` gives the steps a schedule takes so the two can be checked to match.
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


def steps_per_epoch(rows: int, batch_size: int) -> int:
    """Optimiser steps in one pass over `rows` (the last partial batch is a step)."""
    if batch_size < 1:
        raise BadInput("batch size must be at least 1")
    return math.ceil(rows / batch_size) if rows else 0


def plan(rows: int, batch_size: int, epochs: float = 1.0, exposures: int = 1) -> Plan:
    """The schedule for `epochs` passes at `exposures` K: N//K unique rows seen K x epochs times."""
    if exposures < 1:
        raise BadInput("--exposures must be at least 1")
    if epochs <= 0:
        raise BadInput("--epochs must be more than 0")
    unique = rows // exposures
    if unique < 1:
        raise BadInput(f"--exposures {exposures} leaves no rows of {rows}")
    per = steps_per_epoch(unique, batch_size)
    return Plan(unique, exposures, batch_size, per, math.ceil(per * epochs * exposures))


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
