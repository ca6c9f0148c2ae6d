"""Variants: views of the same trace rows for training (`cot`, `nocot`, `short`).

A variant is a new dataset version with lineage to the rows it came from, row for row; only
`messages` (and, for nocot, the removed `reasoning`) change. Nothing is edited by hand.

A nocot row never holds thinking: an `answer_text` that still carries an inline think block
(`<think>...</think>`, Sky-T1's `<|begin_of_thought|>...<|end_of_thought|>` with its solution
markers) has it split off first (counted as `thinking_stripped`), and the variant is refused,
naming the row, when no visible answer is left (thinking that never closed: drop such rows
first with `curate filter --closed-think`) or when markers are still there after the
split. The cot variant is refused likewise for a row whose thinking never closed (reasoning
with no visible answer, `filters.think_closed`): it would close a block the teacher never
closed. A variant never drops rows, so the cot and nocot views of a version have the same rows.
"""

from __future__ import annotations

import json

import pyarrow as pa

from curate.curation.executors.ops import Applied, BatchOp, Finished
from curate.curation.filters import think_closed
from curate.errors import BadInput
from curate.record import TRACE_SCHEMA, has_think_markers, messages_for, split_think

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


def nocot_answer(row: dict, source: str = "", index: int | None = None) -> tuple[str, bool]:
    """(the visible answer of a trace with every thinking marker gone, whether an inline think
    block had to be split off); BadInput naming the row when there is none."""
    answer = row.get("answer_text") or ""
    stripped = has_think_markers(answer)
    if stripped:
        _, answer, _ = split_think(answer)
    if not answer.strip():
        never_closed = stripped or bool(row.get("reasoning"))
        raise BadInput("no visible answer for the nocot variant" + (
            ": its thinking never closed (drop such rows first: curate filter --closed-think, "
            "recipe filter require_closed_think)" if never_closed else ""), file=source, row=index,
            field="answer_text")
    if has_think_markers(answer):
        raise BadInput("answer_text still holds thinking markers after its think block was "
                       "removed (a second or stray marker)", file=source, row=index,
                       field="answer_text")
    return answer.strip(), stripped


def variant_rows(rows: list[dict], variant: str, short_field: str | None = None,
                 system: str | None = None, source: str = "", offset: int = 0,
                 counts: dict | None = None) -> list[dict]:
    """Rows with `messages` rebuilt for `variant`; a row that cannot give it is an error
    (reported with its index in the dataset: `offset` is the index of `rows[0]`). `counts`
    (when given) gets `thinking_stripped`: nocot rows whose answer_text held a think block."""
    counts = counts if counts is not None else {}
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
            if not think_closed(row.get("reasoning"), row.get("answer_text")):
                raise BadInput("its thinking never closed, so the cot variant would close it "
                               "and give an empty answer (drop such rows first: curate filter "
                               "--closed-think, recipe filter require_closed_think)",
                               file=source, row=i, field="reasoning")
            msgs = messages_for(prompt, row["reasoning"], row.get("answer_text"), "cot", system)
        elif variant == "nocot":
            answer, stripped = nocot_answer(row, source, i)
            counts["thinking_stripped"] = counts.get("thinking_stripped", 0) + stripped
            msgs = messages_for(prompt, None, answer, "nocot", system)
            if has_think_markers(msgs[-1]["content"]):      # the promise, checked on the row
                raise BadInput("nocot message still holds thinking markers", file=source,
                               row=i, field="answer_text")
            row["reasoning"] = None
            if stripped:
                row["answer_text"] = answer
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


class VariantOp(BatchOp):
    """A training view as a batch op: `messages` rebuilt per row (never read from the input)."""

    step = "variant"

    def __init__(self, variant: str, short_field: str | None = None,
                 system: str | None = None):
        if variant not in VARIANTS:
            raise BadInput(f"unknown variant {variant!r} (one of {', '.join(VARIANTS)})")
        self.variant, self.short_field, self.system = variant, short_field, system
        self.source = ""

    def check(self, schema: pa.Schema, spec: str) -> None:
        self.source = spec

    def read_columns(self, schema: pa.Schema) -> list[str]:
        return [c for c in schema.names if c != "messages"]

    def output_schema(self, schema: pa.Schema) -> pa.Schema:
        if "messages" not in schema.names:
            schema = schema.append(TRACE_SCHEMA.field("messages"))
        return schema

    def apply(self, batch: pa.RecordBatch, row0: int) -> Applied:
        counts: dict = {}
        rows = variant_rows(batch.to_pylist(), self.variant, self.short_field, self.system,
                            source=self.source, offset=row0, counts=counts)
        schema = self.output_schema(batch.schema)
        return Applied(pa.RecordBatch.from_pylist(rows, schema=schema),
                       {k: int(v) for k, v in counts.items()})

    def finish_params(self) -> dict:
        return {"variant": self.variant, "short_field": self.short_field, "system": self.system}

    def key(self) -> dict:
        return {"step": self.step, **self.finish_params()}

    def finish(self, n_in: int, n_out: int, tallies: dict, notes: list) -> Finished:
        counts = {"in": n_in, "out": n_out, "dropped": {}}
        if self.variant == "nocot":
            counts["thinking_stripped"] = int(tallies.get("thinking_stripped", 0))
        return Finished(self.finish_params(), counts)


def make_variant(catalog, name: str, variant: str, output: str, short_field: str | None = None,
                 system: str | None = None, batch_size: int | None = None, executor=None,
                 progress: bool = False):
    """Register the `variant` view of traces dataset `name` as `output`, streamed batch by
    batch (long-CoT datasets do not fit in memory as Python rows); with `executor` (an
    `ExecutorSpec`) as a datatrove pipeline.

    `variant`: cot | nocot | short. Returns the `DatasetRef` of `output`. Raises BadInput for
    an unknown variant or rows missing what it needs (reasoning for cot, `short_field`).

    Example: ``make_variant(cat, "cd-cot", "nocot", "cd-nocot")``.
    """
    from curate.curation.executors.run import run_op

    return run_op(catalog, name, output, VariantOp(variant, short_field, system),
                  executor=executor, progress=progress, batch_rows=batch_size)
