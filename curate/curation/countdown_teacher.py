"""The search teacher for Countdown: a symbolic solver that writes its search as long CoT.

In the spirit of Stream of Search: the trace shows states, operations tried, dead ends,
backtracking and a final check of the equation, then a short answer with the equation in
`\\boxed{}`. Heuristic search (DFS or beam) runs first, as in Stream of Search, within a
budget of explored operations (which bounds the trace length: unbounded DFS on 5-6 numbers
writes megabytes). Where it fails (about 40% of Stream of Search's traces never reach the
goal) the trace says so and searches depth first without pruning for the rest of the
budget; if that fails too it goes on systematically: at each state it takes, in heuristic
order, the first operation from which the exact solver (memoised reachable sets) can still
reach the target, and on the last pair it tries operations until one gives the target. So
every trace ends in a verified solution, keeping the exploration, dead ends and
backtracking the heuristic search really did.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from fractions import Fraction

from curate.corpora.countdown import reachable_values

STRATEGIES = ("dfs", "beam", "random")
HEURISTICS = ("sum", "mult", "random")
STYLES = ("sos", "prose")

# an item of a state: (value, expression text, precedence of its top operator)
ATOM, ADD, MUL = 3, 1, 2


@dataclass(frozen=True)
class SearchOptions:
    strategy: str = "dfs"             # dfs | beam | random (per instance, seeded)
    heuristic: str = "sum"            # sum | mult | random
    beam_width: int = 3
    style: str = "sos"                # sos: Stream-of-Search lines; prose: sentences
    optimal_only: bool = False        # trace only the solution path, no dead ends
    answer_tag: bool = False          # also write <answer>...</answer>
    semantics: str = "integer"
    max_nodes: int = 300              # budget of operations explored by the heuristic search

    def __post_init__(self) -> None:
        for val, ok, what in ((self.strategy, STRATEGIES, "strategy"),
                              (self.heuristic, HEURISTICS, "heuristic"),
                              (self.style, STYLES, "style")):
            if val not in ok:
                raise ValueError(f"{what} must be one of {', '.join(ok)}")
        if self.beam_width < 1:
            raise ValueError("beam_width must be >= 1")
        if self.max_nodes < 1:
            raise ValueError("max_nodes must be >= 1")


@dataclass
class SearchResult:
    reasoning: str
    answer_text: str
    equation: str
    nodes: int                        # operations explored
    backtracks: int
    dead_ends: int
    strategy: str
    heuristic: str
    fallback: bool                    # heuristic search failed, exhaustive search finished
    ops: list[str] = field(default_factory=list)


def _fmt(v) -> str:
    if type(v) is int:
        return str(v)
    return str(v.numerator) if v.denominator == 1 else str(v)


def sum_heuristic(values: list, target: int) -> float:
    return sum(abs(v - target) for v in values) / len(values)


def _factors(target: int) -> list[int]:
    t = abs(int(target))
    return [d for d in range(2, t + 1) if t % d == 0] if t > 1 else []


def mult_heuristic(values: list, target: int, factors: list[int]) -> float:
    if not factors:
        return sum_heuristic(values, target)
    return sum(min(abs(v - f) for f in factors) for v in values)


def _combine_items(a, b, semantics: str):
    """Children of combining two state items (value, expr, prec, value text):
    (value, expr, prec, value text, op text). Expressions are built lazily as text only
    once per child, and parenthesised only where precedence needs it."""
    (va, ea, pa, ta), (vb, eb, pb, tb) = a, b
    if va < vb:
        (va, ea, pa, ta), (vb, eb, pb, tb) = (vb, eb, pb, tb), (va, ea, pa, ta)
    out = []
    s = va + vb
    ts = _fmt(s)
    # addition and multiplication are associative: no parentheses needed inside
    out.append((s, f"{ea} + {eb}", ADD, ts, f"{ta}+{tb}={ts}"))
    l_mul = ea if pa >= MUL else f"({ea})"
    r_mul = eb if pb >= MUL else f"({eb})"
    m = va * vb
    tm = _fmt(m)
    out.append((m, f"{l_mul} * {r_mul}", MUL, tm, f"{ta}*{tb}={tm}"))
    d = va - vb
    td = _fmt(d)
    out.append((d, f"{ea} - {r_mul}", ADD, td, f"{ta}-{tb}={td}"))
    if semantics == "rational" and va != vb:
        l2 = ea if pa >= MUL else f"({ea})"
        tn = _fmt(-d)
        out.append((-d, f"{eb} - {l2}", ADD, tn, f"{tb}-{ta}={tn}"))
    if vb != 0 and (semantics == "rational" or va % vb == 0):
        q = va // vb if semantics == "integer" else Fraction(va) / vb
        tq = _fmt(q)
        r_div = eb if pb == ATOM else f"({eb})"
        out.append((q, f"{l_mul} / {r_div}", MUL, tq, f"{ta}/{tb}={tq}"))
    if semantics == "rational" and va != 0 and va != vb:  # smaller / larger
        q = Fraction(vb) / va
        tq = _fmt(q)
        l_div = eb if pb >= MUL else f"({eb})"
        r_div = ea if pa == ATOM else f"({ea})"
        out.append((q, f"{l_div} / {r_div}", MUL, tq, f"{tb}/{ta}={tq}"))
    return out


def _children(state: list, semantics: str):
    """All (new state, op text) pairs from one operation on a pair of the state's items."""
    n = len(state)
    seen = set()
    for i in range(n):
        for j in range(i + 1, n):
            key = (state[i][0], state[j][0])
            if key in seen:
                continue
            seen.add(key)
            rest = state[:i] + state[i + 1:j] + state[j + 1:]
            for v, e, p, t, op in _combine_items(state[i], state[j], semantics):
                yield rest + [(v, e, p, t)], op


