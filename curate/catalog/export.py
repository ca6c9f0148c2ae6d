"""Export a catalog version in the Hugging Face Hub's folder layout (Parquet shards per
config and split, a README dataset card), so `datasets.load_dataset(DIR)` reads it."""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import pyarrow.parquet as pq
import yaml

from curate.errors import CurateError

SHARD_ROWS = 100_000


def write_config_shards(table, out_dir: Path, config: str, split: str = "train") -> list[str]:
    """Write one config/split as `data/<config>/<split>-XXXXX-of-YYYYY.parquet` shards."""
    rel_dir = Path("data") / config
    (out_dir / rel_dir).mkdir(parents=True, exist_ok=True)
    n = max(1, -(-table.num_rows // SHARD_ROWS))
    paths = []
    for i in range(n):
        rel = rel_dir / f"{split}-{i:05d}-of-{n:05d}.parquet"
        pq.write_table(table.slice(i * SHARD_ROWS, SHARD_ROWS), out_dir / rel)
        paths.append(str(rel))
    return paths


def basic_card(spec: str, configs: dict[str, list[str]], lineage: list[dict],
               rows: int, pretty_name: str | None = None) -> str:
    """A minimal card: YAML `configs` so each config loads by name, then provenance."""
    meta = {
        "pretty_name": pretty_name or spec.split("@")[0],
        "configs": [
            {"config_name": c, "data_files": [{"split": "train", "path": f"data/{c}/train-*"}],
             **({"default": True} if i == 0 else {})}
            for i, c in enumerate(configs)
        ],
    }
    lines = ["---", yaml.safe_dump(meta, sort_keys=False).rstrip(), "---", "",
             f"# {meta['pretty_name']}", "",
             f"Exported by curate from catalog version `{spec}` ({rows} rows).", "",
             "## Lineage", "", "| dataset | step | counts |", "|---|---|---|"]
    for entry in lineage:
        counts = entry.get("counts") or {}
        lines.append(f"| `{entry['dataset']}` | {entry.get('step') or ''} | "
                     f"{counts if counts else ''} |")
    return "\n".join(lines) + "\n"


def export_dataset(catalog, spec: str, out_dir: str | os.PathLike,
                   configs: dict[str, str] | None = None, overwrite: bool = False) -> Path:
    """Export `spec` (and optional extra configs name -> spec) to `out_dir` atomically."""
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise CurateError(f"{out}: folder exists and is not empty (use --overwrite)")
    ref = catalog.resolve(spec)
    all_configs = {"default": ref.spec, **(configs or {})}
    tmp = out.parent / f".{out.name}.tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir(parents=True)
    try:
        written = {c: write_config_shards(catalog.table(s), tmp, c) for c, s in all_configs.items()}
        card = basic_card(ref.spec, written, catalog.lineage(ref), ref.rows)
        (tmp / "README.md").write_text(card)
        if out.exists():
            shutil.rmtree(out)
        os.rename(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out
