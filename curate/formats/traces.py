"""Trace files from elsewhere: field mappings, the layouts of common public long-CoT datasets,
and the checks a trace must pass before it is a trace.

A trace needs a prompt and a reasoning and/or a visible answer. Files name these fields in many
ways; a mapping says which source field fills which trace field:

    --map prompt=question,completion=code[0],reference=gt,problem_id=idx

Targets are trace fields (`prompt`, `reasoning`, `answer_text`, `reference`, `problem_id`,
`id`, `task`, `source`, `finish_reason`, `final_answer`, `sample_index`, `prompt_tokens`,
`completion_tokens`, `teacher`) plus `completion`: a whole response whose inline markers
(`<think>...</think>`, or `<|begin_of_thought|>...<|end_of_thought|>` with
`<|begin_of_solution|>...<|end_of_solution|>`) are split into reasoning and answer. A source is a
path: `field`, `field.key`, `field[0]`, `field[-1]`, `field[role=user].content` (the first
item whose `role` is `user`; `|` separates alternatives: `[from=user|human]`) and `field[*]`
(one trace per item; every `[*]` of a mapping walks the same index).

`LAYOUTS` are ready mappings for OpenR1-Math (one trace per generation), OpenThoughts, Sky-T1
(its training conversations and its evaluation outputs) and s1K / s1K-1.1; `detect_layout`
finds the one a file is in from its first row's fields.

A layout whose completions mark their thinking (`Variant.marks_thinking`: OpenR1-Math,
OpenThoughts and Sky-T1 conversations, SkyThought outputs) reads a completion with no marker
at all as thinking, not as the answer (`split_unmarked`): the model wrote its thought without
the format's markers (QwQ-preview style). A last `**Final Answer**` heading ends the thought
(the answer is that section, `think_format` `final-answer-heading`); without one the thought
never closed (reasoning only, answer empty, `think_closed` false), so no such row passes as a
`nocot` answer.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from curate.errors import BadInput
from curate.formats.boxed import last_boxed
from curate.record import (
    TRACE_FIELDS,
    has_think_markers,
    jsonable,
    problem_id_for,
    split_think,
    stable_json,
)

MAP_TARGETS = tuple(f for f in TRACE_FIELDS if f not in ("messages", "metadata", "sampling",
                                                         "verified", "verify_detail")) \
    + ("completion",)
TEXT_TARGETS = ("prompt", "reasoning", "answer_text", "completion", "reference", "problem_id",
                "id", "task", "source", "finish_reason", "final_answer", "teacher")
INT_TARGETS = ("sample_index", "prompt_tokens", "completion_tokens")
ID_SOURCES = ("problem_id", "uuid", "unique_id", "idx")   # a problem id when none is mapped


# -- paths ------------------------------------------------------------------------------------

_STEP = re.compile(r"\.?([A-Za-z_][\w\-]*)|\[(-?\d+|\*|[A-Za-z_]\w*=[^\]]*)\]")


def parse_path(path: str) -> list[str | int | tuple[str, tuple[str, ...]]]:
    """`a.b[0][role=user|human]` -> ["a", "b", 0, ("role", ("user", "human"))]; "*" for [*]."""
    steps: list[Any] = []
    pos = 0
    path = path.strip()
    while pos < len(path):
        m = _STEP.match(path, pos)
        if not m or (pos == 0 and path.startswith(".")):
            raise BadInput(f"--map: cannot read field path {path!r} at {path[pos:]!r} (use "
                           "field, field.key, field[0], field[role=user].content or field[*])")
        if m.group(1) is not None:
            steps.append(m.group(1))
        else:
            g = m.group(2)
            if g == "*":
                steps.append("*")
            elif "=" in g:
                k, v = g.split("=", 1)
                steps.append((k, tuple(v.split("|"))))
            else:
                steps.append(int(g))
        pos = m.end()
    if not steps:
        raise BadInput(f"--map: empty field path {path!r}")
    return steps


_MISSING = object()


def get_path(row: Any, steps: list, star: int | None = None) -> Any:
    """The value at `steps` in `row`, or _MISSING when any step is absent."""
    cur = row
    for st in steps:
        if st == "*":
            st = star
        if isinstance(st, str):
            if not isinstance(cur, dict) or st not in cur:
                return _MISSING
            cur = cur[st]
        elif isinstance(st, int):
            if not isinstance(cur, list) or not -len(cur) <= st < len(cur):
                return _MISSING
            cur = cur[st]
        else:
            key, wanted = st
            if not isinstance(cur, list):
                return _MISSING
            cur = next((x for x in cur if isinstance(x, dict) and str(x.get(key)) in wanted),
                       _MISSING)
            if cur is _MISSING:
                return _MISSING
    return cur


def star_list(row: Any, steps: list) -> Any:
    """The list a `[*]` path walks (the value at the steps before the star)."""
    return get_path(row, steps[:steps.index("*")])


# -- mappings and layouts ---------------------------------------------------------------------

Transform = Callable[[Any], Any]


def _join(v: Any) -> Any:
    return "\n".join(x for x in v if isinstance(x, str)) if isinstance(v, list) else v


def _boxed_or_text(v: Any) -> Any:
    """A gold answer from a solution text: its last `\\boxed{}`, else the text itself."""
    if not isinstance(v, str):
        return v
    b = last_boxed(v)
    return b if b is not None else v.strip()


@dataclass(frozen=True)
class Variant:
    """One shape of a layout: the fields that identify it and where each trace field is."""

    needs: tuple[str, ...]
    fields: dict[str, str]
    transforms: dict[str, Transform] = field(default_factory=dict)
    defaults: dict[str, Any] = field(default_factory=dict)
    drop: tuple[str, ...] = ()        # source fields not kept (a copy of a mapped value)
    note: str = ""
    marks_thinking: bool = False      # its completions mark thinking: unmarked text is thought
    fallbacks: dict[str, str] = field(default_factory=dict)   # target -> path when it is empty


@dataclass(frozen=True)
class Layout:
    name: str
    description: str
    variants: tuple[Variant, ...]


_CONVERSATIONS = Variant(
    needs=("conversations",),
    fields={"prompt": "conversations[from=user|human].value",
            "completion": "conversations[from=assistant|gpt].value"},
    note="ShareGPT conversations (system, conversations[{from, value}])", marks_thinking=True)

LAYOUTS: dict[str, Layout] = {lay.name: lay for lay in (
    Layout("openr1-math", "open-r1/OpenR1-Math-220k: one trace per item of `generations`", (
        Variant(needs=("problem", "generations"),
                fields={"prompt": "problem", "completion": "generations[*]",
                        "finish_reason": "finish_reasons[*]", "reference": "answer",
                        "problem_id": "uuid", "source": "source"},
                defaults={"task": "math"}, drop=("messages",), marks_thinking=True),
        Variant(needs=("problem", "messages"),
                fields={"prompt": "problem", "completion": "messages[role=assistant].content",
                        "reference": "answer", "problem_id": "uuid", "source": "source"},
                defaults={"task": "math"}, marks_thinking=True),
    )),
    Layout("openthoughts", "open-thoughts/OpenThoughts-114k (default and metadata configs), "
           "OpenThoughts2/3, Bespoke-Stratos", (
               Variant(needs=("problem", "deepseek_reasoning", "deepseek_solution"),
                       fields={"prompt": "problem", "reasoning": "deepseek_reasoning",
                               "answer_text": "deepseek_solution",
                               "reference": "ground_truth_solution", "source": "source"},
                       transforms={"reference": _boxed_or_text}),
               _CONVERSATIONS,
           )),
    Layout("sky-t1", "NovaSky-AI Sky-T1 training data (conversations) and SkyThought "
           "evaluation outputs (question, code[*], gt)", (
               # `answer` is the dataset's own gold; the harness's `gt` lost characters on
               # some rows (`(+5)(b+2)`, a pmatrix without its row breaks, empty): a fallback
               Variant(needs=("question", "code"),
                       fields={"prompt": "question", "completion": "code[*]",
                               "reference": "answer", "problem_id": "idx"},
                       fallbacks={"reference": "gt"},
                       defaults={"task": "math"}, marks_thinking=True),
               _CONVERSATIONS,
           )),
    Layout("s1k", "simplescaling/s1K and s1K-1.1 (question, thinking trajectory, attempt)", (
        Variant(needs=("question", "deepseek_thinking_trajectory", "deepseek_attempt"),
                fields={"prompt": "question", "reasoning": "deepseek_thinking_trajectory",
                        "answer_text": "deepseek_attempt", "reference": "solution"},
                transforms={"reference": _boxed_or_text}, note="s1K-1.1 (DeepSeek-R1 traces)"),
        Variant(needs=("question", "thinking_trajectories", "attempt"),
                fields={"prompt": "question", "reasoning": "thinking_trajectories",
                        "answer_text": "attempt", "reference": "solution"},
                transforms={"reasoning": _join, "reference": _boxed_or_text}),
    )),
)}


def parse_map(spec: str | dict[str, str] | None) -> dict[str, str]:
    """`reasoning=FIELD,answer_text=FIELD,...` (or a dict) -> {target: path}; targets checked."""
    if not spec:
        return {}
    items = spec.items() if isinstance(spec, dict) else [
        part.split("=", 1) if "=" in part else (part, "") for part in spec.split(",")
        if part.strip()]
    out: dict[str, str] = {}
    for k, v in items:
        k, v = str(k).strip(), str(v).strip()
        if not k or not v:
            raise BadInput(f"--map: expected TARGET=FIELD pairs separated by commas, got {spec!r}")
        if k not in MAP_TARGETS:
            raise BadInput(f"--map: unknown target {k!r} (one of {', '.join(MAP_TARGETS)})")
        parse_path(v)
        out[k] = v
    if "completion" in out and ("reasoning" in out or "answer_text" in out):
        raise BadInput("--map: map either completion (split at its markers) or reasoning / "
                       "answer_text, not both")
    return out


def _variant_matches(v: Variant, row: dict) -> bool:
    return all(k in row and row[k] not in (None, "", []) for k in v.needs)


def detect_layout(row: Any) -> tuple[str, Variant] | None:
    """The layout a raw row is in (first matching variant), or None when it already has trace
    fields or matches none."""
    if not isinstance(row, dict):
        return None
    if any(row.get(k) not in (None, "") for k in ("reasoning", "answer_text", "completion")):
        return None
    for name, layout in LAYOUTS.items():
        for v in layout.variants:
            if _variant_matches(v, row):
                return name, v
    return None


def layout_variant(name: str, row: Any) -> Variant:
    """The variant of layout `name` that fits `row`; BadInput naming what is missing."""
    if name not in LAYOUTS:
        raise BadInput(f"--layout: unknown layout {name!r} (one of {', '.join(LAYOUTS)})")
    layout = LAYOUTS[name]
    if isinstance(row, dict):
        for v in layout.variants:
            if _variant_matches(v, row):
                return v
    wants = " or ".join("{" + ", ".join(v.needs) + "}" for v in layout.variants)
    raise BadInput(f"--layout {name}: the first row has none of the field sets {wants}")


# -- a row to a trace -------------------------------------------------------------------------

@dataclass
class TraceMapper:
    """Turns raw rows into trace rows with `mapping` (target -> path), the transforms and
    defaults of a layout variant, and the file's dataset name (for derived ids)."""

    mapping: dict[str, str]
    name: str
    layout: str | None = None
    transforms: dict[str, Transform] = field(default_factory=dict)
    defaults: dict[str, Any] = field(default_factory=dict)
    drop: tuple[str, ...] = ()
    fallbacks: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.paths = {k: parse_path(v) for k, v in self.mapping.items()}
        self.fallback_paths = {k: parse_path(v) for k, v in self.fallbacks.items()}
        stars = [k for k, p in self.paths.items() if "*" in p]
        self.star_key = stars[0] if stars else None
        self.consumed = {str(p[0]) for p in self.paths.values() if isinstance(p[0], str)}

    def rows(self, row: Any) -> list[dict[str, Any]] | tuple[str, str | None]:
        """The traces of one raw row, or (reason, field) when it cannot give one."""
        if not isinstance(row, dict):
            return f"expected a JSON object, got {type(row).__name__}", None
        if self.star_key is None:
            return [self._one(row, None)]
        items = star_list(row, self.paths[self.star_key])
        if not isinstance(items, list) or not items:
            return "nothing to import: the list to take one trace per item from is empty or " \
                   "missing", self.mapping[self.star_key].split("[")[0]
        for k, p in self.paths.items():
            if "*" in p:
                other = star_list(row, p)
                if not isinstance(other, list) or len(other) != len(items):
                    n = len(other) if isinstance(other, list) else 0
                    return (f"{n} items where {self.mapping[self.star_key].split('[')[0]} has "
                            f"{len(items)}"), self.mapping[k].split("[")[0]
        return [self._one(row, i) for i in range(len(items))]

    def _one(self, row: dict, star: int | None) -> dict[str, Any]:
        got: dict[str, Any] = {}
        for k, p in self.paths.items():
            v = get_path(row, p, star)
            if v is _MISSING:
                continue
            got[k] = self.transforms[k](v) if k in self.transforms else v
        for k, p in self.fallback_paths.items():
            if got.get(k) in (None, ""):
                v = get_path(row, p, star)
                if v is not _MISSING and v not in (None, ""):
                    got[k] = self.transforms[k](v) if k in self.transforms else v
        for k, v in self.defaults.items():
            got.setdefault(k, v)
        if star is not None:
            got.setdefault("sample_index", star)
        # The source's own fields stay as columns, except those a mapping read (now in their
        # trace field) or a layout drops; one whose name a mapping fills from another field is
        # kept in metadata.source_fields.
        out: dict[str, Any] = {}
        kept: dict[str, Any] = {}
        for k, v in row.items():
            if k in self.consumed or k in self.drop or k == "metadata":
                continue
            if k in got:
                kept[k] = v
            else:
                out[k] = v
        out.update(got)
        meta = _metadata(row.get("metadata")) if "metadata" not in self.consumed else {}
        if self.layout:
            meta["layout"] = self.layout
        if kept:
            meta["source_fields"] = jsonable(kept)
        out["metadata"] = meta
        return out


