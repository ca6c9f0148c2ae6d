"""Export formats: the rows as each trainer's own loader reads them.

- `trl` (default): TRL's `SFTTrainer` conversational form. Every row has `messages`
  ([{role, content}], built from prompt, reasoning and answer_text for the config's variant when
  a version has none, as imported traces do); the prompt is kept as `problem`, since a `prompt`
  column makes TRL read the rows as prompt/completion pairs (KeyError 'completion'); the other
  keys TRL reserves (`completion`, `text`, `chosen`, `rejected`, `label`, `images`,
  `conversations`) are kept under a `source_` prefix; every other column as stored. All the
  configs of one export have the same columns and types (a column one config lacks is null
  there), so `load_dataset(DIR, config)` gives the same features for each.
- `verl`: verl's RL parquet (`verl.utils.dataset.rl_dataset.RLHFDataset`, the schema of its
  `examples/data_preprocess` scripts): one row per problem with `data_source`, `prompt` (chat
  messages: the system turn if any, then the user turn), `ability`, `reward_model`
  (`{style: "rule", ground_truth}`) and `extra_info` (`{split, index, id, problem_id, source}`).
  `ground_truth` is the reference as text (Countdown: its JSON); verl picks the scorer from
  `data_source` (`curate/<task>` here: point `custom_reward_function` at curate's verifiers).
- `llamafactory`: the `trl` rows in one folder per config and split
  (`data/<config>/<split>/`), plus `dataset_info.json` with one `sharegpt` entry per config and
  split (`role`/`content` tags, OpenAI-style roles), as LLaMA-Factory's `dataset_info` reads.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from curate.errors import BadInput
from curate.record import messages_for

FORMATS = ("trl", "verl", "llamafactory")
TRL_RESERVED = ("prompt", "completion", "text", "chosen", "rejected", "label", "images",
                "conversations")
MESSAGES_TYPE = pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))
VARIANTS = ("cot", "nocot", "short")


def check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise BadInput(f"unknown export format {fmt!r} (one of {', '.join(FORMATS)})")
    return fmt


def _col(table: pa.Table, name: str) -> list:
    return table.column(name).to_pylist() if name in table.column_names else [None] * len(table)


def _has_messages(table: pa.Table) -> bool:
    return "messages" in table.column_names and table.column("messages").null_count < len(table)


def build_messages(table: pa.Table, config: str) -> pa.Array:
    """`messages` of each row for the config's variant (cot keeps the think block; a config
    that is not a variant name is cot when the row has reasoning). Raises BadInput naming the
    row when a row has no prompt."""
    prompts, reasonings, answers = (_col(table, c) for c in ("prompt", "reasoning",
                                                              "answer_text"))
    out = []
    for i, (p, r, a) in enumerate(zip(prompts, reasonings, answers)):
        if not p:
            raise BadInput(f"config {config}: a row has no prompt to build messages from",
                           row=i, field="prompt")
        variant = config if config in VARIANTS else ("cot" if r else "nocot")
        out.append(messages_for(p, r if variant == "cot" else None, a,
                                "nocot" if variant == "short" else variant))
    return pa.array(out, MESSAGES_TYPE)


def trl_table(table: pa.Table, config: str) -> pa.Table:
    """The rows in TRL's conversational form (see the module docstring)."""
    if not _has_messages(table):
        msgs = build_messages(table, config)
        table = (table.set_column(table.column_names.index("messages"), "messages", msgs)
                 if "messages" in table.column_names else table.append_column("messages", msgs))
    names = []
    for n in table.column_names:
        if n == "prompt":
            names.append("problem" if "problem" not in table.column_names else "source_prompt")
        elif n in TRL_RESERVED:
            names.append(f"source_{n}")
        else:
            names.append(n)
    table = table.rename_columns(names)
    order = ["messages"] + [n for n in table.column_names if n != "messages"]
    return table.select(order)


def unify(tables: list[pa.Table]) -> list[pa.Table]:
    """The same columns, order and types for every table (missing columns as nulls; types
    promoted as Arrow does, e.g. null -> string, int -> double)."""
    if len(tables) < 2:
        return tables
    try:
        schema = pa.unify_schemas([t.schema for t in tables], promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError) as e:
        raise BadInput(f"the configs' columns do not fit one schema: {e}") from None
    schema = pa.schema([f.remove_metadata() for f in schema])
    out = []
    for t in tables:
        cols = []
        for f in schema:
            if f.name in t.column_names:
                c = t.column(f.name)
                cols.append(c if c.type == f.type else c.cast(f.type))
            else:
                cols.append(pa.nulls(len(t), f.type))
        out.append(pa.Table.from_arrays(cols, schema=schema))
    return out


def _system_of(messages: Any) -> str | None:
    if isinstance(messages, list) and messages and messages[0].get("role") == "system":
        return messages[0].get("content")
    return None