class _Trace:
    """Accumulates the search's lines in the chosen style."""

    def __init__(self, style: str, target: int):
        self.lines: list[str] = []
        self.style = style
        self.target = target

    def state(self, items: list, ops: list[str]) -> None:
        vals = ", ".join([it[3] for it in items])
        if self.style == "sos":
            quoted = ", ".join([f"'{o}'" for o in ops])
            self.lines.append(f"Current State: {self.target}:[{vals}], Operations: [{quoted}]")
        else:
            self.lines.append(f"Now I have [{vals}] and need {self.target}.")

    def explore(self, op: str, items: list) -> None:
        vals = ", ".join([it[3] for it in items])
        if self.style == "sos":
            self.lines.append(f"Exploring Operation: {op}, Resulting Numbers: [{vals}]")
        else:
            self.lines.append(f"Try {op.replace('=', ' = ')}, leaving [{vals}].")

    def generated(self, node_id: str, items: list, op: str) -> None:
        if self.style == "sos":
            vals = ", ".join([it[3] for it in items])
            self.lines.append(f"Generated Node #{node_id}: {self.target}:[{vals}] "
                              f"Operation: {op}")

    def terminal(self, value, ok: bool) -> None:
        if self.style == "sos":
            word = "equal: Goal Reached" if ok else "unequal: No Solution"
            self.lines.append(f"{_fmt(value)},{self.target} {word}")
        elif ok:
            self.lines.append(f"That gives {_fmt(value)}, which is the target!")
        else:
            self.lines.append(f"That gives {_fmt(value)}, not {self.target}. Dead end.")

    def move(self, node_id: str, back: bool) -> None:
        if self.style == "sos":
            self.lines.append(f"Moving to Node #{node_id}")
        elif back:
            self.lines.append("Backtrack.")

    def note(self, text: str) -> None:
        self.lines.append(text)


def _score_fn(heuristic: str, target: int):
    """The heuristic as a function of a state's values, memoising each value's distance
    (values repeat across sibling states); equal to sum_heuristic / mult_heuristic."""
    factors = _factors(target) if heuristic == "mult" else []
    memo: dict = {}

    def dist(v):
        d = memo.get(v)
        if d is None:
            d = memo[v] = min(abs(v - f) for f in factors) if factors else abs(v - target)
        return d

    if factors:
        return lambda vals: sum(map(dist, vals))
    return lambda vals: sum(map(dist, vals)) / len(vals)


