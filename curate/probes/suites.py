"""Evaluation suites: which benchmarks, with which decoding, as the papers ran them.

A suite is a list of `BenchSetting`s over the benchmark registry
(`curate.corpora.benchmarks`). Presets:

- ``p3`` (arXiv 2604.06628): MATH-500 avg@3, AIME24 avg@10, GPQA-Diamond avg@3 with a fixed,
  seeded option order; T=0.6, top_p 0.95, 32,768 new tokens, seed 1234, chat template, no
  system prompt, user turn ``"{q}\\n Please reason step by step, and put your final answer
  within \\boxed{}."`` (the space after the newline is theirs).
- ``p1`` (arXiv 2507.00432, EvalChemy part): MATH-500 ×1, AIME24 ×10, AIME25 ×10,
  GPQA-Diamond ×3; T=0.7, 32,768 tokens.
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
    chat_template: bool = True
    path: str | None = None           # local suites: the file
    extra: dict = field(default_factory=dict)

    def replace(self, **kw) -> BenchSetting:
        return dataclasses.replace(self, **{k: v for k, v in kw.items() if v is not None})


_P3 = dict(temperature=0.6, top_p=0.95, max_new_tokens=32768, seed=1234)
_P1 = dict(temperature=0.7, top_p=1.0, max_new_tokens=32768, seed=0)

SUITES: dict[str, list[BenchSetting]] = {
    "p3": [
        BenchSetting("math500", k=3, group="math", **_P3),
        BenchSetting("aime24", k=10, group="math", **_P3),
        BenchSetting("gpqa-diamond", k=3, kind="mcq", group="other", prompt=P3_GPQA_PROMPT,
                     shuffle_options=True, **_P3),
    ],
    "p1": [
        BenchSetting("math500", k=1, group="math", prompt=P1_MATH_PROMPT, **_P1),
        BenchSetting("aime24", k=10, group="math", prompt=P1_MATH_PROMPT, **_P1),
        BenchSetting("aime25", k=10, group="math", prompt=P1_MATH_PROMPT, **_P1),
        BenchSetting("gpqa-diamond", k=3, kind="mcq", group="other", prompt=P1_GPQA_PROMPT,
                     shuffle_options=True, **_P1),
    ],
    "math": [
        BenchSetting("math500", k=3, group="math", **_P3),
        BenchSetting("aime24", k=10, group="math", **_P3),
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
