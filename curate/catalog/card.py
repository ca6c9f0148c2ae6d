"""Dataset cards with full provenance, built from the catalog.

The YAML header goes through `huggingface_hub.DatasetCardData`, so the Hub (and `datasets`)
read it: license, task categories, size category, one `configs` entry per variant and the
features of each. The prose is made of tables that answer "where did these rows come from":
source prompts and their versions, teacher, engine, sampling, system prompt, verifier, every
step's counts (filters, dedup, decontamination per benchmark), length statistics with a
histogram, and the commands and recipe that rebuild the dataset. Everything is read from
the catalog (lineage, runs, dataset stats) and from the rows themselves, never typed by hand.
"""

from __future__ import annotations

import json
import shlex
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from curate.catalog import lengths as length_tools
from curate.catalog.rebuild import portable, rebuild_commands
from curate.catalog.trainer_formats import trl_table, usage_lines

HISTOGRAM = "token_lengths.png"
MAX_LENGTHS = length_tools.MAX_LENGTHS
RECIPE = "recipe.yaml"
ENGINES = {"vllm": "vLLM (OpenAI-compatible server)", "sglang": "SGLang (OpenAI-compatible "
           "server)", "openai": "OpenAI-compatible endpoint", "transformers": "transformers "
           "(local)", "search": "curate's symbolic Countdown search solver (no model)"}
TEACHER_KEYS = ("teacher", "teacher_model", "teacher_revision", "model", "revision",
                "model_revision", "engine", "engine_version", "backend", "max_model_len",
                "tensor_parallel", "data_parallel")
SAMPLING_KEYS = ("temperature", "top_p", "top_k", "min_p", "max_tokens", "n_samples",
                 "samples", "seed", "repetition_penalty", "stop", "prompt_template",
                 "enable_thinking", "chat_template_kwargs")


@dataclass
class ConfigData:
    """One config of the export: the catalog version behind it and its rows per split."""
    name: str
    spec: str
    splits: dict[str, pa.Table]
    files: dict[str, list[str]] = field(default_factory=dict)  # split -> relative paths
    out: dict[str, pa.Table] = field(default_factory=dict)     # split -> rows as written

    @property
    def written(self) -> dict[str, pa.Table]:
        """The rows as the export writes them (the export format's), else as stored."""
        return self.out or self.splits

    @property
    def rows(self) -> int:
        return sum(t.num_rows for t in self.splits.values())


@dataclass
class Provenance:
    """What the catalog knows about how a version was made."""
    lineage: list[dict[str, Any]]
    stats: dict[str, dict]                          # dataset spec -> its stats
    recipe: dict[str, Any] | None = None            # path, name, overrides, steps


# -- reading the catalog ---------------------------------------------------------------------
def provenance(catalog, spec: str, extra_specs: list[str] = ()) -> Provenance:
    """Lineage of `spec` and of every extra config (child first, each version once), each
    version's stats, and the recipe that made them if one did."""
    lineage, seen = [], set()
    for s in [spec, *extra_specs]:
        for e in catalog.lineage(s):
            if e["dataset"] not in seen:
                seen.add(e["dataset"])
                lineage.append(e)
    stats = {}
    for e in lineage:
        rows = catalog.sql("SELECT stats FROM datasets WHERE name || '@' || version = ?",
                           [e["dataset"]])
        stats[e["dataset"]] = json.loads(rows[0]["stats"]) if rows and rows[0]["stats"] else {}
    return Provenance(lineage, stats, find_recipe(catalog, seen))


def find_recipe(catalog, specs: set[str]) -> dict[str, Any] | None:
    """The recipe whose steps wrote any of `specs` (from the `runs` table), with the `--set`
    overrides it ran with (recorded step parameters that differ from the file's defaults)."""
    found: dict[str, Any] | None = None
    for r in catalog.sql("SELECT config, outputs FROM runs WHERE kind='recipe-step' AND "
                         "status='ok' ORDER BY finished"):
        outs = set(json.loads(r["outputs"]) if r["outputs"] else [])
        cfg = json.loads(r["config"]) if r["config"] else {}
        if not outs & specs or not cfg.get("recipe_path"):
            continue
        if found is None or found["path"] != cfg["recipe_path"]:
            found = {"path": cfg["recipe_path"], "name": cfg.get("recipe"), "steps": {}}
        found["steps"][cfg.get("step_id")] = cfg.get("params") or {}
    if found is None:
        return None
    for r in catalog.sql("SELECT config FROM runs WHERE kind='recipe-step' AND status='ok' "
                         "ORDER BY finished DESC"):  # steps that wrote no config of ours
        cfg = json.loads(r["config"]) if r["config"] else {}
        if cfg.get("recipe_path") == found["path"]:
            found["steps"].setdefault(cfg.get("step_id"), cfg.get("params") or {})
    found["overrides"] = recipe_overrides(Path(found["path"]), found["steps"])
    found["exists"] = Path(found["path"]).is_file()
    return found