class _Search:
    def __init__(self, numbers: list[int], target: int, opts: SearchOptions, heuristic: str,
                 trace: _Trace):
        self.target = target
        self.opts = opts
        self.score = _score_fn(heuristic, target)
        self.trace = trace
        self.nodes = 0
        self.limit = opts.max_nodes       # explored-operation budget (shared by both phases)
        self.backtracks = 0
        self.dead_ends = 0
        self.start = [(n, str(n), ATOM, str(n)) for n in numbers]

    def _sorted_children(self, state: list, prune: bool):
        kids = []
        integer = self.opts.semantics == "integer"
        for child, op in _children(state, self.opts.semantics):
            if integer and child[-1][0] < 0:
                continue
            h = self.score([c[0] for c in child])
            if prune and len(child) > 1 and h > self.target:
                continue
            kids.append((h, op, child))
        kids.sort(key=lambda k: k[0])
        return kids

    def dfs(self, state: list, ops: list[str], node_id: str, prune: bool):
        """Depth-first search with heuristic ordering; returns the goal item or None."""
        self.trace.state(state, ops)
        for k, (_h, op, child) in enumerate(self._sorted_children(state, prune)):
            if self.nodes >= self.limit:
                return None
            self.nodes += 1
            self.trace.explore(op, child)
            if len(child) == 1:
                ok = child[0][0] == self.target
                self.trace.terminal(child[0][0], ok)
                if ok:
                    return child[0], ops + [op]
                self.dead_ends += 1
                continue
            kid_id = f"{node_id},{k}"
            self.trace.generated(kid_id, child, op)
            self.trace.move(kid_id, back=False)
            found = self.dfs(child, ops + [op], kid_id, prune)
            if found:
                return found
            if self.nodes >= self.limit:
                return None  # out of budget: stop here, no backtracking lines to write
            self.backtracks += 1
            self.trace.move(node_id, back=True)
            self.trace.state(state, ops)
        return None

    def beam(self, width: int, rng: random.Random):
        """Beam search as in Stream of Search's BFS: keep the best `width` per level."""
        level = [(self.start, [], "0")]
        self.trace.state(self.start, [])
        while level:
            candidates = []
            for state, ops, node_id in level:
                if len(level) > 1:
                    self.trace.move(node_id, back=False)
                    self.trace.state(state, ops)
                kids = self._sorted_children(state, prune=True)[:width]
                rng.shuffle(kids)
                for k, (h, op, child) in enumerate(kids):
                    if self.nodes >= self.limit:
                        return None
                    self.nodes += 1
                    self.trace.explore(op, child)
                    if len(child) == 1:
                        ok = child[0][0] == self.target
                        self.trace.terminal(child[0][0], ok)
                        if ok:
                            return child[0], ops + [op]
                        self.dead_ends += 1
                        continue
                    kid_id = f"{node_id},{k}"
                    self.trace.generated(kid_id, child, op)
                    candidates.append((h, child, ops + [op], kid_id))
            candidates.sort(key=lambda c: c[0])
            level = [(c[1], c[2], c[3]) for c in candidates[:width]]
            self.backtracks += max(0, len(level) - 1)  # moves between frontier nodes
        return None

    def guided(self):
        """Systematic finish: in heuristic order, take the first operation that still
        reaches the target (exact, memoised reachable sets); on the last pair try operations
        until one gives the target. Always terminates on a solvable instance."""
        state, ops, node_id = self.start, [], "0"
        sem = self.opts.semantics
        while True:
            self.trace.state(state, ops)
            kids = self._sorted_children(state, prune=False)
            for k, (_h, op, child) in enumerate(kids):
                if len(child) == 1:
                    self.nodes += 1
                    self.trace.explore(op, child)
                    ok = child[0][0] == self.target
                    self.trace.terminal(child[0][0], ok)
                    if ok:
                        return child[0], ops + [op]
                    self.dead_ends += 1
                    continue
                if reachable_values([c[0] for c in child], sem, self.target):
                    self.nodes += 1
                    self.trace.explore(op, child)
                    kid_id = f"{node_id},{k}"
                    self.trace.generated(kid_id, child, op)
                    self.trace.move(kid_id, back=False)
                    state, ops, node_id = child, ops + [op], kid_id
                    break
            else:
                return None  # unsolvable: the caller raises


