"""Curation audit: the whole chain over real long-CoT traces, with counts by reason per step
and sample rows from every drop reason, so that a wrong drop is visible.

Data: ../shared/data/longcot-skythought (SkyThought evaluation outputs of two models SFT-ed on
Sky-T1-math-correct-5k: 500 MATH-500 responses and 30 AIME 2024 responses, graded by the
Qwen2.5-Math harness; `score` is that harness's verdict). Each file is imported with
`curate import --kind traces --layout sky-t1 --map reference=answer` (prompt = question, the
response split at its <|begin_of_thought|> / <|end_of_thought|> markers, reference = the
dataset's gold `answer` rather than the harness's mangled `gt`, problem_id = idx); the two are
put in one dataset with problem ids `math500-IDX` / `aime24-IDX`.

Chain (library calls, each a catalog version, as the verbs make them):

    verify -> filter (verified only, closed thinking, repetition > 0.5, tail loops)
           -> dedup (exact + MinHash with the math-content check)
           -> decontaminate against aime24 (n = 8): the AIME rows are the contamination a
              researcher would remove before evaluating on AIME 2024; no MATH-500 row may go
           -> nocot variant (asserted: no thinking left)

Also: every benchmark's self-check (the traces' own benchmarks, flag mode: every row must be
flagged). Writes benchmarks/results/curation_audit.json and curation_audit.md.

    .venv/bin/python benchmarks/curation_audit.py [--samples 4]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pyarrow as pa  # noqa: E402

from benchmarks._util import RESULTS, write_result  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "longcot-skythought"
FILES = {"math500": "skyt1_correct5k_27b_math500.jsonl",
         "aime24": "skyt1_correct5k_32b_ckpt140_aime24.jsonl"}
# The reference is the dataset's own gold `answer` (the sky-t1 layout's default now; mapped
# here explicitly). The SkyThought harness's post-processed `gt` differs from it in 58 of 500
# rows and is broken in some (`(+5)(b+2)` for `(a+5)(b+2)`, `1\\sqrt{19}` for
# `1 \\pm \\sqrt{19}`, empty for `\\text{east}`, `10,80` for `10,\\!080`).
MAPPING = "reference=answer"
FILTER = {"verified_only": True, "require_closed_think": True, "max_repetition": 0.5,
          "tail_loop": True}
DECONTAM = {"benchmarks": ["aime24"], "n": 8}


NOTES = """
- decontaminate: before the coverage rule, 2 MATH-500 rows were dropped as AIME 2024
  contamination on one stock 8-gram each (`is not divisible by the square of any`,
  `where m and n are relatively prime positive`): wrong drops, fixed (an item's tokens must be
  half covered; tests/test_decontam.py::test_stock_phrases_are_not_contamination). Now only
  the AIME rows go, every one of them matched to its own AIME item.
- import: 210 of the 500 MATH-500 responses carry none of Sky-T1's markers: the thought
  written QwQ-preview style. 48 end in a `**Final Answer**` section (the answer); 162 have no
  answer apart from the thought and are unclosed thinking (before, all 210 were imported as
  the answer, and the nocot variant kept their whole thought: 196 of its 406 rows held
  `wait` / `hmm` / `let me check`). `verify --unclosed whole-response` (P3) checks them whole.
- verify (not a cleaning step): the curate=False / harness=True rows of earlier runs
  (`math500-99`, `-420`: a pmatrix of `\\frac` entries, now verified; `-160`: `our answer is
  correct`, now no answer) are fixed (tests/data/verifier_adjudicated.jsonl). curate=True where the harness says False:
  the harness is wrong (`3 + 2\\sqrt{2}, 3 - 2\\sqrt{2}` for `3 \\pm 2\\sqrt{2}`; earlier
  runs: `9 customers`, `-2 + 7i` read as `7`, trailing words glued to the number).
- filter `unverifiable` is what `verified_only` is for: no boxed or anchored answer
  (`no_answer`, the harness falls back to the last number), thinking never closed
  (`unclosed_think`), an answer that is not an expression. None is counted as wrong.
