"""Which process writes: under `torchrun` / `accelerate launch` every rank runs the same
training code, but only rank 0 may write to the catalog (one run row, one row per checkpoint).

`process_rank()` / `world_size()` read the launcher's environment (RANK, WORLD_SIZE; the
values torch.distributed and accelerate use). `catalog_writer(catalog, rank)` gives rank 0
the catalog itself and the other ranks a writer that records nothing.
"""

from __future__ import annotations

import os
from typing import Any


def process_rank() -> int:
    """The global rank of this process (0 when not launched distributed)."""
    return int(os.environ.get("RANK", "0") or 0)


def world_size() -> int:
    """How many processes train together (1 when not launched distributed)."""
    return max(1, int(os.environ.get("WORLD_SIZE", "1") or 1))


def replicas() -> int:
    """Model copies a step's batch is spread over: the processes under torchrun /
    accelerate launch, or, in one process, the visible CUDA devices (transformers' Trainer then
    wraps the model in nn.DataParallel and takes per-device batch x GPUs a micro-step)."""
    world = world_size()
    if world > 1:
        return world
    try:
        import torch
    except ImportError:
        return 1
    return max(1, torch.cuda.device_count()) if torch.cuda.is_available() else 1


class SilentWriter:
    """Stands in for the catalog's write methods on ranks other than 0: writes nothing."""

    def __init__(self, catalog):
        self.catalog = catalog

    def start_run(self, *args: Any, **kwargs: Any) -> None:
        return None

    def finish_run(self, *args: Any, **kwargs: Any) -> None:
        return None

    def reopen_run(self, *args: Any, **kwargs: Any) -> None:
        return None

    def insert(self, *args: Any, **kwargs: Any) -> None:
        return None


def catalog_writer(catalog, rank: int | None = None):
    """The catalog on rank 0; a `SilentWriter` elsewhere."""
    rank = process_rank() if rank is None else rank
    return catalog if rank == 0 else SilentWriter(catalog)
