"""Mixtures: seeded samples of catalog datasets, with a `messages` column for one variant,
registered as a `mixture` version with lineage to the exact version of each component.

A component is `DATASET[@VERSION][:COUNT|RATIO]`: an integer is a row count, a number with a
decimal point (0 < r <= 1) a share of that dataset's rows, nothing means every row.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from curate.curation.steps import step
from curate.errors import BadInput, CurateError
from curate.record import TRACE_SCHEMA, messages_for, split_think

VARIANTS = ("cot", "nocot")
MESSAGES_TYPE = TRACE_SCHEMA.field("messages").type
# Columns a mixture keeps beside `messages`: enough to trace a row back to its component and
# to use the same mixture as GRPO prompts (`prompt`, `reference`, `task`).
KEEP = ("id", "problem_id", "task", "source", "prompt", "reference", "teacher")
MIXTURE_SCHEMA = pa.schema([("component", pa.string())] + [(c, pa.string()) for c in KEEP]
                           + [("messages", MESSAGES_TYPE)])
_COMPONENT = re.compile(r"^(?P<spec>[^:]+?)(?::(?P<amount>[^:]+))?$")


@dataclass(frozen=True)
class Component:
    dataset: str                 # NAME or NAME@VERSION as given
    count: int | None = None     # rows to draw
    ratio: float | None = None   # or a share of the dataset's rows; neither: all rows

    def rows_from(self, available: int, spec: str) -> int:
        """How many rows to draw from a version with `available` rows."""
        if self.count is not None:
            if self.count > available:
                raise BadInput(f"{spec} has {available} rows; {self.count} requested")
            return self.count
        if self.ratio is not None:
            return max(1, round(self.ratio * available)) if available else 0
        return available


def parse_component(text: str) -> Component:
    """`DATASET[@V][:COUNT|RATIO]` -> Component; a one-line error on anything else."""
    m = _COMPONENT.match((text or "").strip())
    if not m or not m.group("spec"):
        raise BadInput(f"--from {text!r}: expected DATASET[@VERSION][:COUNT|RATIO]")
    spec, amount = m.group("spec").strip(), m.group("amount")
    if amount is None or amount.strip().lower() == "all":
        return Component(spec)
    amount = amount.strip()
    try:
        if re.fullmatch(r"\d+", amount):
            count = int(amount)
            if count < 1:
                raise ValueError
            return Component(spec, count=count)
        ratio = float(amount)
        if not 0 < ratio <= 1:
            raise ValueError
        return Component(spec, ratio=ratio)
    except ValueError:
        raise BadInput(f"--from {text!r}: COUNT must be a positive integer and RATIO a number "
                       "in (0, 1]") from None


def _assistant_turns(msgs: list[dict] | None) -> list[dict]:
    return [m for m in (msgs or []) if m and m.get("role") == "assistant"]


def _from_messages(msgs: list[dict], variant: str | None) -> list[dict] | None:
    """Stored messages for a variant: as is, with think blocks required (cot) or removed
    (nocot). None when a cot row has no closed think block."""
    msgs = [{"role": m["role"], "content": m["content"] or ""} for m in msgs]
    if variant is None:
        return msgs
    out = []
    for m in msgs:
        if m["role"] == "assistant":
            reasoning, answer, closed = split_think(m["content"])
            if variant == "cot" and (not reasoning or not closed):
                return None
            if variant == "nocot":
                m = {"role": "assistant", "content": answer}
        out.append(m)
    return out


def row_messages(row: dict[str, Any], variant: str | None) -> list[dict] | None:
    """The training conversation of one row for `variant` (None: as stored, else cot where
    there is reasoning). None when the row cannot give the variant."""
    prompt, reasoning, answer = row.get("prompt"), row.get("reasoning"), row.get("answer_text")
    if prompt and (answer or reasoning):
        if variant == "cot" and not reasoning:
            return None
        if variant is None and row.get("messages"):
            return _from_messages(row["messages"], None)
        return messages_for(prompt, reasoning if variant != "nocot" else None, answer,
                            variant or "cot")
    if row.get("messages"):
        return _from_messages(row["messages"], variant)
    return None


def _check_fields(table: pa.Table, spec: str) -> None:
    cols = set(table.column_names)
    if "messages" not in cols and not {"prompt", "answer_text"} <= cols:
        raise BadInput(f"{spec} has neither `messages` nor `prompt` + `answer_text`: nothing "
                       "to train on")


def _draw(n: int, k: int, seed: int, spec: str) -> list[int]:
    """k of n row indices, seeded by (seed, exact version): the same draw every time."""
    if k >= n:
        return list(range(n))
    return sorted(random.Random(f"{seed}:{spec}").sample(range(n), k))


def component_rows(table: pa.Table, spec: str, indices: list[int],
                   variant: str | None) -> list[dict[str, Any]]:
    """The chosen rows of one component in the mixture's shape; a clear error naming the
    dataset when rows cannot give the variant."""
    cols = [c for c in ("prompt", "reasoning", "answer_text", "messages", *KEEP)
            if c in table.column_names]
    rows = table.select(cols).take(pa.array(indices, pa.int64())).to_pylist()
    out, bad, empty = [], 0, 0
    for i, row in zip(indices, rows):
        msgs = row_messages(row, variant)
        if msgs is None:
            bad += 1
            continue
        turns = _assistant_turns(msgs)
        if not turns or not any((t["content"] or "").strip() for t in turns):
            empty += 1
            continue
        out.append({"component": spec, **{c: _str(row.get(c)) for c in KEEP},
                    "id": _str(row.get("id")) or f"{spec}#{i}", "messages": msgs})
    if bad:
        if variant == "cot":
            raise BadInput(f"{spec}: variant cot needs reasoning, but {bad} of {len(rows)} drawn "
                           "rows have none (no reasoning field or closed think block)")
        raise BadInput(f"{spec}: {bad} of {len(rows)} drawn rows have neither prompt + "
                       "answer_text nor messages")
    if empty:
        raise BadInput(f"{spec}: {empty} of {len(rows)} drawn rows have an empty assistant turn "
                       f"for variant {variant or 'as stored'}")
    return out


def _str(v: Any) -> str | None:
    return None if v is None else str(v)


def build_mixture(catalog, name: str, components: list[Component | str],
                  variant: str | None = None, seed: int = 0, shuffle: bool = True):
    """Draw each component (seeded), build `messages` for `variant`, register a mixture.

    Every component is resolved and its fields checked before any row is drawn, so a
    missing dataset or variant fails in a second whatever the sizes.

    `components`: `"DATASET[@V][:COUNT|RATIO]"` strings (or `Component`s). Returns the mixture's
    `DatasetRef` (kind `mixture`, columns component, id, problem_id, task, source, prompt,
    reference, teacher, messages). Raises BadInput (a bad component, a missing variant field,
    more rows asked than there are), NotFound (an unknown dataset).

    Example: ``build_mixture(cat, "cd-mix", ["countdown-cot-20k:512", "math-cot-20k:0.5"], variant="cot")``.
    """
    if variant is not None and variant not in VARIANTS:
        raise BadInput(f"unknown variant {variant!r} (one of {', '.join(VARIANTS)})")
    comps = [parse_component(c) if isinstance(c, str) else c for c in components]
    if not comps:
        raise BadInput("a mixture needs at least one --from DATASET[:COUNT]")
    refs = [catalog.resolve(c.dataset) for c in comps]          # NotFound before any work
    specs = [r.spec for r in refs]
    if len(set(specs)) != len(specs):
        raise BadInput(f"a dataset version appears twice in the mixture: {specs}")
    tables = [catalog.table(r) for r in refs]
    for t, s in zip(tables, specs):
        _check_fields(t, s)
    plan = [(c, r, t, c.rows_from(t.num_rows, r.spec)) for c, r, t in zip(comps, refs, tables)]
    rows: list[dict[str, Any]] = []
    drawn: list[dict[str, Any]] = []
    for c, r, t, k in plan:
        idx = _draw(t.num_rows, k, seed, r.spec)
        part = component_rows(t, r.spec, idx, variant)
        rows.extend(part)
        drawn.append({"dataset": r.spec, "kind": r.kind, "available": t.num_rows,
                      "count": c.count, "ratio": c.ratio, "drawn": len(part)})
    if not rows:
        raise CurateError("the mixture would be empty")
    if shuffle:
        random.Random(f"mix:{seed}").shuffle(rows)
    params = {"components": drawn, "variant": variant, "seed": seed, "shuffle": shuffle}
    available = sum(d["available"] for d in drawn)
    counts = {"in": available, "out": len(rows), "dropped": {"not_drawn": available - len(rows)},
              "per_component": {d["dataset"]: d["drawn"] for d in drawn}}
    card = "\n".join([f"# {name}", "", f"Mixture ({variant or 'as stored'} variant, seed {seed}):",
                      ""] + [f"- {d['dataset']}: {d['drawn']} of {d['available']} rows"
                             for d in drawn])
    table = pa.Table.from_pylist(rows, schema=MIXTURE_SCHEMA)
    return catalog.register(name, table, kind="mixture", parents=specs, step="mix",
                            params=params, counts=counts, card=card,
                            stats={"per_component": counts["per_component"],
                                   "variant": variant or "as stored"},
                            schema=MIXTURE_SCHEMA)


@step("mix")
def mix_step(catalog, inputs: list[str], params: dict, output: str):
    """Recipe step: inputs are `DATASET[@V][:COUNT|RATIO]`; params `variant`, `seed`,
    `shuffle`."""
    unknown = set(params) - {"variant", "seed", "shuffle"}
    if unknown:
        raise BadInput(f"step 'mix': unknown parameter(s) {', '.join(sorted(unknown))}")
    return build_mixture(catalog, output, list(inputs), variant=params.get("variant"),
                         seed=int(params.get("seed", 0)), shuffle=bool(params.get("shuffle", True)))
