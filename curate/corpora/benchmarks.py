"""The benchmark registry: name -> where its rows live, how it is scored, and its domain group
(math / other / non), shared by decontamination, coverage and evaluation.

`load_benchmark(name)` returns plain rows with at least `id`, `question`, `answer` (plus
`problem`, the same text, and the source's own fields). A local copy (``$CURATE_BENCHMARK_DIR``
or ``../shared/data`` beside the repo) is used when present so tests work offline; otherwise the
pinned Hub dataset is loaded with `datasets`. ``file:PATH[:field]`` loads any local
JSONL / JSON / Parquet / CSV file as a benchmark.

Local copies keep the source's own format: one file (``name/FILE``), one file per Hub config
(``name/<config>.jsonl`` for ACPBench's and HaluEval's configs) or the Hub's own files
(``livecodebench-v2/test.jsonl`` + ``test2.jsonl``; ``hex-phi/category_<n>.csv``). Each entry
says how it is scored (`kind`, `metric`, `higher_is_better`, `scale`) and, for benchmarks
the papers ran through lm-evaluation-harness, which task definition (`harness`). A Hub
revision is pinned where one could be confirmed; `revision=None` means unpinned (said so by
`curate eval --list-benchmarks`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from curate.errors import BadInput, CurateError, NotFound

REPO = Path(__file__).resolve().parents[2]
QUESTION_FIELDS = ("question", "problem", "Question", "prompt", "question_content", "input",
                   "instruction", "qtext", "story", "sentence", "dialogue_history", "document",
                   "Behavior", "context")
ANSWER_FIELDS = ("answer", "Correct Answer", "reference", "gold", "final_answer", "solution")


KINDS = ("math", "mcq", "code", "harness", "reward", "judge", "countdown")
SCALES = ("fraction", "reward")


@dataclass(frozen=True)
class Benchmark:
    """One registry entry.

    `local`: file names tried under the local data folders; `subsets`: Hub configs, each a
    local file ``<name>/<config>.<ext>`` (all needed); `data_files`: the Hub repository's own
    files (all needed, local copy ``<name>/<file>``). `kind`: math | mcq | code | harness
    (lm-evaluation-harness task, `harness` names its YAML per subset) | reward (a reward
    model's raw score) | judge (a judge model's verdict) | countdown. `metric` is what the
    `accuracy` row of `evals` holds for it; `higher_is_better` False for attack success
    rates; `scale` ``fraction`` (0..1) or ``reward`` (unbounded).
    """
    name: str
    hub_id: str | None
    config: str | None
    split: str
    question_field: str
    answer_field: str | None
    kind: str                      # see KINDS
    group: str                     # math | other | non
    local: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    revision: str | None = None
    load_kwargs: dict = field(default_factory=dict)
    metric: str = "accuracy"
    higher_is_better: bool = True
    scale: str = "fraction"
    subsets: tuple[str, ...] = ()
    data_files: tuple[str, ...] = ()
    harness: tuple[tuple[str, str], ...] = ()   # (subset or "", "lm_eval:REL.yaml" | "curate:REL.yaml")
    reader: str = "rows"           # rows | hexphi-csv (one prompt per line, no header)
    derived_from: str | None = None
    local_dir: str | None = None   # folder of a several-file local copy (default: name)
    note: str = ""

    def info(self) -> dict[str, Any]:
        loc = self.local_files()
        return {"name": self.name, "hub_id": self.hub_id, "config": self.config,
                "split": self.split, "question_field": self.question_field,
                "answer_field": self.answer_field, "kind": self.kind, "group": self.group,
                "metric": self.metric, "higher_is_better": self.higher_is_better,
                "scale": self.scale, "revision": self.revision,
                "subsets": list(self.subsets), "data_files": list(self.data_files),
                "harness": [h for _, h in self.harness],
                "local": loc and [str(p) for p in loc.values()], "note": self.note}

    def local_path(self) -> Path | None:
        """The single local file (or folder of files) of this benchmark, if present."""
        loc = self.local_files()
        if not loc:
            return None
        paths = list(loc.values())
        return paths[0] if len(paths) == 1 and not (self.subsets or self.data_files) \
            else paths[0].parent

    def local_files(self) -> dict[str, Path] | None:
        """{subset or file name or "": path} of a complete local copy, or None."""
        for root in local_roots():
            for rel in self.local:
                p = root / rel
                if p.is_file():
                    return {"": p}
            for parts in ((self.subsets, True), (self.data_files, False)):
                names, by_config = parts
                if not names:
                    continue
                got: dict[str, Path] = {}
                folder = root / (self.local_dir or self.name)
                for n in names:
                    if "*" in n:            # a pattern: every matching file, at least one
                        hits = sorted(folder.glob(n)) if folder.is_dir() else []
                        if not hits:
                            break
                        got.update({h.name: h for h in hits})
                        continue
                    cands = ([folder / f"{n}{ext}" for ext in
                              (".jsonl", ".json", ".parquet", ".csv")] if by_config
                             else [folder / n])
                    hit = next((c for c in cands if c.is_file()), None)
                    if hit is None:
                        break
                    got[n] = hit
                else:
                    return got
        return None


_ACP = ("app", "areach", "just", "land", "prog", "reach", "val")
_ACP_YAML = {"app": "app", "areach": "act_reach", "just": "just", "land": "land",
             "prog": "prog", "reach": "reach", "val": "val"}
_HALU = ("qa_samples", "dialogue_samples", "summarization_samples")
_HEXPHI = ("category_*.csv",)

REGISTRY: dict[str, Benchmark] = {b.name: b for b in [
    # -- math ---------------------------------------------------------------------------------
    Benchmark("math500", "HuggingFaceH4/MATH-500", None, "test", "problem", "answer", "math",
              "math", local=("math500/math500_test.jsonl", "math500.jsonl"),
              aliases=("math-500", "MATH-500", "MATH500"),
              revision="6e4ed1a2a79af7d8630a6b768ec859cb5af4d3be"),
    Benchmark("aime24", "HuggingFaceH4/aime_2024", None, "train", "problem", "answer", "math",
              "math", local=("aime24/aime24_test.jsonl", "aime24.jsonl"),
              aliases=("aime-2024", "aime_2024", "AIME24", "AIME-2024"),
              # ai-dynamo/aiperf src/aiperf/accuracy/worker.py (NVIDIA, 2025-2026) pins
              # HuggingFaceH4/aime_2024 here, beside MATH-500 at the sha above
              revision="2fe88a2f1091d5048c0f36abc874fb997b3dd99a"),
    Benchmark("aime25", "yentinglin/aime_2025", None, "train", "problem", "answer", "math",
              "math", local=("aime25/aime25_test.jsonl", "aime25.jsonl"),
              aliases=("aime-2025", "aime_2025", "AIME25", "AIME-2025"),
              # ai-dynamo/aiperf src/aiperf/accuracy/worker.py pins yentinglin/aime_2025 here
              # (data/train-00000-of-00001-243207c6c994e1bd.parquet, 30 rows)
              revision="6f71d77b0b89b9dabe07ab466c51df33f514df7f"),
    Benchmark("olympiadbench", "Hothan/OlympiadBench", "OE_TO_maths_en_COMP", "train",
              "question", "final_answer", "harness", "math",
              local=("olympiadbench/test.jsonl", "olympiadbench.jsonl"),
              aliases=("olympiad", "OlympiadBench", "olympiad-bench"),
              harness=(("", "curate:olympiad.yaml"),), metric="exact_match",
              # pinned by public eval code for config OE_TO_maths_en_COMP (file
              # OlympiadBench/OE_TO_maths_en_COMP/OE_TO_maths_en_COMP.parquet); a suite
              # "assembled on 2026-09-03" cites the same revision
              revision="91184b52131e7fc9455fef848035173aea8cc01a",
              note="675 open-ended English text-only competition problems; P1's lm-eval task "
                   "`olympiad` (fork only, not in lm-eval 0.4.13): hendrycks is_equiv on the "
                   "last \\boxed{}"),
    # -- other reasoning ----------------------------------------------------------------------
    Benchmark("gpqa-diamond", "Idavidrein/gpqa", "gpqa_diamond", "train", "Question",
              "Correct Answer", "mcq", "other",
              local=("gpqa-diamond/gpqa_diamond.jsonl", "gpqa-diamond.jsonl"),
              aliases=("gpqa", "gpqa_diamond", "GPQA-Diamond", "GPQA-D"),
              # ai-dynamo/aiperf src/aiperf/accuracy/worker.py; public eval code "pinned
              # 2026-07-07" (gpqa_diamond.csv, 198 rows) names the same sha
              revision="633f5ee89ab8ad4522a9f850766b73f62147ffdd"),
    Benchmark("livecodebench-v2", "livecodebench/code_generation_lite", None, "test",
              "question_content", None, "code", "other",
              local=("livecodebench-v2.jsonl",), data_files=("test.jsonl", "test2.jsonl"),
              aliases=("lcb-v2", "lcb_v2", "livecodebench_v2", "LiveCodeBench-v2",
                       "release_v2"),
              # ai-dynamo/aiperf src/aiperf/accuracy/worker.py; public eval code downloads
              # test.jsonl, test2..test6.jsonl at this sha (HF tree checked 2026-09-24)
              revision="0fe84c3912ea0c4d4a78037083943e8f0c4dd505",
              metric="pass@1",
              note="release_v2 = the Hub files test.jsonl + test2.jsonl (511 problems); "
                   "scored by running the code in curate's sandbox on the public and "
                   "private tests (LiveCodeBench's rules)"),
    Benchmark("livecodebench", "livecodebench/code_generation_lite", None, "test",
              "question_content", None, "code", "other",
              local=("livecodebench/livecodebench.jsonl", "livecodebench.jsonl"),
              data_files=("test4.jsonl", "test5.jsonl"),
              aliases=("lcb", "LiveCodeBench", "lcb-v4-v5"), metric="pass@1",
              # ai-dynamo/aiperf src/aiperf/accuracy/worker.py; public eval code downloads
              # test.jsonl, test2..test6.jsonl at this sha (HF tree checked 2026-09-24)
              revision="0fe84c3912ea0c4d4a78037083943e8f0c4dd505",
              note="version v4_v5 (the Hub files test4.jsonl + test5.jsonl)"),
    Benchmark("mmlu-pro", "TIGER-Lab/MMLU-Pro", None, "test", "question", "answer", "harness",
              "other", local=("mmlu-pro/mmlu_pro.jsonl", "mmlu-pro.jsonl", "mmlu-pro/test.parquet",
                              "mmlu-pro/test-00000-of-00001.parquet"),
              aliases=("mmlu_pro", "MMLU-Pro", "mmlupro", "mmlu-pro-full"),
              revision="b189ec765aa7ed75c8acfea42df31fdae71f97be",
              harness=(("", "curate:mmlu_pro_p3.yaml"),), metric="exact_match",
              note="12,032 questions, up to 10 options; P3's lm-eval template (0-shot, "
                   "letter in \\boxed{} or 'answer is (X)'), the prompt naming the item's own "
                   "letters"),
    Benchmark("mmlu-pro-1k", "TIGER-Lab/MMLU-Pro", None, "test", "question", "answer",
              "harness", "other",
              local=("mmlu-pro-1k/1k_test.parquet", "mmlu-pro-1k/1k_test.jsonl",
                     "mmlu-pro-1k.jsonl"),
              aliases=("mmlu_pro_1k", "MMLU-Pro-1k", "mmlu-pro1k"),
              revision="b189ec765aa7ed75c8acfea42df31fdae71f97be",
              harness=(("", "curate:mmlu_pro_p3.yaml"),), metric="exact_match",
              derived_from="mmlu-pro",
              note="the papers' 1k subset (P1-code lm_eval/tasks/leaderboard/mmlu_pro/"
                   "process.py): per category max(1, int(share x 1000)) rows with "
                   "pandas sample(random_state=42), then sample(n=1000, random_state=42, "
                   "replace=True) of their concatenation (repeats kept, as the papers did)"),
    Benchmark("acpbench", "ibm-research/acp_bench", None, "test", "question", "answer",
              "harness", "other", subsets=tuple(f"acp_{t}_mcq" for t in _ACP),
              aliases=("acp_bench", "ACPBench", "acp", "acp_mcq_cot_2shot"),
              # public eval code (a 2026-10-03 report and an acpbench task README) pin
              # ibm-research/acp_bench here
              revision="05e5883d9afbcfa3bdc8f270cb345ef0b9526d4a",
              harness=tuple((f"acp_{t}_mcq", f"lm_eval:acpbench/mcq_cot_2shot/{_ACP_YAML[t]}.yaml")
                            for t in _ACP), metric="exact_match",
              note="P1 ran lm-eval's acp_mcq_cot_2shot (7 tasks, 2-shot CoT); the figure is "
                   "the mean over all items"),
    Benchmark("acpbench-bool", "ibm-research/acp_bench", None, "test", "question", "answer",
              "harness", "other", subsets=tuple(f"acp_{t}_bool" for t in _ACP),
              aliases=("acp_bool_cot_2shot", "acpbench_bool"), local_dir="acpbench",
              # public eval code (a 2026-10-03 report and an acpbench task README) pin
              # ibm-research/acp_bench here
              revision="05e5883d9afbcfa3bdc8f270cb345ef0b9526d4a",
              harness=tuple((f"acp_{t}_bool",
                             f"lm_eval:acpbench/boolq_cot_2shot/{_ACP_YAML[t]}.yaml")
                            for t in _ACP), metric="exact_match",
              note="lm-eval's acp_bool_cot_2shot (yes/no, 2-shot CoT)"),
    Benchmark("headqa", "EleutherAI/headqa", "en", "test", "qtext", None, "harness", "other",
              local=("headqa/headqa_en_test.jsonl", "headqa/test.jsonl", "headqa.jsonl"),
              aliases=("headqa_en", "HeadQA", "head-qa"),
              harness=(("", "lm_eval:headqa/headqa_en.yaml"),), metric="acc",
              note="multiple choice by log-likelihood (acc; acc_norm recorded too)"),
    # -- non-reasoning ------------------------------------------------------------------------
    Benchmark("coqa", "EleutherAI/coqa", None, "validation", "story", None, "harness", "non",
              local=("coqa/validation.jsonl", "coqa.jsonl"), aliases=("CoQA",),
              harness=(("", "lm_eval:coqa/default.yaml"),), metric="f1",
              note="generate until '\\nQ:'; f1 (em recorded too; which one P1 used is not "
                   "stated)"),
    Benchmark("ifeval", "google/IFEval", None, "train", "prompt", None, "harness", "non",
              local=("ifeval/train.jsonl", "ifeval.jsonl", "ifeval/ifeval_input_data.jsonl"),
              aliases=("IFEval", "if-eval"),
              # pinned for google/IFEval (train, 541 rows) by several public eval suites'
              # dataset locks (DATASET_PINS, IFEVAL_REVISION, a custom ifeval_pinned.yaml)
              revision="966cd89545d6b6acfd7638bc708b98261ca58e84",
              harness=(("", "lm_eval:ifeval/ifeval.yaml"),), metric="prompt_level_strict_acc",
              note="prompt_level_strict_acc (the other three IFEval accuracies recorded too)"),
    Benchmark("halueval", "pminervini/HaluEval", None, "data", "question", None, "harness",
              "non", subsets=_HALU, aliases=("HaluEval", "halu_eval", "halu-eval"),
              # public eval code: DATASET_REVISION "pinned 2026-08-13, main branch HEAD";
              # qa_samples/dialogue_samples/summarization_samples each with split "data"
              revision="12a856119f03975a94509091e8cada3e6be6ead7",
              harness=tuple((h, f"curate:halueval_{h.split('_')[0]}.yaml") for h in _HALU),
              metric="acc",
              note="P1/P3's lm-eval task `halueval` (fork only, not in lm-eval 0.4.13): "
                   "qa + dialogue + summarization, the mean over all items"),
    Benchmark("halueval-p3", "pminervini/HaluEval", None, "data", "question", None,
              "harness", "non", subsets=_HALU, aliases=("halueval_p3", "HaluEval-P3"),
              local_dir="halueval",
              # public eval code: DATASET_REVISION "pinned 2026-08-13, main branch HEAD";
              # qa_samples/dialogue_samples/summarization_samples each with split "data"
              revision="12a856119f03975a94509091e8cada3e6be6ead7",
              harness=tuple((h, f"curate:halueval_p3_{h.split('_')[0]}.yaml") for h in _HALU),
              metric="acc",
              note="P3's variant of the halueval task: shorter instructions, the last Yes/No "
                   "word of the answer after its thinking (local copy: halueval/<config>)"),
    Benchmark("mc-taco", "CogComp/mc_taco", None, "test", "sentence", None, "harness", "non",
              local=("mc-taco/test.jsonl", "mc_taco/test.jsonl", "mc-taco.jsonl"),
              aliases=("mc_taco", "MC-TACO", "mctaco"),
              harness=(("", "lm_eval:mc_taco/default.yaml"),), metric="acc",
              note="multiple choice 'Plausible: no/yes' by log-likelihood (acc; f1 too)"),
    Benchmark("truthfulqa", "truthfulqa/truthful_qa", "generation", "validation", "question",
              "best_answer", "judge", "non",
              local=("truthfulqa/generation/validation.jsonl", "truthfulqa/validation.jsonl",
                     "truthfulqa.jsonl"),
              aliases=("truthful_qa", "TruthfulQA", "truthfulqa_gen"), metric="helpful",
              # truthfulqa/truthful_qa pinned here by public eval code for the generation and
              # multiple_choice configs (an OLMES freeze script's audited lock among them)
              revision="741b8276f2d1982aa3d5b832d3ee81ed3b896490",
              note="P3's truthfulqa_gen: the answer to '\\n\\nQ: {question}' judged by a truth "
                   "judge and an informativeness judge (allenai/truthfulqa-truth-judge-llama2-7B, "
                   "-info-judge-; 'Q:...A:...True:' / 'Helpful:' prompts); helpful (P3's "
                   "table) and truthful both recorded"),
    Benchmark("alpacaeval", "tatsu-lab/alpaca_eval", None, "eval", "instruction",
              None, "reward", "non",
              # the repository's own file, not its loading script (`datasets` 4+ runs none)
              data_files=("alpaca_eval.json",),
              local=("alpacaeval/alpaca_eval.json", "alpaca_eval/alpaca_eval.json",
                     "alpacaeval.json", "alpacaeval.jsonl"),
              aliases=("alpaca_eval", "AlpacaEval", "alpacaeval2", "alpaca-eval"),
              metric="reward", scale="reward",
              # tatsu-lab/alpaca_eval pinned here by public eval code (alpaca_eval.json, 805
              # instructions; an OLMES freeze script's audited lock among them)
              revision="2edc6fad8be6b14ea7230aabfd08188da6b8b814",
              note="AlpacaEval 2.0's 805 instructions; P3 scores the answer (after the last "
                   "</think>) with the reward model allenai/Llama-3.1-8B-Instruct-RM-RB2 (mean "
                   "raw reward; not a 0-1 score, so TI leaves it out)"),
    Benchmark("hex-phi", "LLM-Tuning-Safety/HEx-PHI", None, "train", "instruction", None,
              "judge", "non", data_files=_HEXPHI, reader="hexphi-csv",
              local=("hex-phi.csv", "hex-phi/hex-phi.csv"),
              aliases=("hexphi", "HEx-PHI", "hex_phi"), metric="asr", higher_is_better=False,
              # a public HF cache path datasets--LLM-Tuning-Safety--HEx-PHI/snapshots/<this>
              # holds category_1.csv, category_3.csv; a 2026-09 eval README pins it and notes
              # the authors removed category 2 (300 prompts remain)
              revision="83128b46334b80cc567bd7a2caf7af11c5b0bab7",
              note="harmful instructions in 11 categories of 30 (the Hub's category_N.csv, "
                   "one per line; or P3's HarmBench-style hex-phi.csv with a Behavior column); "
                   "attack success rate = share of answers the judge scores 5 of 5 (P3: GPT-4.1 "
                   "with the HEx-PHI judge template); lower is safer"),
]}

_ALIASES = {a.lower(): b.name for b in REGISTRY.values() for a in (b.name, *b.aliases)}


def local_roots() -> list[Path]:
    """Folders searched for local benchmark copies, in order."""
    roots = []
    for env in ("CURATE_BENCHMARK_DIR", "CURATE_SHARED_DATA"):
        if os.environ.get(env):
            roots.append(Path(os.environ[env]))
    roots.append(REPO.parent / "shared" / "data")
    return roots


def list_benchmarks() -> list[str]:
    """Canonical names of the registered benchmarks."""
    return sorted(REGISTRY)


def get_benchmark(name: str) -> Benchmark:
    """The registry entry for a name or alias; a clear error listing known names otherwise."""
    if name.startswith("file:"):
        path, fld = _file_spec(name)
        # resolved here: a relative file:PATH means the working folder, not the data roots
        return Benchmark(name, None, None, "file", fld or "question", "answer", "math", "math",
                         local=(str(path.resolve()),))
    key = _ALIASES.get(name.lower())
    if key is None:
        raise NotFound(f"unknown benchmark {name!r}; known: {', '.join(list_benchmarks())} "
                       "(or file:PATH[:field])")
    return REGISTRY[key]


def _file_spec(spec: str) -> tuple[Path, str | None]:
    rest = spec[len("file:"):]
    fld = None
    p = Path(rest)
    if not p.exists() and ":" in rest:
        head, tail = rest.rsplit(":", 1)
        if Path(head).exists():
            p, fld = Path(head), tail
    if not p.exists() and not p.is_symlink():
        raise NotFound(f"benchmark file not found: {p}")
    from curate.formats.rows import check_file

    check_file(p)           # a directory, FIFO, device or link loop is named as such
    return p, fld


def _read_local(path: Path, reader: str = "rows") -> list[dict[str, Any]]:
    """Rows of a local benchmark file (a registry copy or a user's file:PATH) through the shared
    readers (`curate.formats.rows`): a file that is not a readable regular file, a malformed
    line, JSON nested too deep, an integer past int64, NaN, an unpaired surrogate or bad UTF-8
    is one BadInput line naming the file and row; CSV values stay text."""
    from curate.formats.rows import check_file, read_objects

    check_file(path)
    suffix = path.suffix.lower()
    if reader == "hexphi-csv" and suffix == ".csv":
        return _read_hexphi(path)
    if suffix == ".csv":
        import csv
        import io

        data = path.read_bytes()
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as e:
            raise BadInput(f"not valid UTF-8 (byte {e.start})", file=str(path),
                           row=data.count(b"\n", 0, e.start) + 1) from None
        rd = csv.DictReader(io.StringIO(text, newline=""))
        try:
            return list(rd)
        except csv.Error as e:
            raise BadInput(f"bad CSV ({e})", file=str(path), row=rd.line_num) from None
    return read_objects(path, as_jsonl=suffix not in (".json", ".parquet", ".jsonl", ".ndjson"))


def _read_hexphi(path: Path) -> list[dict[str, Any]]:
    """HEx-PHI: the Hub's category_N.csv (one instruction per line, no header), or a
    HarmBench-style CSV with `Behavior` (and `BehaviorID`) columns as P3 used."""
    import csv

    with open(path, newline="", encoding="utf-8") as f:
        rows = [r for r in csv.reader(f) if r and any(c.strip() for c in r)]
    if rows and "Behavior" in rows[0]:
        head = rows[0]
        out = []
        for i, r in enumerate(rows[1:]):
            d = dict(zip(head, r))
            out.append({"id": d.get("BehaviorID") or f"{path.stem}-{i}",
                        "instruction": d["Behavior"], "category": d.get("Category")})
        return out
    cat = path.stem
    return [{"id": f"{cat}-{i}", "instruction": r[0], "category": cat}
            for i, r in enumerate(rows)]


def expected_local(b: Benchmark) -> str:
    """Where a local copy of `b` goes, relative to $CURATE_BENCHMARK_DIR, in the source's own
    format: "aime25/aime25_test.jsonl", "acpbench/<config>.jsonl for acp_app_mcq, ...",
    "livecodebench-v2/test.jsonl + test2.jsonl"; "" for a file: benchmark."""
    folder = b.local_dir or b.name
    if b.subsets:
        return f"{folder}/<config>.jsonl for {', '.join(b.subsets)}"
    if b.data_files:
        return f"{folder}/" + " + ".join(b.data_files)
    if b.derived_from:
        return f"{b.local[0]} (or a copy of {b.derived_from}: it is cut from it)" \
            if b.local else f"a copy of {b.derived_from}"
    return b.local[0] if b.local and not b.name.startswith("file:") else ""


def _hub_error(b: Benchmark, e: Exception) -> CurateError:
    first = str(e).splitlines()[0] if str(e) else type(e).__name__
    where = expected_local(b)
    put = f"; offline, put a copy at $CURATE_BENCHMARK_DIR/{where}" if where else ""
    return CurateError(
        f"benchmark {b.name!r}: no local copy (looked in {', '.join(map(str, local_roots()))})"
        f" and loading {b.hub_id} from the Hub failed: {first}{put}")


def _load_hub(b: Benchmark) -> list[dict[str, Any]]:
    """Rows from the Hub at the pinned revision: each config of `subsets` (with a `subset`
    field), the repository's own `data_files`, or the one config. An unreachable Hub is
    found in seconds (`hub.offline_when_unreachable`): the local cache still serves, else
    one line, not minutes of retries."""
    from curate.corpora.hub import offline_when_unreachable

    why = None
    try:
        with offline_when_unreachable() as why:
            return _load_hub_rows(b)
    except CurateError:
        raise
    except Exception as e:  # offline, missing, gated: one clear line
        raise _hub_error(b, ConnectionError(f"the Hub is unreachable: {why}") if why else e) \
            from None


def _load_hub_rows(b: Benchmark) -> list[dict[str, Any]]:
    import datasets

    if b.reader == "hexphi-csv":
        return _load_hub_hexphi(b)
    if b.data_files:
        ds = datasets.load_dataset(b.hub_id, data_files={b.split: list(b.data_files)},
                                   split=b.split, revision=b.revision)
        return ds.to_list()
    if b.subsets:
        rows = []
        for sub in b.subsets:
            part = datasets.load_dataset(b.hub_id, sub, split=b.split, revision=b.revision)
            rows += [{**r, "subset": sub} for r in part.to_list()]
        return rows
    ds = datasets.load_dataset(b.hub_id, b.config, split=b.split, revision=b.revision,
                               **b.load_kwargs)
    return ds.to_list()


def _load_hub_hexphi(b: Benchmark) -> list[dict[str, Any]]:
    from huggingface_hub import HfApi, hf_hub_download

    files = sorted(f for f in HfApi().list_repo_files(b.hub_id, repo_type="dataset",
                                                      revision=b.revision)
                   if Path(f).match("category_*.csv"))
    rows = []
    for f in files:
        rows += _read_hexphi(Path(hf_hub_download(b.hub_id, f, repo_type="dataset",
                                                  revision=b.revision)))
    return rows


def local_rows(b: Benchmark) -> tuple[list[dict[str, Any]], str] | None:
    """(rows, where) of a complete local copy; rows of several files carry `subset`."""
    loc = b.local_files()
    if not loc:
        return None
    if list(loc) == [""]:
        p = loc[""]
        return _read_local(p, b.reader), str(p)
    rows: list[dict[str, Any]] = []
    for key, p in loc.items():
        part = _read_local(p, b.reader)
        if b.subsets:
            part = [{**r, "subset": key} for r in part]
        rows += part
    return rows, str(next(iter(loc.values())).parent)


def normalise_rows(rows: list[dict[str, Any]], b: Benchmark,
                   source: str | None = None) -> list[dict[str, Any]]:
    """Rows with `id`, `question`, `problem`, `answer` filled from the source's own fields."""
    out = []
    for i, r in enumerate(rows):
        if not isinstance(r, dict):
            raise BadInput("expected a JSON object", file=source, row=i + 1)
        q = r.get(b.question_field)
        if q in (None, ""):
            q = next((r[k] for k in QUESTION_FIELDS if r.get(k) not in (None, "")), None)
        if q is None:
            raise BadInput(f"no question field ({b.question_field})", file=source, row=i + 1)
        a = r.get(b.answer_field) if b.answer_field else None
        if a is None and b.answer_field is not None:
            a = next((r[k] for k in ANSWER_FIELDS if r.get(k) is not None), None)
        if isinstance(a, (list, tuple)):      # OlympiadBench: final_answer is a list
            a = a[0] if len(a) == 1 else ", ".join(map(str, a))
        rid = next((r[k] for k in ("id", "unique_id", "question_id", "Record ID", "idx")
                    if r.get(k) not in (None, "")), i)
        row = dict(r)
        row.update(id=str(rid), question=str(q), problem=str(q),
                   answer=None if a is None else str(a), benchmark=b.name)
        out.append(row)
    return out


def source_rows(name: str) -> tuple[list[dict[str, Any]], str]:
    """(rows in the source's own format, where they came from): the local copy first, then
    the Hub; a derived benchmark (`mmlu-pro-1k`) is cut from its parent by its rule."""
    b = get_benchmark(name)
    got = local_rows(b)
    if got is not None:
        return got
    if b.derived_from:
        from curate.corpora.benchmark_subsets import derive

        parent, where = source_rows(b.derived_from)
        return derive(b.name, parent), f"{where} (subset rule {b.name})"
    if b.hub_id is None:
        raise NotFound(f"benchmark file not found for {name!r}")
    return _load_hub(b), f"{b.hub_id}@{b.revision or 'unpinned'}"


def load_benchmark(name: str) -> list[dict[str, Any]]:
    """Rows of a benchmark (local copy first, then the Hub), with `id`, `question`,
    `problem`, `answer` filled in."""
    b = get_benchmark(name)
    rows, where = source_rows(name)
    return normalise_rows(rows, b, where)


def has_local_copy(b: Benchmark) -> str | None:
    """Where a complete local copy is (or for a derived benchmark, its parent's), else None."""
    if b.local_files():
        p = b.local_path()
        return str(p) if p else None
    if b.derived_from:
        parent = REGISTRY[b.derived_from]
        p = has_local_copy(parent)
        return f"{p} (derived)" if p else None
    return None


def _harness_label(b: Benchmark) -> str:
    """"lm-eval headqa_en" (a task lm-eval ships) or "lm-eval format: olympiad" (curate's)."""
    kinds = {h.split(":", 1)[0] for _, h in b.harness}
    stem = Path(b.harness[0][1].split(":", 1)[1]).stem if b.harness else ""
    more = f" +{len(b.harness) - 1}" if len(b.harness) > 1 else ""
    return (f"lm-eval {stem}{more}" if kinds == {"lm_eval"}
            else f"lm-eval format: {stem}{more}")


def benchmark_table() -> list[dict[str, Any]]:
    """One row per benchmark for `curate eval --list-benchmarks`: source, revision, metric,
    direction, group, scorer, whether a local copy is present (`local`: its path or None) and
    where one goes (`local_layout`, relative to $CURATE_BENCHMARK_DIR)."""
    out = []
    for name in list_benchmarks():
        b = REGISTRY[name]
        src = b.hub_id or ""
        if b.config:
            src += f":{b.config}"
        if b.subsets:
            src += f" [{len(b.subsets)} configs]"
        if b.data_files:
            src += f" [{', '.join(b.data_files)}]"
        if b.derived_from:
            src += f" (subset of {b.derived_from})"
        scorer = {"harness": _harness_label(b), "code": "code sandbox",
                  "reward": "reward model", "judge": "judge model", "mcq": "letter match",
                  "math": "math-verify | hendrycks"}.get(b.kind, b.kind)
        out.append({"name": name, "group": b.group, "source": src, "split": b.split,
                    "revision": b.revision or "unpinned", "metric": b.metric,
                    "higher_is_better": b.higher_is_better, "scale": b.scale,
                    "scorer": scorer, "local": has_local_copy(b),
                    "local_layout": expected_local(b)})
    return out