def recipe_overrides(path: Path, ran: dict[str, dict]) -> dict[str, Any]:
    """`params.X` values the recorded steps used that differ from the recipe file's."""
    from curate.errors import BadInput
    from curate.formats import yamlfile

    try:
        recipe = yamlfile.load(path)
    except BadInput:
        return {}
    if not isinstance(recipe, dict):
        return {}
    params, out = recipe.get("params") or {}, {}
    for st in recipe.get("steps") or []:
        if not isinstance(st, dict):
            continue
        used = ran.get(st.get("id") or st.get("step"))
        for k, v in (st.get("with") or {}).items():
            if used is None or not isinstance(v, str) or not v.startswith("${params."):
                continue
            p = v[len("${params."):-1]
            if v.endswith("}") and p in params and k in used and used[k] != params[p]:
                out[p] = used[k]
    return out


# -- reading the rows ------------------------------------------------------------------------
def _col(table: pa.Table, name: str) -> list:
    return table.column(name).to_pylist() if name in table.column_names else []


def _json_values(values: list) -> list[dict]:
    out = []
    for v in values:
        try:
            d = json.loads(v) if isinstance(v, str) and v else {}
        except ValueError:
            d = {}
        out.append(d if isinstance(d, dict) else {})
    return out


def assistant_lengths(table: pa.Table) -> np.ndarray:
    """Whitespace words of each row's training target (the last turn, when the assistant's)."""
    if "messages" in table.column_names:
        msgs = table.column("messages").combine_chunks()
        flat = pc.list_flatten(msgs)
        ends = pc.subtract(msgs.offsets[1:], 1).to_numpy(zero_copy_only=False)
        empty = pc.fill_null(pc.list_value_length(msgs), 0).to_numpy(zero_copy_only=False) == 0
        last = flat.take(pa.array(np.where(empty, 0, ends))) if len(flat) else None
        if last is None:
            return np.zeros(table.num_rows, dtype=np.int64)
        text = pc.if_else(pc.equal(last.field("role"), "assistant"), last.field("content"), "")
        text = pc.if_else(pa.array(empty), "", text)
    else:
        r = table.column("reasoning") if "reasoning" in table.column_names else None
        a = table.column("answer_text") if "answer_text" in table.column_names else None
        parts = [pc.fill_null(c, "") for c in (r, a) if c is not None]
        if not parts:
            return np.zeros(table.num_rows, dtype=np.int64)
        text = pc.binary_join_element_wise(*parts, " ")
    text = pc.ascii_trim_whitespace(pc.fill_null(text, ""))  # runs of spaces split once
    words = pc.if_else(pc.equal(pc.binary_length(text), 0), 0,
                       pc.list_value_length(pc.ascii_split_whitespace(text)))
    return pc.fill_null(words, 0).to_numpy(zero_copy_only=False).astype(np.int64)


def system_prompts(table: pa.Table) -> Counter:
    """{system prompt: rows} over rows whose messages open with a system turn."""
    if "messages" not in table.column_names or table.num_rows == 0:
        return Counter()
    msgs = table.column("messages").combine_chunks()
    has = pc.fill_null(pc.greater(pc.list_value_length(msgs), 0), False)
    firsts = pc.list_element(msgs.filter(has), 0)
    if not len(firsts):
        return Counter()
    sys_ = firsts.filter(pc.fill_null(pc.equal(firsts.field("role"), "system"), False))
    return Counter(sys_.field("content").to_pylist())


