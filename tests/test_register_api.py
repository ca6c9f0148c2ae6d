"""`Catalog.register` from a notebook: a list of dicts, a datasets.Dataset, a pyarrow Table, a
pandas DataFrame or a stream give the same version; rows are checked against the kind's fields
as `curate import` checks them (one line naming the dataset, row and field; nothing
registered)."""

from __future__ import annotations

import pyarrow as pa
import pytest

from curate.errors import BadInput

ROWS = [{"prompt": f"What is {i} + 1?", "reference": str(i + 1), "verified": True,
         "completion_tokens": 10 + i} for i in range(12)]


def test_every_input_form_gives_the_same_version(catalog):
    import datasets
    import pandas as pd

    forms = {
        "list": ROWS,
        "dataset": datasets.Dataset.from_list(ROWS),
        "dataset view": datasets.Dataset.from_list(ROWS[::-1]).select(range(11, -1, -1)),
        "table": pa.Table.from_pylist(ROWS),
        "pandas": pd.DataFrame(ROWS),
        "stream": (r for r in ROWS),
        "batches": iter(pa.Table.from_pylist(ROWS).to_batches(max_chunksize=5)),
    }
    versions = {k: catalog.register("nb", v, kind="traces").version for k, v in forms.items()}
    assert len(set(versions.values())) == 1, versions
    assert catalog.get("nb")["reference"] == [str(i + 1) for i in range(12)]


@pytest.mark.parametrize("bad,row,field", [
    ([*ROWS[:3], {"reference": "4"}], 3, "prompt"),                     # no prompt at all
    ([*ROWS[:5], {**ROWS[5], "prompt": "  "}], 5, "prompt"),            # an empty prompt
    ([*ROWS[:2], {**ROWS[2], "verified": "yes"}], 2, "verified"),       # a wrong type
    ([*ROWS[:7], {**ROWS[7], "completion_tokens": 3.5}], 7, "completion_tokens"),
    ([*ROWS[:1], {**ROWS[1], "messages": "hi"}], 1, "messages"),
])
def test_bad_rows_are_one_line_naming_row_and_field(catalog, bad, row, field):
    import pandas as pd

    for data in (bad, (r for r in bad)):
        with pytest.raises(BadInput) as e:
            catalog.register("nb", data, kind="traces")
        msg = str(e.value)
        assert f"register 'nb': row {row}:" in msg and f"(field {field!r})" in msg
        assert "\n" not in msg
    if field in ("prompt",):   # the same on columns: a Table and a DataFrame
        for data in (pa.Table.from_pylist(bad), pd.DataFrame(bad)):
            with pytest.raises(BadInput, match=rf"row {row}: missing or empty prompt"):
                catalog.register("nb", data, kind="problems")
    assert catalog.ls() == []          # nothing registered


def test_columns_checked_and_other_kinds_free(catalog):
    import pandas as pd

    with pytest.raises(BadInput, match=r"column of type string, expected bool \(field 'verified'\)"):
        catalog.register("nb", pa.table({"prompt": ["a"], "verified": ["yes"]}), kind="traces")
    with pytest.raises(BadInput, match="need a prompt column .* kind='rows'"):
        catalog.register("nb", pd.DataFrame({"x": [1, 2]}), kind="problems")
    with pytest.raises(BadInput, match="mixed types"):
        catalog.register("nb", pd.DataFrame({"prompt": ["a", 1]}), kind="problems")
    # aliases count as a prompt, as in import; other kinds are stored as given
    assert catalog.register("p", [{"problem": "2+2?"}], kind="problems").rows == 1
    assert catalog.register("r", pd.DataFrame({"x": [1, 2]}), kind="rows").rows == 2
    assert catalog.register("e", [], kind="traces").rows == 0