def _verification_lines(expr: str, value, numbers: list[int], target: int, style: str) -> list:
    used = ", ".join(map(str, sorted(numbers)))
    if style == "sos":
        return [f"Verification: {expr} = {_fmt(value)}; numbers used: [{used}], each once; "
                f"{_fmt(value)} equals the target {target}."]
    return [f"Let me check: {expr} = {_fmt(value)}. It uses {used}, each exactly once, "
            f"and equals {target}. Correct."]


def solve_with_trace(numbers: list[int], target: int, opts: SearchOptions = SearchOptions(),
                     rng: random.Random | None = None) -> SearchResult:
    """Search for an equation reaching `target`, recording the search as a trace."""
    rng = rng or random.Random(0)
    strategy = opts.strategy if opts.strategy != "random" else rng.choice(("dfs", "beam"))
    heuristic = opts.heuristic if opts.heuristic != "random" else rng.choice(("sum", "mult"))
    width = opts.beam_width if opts.strategy != "random" else rng.randint(1, 5)
    trace = _Trace(opts.style, target)
    if opts.style == "prose":
        trace.note(f"I need to reach {target} using {', '.join(map(str, numbers))}, each "
                   f"number exactly once, with + - * /.")
    search = _Search(numbers, target, opts, heuristic, trace)
    found = search.dfs(search.start, [], "0", prune=True) if strategy == "dfs" \
        else search.beam(width, rng)
    fallback = False
    if not found and search.nodes < opts.max_nodes:
        fallback = True
        trace.note("The heuristic search did not reach the target. Going back to the start "
                   "and searching depth first without pruning.")
        found = search.dfs(search.start, [], "0", prune=False)
    if not found:
        first = "Still not there." if fallback else \
            "The search did not reach the target within its budget."
        fallback = True
        trace.note(f"{first} Going back to the start and searching systematically, "
                   "keeping only operations from which the target can still be reached.")
        found = search.guided()
    if not found:
        raise ValueError(f"no solution for {numbers} -> {target}")
    (value, expr, _p, _t), ops = found
    if opts.optimal_only:
        trace = _Trace(opts.style, target)
        state = [(n, str(n), ATOM, str(n)) for n in numbers]
        trace.state(state, [])
        for k, op in enumerate(ops):
            child = next(c for c, o in _children(state, opts.semantics) if o == op)
            trace.explore(op, child)
            state = child
            if len(child) > 1:
                trace.state(child, ops[:k + 1])
        trace.terminal(value, True)
    reasoning = "\n".join(trace.lines + _verification_lines(expr, value, numbers, target,
                                                            opts.style))
    answer = f"The equation is {expr} = {target}.\n\n\\boxed{{{expr}}}"
    if opts.answer_tag:
        answer += f"\n<answer>{expr}</answer>"
    return SearchResult(reasoning, answer, expr, search.nodes, search.backtracks,
                        search.dead_ends, strategy, heuristic, fallback, ops)


def countdown_prompt(numbers: list[int], target: int, answer_tag: bool = False) -> str:
    """The user turn (TinyZero-style wording; the equation goes in \\boxed{})."""
    fmt = ("Give the final equation in \\boxed{}" +
           (" and inside <answer> </answer> tags, for example <answer> (1 + 2) / 3 </answer>."
            if answer_tag else ", for example \\boxed{(1 + 2) / 3}."))
    return (f"Using the numbers {list(numbers)}, create an equation that equals {target}. "
            f"You can use basic arithmetic operations (+, -, *, /) and each number must be "
            f"used exactly once. Show your reasoning. {fmt}")