def row_summary(table: pa.Table) -> dict[str, Any]:
    """Teachers, sampling, verifiers, system prompts, tasks and lengths found in the rows."""
    n = table.num_rows
    details = _json_values(_col(table, "verify_detail"))
    verified = _col(table, "verified")
    systems = system_prompts(table)
    tokens = [t for t in _col(table, "completion_tokens") if t is not None]
    finish = Counter(f for f in _col(table, "finish_reason") if f)
    return {
        "rows": n,
        "tasks": Counter(f"{t}/{s}" for t, s in zip(_col(table, "task") or [None] * n,
                                                   _col(table, "source") or [None] * n)),
        "teachers": Counter(t for t in _col(table, "teacher") if t),
        "engines": row_engines(table),
        "sampling": Counter(s for s in _col(table, "sampling") if s),
        "verifiers": Counter(d.get("verifier") for d in details if d.get("verifier")),
        "verified": Counter({True: "verified", False: "wrong", None: "not checkable"}[v]
                            for v in verified),
        "systems": systems,
        "finish": finish,
        "completion_tokens": np.array(tokens, dtype=np.int64),
    }


def row_engines(table: pa.Table) -> dict[str, str]:
    """Teacher -> "engine version" as the generation recorded it in the rows' metadata."""
    out: dict[str, str] = {}
    for t, m in zip(_col(table, "teacher"), _col(table, "metadata") or []):
        if not t or t in out or not m:
            continue
        try:
            meta = json.loads(m)
        except (TypeError, ValueError):
            continue
        if isinstance(meta, dict) and meta.get("engine"):
            out[t] = " ".join(str(x) for x in (meta["engine"], meta.get("engine_version")) if x)
    return out


def flag_counts(configs: list[ConfigData]) -> dict[str, int]:
    """Rows flagged per `contaminated_<bench>` column, over every config and split."""
    out: dict[str, int] = {}
    for c in configs:
        for t in c.splits.values():
            for name in t.column_names:
                if name.startswith("contaminated_"):
                    hit = pc.sum(pc.cast(pc.fill_null(t.column(name), False), pa.int64()))
                    out[name] = out.get(name, 0) + int(hit.as_py() or 0)
    return out


# -- rendering ---------------------------------------------------------------------------------
def size_category(n: int) -> str:
    """The Hub's `size_categories` bucket for `n` rows."""
    for limit, label in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"),
                         (1_000_000, "100K<n<1M"), (10_000_000, "1M<n<10M"),
                         (100_000_000, "10M<n<100M"), (1_000_000_000, "100M<n<1B")):
        if n < limit:
            return label
    return "1B<n<10B"


def _cell(v: Any, limit: int = 160) -> str:
    """A table cell: dicts as `key: value` pairs (None values left out), lists joined, so a
    reader never parses JSON in a table (the full JSON is in the details block)."""
    s = v if isinstance(v, str) else _plain(v)
    s = s.replace("|", "\\|").replace("\n", " ")
    return s if len(s) <= limit else s[:limit - 3] + "..."


def _plain(v: Any) -> str:
    if isinstance(v, dict):
        return "; ".join(f"{k}: {_plain(x)}" for k, x in sorted(v.items(), key=lambda kv: str(kv[0]))
                         if x is not None) or "—"
    if isinstance(v, list | tuple):
        return ", ".join(_plain(x) for x in v) or "—"
    return json.dumps(v, default=str) if isinstance(v, bool) or v is None else str(v)


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(_cell(c) for c in r) + " |" for r in rows]
    return out + [""]


def _stats_row(label: str, v: np.ndarray) -> list[Any]:
    if not len(v):
        return [label, 0, "", "", "", "", ""]
    q = np.percentile(v, [50, 90, 99])
    return [label, len(v), f"{v.mean():.1f}", f"{q[0]:.0f}", f"{q[1]:.0f}", f"{q[2]:.0f}",
            int(v.max())]


def engine_of(teacher: str) -> str:
    prefix = teacher.split(":", 1)[0] if ":" in teacher else teacher
    return ENGINES.get(prefix, "unknown")


