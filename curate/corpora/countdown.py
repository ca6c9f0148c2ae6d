"""Countdown problems: reach a target from given numbers with + - * /, each number used once.

Every instance is proved solvable by an exhaustive solver that also counts its solutions.
Instead of Stream of Search's "fix a target, redraw numbers until solvable" (most of its time
goes to redrawing), we draw the numbers, enumerate every value they can reach once (memoised
over sub-multisets), and pick the target uniformly among the reachable values in the target
range (excluding held-out targets for train, only those for test). Target distribution: on
20,000 default 4-number draws every one of the 82 train targets occurs, each between 0.7x
and 1.4x the uniform share. The last step of the solver only computes values in the target
range (looking up the partner each target needs), which makes 5-6 numbers cheap under the
integer semantics (6 numbers: ~8 ms per instance); rational 6-number sets reach far more
values and stay slow (~1.7 s per instance: the 5-number sub-tables dominate).
Under the integer semantics (as Stream of Search) intermediates are non-negative
integers and division must be exact; the rational semantics allows negatives and fractions.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from fractions import Fraction
from functools import lru_cache

SEMANTICS = ("integer", "rational")


@dataclass(frozen=True)
class CountdownConfig:
    numbers: int = 4                  # how many input numbers (3 to 6)
    min_number: int = 1
    max_number: int = 99
    min_target: int = 10
    max_target: int = 100
    heldout_fraction: float = 0.1     # share of target values kept for the test split
    heldout_seed: int = 1234          # fixed apart from the sampling seed: both splits agree
    semantics: str = "integer"

    def __post_init__(self) -> None:
        if not 3 <= self.numbers <= 6:
            raise ValueError("numbers must be between 3 and 6")
        if self.semantics not in SEMANTICS:
            raise ValueError(f"semantics must be one of {SEMANTICS}")
        if self.min_number > self.max_number or self.min_target > self.max_target:
            raise ValueError("empty number or target range")


@dataclass
class CountdownInstance:
    numbers: list[int]
    target: int
    split: str
    solutions: int                    # distinct expressions (up to commutativity) equal to target
    reachable: int                    # distinct targets in the target range these numbers reach
    extra: dict = field(default_factory=dict)


def heldout_targets(cfg: CountdownConfig) -> frozenset[int]:
    """The target values reserved for the test split (a seeded 10% of the range)."""
    targets = list(range(cfg.min_target, cfg.max_target + 1))
    random.Random(cfg.heldout_seed).shuffle(targets)
    k = round(len(targets) * cfg.heldout_fraction)
    return frozenset(targets[:k])


def combine(a, b, semantics: str = "integer") -> list[tuple[object, str, object, object]]:
    """All results of one operation on an unordered pair: (value, op, left, right)."""
    hi, lo = (a, b) if a >= b else (b, a)
    out = [(a + b, "+", hi, lo), (a * b, "*", hi, lo), (hi - lo, "-", hi, lo)]
    if semantics == "integer":
        if lo != 0 and hi % lo == 0:
            out.append((hi // lo, "/", hi, lo))
    else:
        out.append((lo - hi, "-", lo, hi))
        if lo != 0:
            out.append((Fraction(hi) / lo, "/", hi, lo))
        if hi != 0 and hi != lo:
            out.append((Fraction(lo) / hi, "/", lo, hi))
    return out


def _pair_values(x, y, semantics: str) -> list:
    """Values of one operation on (x, y), in both orders where that differs."""
    if semantics == "integer":
        hi, lo = (x, y) if x >= y else (y, x)
        out = [x + y, x * y, hi - lo]
        if lo and hi % lo == 0:
            out.append(hi // lo)
        return out
    out = [x + y, x * y, x - y, y - x]
    if y:
        out.append(Fraction(x) / y)
    if x:
        out.append(Fraction(y) / x)
    return out


def _targets_from_halves(left: dict, right: dict, lo: int, hi: int, counts: dict) -> None:
    """Add to `counts` the integer-semantics values in lo..hi of one operation on a value of
    `left` and one of `right`, by looking up the partner each target needs instead of
    combining every pair (the last step of 6 numbers: thousands x thousands of values)."""
    get = right.get
    for x, cx in left.items():
        if x == 0:  # 0 + y, y - 0 = y; 0 * y = 0; no division by 0
            for y, cy in right.items():
                for v in (y, y, 0) if y else (0, 0, 0):
                    if lo <= v <= hi:
                        counts[v] = counts.get(v, 0) + cx * cy
            continue
        for t in range(lo, hi + 1):
            c = get(t - x, 0)                               # x + y
            if t % x == 0:
                c += get(t // x, 0)                         # x * y
            c += get(x + t, 0)                              # y - x
            if t:
                c += get(x - t, 0)                          # x - y (t = 0 counted once)
                if x % t == 0:
                    c += get(x // t, 0) if x // t else 0    # x / y with x >= y
                if t > 1:
                    c += get(t * x, 0)                      # y / x with y > x
            if c:
                counts[t] = counts.get(t, 0) + cx * c


def _rational_targets_from_halves(left: dict, right: dict, lo: int, hi: int,
                                  counts: dict) -> None:
    """As `_targets_from_halves` for the rational semantics: x+y, x*y, x-y, y-x, x/y, y/x."""
    get = right.get
    for x, cx in left.items():
        if x == 0:  # 0+y, 0*y, 0-y, y-0, 0/y (y != 0); y/0 undefined
            for y, cy in right.items():
                vals = (y, 0, -y, y) + ((0,) if y else ())
                for v in vals:
                    if lo <= v <= hi and getattr(v, "denominator", 1) == 1:
                        counts[v] = counts.get(v, 0) + cx * cy
            continue
        for t in range(lo, hi + 1):
            c = get(t - x, 0) + get(Fraction(t) / x, 0) + get(x - t, 0) + get(x + t, 0)
            if t:
                c += get(Fraction(x) / t, 0)                # x / y
            c += get(t * x, 0) if t else 0                  # y / x (y = 0 is in get(0) below)
            if not t:
                c += get(0, 0)                              # 0 / x
            if c:
                counts[t] = counts.get(t, 0) + cx * c


def expression_counts(nums: tuple, semantics: str = "integer", lo: int | None = None,
                      hi: int | None = None) -> dict:
    """Every value reachable using all of `nums`, with how many distinct expressions
    (binary trees over the numbers, up to commutativity) give it; with `lo`/`hi`, only the
    integer values in lo..hi (the targets: much faster for 5-6 numbers).

    A dynamic programme over sub-multisets: value sets of the halves are combined, so values
    shared by several partial expressions are combined once.
    """
    n = len(nums)
    ranged = lo is not None and hi is not None
    if ranged and n > 1 and (semantics == "rational" or lo >= 0):
        return _expression_counts(nums, semantics, lo, hi)
    counts = _expression_counts(nums, semantics, None, None)
    if not ranged:
        return counts
    return {v: c for v, c in counts.items()
            if getattr(v, "denominator", 1) == 1 and lo <= v <= hi}


def _expression_counts(nums: tuple, semantics: str, lo: int | None, hi: int | None) -> dict:
    n = len(nums)
    full = (1 << n) - 1
    table: dict[int, dict] = {}
    for i, x in enumerate(nums):
        table[1 << i] = {x: 1}
    for mask in range(1, full + 1):
        if mask & (mask - 1) == 0:
            continue
        counts: dict = {}
        low = mask & -mask          # the lowest member always goes left: unordered partitions
        sub = (mask - 1) & mask
        last = mask == full and lo is not None
        while sub:
            if sub & low and sub != mask:
                left, right = table[sub], table[mask ^ sub]
                if last:
                    if len(left) > len(right):  # every integer operation is symmetric
                        left, right = right, left
                    if len(left) * (hi - lo + 1) < 2 * len(left) * len(right):
                        if semantics == "integer":
                            _targets_from_halves(left, right, lo, hi, counts)
                        else:
                            _rational_targets_from_halves(left, right, lo, hi, counts)
                    else:
                        for x, cx in left.items():
                            for y, cy in right.items():
                                for v in _pair_values(x, y, semantics):
                                    if lo <= v <= hi and getattr(v, "denominator", 1) == 1:
                                        counts[v] = counts.get(v, 0) + cx * cy
                    sub = (sub - 1) & mask
                    continue
                for x, cx in left.items():
                    for y, cy in right.items():
                        c = cx * cy
                        for v in _pair_values(x, y, semantics):
                            counts[v] = counts.get(v, 0) + c
            sub = (sub - 1) & mask
        table[mask] = counts
    return table[full]


@lru_cache(maxsize=20_000)
def _counts_cached(key: tuple, semantics: str) -> dict:
    return expression_counts(key, semantics)


def reachable_values(values: list, semantics: str = "integer", target=None) -> dict:
    """Values reachable using all of `values` (ints or Fractions), memoised by multiset;
    with `target`, only that value (cheap: the solver's last step looks it up)."""
    if target is None:
        return _counts_cached(tuple(sorted(values)), semantics)
    return _target_cached(tuple(sorted(values)), semantics, target)


@lru_cache(maxsize=20_000)
def _target_cached(key: tuple, semantics: str, target) -> dict:
    return expression_counts(key, semantics, target, target)


def solve(numbers: list[int], target: int, semantics: str = "integer") -> int:
    """Number of derivations of `target` using every number once (0: unsolvable)."""
    return _counts_cached(tuple(sorted(numbers)), semantics).get(target, 0)


def draw_instance(rng: random.Random, cfg: CountdownConfig, split: str = "train",
                  heldout: frozenset[int] | None = None, max_tries: int = 10_000
                  ) -> CountdownInstance:
    """One solvable instance: numbers first, then a reachable target allowed in `split`."""
    if heldout is None:
        heldout = heldout_targets(cfg)
    for _ in range(max_tries):
        nums = [rng.randint(cfg.min_number, cfg.max_number) for _ in range(cfg.numbers)]
        counts = expression_counts(tuple(nums), cfg.semantics, cfg.min_target, cfg.max_target)
        options = [(int(v), c) for v, c in counts.items()
                   if (int(v) in heldout) == (split == "test")]
        if not options:
            continue
        options.sort()
        target, sols = options[rng.randrange(len(options))]
        return CountdownInstance(nums, target, split, sols, len(counts))
    raise ValueError("no solvable instance found: widen the number or target range")