def verl_table(table: pa.Table, split: str) -> pa.Table:
    """verl's RL rows: the first row of each problem (prompts, not traces, are what RL
    needs), in stored order."""
    pids, prompts = _col(table, "problem_id"), _col(table, "prompt")
    if all(p is None for p in prompts):
        raise BadInput("verl format: the rows have no prompt column")
    refs, tasks, sources, ids = (_col(table, c) for c in ("reference", "task", "source", "id"))
    msgs = _col(table, "messages")
    seen: set = set()
    rows = []
    for i, pid in enumerate(pids):
        key = pid if pid is not None else ("row", i)
        if key in seen or not prompts[i]:
            continue
        seen.add(key)
        system = _system_of(msgs[i])
        chat = ([{"role": "system", "content": system}] if system else []) + [
            {"role": "user", "content": prompts[i]}]
        task = tasks[i] or "math"
        rows.append({
            "data_source": f"curate/{task}",
            "prompt": chat,
            "ability": task,
            "reward_model": {"style": "rule", "ground_truth": "" if refs[i] is None
                             else str(refs[i])},
            "extra_info": {"split": split, "index": len(rows), "id": ids[i],
                           "problem_id": None if pid is None else str(pid),
                           "source": sources[i]},
        })
    schema = pa.schema([
        ("data_source", pa.string()), ("prompt", MESSAGES_TYPE), ("ability", pa.string()),
        ("reward_model", pa.struct([("style", pa.string()), ("ground_truth", pa.string())])),
        ("extra_info", pa.struct([("split", pa.string()), ("index", pa.int64()),
                                  ("id", pa.string()), ("problem_id", pa.string()),
                                  ("source", pa.string())])),
    ])
    return pa.Table.from_pylist(rows, schema=schema)


def format_configs(cfgs: list, fmt: str) -> list:
    """Set each config's `out` ({split: table as written}) for `fmt`; return the configs
    exported (verl: the first config only, since every variant has the same prompts)."""
    check_format(fmt)
    if fmt == "verl":
        base = cfgs[0]
        base.out = {s: verl_table(t, s) for s, t in base.splits.items()}
        return [base]
    flat = [(c, s, trl_table(t, c.name)) for c in cfgs for s, t in c.splits.items()]
    unified = unify([t for _, _, t in flat])
    for c in cfgs:
        c.out = {}
    for (c, s, _), t in zip(flat, unified):
        c.out[s] = t
    return cfgs


def llamafactory_info(name: str, cfgs: list) -> dict[str, Any]:
    """`dataset_info.json` for LLaMA-Factory: `NAME_CONFIG` (train) and `NAME_CONFIG_SPLIT`
    entries, each a sharegpt dataset read from the config's split folder."""
    info: dict[str, Any] = {}
    for c in cfgs:
        for s in c.out:
            key = f"{name}_{c.name}" + ("" if s == "train" else f"_{s}")
            info[key] = {
                "file_name": f"data/{c.name}/{s}",
                "formatting": "sharegpt",
                "columns": {"messages": "messages"},
                "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user",
                         "assistant_tag": "assistant", "system_tag": "system"},
            }
    return info


def usage_lines(fmt: str, where: str, cfgs: list, name: str) -> list[str]:
    """The card's "How to train on it" section for `fmt`."""
    c0 = cfgs[0]
    if fmt == "verl":
        files = ", ".join(f"{where}/{p}" for p in c0.files.get("train", [])) or "..."
        return ["## How to train on it (verl)", "",
                "RL prompts in verl's parquet schema (`data_source`, chat `prompt`, `ability`, "
                "`reward_model.ground_truth`, `extra_info`), one row per problem:", "",
                "```bash", f"python -m verl.trainer.main_ppo data.train_files=[{files}] \\",
                "    custom_reward_function.path=YOUR_REWARD.py   # data_source is "
                "curate/<task>", "```", ""]
    if fmt == "llamafactory":
        keys = list(llamafactory_info(name, cfgs))
        return ["## How to train on it (LLaMA-Factory)", "",
                "`dataset_info.json` in this folder lists every config and split as a "
                "sharegpt dataset:", "", "```yaml", f"dataset_dir: {where}",
                f"dataset: {keys[0]}", "```", ""]
    return ["## How to train on it (TRL)", "",
            "Every config loads straight into TRL's `SFTTrainer` (a `messages` column; the "
            "prompt is kept as `problem`):", "", "```python",
            "from datasets import load_dataset", "from trl import SFTConfig, SFTTrainer", "",
            f'ds = load_dataset("{where}", "{c0.name}", split="train")',
            'trainer = SFTTrainer(model="MODEL", train_dataset=ds, args=SFTConfig("out"))',
            "trainer.train()", "```", ""]
