"""Export at the papers' size: a Countdown-CoT dataset with its NoCoT variant exported in the
Hub layout (shards, provenance card, histogram), then loaded back with `datasets` (both
configs) and re-imported with `curate import hf:DIR:nocot`. Figures: seconds per phase,
rows per second, folder and card sizes. No network (publishing itself is not timed).

    .venv/bin/python benchmarks/export_publish.py [--n 20480]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._util import write_result  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=20480)
    ap.add_argument("--numbers", type=int, default=4)
    args = ap.parse_args()

    import datasets

    from curate.catalog import Catalog
    from curate.catalog.export import export_dataset
    from curate.catalog.importing import import_hf
    from curate.curation.countdown_generate import generate_countdown
    from curate.curation.variants import make_variant

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        cat = Catalog(root / "home")
        t0 = time.perf_counter()
        generate_countdown(cat, "cd", args.n, numbers=args.numbers, progress=False)
        make_variant(cat, "cd", "nocot", "cd-nocot")
        t_build = time.perf_counter() - t0

        t0 = time.perf_counter()
        out = export_dataset(cat, "cd", root / "export", repo_id="org/countdown-cot")
        t_export = time.perf_counter() - t0
        size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
        import pyarrow.parquet as pq

        shards = sorted(out.rglob("*.parquet"))
        groups = [pq.ParquetFile(f).metadata.row_group(i) for f in shards
                  for i in range(pq.ParquetFile(f).metadata.num_row_groups)]

        t0 = time.perf_counter()
        cot = datasets.load_dataset(str(out), cache_dir=str(root / "hf"))["train"]
        nocot = datasets.load_dataset(str(out), "nocot", cache_dir=str(root / "hf"))["train"]
        t_load = time.perf_counter() - t0
        assert cot.num_rows == nocot.num_rows == args.n

        t0 = time.perf_counter()
        ref, _, _ = import_hf(cat, f"hf:{out}:nocot", "back", kind="traces")
        t_import = time.perf_counter() - t0
        assert ref.rows == args.n

        write_result("export_publish", {
            "rows_per_config": args.n,
            "configs": ["cot", "nocot"],
            "seconds": {"generate_and_variant": round(t_build, 2), "export": round(t_export, 2),
                        "load_both_configs": round(t_load, 2),
                        "import_hf_nocot": round(t_import, 2)},
            "export_rows_per_second": round(2 * args.n / t_export),
            "export_bytes": size,
            "card_bytes": (out / "README.md").stat().st_size,
            "histogram_bytes": (out / "token_lengths.png").stat().st_size,
            "shards": len(shards),
            "max_shard_mb": round(max(f.stat().st_size for f in shards) / 2**20, 2),
            "row_groups": len(groups),
            "max_row_group_rows": max(g.num_rows for g in groups),
            "max_row_group_uncompressed_mib": round(max(g.total_byte_size for g in groups)
                                                    / 2**20, 2),
            "aim": "shards <= 500 MB, row groups well under the viewer's ~286 MiB limit",
        })


if __name__ == "__main__":
    main()
