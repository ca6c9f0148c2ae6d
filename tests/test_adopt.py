"""Catalog.adopt and the content-defined version id: the same rows give the same version
whatever wrote them (curate's store, datatrove's ParquetWriter, plain pyarrow) and however
they are split into files and row groups."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curate.catalog.content_id import content_id
from curate.errors import BadInput
from curate.record import TRACE_SCHEMA, empty_trace, messages_for


def _rows(n=60):
    out = []
    for i in range(n):
        reasoning = None if i % 7 == 0 else f"think {i} " * (i % 5 + 1)
        out.append(empty_trace(
            id=f"t{i}", problem_id=f"p{i // 3}", task="math", prompt=f"What is {i}+1?",
            reasoning=reasoning, answer_text="" if i % 11 == 0 else f"\\boxed{{{i + 1}}}",
            verified=None if i % 4 == 0 else bool(i % 2), sample_index=i % 3,
            completion_tokens=None if i % 9 == 0 else 10 * i, finish_reason="stop",
            messages=messages_for(f"What is {i}+1?", reasoning, f"{i + 1}")))
    return out


def _table(rows):
    return pa.Table.from_pylist(rows, schema=TRACE_SCHEMA)


def _pyarrow_files(table, folder, cuts, row_group_size, store_schema=True):
    folder.mkdir(parents=True, exist_ok=True)
    files, start = [], 0
    for i, stop in enumerate([*cuts, table.num_rows]):
        f = folder / f"shard-{i}.parquet"
        pq.write_table(table.slice(start, stop - start), f, row_group_size=row_group_size,
                       store_schema=store_schema, compression="zstd")
        files.append(f)
        start = stop
    return files


def _datatrove_files(rows, folder, shards):
    """The rows written by datatrove's own ParquetWriter (CDC, page index, its batching)."""
    from datatrove.data import Document
    from datatrove.pipeline.writers import ParquetWriter

    def adapter(self, doc):
        return doc.metadata["row"]

    per = -(-len(rows) // shards)
    for rank in range(shards):
        w = ParquetWriter(str(folder), output_filename="${rank}.parquet", adapter=adapter,
                          schema=TRACE_SCHEMA, batch_size=7)
        with w:
            for j, r in enumerate(rows[rank * per:(rank + 1) * per]):
                w.write(Document(text="x", id=str(j), metadata={"row": r}), rank=rank)
    return sorted(folder.glob("*.parquet"))


def test_same_rows_same_version_whatever_wrote_them(catalog, tmp_path):
    rows = _rows()
    table = _table(rows)
    ref = catalog.register("toy", table, schema=TRACE_SCHEMA)
    assert ref.version == content_id([table])
    a = catalog.adopt("toy-a", _pyarrow_files(table, tmp_path / "a", [13, 40], 5))
    b = catalog.adopt("toy-b", _pyarrow_files(table, tmp_path / "b", [1], 50,
                                              store_schema=False))
    c = catalog.adopt("toy-c", _datatrove_files(rows, tmp_path / "c", 3))
    assert a.version == b.version == c.version == ref.version
    assert a.rows == b.rows == c.rows == 60
    for r in (a, b, c):
        assert catalog.table(r).to_pylist() == table.to_pylist()


def test_other_rows_or_order_other_version(catalog, tmp_path):
    table = _table(_rows())
    base = catalog.adopt("x", _pyarrow_files(table, tmp_path / "a", [30], 8), keep_source=True)
    swapped = pa.concat_tables([table.slice(30), table.slice(0, 30)])
    assert catalog.adopt("x", _pyarrow_files(swapped, tmp_path / "b", [30], 8)).version \
        != base.version
    # a null becomes an empty string; a string splits differently; an int widens
    edits = [
        table.set_column(5, "reasoning", pa.array(
            ["" if v is None else v for v in table.column("reasoning").to_pylist()])),
        pa.table({"s": ["ab", "c"]}), pa.table({"s": pa.array([1, 2], pa.int32())})]
    other = [pa.table({"s": ["a", "bc"]}), pa.table({"s": pa.array([1, 2], pa.int64())})]
    assert content_id([edits[0]]) != base.version
    assert content_id([edits[1]]) != content_id([other[0]])
    assert content_id([edits[2]]) != content_id([other[1]])


def test_adopt_moves_files_and_records_lineage(catalog, tmp_path):
    table = _table(_rows())
    parent = catalog.register("src", table)
    files = _pyarrow_files(table, tmp_path / "s", [20, 20, 45], 10)   # one shard is empty
    ref = catalog.adopt("out", files, parents=[parent], step="filter",
                        params={"k": 1}, counts={"in": 60, "out": 60})
    assert not any(f.exists() for f in files)
    shown = catalog.show(ref)
    assert len(shown["files"]) == 3 and shown["parents"] == [parent.spec]
    lin = catalog.lineage(ref)[0]
    assert lin["step"] == "filter" and lin["counts"] == {"in": 60, "out": 60}
    assert shown["stats"]["rows"] == 60 and shown["stats"]["problems"] == 20
    assert catalog.files(ref, full_check=True)


def test_adopt_bad_files_register_nothing(catalog, tmp_path):
    table = _table(_rows())
    good = _pyarrow_files(table, tmp_path / "g", [30], 10)
    junk = tmp_path / "junk.parquet"
    junk.write_bytes(b"not parquet at all")
    with pytest.raises(BadInput, match="junk.parquet"):
        catalog.adopt("bad", [good[0], junk])
    other = tmp_path / "other.parquet"
    pq.write_table(table.drop_columns(["metadata"]), other)
    with pytest.raises(BadInput, match="other.parquet.*columns differ"):
        catalog.adopt("bad", [good[0], other])
    with pytest.raises(BadInput, match="no files"):
        catalog.adopt("bad", [])
    assert all(f.exists() for f in good) and not catalog.exists("bad")
    tmp = catalog.store_root / ".tmp"
    assert not tmp.exists() or not any(tmp.iterdir())


def test_manifest_keeps_file_hashes(catalog, tmp_path):
    table = _table(_rows())
    ref = catalog.adopt("m", _pyarrow_files(table, tmp_path / "m", [10], 10))
    m = json.loads((catalog.store_root / "m" / ref.version / "manifest.json").read_text())
    assert m["version"] == ref.version and m["rows"] == 60
    assert [f["name"] for f in m["files"]] == ["part-00000.parquet", "part-00001.parquet"]


def test_content_id_ignores_batches_layout_and_physical_types():
    import io

    struct = pa.struct([("role", pa.string()), ("content", pa.string())])
    t = pa.table({
        "s": ["a", None, "ccc", "", "dd"] * 3,
        "i": pa.array([1, None, 3, 4, 5] * 3, pa.int64()),
        "b": [True, None, False, True, False] * 3,
        "f": [1.5, None, 2.5, -0.0, 3.0] * 3,
        "l": pa.array([[{"role": "u", "content": "x"}], None, [],
                       [{"role": None, "content": "y"}, {"role": "a", "content": "z"}],
                       [None]] * 3, pa.list_(struct)),
        "m": pa.array([[("k", 1)], None, [], [("a", 2), ("b", None)], [("z", 3)]] * 3,
                      pa.map_(pa.string(), pa.int64())),
        "ts": pa.array([1, 2, None, 4, 5] * 3, pa.timestamp("ms"))})
    base = content_id([t])
    assert content_id(t.to_batches(max_chunksize=2)) == base
    assert content_id([t.slice(0, 7), t.slice(7)]) == base
    large = t.cast(pa.schema([("s", pa.large_string()), *list(t.schema)[1:4],
                              ("l", pa.large_list(struct)), *list(t.schema)[5:]]))
    assert content_id([large]) == base
    assert content_id([t.set_column(0, "s", t.column("s").dictionary_encode())]) == base
    assert content_id([t.replace_schema_metadata({"writer": "other"})]) == base
    buf = io.BytesIO()
    pq.write_table(t, buf, row_group_size=4, store_schema=False)
    assert content_id(pq.read_table(pa.BufferReader(buf.getvalue())).to_batches()) == base
    assert content_id([t.rename_columns(["S", *t.column_names[1:]])]) != base