def token_histogram(panels: dict[str, dict[str, np.ndarray]], path: Path,
                    cuts: dict[str, tuple[int, ...]] | None = None) -> Path | None:
    """Length histograms as one PNG: a panel per measure (x label), a series per config, and
    dashed lines where `cuts[panel]` lengths (--max-length values) fall inside the range.
    None when there is nothing to plot."""
    panels = {x: {k: v for k, v in ser.items() if len(v)} for x, ser in panels.items()}
    panels = {x: ser for x, ser in panels.items() if ser}
    if not panels:
        return None
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 3.4 * len(panels)), dpi=100)
    FigureCanvasAgg(fig)
    for i, (xlabel, series) in enumerate(panels.items(), start=1):
        ax = fig.add_subplot(len(panels), 1, i)
        hi = max(int(v.max()) for v in series.values())
        bins = np.linspace(0, max(hi, 1), 41)
        for label, v in series.items():
            ax.hist(v, bins=bins, alpha=0.55, label=f"{label} (n={len(v)}, mean {v.mean():.0f})")
        for L in (cuts or {}).get(xlabel, ()):
            if L <= hi:
                ax.axvline(L, color="#cf222e", linestyle="--", linewidth=1)
                ax.text(L, ax.get_ylim()[1] * 0.95, f" {L:,}", color="#cf222e", fontsize=8,
                        va="top")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("rows")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    return path