- dedup drops nothing: the MATH-500 and AIME problems are distinct.
"""


def _short(v, n: int = 240):
    if v is None:
        return None
    s = str(v).replace("\n", " ")
    return s if len(s) <= n else s[: n // 2] + " ... " + s[-n // 2:]


def _verdict(detail) -> str | None:
    try:
        return json.loads(detail).get("reason") if detail else None
    except (TypeError, ValueError):
        return None


def sample_rows(rows: list[dict], k: int) -> dict[str, list[dict]]:
    """Up to k rows per drop reason (filter drops: per reason and verifier reason), with what
    a reader needs to judge the drop."""
    by: dict[str, list[dict]] = {}
    for r in rows:
        reason = r["drop_reason"]
        if r.get("dropped_by") == "filter" and _verdict(r.get("verify_detail")):
            reason = f"{reason} ({_verdict(r.get('verify_detail'))})"
        if len(by.setdefault(reason, [])) >= k:
            continue
        by[reason].append({
            "id": r.get("id"), "problem_id": r.get("problem_id"),
            "prompt": _short(r.get("prompt")), "reference": r.get("reference"),
            "final_answer": r.get("final_answer"), "verify_reason": _verdict(r.get("verify_detail")),
            "harness_score": r.get("score"),
            "answer_tail": _short((r.get("answer_text") or "")[-300:], 300),
            "reasoning_tail": _short((r.get("reasoning") or "")[-200:], 200),
            "drop_match": r.get("drop_match"),
            "drop_detail": json.loads(r["drop_detail"]) if r.get("drop_detail") else None})
    return by


def import_traces(cat) -> tuple[str, dict]:
    """Import both files through the sky-t1 layout, then one dataset with distinct ids."""
    from curate.catalog.importing import import_file

    tables, parents, info = [], [], {}
    for bench, fname in FILES.items():
        ref, _rej, counts = import_file(cat, DATA / fname, f"sky-{bench}", kind="traces",
                                        layout="sky-t1", mapping=MAPPING)
        parents.append(ref.spec)
        info[bench] = {"rows": ref.rows, "import_counts": counts}
        t = cat.table(ref)
        pids = [f"{bench}-{p}" for p in t.column("problem_id").to_pylist()]
        t = t.set_column(t.schema.get_field_index("problem_id"), "problem_id",
                         pa.array(pids, pa.string()))
        t = t.set_column(t.schema.get_field_index("source"), "source",
                         pa.array([bench] * t.num_rows, pa.string()))
        tables.append(t)
    both = pa.concat_tables(tables, promote_options="permissive")
    ref = cat.register("audit-raw", both, kind="traces", parents=parents, step="import-merge",
                       params={"problem_id": "BENCH-idx"},
                       counts={"in": both.num_rows, "out": both.num_rows})
    return ref.spec, info


def step_summary(cat, spec: str, samples: int) -> dict:
    lin = cat.lineage(spec)[0]
    c = lin.get("counts") or {}
    out = {"dataset": spec, "step": lin.get("step"), "in": c.get("in"), "out": c.get("out"),
           "dropped": c.get("dropped") or {}}
    if c.get("dropped_version"):
        rows = cat.table(c["dropped_version"]).to_pylist()
        out["dropped_version"] = c["dropped_version"]
        out["dropped_by_source"] = dict(Counter(f"{r['source']}:{r['drop_reason']}"
                                                for r in rows))
        out["samples"] = sample_rows(rows, samples)
    for k in ("problems_in", "problems_out", "per_benchmark", "per_rule", "shorter_than_n"):
        if k in c:
            out[k] = c[k]
    return out


def verify_summary(cat, spec: str) -> dict:
    t = cat.table(spec, columns=["source", "verified", "verify_detail", "score"])
    rows = t.to_pylist()
    reasons = Counter(f"{r['source']}:{_verdict(r['verify_detail'])}" for r in rows)
    harness = Counter()
    for r in rows:
        h = (r.get("score") or [None])[0] if isinstance(r.get("score"), list) else r.get("score")
        harness[f"curate={r['verified']} harness={h}"] += 1
    full = cat.table(spec, columns=["problem_id", "verified", "verify_detail", "score",
                                    "reference", "final_answer", "pred"]).to_pylist()
    disagree = []
    for r in full:
        h = r["score"][0] if isinstance(r.get("score"), list) and r["score"] else None
        if r["verified"] is not None and h is not None and r["verified"] != h:
            disagree.append({"problem_id": r["problem_id"], "curate": r["verified"],
                             "harness": h, "reference": r["reference"],
                             "final_answer": r["final_answer"],
                             "harness_pred": (r.get("pred") or [None])[0],
                             "reason": _verdict(r["verify_detail"])})
    return {"dataset": spec, "rows": len(rows), "verified": dict(Counter(
        str(r["verified"]) for r in rows)), "reasons": dict(sorted(reasons.items())),
        "agreement_with_harness": dict(sorted(harness.items())),
        "disagreements_true_false": disagree}


def nocot_check(cat, spec: str) -> dict:
    rows = cat.table(spec, columns=["id", "messages"]).to_pylist()
    markers = ("<think>", "</think>", "<|begin_of_thought|>", "<|end_of_thought|>")
    leaks = [r["id"] for r in rows
             if any(m in (msg.get("content") or "") for msg in r["messages"] or []
                    if msg.get("role") == "assistant" for m in markers)]
    # a thought written without markers (QwQ-preview style) shows in its words
    words = re.compile(r"\b(?:wait|hmm|let me (?:think|check|double-check))\b", re.I)
    unmarked = [r["id"] for r in rows
                if any(words.search(msg.get("content") or "") for msg in r["messages"] or []
                       if msg.get("role") == "assistant")]
    return {"dataset": spec, "rows": len(rows), "rows_with_thinking_markers": len(leaks),
            "rows_with_thinking_words": len(unmarked), "examples": (leaks + unmarked)[:5]}


def self_checks(cat, raw: str) -> dict:
    """Each file decontaminated against its own benchmark, flag mode: all rows flagged."""
    from curate.curation.decontaminate import decontaminate_table

    t = cat.table(raw, columns=["id", "source", "prompt", "answer_text"])
    out = {}
    for bench in FILES:
        sub = t.filter(pa.compute.equal(t.column("source"), bench))
        _, rep = decontaminate_table(sub, {"benchmarks": [bench], "fields": ["prompt"],
                                           "drop": False})
        out[bench] = {"rows": sub.num_rows, "flagged": rep["flagged"],
                      "per_rule": rep["per_rule"][bench]}
    return out


def markdown(res: dict) -> str:
    lines = ["# Curation audit: Sky-T1 long-CoT traces (MATH-500 + AIME 2024)", "",
             f"Commit `{res.get('commit', '')}`. Chain: import (sky-t1 layout) -> verify -> "
             f"filter {json.dumps(FILTER)} -> dedup -> decontaminate {json.dumps(DECONTAM)} "
             "-> nocot.", ""]
    v = res["verify"]
    lines += ["## verify", "", f"verified: {v['verified']}", "",
              "| source:reason | rows |", "|---|---|"]
    lines += [f"| {k} | {n} |" for k, n in v["reasons"].items()]
    lines += ["", "Against the harness labels shipped with the data:", "",
              "| verdicts | rows |", "|---|---|"]
    lines += [f"| {k} | {n} |" for k, n in v["agreement_with_harness"].items()]
    lines += ["", "Every row where curate and the harness give opposite verdicts:", "",
              "| problem | curate | harness | reference | curate's final answer | harness pred |",
              "|---|---|---|---|---|---|"]
    lines += [f"| {d['problem_id']} | {d['curate']} | {d['harness']} | `{d['reference']}` | "
              f"`{_short(d['final_answer'], 80)}` | `{_short(d['harness_pred'], 80)}` |"
              for d in v["disagreements_true_false"]]
    for name in ("filter", "dedup", "decontaminate"):
        s = res["steps"][name]
        lines += ["", f"## {name}: {s['in']} -> {s['out']} rows", ""]
        lines += [f"- {k}: {n}" for k, n in (s.get("dropped_by_source") or {}).items()] \
            or ["- nothing dropped"]
        for reason, rows in (s.get("samples") or {}).items():
            lines += ["", f"### {name} / {reason}: sample", ""]
            for r in rows:
                d = r["drop_detail"] or {}
                lines.append(f"- `{r['problem_id']}` ref `{r['reference']}` final "
                             f"`{r['final_answer']}` verify `{r['verify_reason']}` harness "
                             f"`{r['harness_score']}` match `{r['drop_match']}` detail "
                             f"`{_short(json.dumps(d), 200)}`  \n  prompt: {r['prompt']}  \n"
                             f"  answer tail: {r['answer_tail']}")
    n = res["nocot"]
    lines += ["", f"## nocot: {n['rows']} rows, {n['rows_with_thinking_markers']} with a "
              f"thinking marker, {n.get('rows_with_thinking_words', 0)} with thinking words "
              "(wait, hmm, let me check)", "", "## self-checks (each file against its own benchmark)", ""]
    lines += [f"- {b}: {c['flagged']} of {c['rows']} flagged ({c['per_rule']})"
              for b, c in res["self_checks"].items()]
    lines += ["", "## Reading the samples (by hand, at the commit that added this note)", "",
              NOTES.strip()]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", type=int, default=4)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    from curate.catalog import Catalog
    from curate.curation.decontaminate import decontaminate_dataset
    from curate.curation.dedup import dedup_dataset
    from curate.curation.filters import filter_dataset
    from curate.curation.variants import make_variant
    from curate.curation.verify import verify_dataset

    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as home:
        os.environ["CURATE_HOME"] = home
        cat = Catalog(home)
        raw, imported = import_traces(cat)
        ver = verify_dataset(cat, raw, "audit-verified", workers=args.workers, progress=False,
                             use_cache=False).spec
        fil = filter_dataset(cat, ver, "audit-filtered", **FILTER).spec
        ded = dedup_dataset(cat, fil, "audit-dedup").spec
        dec = decontaminate_dataset(cat, ded, "audit-decon", **DECONTAM).spec
        noc = make_variant(cat, dec, "nocot", "audit-nocot").spec
        res = {"data": str(DATA), "import_map": MAPPING, "imported": imported,
               "filter_params": FILTER,
               "decontaminate_params": DECONTAM, "verify": verify_summary(cat, ver),
               "steps": {"filter": step_summary(cat, fil, args.samples),
                         "dedup": step_summary(cat, ded, args.samples),
                         "decontaminate": step_summary(cat, dec, args.samples)},
               "nocot": nocot_check(cat, noc), "self_checks": self_checks(cat, raw),
               "seconds": round(time.perf_counter() - t0, 1)}
    res["notes"] = NOTES.strip()
    out = write_result("curation_audit", res)
    res["commit"] = json.loads(out.read_text()).get("commit")
    (RESULTS / "curation_audit.md").write_text(markdown(res))


if __name__ == "__main__":
    main()