def _metadata(v: Any) -> dict[str, Any]:
    if isinstance(v, dict):
        return dict(v)
    if isinstance(v, str) and v.strip().startswith("{"):
        try:
            d = json.loads(v)
            return d if isinstance(d, dict) else {"source_metadata": v}
        except ValueError:
            pass
    return {"source_metadata": v} if v not in (None, "") else {}


# A QwQ-preview-style "**Final Answer**" heading at the start of a line (bold, maybe a colon).
_FINAL_ANSWER_HEADING = re.compile(
    r"(?im)^[ \t]*(?:#+[ \t]*)?(?:\*\*|__)[ \t]*final[ \t]+answer[ \t]*:?[ \t]*(?:\*\*|__)")


def split_unmarked(text: str) -> tuple[str, str, bool, str]:
    """(reasoning, answer, think_closed, think_format) of a completion with no thinking marker
    from a layout whose completions mark their thinking: the whole text is the thought, up to
    a last `**Final Answer**` heading that starts the answer (`final-answer-heading`); with no
    such heading (or nothing after it) the thought never closed (`unmarked`)."""
    t = (text or "").strip()
    heads = list(_FINAL_ANSWER_HEADING.finditer(t))
    if heads:
        h = heads[-1]
        if t[h.end():].strip(" \t\n:*_"):
            return t[:h.start()].strip(), t[h.start():].strip(), True, "final-answer-heading"
    return t, "", False, "unmarked"


