"""Evaluation suites: which benchmarks, with which decoding, as the papers ran them.

A suite is a list of `BenchSetting`s over the benchmark registry
(`curate.corpora.benchmarks`). Presets (every benchmark in its group, so TI_other and TI_non
come from one `curate eval` run):

- ``p3`` (arXiv 2604.06628, P3-code `evaluation/`): MATH-500 avg@3, AIME24 avg@10,
  GPQA-Diamond avg@3 (seeded option order), LiveCodeBench v2 avg@3: T=0.6, top_p 0.95, 32,768
  new tokens, seed 1234, chat template, no system prompt, user turn ``"{q}\\n Please reason
  step by step, and put your final answer within \\boxed{}."`` (the space after the newline
  is theirs), math-verify on the whole response when no ``</think>``; MMLU-Pro 1k, IFEval,
  HaluEval (P3's fork) through lm-evaluation-harness, greedy; TruthfulQA (T=0.6, judged);
  AlpacaEval 2.0 (T=0.7, top-p 0.9, 16,384 tokens, reward model); HEx-PHI (T=0.6, 16,384
  tokens, judged; attack success rate, lower is safer).
- ``p1`` (arXiv 2507.00432, P1-code `eval/`): MATH-500 x1, AIME24 x10, AIME25 x10,
  GPQA-Diamond x3 (EvalChemy's fixed option order), LiveCodeBench v2 x3: T=0.7, 32,768
  tokens, math by hendrycks `is_equiv` on the last ``\\boxed{}``; OlympiadBench, ACPBench,
  HeadQA, CoQA, IFEval, HaluEval, MC-TACO through lm-evaluation-harness (greedy, 32,768
  tokens, chat template).
- ``math``: the P3 math part only (MATH-500, AIME24).
- ``local:FILE[,FILE...]``: benchmarks from local JSONL/JSON/Parquet files (one benchmark per
  file, named by the file stem); rows hold ``problem`` (or ``prompt``/``question``), ``answer``
  and optionally ``task`` (math / mcq / countdown), ``group``, ``options``, ``id``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from curate.errors import BadInput

P3_MATH_PROMPT = "{problem}\n Please reason step by step, and put your final answer within \\boxed{{}}."
P1_MATH_PROMPT = "\n{problem}\n\nPlease reason step by step, and put your final answer within \\boxed.\n"
# `{letters}` is the letter list of the item's own options ("A, B, C, or D" for four, as the
# papers wrote it; "A, B, C, D, or E" for five): a question with other than four options says so.
P3_GPQA_PROMPT = ("Problem: {problem}\nOptions: {options}\nPlease reason step by step and return "
                  "your final answer within \\boxed{{}}. Only include the letter choice "
                  "({letters}) as your final answer.")
P1_GPQA_PROMPT = ("Return your final response within \\boxed{{}} and only include the letter "
                  "choice ({letters}) as your final response.\nProblem: {problem}\n"
                  "Options: {options}\nAnswer:")


@dataclass(frozen=True)
class BenchSetting:
    """One benchmark in a suite with the decoding it is scored under."""
    benchmark: str
    k: int = 1                        # samples per problem (avg@k)
    temperature: float = 0.6
    top_p: float = 0.95
    max_new_tokens: int = 32768
    seed: int = 1234
    prompt: str = P3_MATH_PROMPT      # format string over {problem} (and {options})
    kind: str = "math"                # math | mcq | countdown
    group: str | None = None          # math / other / non; None = from the registry
    shuffle_options: bool = False     # MCQ: fixed, seeded option order
    option_order: str = "seeded"      # seeded | p1-fixed | p3-hash (see eval_items.option_order)
    rule: str | None = None           # math comparison rule: math-verify (default) | hendrycks
    unclosed: str = "no-answer"       # no </think>: no-answer | whole-response (the papers' code)
    think: str = "strip"              # harness answers: strip (after the last </think>) | raw
    chat_template: bool = True
    path: str | None = None           # local suites: the file
    extra: dict = field(default_factory=dict)

    def replace(self, **kw) -> BenchSetting:
        return dataclasses.replace(self, **{k: v for k, v in kw.items() if v is not None})


_P3 = dict(temperature=0.6, top_p=0.95, max_new_tokens=32768, seed=1234)
_P1 = dict(temperature=0.7, top_p=1.0, max_new_tokens=32768, seed=0)
# lm-evaluation-harness runs: P1 `--gen_kwargs do_sample=False,max_gen_toks=32768`, P3
# `--gen_kwargs max_gen_toks=32768` over tasks whose own settings are greedy; both
# `--apply_chat_template`.
_GREEDY = dict(temperature=0.0, top_p=1.0, max_new_tokens=32768, seed=0, k=1)
# The papers' code reads the answer after the last </think>, or the whole response when there
# is none (`split("</think>")[-1]`; P3's math_eval reads the whole response).
_WHOLE = dict(unclosed="whole-response")

SUITES: dict[str, list[BenchSetting]] = {
    "p3": [
        BenchSetting("math500", k=3, group="math", **_P3, **_WHOLE),
        BenchSetting("aime24", k=10, group="math", **_P3, **_WHOLE),
        BenchSetting("gpqa-diamond", k=3, kind="mcq", group="other", prompt=P3_GPQA_PROMPT,
                     shuffle_options=True, **_P3, **_WHOLE),
        BenchSetting("livecodebench-v2", k=3, kind="code", group="other", **_P3),
        BenchSetting("mmlu-pro-1k", kind="harness", group="other", **_GREEDY),
        BenchSetting("ifeval", kind="harness", group="non", **_GREEDY),
        BenchSetting("halueval-p3", kind="harness", group="non", **_GREEDY),
        # truthfulqa_gen in P3's fork: do_sample, T=0.6
        BenchSetting("truthfulqa", k=1, kind="judge", group="non", temperature=0.6, top_p=1.0,
                     max_new_tokens=32768, seed=1234),
        # generate_alpaca.py: T=0.7, top_p 0.9, top_k 50, presence/frequency penalty 0.1,
        # seed 42, 16,384 tokens (top_k and the penalties: served teachers only, recorded)
        BenchSetting("alpacaeval", k=1, kind="reward", group="non", temperature=0.7,
                     top_p=0.9, max_new_tokens=16384, seed=42,
                     extra={"top_k": 50, "presence_penalty": 0.1, "frequency_penalty": 0.1}),
        # HarmBench DirectRequest generation: T=0.6, 16,384 tokens
        BenchSetting("hex-phi", k=1, kind="judge", group="non", temperature=0.6, top_p=1.0,
                     max_new_tokens=16384, seed=1234),
    ],
    "p1": [
        BenchSetting("math500", k=1, group="math", prompt=P1_MATH_PROMPT, rule="hendrycks",
                     **_P1, **_WHOLE),
        BenchSetting("aime24", k=10, group="math", prompt=P1_MATH_PROMPT, rule="hendrycks",
                     **_P1, **_WHOLE),
        BenchSetting("aime25", k=10, group="math", prompt=P1_MATH_PROMPT, rule="hendrycks",
                     **_P1, **_WHOLE),
        BenchSetting("olympiadbench", kind="harness", group="math", **_GREEDY),
        BenchSetting("gpqa-diamond", k=3, kind="mcq", group="other", prompt=P1_GPQA_PROMPT,
                     shuffle_options=True, option_order="p1-fixed", **_P1, **_WHOLE),
        # EvalChemy LiveCodeBench: release_v2, n_repeat 3 (P1-code; the README says 1)
        BenchSetting("livecodebench-v2", k=3, kind="code", group="other", **_P1),
        BenchSetting("acpbench", kind="harness", group="other", **_GREEDY),
        BenchSetting("headqa", kind="harness", group="other", **_GREEDY),
        BenchSetting("coqa", kind="harness", group="non", **_GREEDY),
        BenchSetting("ifeval", kind="harness", group="non", **_GREEDY),
        BenchSetting("halueval", kind="harness", group="non", **_GREEDY),
        BenchSetting("mc-taco", kind="harness", group="non", **_GREEDY),
    ],
    "math": [
        BenchSetting("math500", k=3, group="math", **_P3, **_WHOLE),
        BenchSetting("aime24", k=10, group="math", **_P3, **_WHOLE),
    ],
}


def get_suite(name: str) -> list[BenchSetting]:
    """A preset by name, or ``local:FILE[,FILE]`` (one benchmark per file)."""
    if name.startswith("local:"):
        from pathlib import Path

        files = [f for f in name[len("local:"):].split(",") if f]
        if not files:
            raise BadInput("local suite: give files as local:FILE[,FILE...]")
        out = []
        for f in files:
            if not Path(f).is_file():
                raise BadInput(f"local suite file {f!r} not found")
            out.append(BenchSetting(Path(f).stem, k=1, path=str(Path(f).resolve()),
                                    group=None, kind="auto", **_P3))
        return out
    if name not in SUITES:
        raise BadInput(f"unknown suite {name!r} (presets: {', '.join(SUITES)}; or "
                       "local:FILE[,FILE])")
    return list(SUITES[name])
