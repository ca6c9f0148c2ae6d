"""What integrity costs: re-hashing a version before export/publish, `catalog check --deep`,
and Parquet page-checksum verification on every read.

A long-CoT-like table (about 2.4 KB a row, the text random so it barely compresses) is
registered once; then, best of 3 rounds each, with the files in the page cache:

- hash: `store.hash_file` (xxh3-128) over every part: MB of files per second;
- load_verified vs load_plain: `export.load_configs` with and without the re-hash
  (`Catalog.table(verify=True)`), i.e. what export and publish add before writing a byte;
- export_verified vs export_plain: the whole `export_dataset` (shards, card, histogram);
- check_deep / check_default: `check_catalog(deep=True|False)`;
- read_verified vs read_plain: `Catalog.table` with and without `verify` (what a re-hash on
  every read would cost);
- read_page_crc vs read_page_plain: the same file written with Parquet page checksums, read
  with and without their verification (why the store relies on xxh3 instead: CRC32 in
  Arrow is slower than xxh3 over the whole file).

    python benchmarks/store_integrity.py [--rows 100000]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from _util import write_result  # noqa: E402
from content_id import best, build  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=100_000)
    args = ap.parse_args()
    from curate.catalog import Catalog, export, store
    from curate.catalog.check import check_catalog

    table = build(args.rows)
    work = Path(tempfile.mkdtemp(prefix="store-integrity-"))
    try:
        cat = Catalog(work / "home")
        ref = cat.register("bench", table)
        files = cat.files(ref)
        file_mb = sum(f.stat().st_size for f in files) / 1e6
        hashing = best(lambda: [store.hash_file(f) for f in files])
        plain_table = cat.table

        def unverified(spec, columns=None, *, verify=False):
            return plain_table(spec, columns)

        load_v = best(lambda: export.load_configs(cat, "bench", variants=False))
        cat.table = unverified
        load_p = best(lambda: export.load_configs(cat, "bench", variants=False))
        exp_p = best(lambda: export.export_dataset(cat, "bench", work / "out", overwrite=True,
                                                   variants=False))
        del cat.table
        exp_v = best(lambda: export.export_dataset(cat, "bench", work / "out", overwrite=True,
                                                   variants=False))
        deep = best(lambda: check_catalog(cat, deep=True))
        shallow = best(lambda: check_catalog(cat))
        read_v = best(lambda: cat.table(ref, verify=True))
        read_p = best(lambda: cat.table(ref))
        crc = work / "crc.parquet"
        pq.write_table(table, crc, write_page_checksum=True)
        crc_v = best(lambda: pq.read_table(crc, memory_map=True, page_checksum_verification=True))
        crc_p = best(lambda: pq.read_table(crc, memory_map=True))
        write_result("store_integrity", {
            "rows": args.rows, "arrow_mb": round(table.nbytes / 1e6, 1),
            "file_mb": round(file_mb, 1), "files": len(files),
            "hash_mb_per_s": round(file_mb / hashing, 1),
            "seconds": {"hash": round(hashing, 3), "load_verified": round(load_v, 3),
                        "load_plain": round(load_p, 3), "export_verified": round(exp_v, 3),
                        "export_plain": round(exp_p, 3), "check_deep": round(deep, 3),
                        "check_default": round(shallow, 3),
                        "read_verified": round(read_v, 3), "read_plain": round(read_p, 3),
                        "read_page_crc": round(crc_v, 3), "read_page_plain": round(crc_p, 3)},
            "export_verify_overhead": round(exp_v / exp_p - 1, 3),
            "check_deep_mb_per_s": round(file_mb / deep, 1),
            "verify_read_overhead": round(read_v / read_p - 1, 3),
            "page_crc_read_overhead": round(crc_v / crc_p - 1, 3),
            "load_average": os.getloadavg(),
            "note": "best of 3, files in the page cache; the machine's 2 cores are shared "
                    "with other sessions"})
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