def finish_trace(row: dict[str, Any], name: str, marks_thinking: bool = False
                 ) -> tuple[dict[str, Any] | None, tuple[str, str | None] | None]:
    """A mapped row as a trace: completion split, reasoning and answer cleaned, ids derived,
    types checked. `marks_thinking`: the completion comes from a layout whose completions
    mark their thinking, so one with no marker is thought (`split_unmarked`).
    Returns (trace, None) or (None, (reason, field))."""
    meta = row.pop("metadata", None)
    meta = _metadata(meta) if not isinstance(meta, dict) else meta
    if "prompt" not in row or row.get("prompt") in (None, ""):
        for alias in ("problem", "question", "input"):
            if isinstance(row.get(alias), str) and row[alias].strip():
                row["prompt"] = row[alias]
                break
    for k in TEXT_TARGETS:
        v = row.get(k)
        if v is not None and not isinstance(v, str):
            if isinstance(v, (int, float)) and not isinstance(v, bool) and k in (
                    "reference", "problem_id", "id", "final_answer"):
                row[k] = str(v)
            elif isinstance(v, (dict, list)) and k == "reference":   # e.g. Countdown's
                row[k] = stable_json(v)                               # {"numbers", "target"}
            else:
                return None, (f"wrong type: {type(v).__name__}, expected text", k)
    for k in ("sampling", "verify_detail"):               # JSON text in the trace record
        v = row.get(k)
        if isinstance(v, (dict, list)):
            row[k] = stable_json(jsonable(v))
        elif v is not None and not isinstance(v, str):
            return None, (f"wrong type: {type(v).__name__}, expected an object or text", k)
    msgs = row.get("messages")
    if msgs is not None and not (isinstance(msgs, list) and all(
            isinstance(m, dict) and isinstance(m.get("role"), str)
            and isinstance(m.get("content"), (str, type(None))) for m in msgs)):
        return None, ("messages must be a list of {role, content} objects", "messages")
    if row.get("verified") is not None and not isinstance(row["verified"], bool):
        return None, (f"wrong type: {type(row['verified']).__name__}, expected true/false",
                      "verified")
    for k in INT_TARGETS:
        v = row.get(k)
        if v is not None and (not isinstance(v, int) or isinstance(v, bool)):
            return None, (f"wrong type: {type(v).__name__}, expected an integer", k)
    if not (row.get("prompt") or "").strip():
        return None, ("a trace needs a prompt (map it: --map prompt=FIELD)", "prompt")
    completion = row.pop("completion", None)
    fmt = None
    if completion is not None and marks_thinking and not has_think_markers(completion):
        row["reasoning"], row["answer_text"], meta["think_closed"], fmt = \
            split_unmarked(completion)
    elif completion is not None:
        reasoning, answer, closed = split_think(completion)
        row["reasoning"], row["answer_text"] = reasoning, answer
        meta["think_closed"] = closed
        fmt = "inline"
    else:
        r, a = row.get("reasoning"), row.get("answer_text")
        if a and not r and has_think_markers(a):       # a whole response in answer_text
            row["reasoning"], row["answer_text"], meta["think_closed"] = split_think(a)
            fmt = "inline"
        elif r and has_think_markers(r):                # a reasoning wrapped in its markers
            inner, rest, _ = split_think(r)
            row["reasoning"] = inner if inner is not None else rest
            if inner is not None and rest and not a:
                row["answer_text"] = rest
            fmt = "fields"
        else:
            fmt = "fields" if r else "none"
    meta["think_format"] = fmt
    if not (row.get("reasoning") or "").strip() and not (row.get("answer_text") or "").strip():
        return None, ("a trace needs reasoning and/or answer_text (map them: --map "
                      "reasoning=FIELD,answer_text=FIELD or completion=FIELD, or pick a "
                      "--layout)", "reasoning")
    if row.get("problem_id") in (None, ""):
        src = next((k for k in ID_SOURCES if row.get(k) not in (None, "")), None)
        row["problem_id"] = str(row[src]) if src else problem_id_for(row["prompt"], name)
    if row.get("id") in (None, ""):
        h = hashlib.sha256(stable_json([row["problem_id"], row.get("sample_index"),
                                        row.get("reasoning"), row.get("answer_text")]).encode())
        row["id"] = h.hexdigest()[:24]
    row["metadata"] = stable_json(jsonable(meta)) if meta else None
    return row, None


