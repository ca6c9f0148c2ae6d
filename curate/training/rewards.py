"""GRPO rewards from the project's verifiers, in TRL's signature
`f(completions, **kwargs) -> list[float]` (dataset columns such as `reference` and `task`
arrive as keyword lists, one entry per completion).

- `countdown`: 1 when the equation in the completion verifies (AST verifier, under the
  semantics the row's reference records), else 0; None (TRL: not applicable, left out of
  the sum) when the reference itself is malformed;
- `math`: 1 when math-verify rules the answer correct (in a killable worker pool: some
  inputs hang math-verify), else 0;
- `correct`: `countdown` or `math` per row, by its `task`;
- `format`: 1 for a closed think block followed by a `\\boxed{}` answer, else 0.

TRL decodes completions with `skip_special_tokens=True`, which deletes `<think>` where the
tokenizer marks it special; `keep_think_tokens` re-decodes from `completion_ids` so the
format reward sees what the model wrote.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

from curate.curation.verify_countdown import verify_countdown_completion
from curate.errors import BadInput
from curate.formats.boxed import last_boxed
from curate.record import split_think

RewardFn = Callable[..., list[float]]


def completion_text(completion: Any) -> str:
    """The text of a completion: a string, or the content of conversational messages."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list):
        return "".join(str(m.get("content") or "") for m in completion if isinstance(m, dict))
    return str(completion or "")


def _per_row(values: Sequence[Any] | None, n: int, name: str) -> list[Any]:
    if values is None:
        raise BadInput(f"reward needs the dataset column {name!r}")
    return list(values)[:n] if len(values) >= n else list(values) + [None] * (n - len(values))


def countdown_reward(completions: list, reference: list | None = None,
                     **kwargs) -> list[float | None]:
    """1.0 when the completion's equation uses each number once and hits the target under
    the reference's semantics; 0.0 otherwise; None when the reference is malformed (not
    checkable: `curate.curation.verify_countdown.parse_reference`; `train grpo` rejects such
    rows before training, naming the row)."""
    refs = _per_row(reference, len(completions), "reference")
    out: list[float | None] = []
    for c, ref in zip(completions, refs):
        res = verify_countdown_completion(completion_text(c), ref)
        out.append(None if res.verified is None else 1.0 if res.verified else 0.0)
    return out


@functools.lru_cache(maxsize=1)
def _math_pool():
    from curate.curation.verify_pool import VerifierPool

    return VerifierPool(workers=2, timeout=5.0)


def math_reward(completions: list, reference: list | None = None, **kwargs) -> list[float]:
    """1.0 when math-verify (gold first) accepts the answer; not checkable counts as 0."""
    refs = _per_row(reference, len(completions), "reference")
    pairs = [(None if r is None else str(r), completion_text(c)) for c, r in zip(completions, refs)]
    results = _math_pool().verify_many(pairs, kind="math")
    return [1.0 if r.verified else 0.0 for r in results]


def correct_reward(completions: list, reference: list | None = None, task: list | None = None,
                   **kwargs) -> list[float | None]:
    """`countdown_reward` for Countdown rows, `math_reward` for the others."""
    n = len(completions)
    tasks = _per_row(task, n, "task") if task is not None else [None] * n
    refs = _per_row(reference, n, "reference")
    cd = [i for i, t in enumerate(tasks) if t == "countdown"]
    other = [i for i, t in enumerate(tasks) if t != "countdown"]
    out: list[float | None] = [0.0] * n
    for idx, fn in ((cd, countdown_reward), (other, math_reward)):
        if idx:
            for i, v in zip(idx, fn([completions[i] for i in idx], [refs[i] for i in idx])):
                out[i] = v
    return out


def format_reward(completions: list, **kwargs) -> list[float]:
    """1.0 for `...</think>` (opened or prefilled) then an answer holding `\\boxed{...}`."""
    out = []
    for c in completions:
        reasoning, answer, closed = split_think(completion_text(c))
        ok = reasoning is not None and closed and last_boxed(answer) is not None
        out.append(1.0 if ok else 0.0)
    return out


REWARDS: dict[str, RewardFn] = {"countdown": countdown_reward, "math": math_reward,
                                "correct": correct_reward, "format": format_reward}


def keep_think_tokens(fn: RewardFn, tokenizer) -> RewardFn:
    """`fn` on completions re-decoded from their ids with special tokens kept (pad, eos and
    bos removed), so `<think>` survives where the tokenizer marks it special."""
    from curate.models import strip_specials

    def wrapped(completions: list, completion_ids: list | None = None, **kwargs) -> list[float]:
        if completion_ids is not None:
            completions = [strip_specials(tokenizer.decode(list(ids), skip_special_tokens=False),
                                          tokenizer) for ids in completion_ids]
        return fn(completions, **kwargs)

    wrapped.__name__ = fn.__name__
    return wrapped


def reward_functions(names: Sequence[str], tokenizer=None) -> list[RewardFn]:
    """Reward callables for TRL from names (countdown, math, correct, format)."""
    unknown = [n for n in names if n not in REWARDS]
    if unknown or not names:
        raise BadInput(f"unknown reward(s) {', '.join(unknown) or '(none)'}; known: "
                       f"{', '.join(REWARDS)}")
    fns = [REWARDS[n] for n in names]
    return [keep_think_tokens(f, tokenizer) for f in fns] if tokenizer is not None else fns


def default_rewards(tasks: set[str | None]) -> list[str]:
    """Correctness for the tasks present (P1 rewards answer correctness only; the format
    reward is opt-in)."""
    if tasks == {"countdown"}:
        return ["countdown"]
    if "countdown" not in tasks:
        return ["math"]
    return ["correct"]