def chronological(lineage: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Lineage entries oldest first (sources, then each step in the order it ran)."""
    return sorted(lineage, key=lambda e: str(e.get("created") or ""))


def card_body(spec: str, configs: list[ConfigData], prov: Provenance, repo_id: str | None,
              histogram: str | None, length_label: str,
              lengths: dict[str, np.ndarray] | None = None, fmt: str = "trl",
              cuts: list[list[Any]] | None = None, length_note: str = "") -> str:
    """The Markdown under the YAML header: provenance as prose and tables."""
    base = configs[0]
    summary = row_summary(pa.concat_tables(list(base.splits.values())))
    where = repo_id or "PATH/TO/EXPORT"
    name = spec.split("@")[0]
    lines = [f"# {name}", "",
             f"Exported by curate from catalog version `{spec}` "
             f"({base.rows} rows). Every figure below is read from the catalog's lineage, runs "
             "and the rows themselves.", "", "## Configs", ""]
    lines += _table(["config", "catalog version", "splits", "rows"],
                    [[c.name, f"`{c.spec}`", ", ".join(f"{s} ({t.num_rows})" for s, t in
                                                       c.written.items()),
                      sum(t.num_rows for t in c.written.values())]
                     for c in configs])
    lines += ["```python", "from datasets import load_dataset", ""]
    lines += [f'ds = load_dataset("{where}", "{c.name}")' for c in configs]
    lines += ["```", ""]
    lines += usage_lines(fmt, where, configs, name)
    lines += ["## Source prompts", ""]
    roots = [e for e in chronological(prov.lineage)
             if not e.get("parents") or e.get("step") == "generate"]
    lines += _table(["dataset (version)", "made by", "from"],
                    [[f"`{e['dataset']}`", e.get("step") or "registered",
                      _source_of(e.get("params") or {}, e.get("parents"))] for e in roots])
    tasks = summary["tasks"]
    if tasks:
        lines += _table(["task/source", "rows"], [[k, v] for k, v in tasks.most_common()])
    lines += _teacher_section(prov, summary)
    lines += _sampling_section(prov, summary)
    lines += _system_section(prov, summary)
    lines += ["## Verification", ""]
    lines += _table(["verifier (version)", "rows"],
                    [[k, v] for k, v in summary["verifiers"].most_common()] or [["none", 0]])
    lines += _table(["verdict", "rows"], [[k, v] for k, v in summary["verified"].most_common()])
    lines += ["## Steps and their counts", "",
              "Every step from the source to this version, with rows in, out and dropped by "
              "reason (filters, dedup, decontamination, variants).", ""]
    lines += _table(["step", "dataset (version)", "in", "out", "dropped by reason", "parameters"],
                    [[e.get("step") or "", f"`{e['dataset']}`", (e.get("counts") or {}).get("in",
                      ""), (e.get("counts") or {}).get("out", ""),
                      _dropped((e.get("counts") or {}).get("dropped")), e.get("params") or {}]
                     for e in chronological(prov.lineage)])
    lines += ["<details><summary>Full parameters of every step (JSON)</summary>", "",
              "```json", json.dumps([{k: portable(e.get(k)) for k in (
                                     "dataset", "step", "parents", "params", "counts",
                                     "code_version")}
                                    for e in chronological(prov.lineage)],
                                   indent=1, sort_keys=True, default=str),
              "```", "", "</details>", ""]
    lines += _dedup_section(prov)
    lines += _decontam_section(prov, configs)
    lines += ["## Length statistics", ""]
    rows = []
    if len(summary["completion_tokens"]):
        rows.append(_stats_row("completion tokens (teacher-reported)",
                               summary["completion_tokens"]))
    for c in configs:
        v = (lengths or {}).get(c.name)
        if v is None:
            v = assistant_lengths(pa.concat_tables(list(c.splits.values())))
        rows.append(_stats_row(f"{c.name}: {length_label}", v))
    lines += _table(["measure", "rows", "mean", "p50", "p90", "p99", "max"], rows)
    if length_note:
        lines += [length_note, ""]
    if cuts:
        lines += ["Rows longer than common `--max-length` values (they would be truncated, "
                  "or refused, by `curate train sft --max-length N`):", ""]
        lines += _table(["config", "rows measured", *(f"> {L:,}" for L in MAX_LENGTHS)], cuts)
    if summary["finish"]:
        lines += _table(["finish reason", "rows"], [[k, v] for k, v in
                                                   summary["finish"].most_common()])
    if histogram:
        lines += [f"![length histogram]({histogram})", ""]
    lines += _rebuild_section(spec, prov, repo_id, fmt)
    return "\n".join(lines) + "\n"


def _dropped(d: Any) -> str:
    if not d:
        return ""
    return ", ".join(f"{k}: {v}" for k, v in d.items()) if isinstance(d, dict) else str(d)


def _source_of(p: dict, parents: list[str] | None = None) -> str:
    for k in ("hf", "hub", "file", "path", "prompts", "source", "input"):
        if p.get(k):
            ver = f" (catalog {', '.join(parents)})" if parents else ""
            return f"{k}: {p[k]}{ver}"
    if p.get("task") == "countdown":
        c = p.get("config") or {}
        return (f"Countdown generator: {p.get('n')} problems, {c.get('numbers')} numbers, "
                f"targets {c.get('min_target')}..{c.get('max_target')}, {c.get('semantics')} "
                f"semantics, split {p.get('split')}, seed {p.get('seed')}")
    return _cell(p) if p else ""


def _gen_params(prov: Provenance) -> list[dict]:
    return [e.get("params") or {} for e in prov.lineage if e.get("step") == "generate"]


def _teacher_section(prov: Provenance, summary: dict) -> list[str]:
    lines = ["## Teacher and engine", ""]
    engines = summary.get("engines") or {}
    rows = [[t, engines.get(t) or engine_of(t), n] for t, n in summary["teachers"].most_common()]
    lines += _table(["teacher (model and revision, or solver)", "engine", "rows"],
                    rows or [["unknown", "", 0]])
    for p in _gen_params(prov):
        shown = {k: p[k] for k in TEACHER_KEYS if p.get(k) is not None}
        if shown:
            lines += _table(["generation setting", "value"], [[k, v] for k, v in shown.items()])
    return lines


def _sampling_section(prov: Provenance, summary: dict) -> list[str]:
    lines = ["## Sampling parameters", ""]
    samp = summary["sampling"]
    if len(samp) == 1:
        (only,) = samp
        d = _json_values([only])[0]
        lines += _table(["parameter", "value"], [[k, v] for k, v in sorted(d.items())])
    elif samp:
        lines += _table(["sampling (as recorded on rows)", "rows"],
                        [[k, v] for k, v in samp.most_common(10)])
    for p in _gen_params(prov):
        shown = {k: p[k] for k in SAMPLING_KEYS if p.get(k) is not None}
        if isinstance(p.get("sampling"), dict):
            shown.update(p["sampling"])
        if shown and not samp:
            lines += _table(["parameter", "value"], [[k, v] for k, v in sorted(shown.items())])
    if not samp and len(lines) == 2:
        lines += ["Not recorded.", ""]
    return lines


def _system_section(prov: Provenance, summary: dict) -> list[str]:
    lines = ["## System prompt", ""]
    prompts = Counter(summary["systems"])
    for e in prov.lineage:
        p = e.get("params") or {}
        for k in ("system", "system_prompt"):
            if p.get(k) and p[k] not in prompts:
                prompts[p[k]] = 0
    if not prompts:
        return lines + ["None: the messages have no system turn.", ""]
    for text, n in prompts.most_common():
        lines += [f"{n} rows:" if n else "Used at generation:", "", "```text",
                  text.strip(), "```", ""]
    return lines


def _dedup_section(prov: Provenance) -> list[str]:
    steps = [e for e in prov.lineage if e.get("step") == "dedup"]
    if not steps:
        return ["## Deduplication", "", "No dedup step in this dataset's lineage.", ""]
    lines = ["## Deduplication", ""]
    rows = []
    for e in reversed(steps):
        c, p = e.get("counts") or {}, e.get("params") or {}
        rows.append([f"`{e['dataset']}`", p, c.get("in"), c.get("out"),
                     _dropped(c.get("dropped")), f"{c.get('problems_in', '')} -> "
                     f"{c.get('problems_out', '')}"])
    return lines + _table(["dataset", "parameters", "in", "out", "dropped", "problems"], rows)


def _decontam_section(prov: Provenance, configs: list[ConfigData]) -> list[str]:
    lines = ["## Decontamination", ""]
    steps = [e for e in prov.lineage if e.get("step") == "decontaminate"]
    for e in reversed(steps):
        p = e.get("params") or {}
        rep = (prov.stats.get(e["dataset"]) or {}).get("decontamination") or {}
        per = rep.get("per_benchmark") or (e.get("counts") or {}).get("per_benchmark") or {}
        mode = "dropped" if p.get("drop", True) else "kept with contaminated_<bench> flags"
        lines += [f"`{e['dataset']}`: {p.get('n')}-gram overlap of "
                  f"{', '.join(p.get('fields') or [])} against each benchmark; flagged rows "
                  f"{mode}.", ""]
        rows = [[b, n] for b, n in per.items()]
        rows += [[b, f"not checked: {why}"] for b, why in (rep.get("unavailable") or {}).items()]
        lines += _table(["benchmark", "rows flagged"], rows or [["(none)", 0]])
        for key in ("rule", "short_items"):  # the match rule; how items shorter than n were checked
            if rep.get(key):
                lines += [rep[key], ""]
        for b, exs in (rep.get("examples") or {}).items():
            for ex in exs[:2]:
                lines.append(f"- {b}: {_cell(ex.get('text', ''), 100)} matched "
                             + "; ".join(f"`{_cell(m, 80)}`" for m in ex.get("matched", [])))
        if rep.get("examples") and any(rep["examples"].values()):
            lines.append("")
    flags = flag_counts(configs)
    if flags:
        lines += ["Rows in this export still carrying a contamination flag:", ""]
        lines += _table(["flag column", "rows (all configs)"], [[k, v] for k, v in flags.items()])
    if not steps and not flags:
        lines += ["No decontamination step in this dataset's lineage.", ""]
    return lines


def _rebuild_section(spec: str, prov: Provenance, repo_id: str | None,
                     fmt: str = "trl") -> list[str]:
    lines = ["## How to rebuild it", ""]
    rec = prov.recipe
    if rec:
        sets = "".join(" --set " + shlex.quote(
            f"{k}={json.dumps(portable(v)) if not isinstance(v, str) else portable(v)}")
                       for k, v in sorted(rec["overrides"].items()))
        where = (f"copied here as [`{RECIPE}`]({RECIPE})" if rec.get("exists")
                 else f"`{portable(rec['path'])}`, no longer on disk")
        target = RECIPE if rec.get("exists") else portable(rec["path"])
        lines += [f"Made by recipe `{rec.get('name')}` ({where}):", "", "```bash",
                  f"curate run {target}{sets}", "```", ""]
    lines += ["Step by step, with the parameters recorded in the catalog:", "", "```bash"]
    lines += rebuild_commands(prov.lineage)
    lines += [f"curate export {spec} DIR" + ("" if fmt == "trl" else f" --format {fmt}")]
    if repo_id:
        lines += [f"curate publish {spec} --repo {repo_id}"]
    lines += ["```", ""]
    codes = sorted({e.get("code_version") for e in prov.lineage if e.get("code_version")})
    if codes:
        lines += [f"Code version(s): {', '.join(f'`{c}`' for c in codes)}.", ""]
    return lines


def features_yaml(schema: pa.Schema) -> list[dict]:
    """The `features` list of the card's `dataset_info`, from the Arrow schema."""
    import datasets

    return datasets.Features.from_arrow_schema(schema)._to_yaml_list()


def build_card(spec: str, configs: list[ConfigData], prov: Provenance, out_dir: Path,
               repo_id: str | None = None, license: str | None = None,
               pretty_name: str | None = None, *, fmt: str = "trl",
               tokenizer: str | None = None):
    """Write the histogram next to the README and return the `DatasetCard` (not yet saved).

    Lengths are tokens of the whole conversation with the teacher's tokenizer (or
    `tokenizer`: a name or folder; "none" for words) when one is available locally, with the
    rows each common `--max-length` would cut; else whitespace words, and the card says so."""
    from huggingface_hub import DatasetCard, DatasetCardData

    base = configs[0]
    tables = {c.name: pa.concat_tables(list(c.splits.values())) for c in configs}
    teacher_tokens = {c: np.array([t for t in _col(tb, "completion_tokens") if t is not None],
                                  dtype=np.int64) for c, tb in tables.items()
                      if "reasoning" in tb.column_names
                      and tb.column("reasoning").null_count < tb.num_rows}
    tok, tok_name = length_tools.load_tokenizer(
        tokenizer, length_tools.teacher_models(prov.lineage, tables[base.name]))
    cuts, note = None, ""
    if tok is not None:
        how = "chat template" if getattr(tok, "chat_template", None) else "turns joined"
        length_label = f"tokens of the whole conversation ({portable(tok_name)}, {how})"
        lengths = {c: length_tools.conversation_tokens(tok, trl_table(tb, c))
                   for c, tb in tables.items()}
        cuts = length_tools.cut_rows(lengths)
        if any(tb.num_rows > length_tools.SAMPLE_ROWS for tb in tables.values()):
            note = (f"Token counts are measured on a seeded sample of "
                    f"{length_tools.SAMPLE_ROWS:,} rows per config.")
    else:
        length_label = "whitespace words of the training target"
        lengths = {c: assistant_lengths(tb) for c, tb in tables.items()}
        note = (f"Lengths are in words, not tokens: {tok_name}. Where `--max-length` cuts "
                "needs token counts: `curate export ... --tokenizer NAME`.")
    hist = token_histogram({
        "completion tokens as the teacher reported them": teacher_tokens,
        length_label: lengths,
    }, out_dir / HISTOGRAM, cuts={length_label: MAX_LENGTHS} if tok is not None else None)
    tasks = sorted({t for c in configs for tb in c.splits.values() for t in _col(tb, "task") if t})
    pattern = "{split}/*" if fmt == "llamafactory" else "{split}-*"
    data = DatasetCardData(
        license=license or "unknown",
        pretty_name=pretty_name or spec.split("@")[0],
        size_categories=[size_category(base.rows)],
        task_categories=["text-generation"],
        tags=["reasoning", "chain-of-thought", "synthetic", "curate", *tasks],
        configs=[{"config_name": c.name,
                  "data_files": [{"split": s, "path": f"data/{c.name}/" + pattern.format(split=s)}
                                 for s in c.written],
                  **({"default": True} if i == 0 else {})} for i, c in enumerate(configs)],
        dataset_info=[{"config_name": c.name,
                       "features": features_yaml(next(iter(c.written.values())).schema),
                       "splits": [{"name": s, "num_examples": t.num_rows,
                                   "num_bytes": int(t.nbytes)} for s, t in c.written.items()]}
                      for c in configs],
    )
    # the card names files, models and folders by their last part: no local absolute paths
    shown = Provenance(portable(prov.lineage), portable(prov.stats), prov.recipe)
    body = card_body(spec, configs, shown, repo_id, hist.name if hist else None, length_label,
                     lengths, fmt=fmt, cuts=cuts, length_note=note)
    return DatasetCard(f"---\n{data.to_yaml()}\n---\n\n{body}")