# -- a file's rows as traces ------------------------------------------------------------------

@dataclass
class Plan:
    """How a file's rows become traces: the layout (and whether it was detected), the mapping
    in force; reported by `curate import` and recorded in lineage."""

    layout: str | None = None
    detected: bool = False
    variant: str = ""
    mapping: dict[str, str] = field(default_factory=dict)

    def describe(self) -> str:
        if not self.layout:
            return "no layout" + (f"; map {self.mapping}" if self.mapping else "")
        how = "detected" if self.detected else "given"
        needs = f" from fields {self.variant}" if self.detected else ""
        return f"layout {self.layout} ({how}{needs})"


def _peek(source):
    """The first row that parsed, and the source with it put back."""
    import itertools

    head = []
    first = None
    for item in source:
        head.append(item)
        if item[2] is None:
            first = item[1]
            break
    return first, itertools.chain(head, source)


def trace_rows(source, name: str, mapping: dict[str, str] | str | None = None,
               layout: str | None = None):
    """(rows as traces, Plan) for `(row number, row, error)` items from a file reader.

    `layout` None or "auto" detects a public layout from the first row (when it lacks trace
    fields), "none" uses none, a name forces that layout; `mapping` overrides the layout's
    fields. Each item becomes `(row number, trace, None)` (several for a `[*]` mapping) or
    `(row number, None, (reason, field))`."""
    user = parse_map(mapping)
    first, source = _peek(source)
    plan = Plan(mapping=dict(user))
    variant = None
    if layout not in (None, "", "auto", "none"):
        variant = layout_variant(layout, first)
        plan.layout = layout
    elif layout != "none" and first is not None:
        hit = detect_layout(first)
        if hit:
            plan.layout, variant = hit
            plan.detected = True
    if variant is not None:
        plan.variant = ", ".join(variant.needs)
        fields = dict(variant.fields)
        # the user's own reasoning / answer fields replace the layout's whole response, and
        # the user's whole response replaces the layout's reasoning / answer fields
        if {"reasoning", "answer_text"} & set(user):
            fields.pop("completion", None)
        if "completion" in user:
            fields.pop("reasoning", None)
            fields.pop("answer_text", None)
        plan.mapping = {**fields, **user}
    mapper = TraceMapper(plan.mapping, name, plan.layout,
                         transforms={k: f for k, f in (variant.transforms if variant else {}).items()
                                     if k not in user},
                         defaults=dict(variant.defaults) if variant else {},
                         drop=variant.drop if variant else (),
                         fallbacks={k: f for k, f in (variant.fallbacks if variant else {}).items()
                                    if k not in user})
    # the layout's own completion field marks thinking; a user's --map completion may not
    marks = bool(variant and variant.marks_thinking and "completion" not in user)

    def rows():
        for lineno, row, err in source:
            if err is not None:
                yield lineno, None, err
                continue
            got = mapper.rows(row)
            if isinstance(got, tuple):
                yield lineno, None, got
                continue
            for r in got:
                trace, bad = finish_trace(r, name, marks)
                yield lineno, trace, bad

    return rows(), plan


def mapped_rows(source, mapping: dict[str, str] | str | None):
    """Rows with `mapping` applied (target field <- path) for problems and benchmarks."""
    user = parse_map(mapping)
    if not user:
        return source
    paths = {k: parse_path(v) for k, v in user.items()}
    if any("*" in p for p in paths.values()):
        raise BadInput("--map: [*] (one row per item) is for --kind traces")

    def rows():
        for lineno, row, err in source:
            if err is None and isinstance(row, dict):
                row = dict(row)
                for k, p in paths.items():
                    v = get_path(row, p)
                    if v is not _MISSING:
                        row[k] = v
            yield lineno, row, err

    return rows()
