"""Variants: views of the same trace rows for training (`cot`, `nocot`, `short`).

A variant is a new dataset version with lineage to the rows it came from; only `messages`
(and, for nocot, the removed `reasoning`) change. Nothing is edited by hand.
"""

from __future__ import annotations

import json

import pyarrow as pa

from curate.errors import BadInput
from curate.record import TRACE_SCHEMA, messages_for

VARIANTS = ("cot", "nocot", "short")


def _short_answer(row: dict, field: str) -> str | None:
    if row.get(field) is not None:
        return str(row[field])
    meta = row.get("metadata")
    if isinstance(meta, str) and meta:
        try:
            value = json.loads(meta).get(field)
        except (ValueError, AttributeError):
            value = None
        return None if value is None else str(value)
    return None


def variant_rows(rows: list[dict], variant: str, short_field: str | None = None,
                 system: str | None = None, source: str = "", offset: int = 0) -> list[dict]:
    """Rows with `messages` rebuilt for `variant`; a row that cannot give it is an error
    (reported with its index in the dataset: `offset` is the index of `rows[0]`)."""
    if variant not in VARIANTS:
        raise BadInput(f"unknown variant {variant!r} (one of {', '.join(VARIANTS)})")
    if variant == "short" and not short_field:
        raise BadInput("the short variant needs --short-field (the column with the short solution)")
    out = []
    for i, row in enumerate(rows, start=offset):
        row = dict(row)
        prompt = row.get("prompt")
        if not prompt:
            raise BadInput("row has no prompt", file=source, row=i, field="prompt")
        if variant == "cot":
            if not row.get("reasoning"):
                raise BadInput("row has no reasoning for the cot variant", file=source, row=i,
                               field="reasoning")
            msgs = messages_for(prompt, row["reasoning"], row.get("answer_text"), "cot", system)
        elif variant == "nocot":
            if not row.get("answer_text"):
                raise BadInput("row has no answer_text for the nocot variant", file=source,
                               row=i, field="answer_text")
            msgs = messages_for(prompt, None, row["answer_text"], "nocot", system)
            row["reasoning"] = None
        else:
            short = _short_answer(row, short_field)
            if not short:
                raise BadInput(f"row has no {short_field!r} for the short variant", file=source,
                               row=i, field=short_field)
            msgs = messages_for(prompt, None, short, "short", system)
            row["reasoning"] = None
            row["answer_text"] = short
        row["messages"] = msgs
        out.append(row)
    return out


def make_variant(catalog, name: str, variant: str, output: str, short_field: str | None = None,
                 system: str | None = None, batch_size: int = 2048):
    """Register the `variant` view of traces dataset `name` as `output` (streamed in batches:
    long-CoT datasets do not fit in memory as Python rows)."""
    if variant not in VARIANTS:
        raise BadInput(f"unknown variant {variant!r} (one of {', '.join(VARIANTS)})")
    ref = catalog.resolve(name)
    schema = catalog.table(ref).schema  # memory-mapped: reads no rows
    if "messages" not in schema.names:
        schema = schema.append(TRACE_SCHEMA.field("messages"))

    def batches():
        done = 0
        read = [c for c in schema.names if c != "messages"]  # rebuilt: do not read it
        for batch in catalog.iter_batches(ref, batch_size=batch_size, columns=read):
            rows = variant_rows(batch.to_pylist(), variant, short_field, system,
                                source=ref.spec, offset=done)
            done += len(rows)
            yield pa.RecordBatch.from_pylist(rows, schema=schema)

    params = {"variant": variant, "short_field": short_field, "system": system}
    return catalog.register(output, batches(), kind="traces", parents=[ref], step="variant",
                            params=params, counts={"in": ref.rows, "out": ref.rows,
                                                   "dropped": {}}, schema=schema)
