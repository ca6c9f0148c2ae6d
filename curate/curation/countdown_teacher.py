"""The search teacher for Countdown: a symbolic search that writes itself down as long CoT.

In the spirit of Stream of Search (Gandhi et al. 2024): the trace shows states, operations
tried, dead ends, backtracking and a final check of the equation, then a short answer with
the equation in `\\boxed{}`. Every line is a step the search took, in the order it took it;
nothing outside the search (no solver, no knowledge of the solution) decides a step.

The heuristic search (DFS pruned as Stream of Search prunes, or beam) runs first. Where it
fails (about 45% of Stream of Search's own traces never reach the goal) the trace says so
and the same search continues with its pruning threshold relaxed (2x, 4x, 8x, then no
pruning, each step announced): back to each state already built, depth first and in
heuristic order, it explores the operations now allowed and not explored there yet, so no
step is ever taken twice. All of it within a budget of explored operations (`max_nodes`, which bounds the trace length:
unbounded DFS on 5-6 numbers writes megabytes); a problem the search has not solved when
the budget is spent is unsolved by the teacher (`SearchResult.solved` False), and the
generator drops it as rejection sampling drops a wrong answer.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from fractions import Fraction

STRATEGIES = ("dfs", "beam", "random")
HEURISTICS = ("sum", "mult", "random")
STYLES = ("sos", "prose")
RELAX = (2, 4, 8, None)   # pruning thresholds (x Stream of Search's) after a failure; None: off

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
    max_nodes: int = 300              # budget of operations explored by the whole search

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
    equation: str | None
    nodes: int                        # operations explored
    backtracks: int
    dead_ends: int
    strategy: str
    heuristic: str
    fallback: bool                    # the heuristic search failed; the unpruned one went on
    ops: list[str] = field(default_factory=list)
    solved: bool = True               # False: the budget ran out first (no equation)
    beam_width: int | None = None     # the beam search's width (None for DFS)


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


def _pair_results(hi, lo, rational: bool) -> list[tuple]:
    """(value, left, op, right) of every operation on a pair with hi >= lo, in the search's
    generation order: + * - (rational: smaller - larger) / (rational: smaller / larger).
    Integer semantics (Stream of Search): larger - smaller only, exact division only."""
    out = [(hi + lo, hi, "+", lo), (hi * lo, hi, "*", lo), (hi - lo, hi, "-", lo)]
    if rational:
        if hi != lo:
            out.append((lo - hi, lo, "-", hi))
        if lo != 0:
            out.append((Fraction(hi) / lo, hi, "/", lo))
        if hi != 0 and hi != lo:
            out.append((Fraction(lo) / hi, lo, "/", hi))
    elif lo != 0 and hi % lo == 0:
        out.append((hi // lo, hi, "/", lo))
    return out


class _Trace:
    """The search's steps, recorded as events and written out as lines in the chosen style
    only when asked (`lines`): a search the budget stops is dropped without ever being
    formatted. States are tuples of values; an operation is (value, left, op, right)."""

    def __init__(self, style: str, target: int):
        self.events: list[tuple] = []
        self.style = style
        self.target = target
        self._text: dict = {}
        add = self.events.append
        self.state = lambda values, path: add((0, values, path))
        self.explore = lambda r, values: add((1, r, values))
        self.generated = lambda node_id, values, r: add((2, node_id, values, r))
        self.terminal = lambda value, ok: add((3, value, ok))
        self.move = lambda node_id, back: add((4, node_id, back))
        self.note = lambda text: add((5, text))

    def vals(self, values) -> str:
        memo = self._text
        try:
            return ", ".join([memo[v] for v in values])
        except KeyError:
            for v in values:
                if v not in memo:
                    memo[v] = _fmt(v)
            return ", ".join([memo[v] for v in values])

    def op_text(self, r: tuple) -> str:
        v, x, sym, y = r
        memo = self._text
        try:
            return f"{memo[x]}{sym}{memo[y]}={memo[v]}"
        except KeyError:
            for u in (v, x, y):
                if u not in memo:
                    memo[u] = _fmt(u)
            return f"{memo[x]}{sym}{memo[y]}={memo[v]}"

    def lines(self) -> list[str]:
        """The events as text: Stream of Search's line format (`sos`) or sentences. A state
        and a path are written many times (every backtrack rewrites the state): their text
        is made once per object."""
        out: list[str] = []
        add = out.append
        t, sos, op_text = self.target, self.style == "sos", self.op_text
        texts: dict[int, str] = {}

        def vals(values) -> str:
            s = texts.get(id(values))
            if s is None:
                s = texts[id(values)] = self.vals(values)
            return s

        def quoted(path) -> str:
            key = -1 - id(path)
            s = texts.get(key)
            if s is None:
                s = texts[key] = ", ".join([f"'{op_text(r)}'" for r in path])
            return s

        for e in self.events:
            kind = e[0]
            if kind == 0:
                if sos:
                    add(f"Current State: {t}:[{vals(e[1])}], Operations: [{quoted(e[2])}]")
                else:
                    add(f"Now I have [{vals(e[1])}] and need {t}.")
            elif kind == 1:
                if sos:
                    add(f"Exploring Operation: {op_text(e[1])}, Resulting Numbers: "
                        f"[{vals(e[2])}]")
                else:
                    add(f"Try {op_text(e[1]).replace('=', ' = ')}, leaving [{vals(e[2])}].")
            elif kind == 2:
                if sos:
                    add(f"Generated Node #{e[1]}: {t}:[{vals(e[2])}] Operation: "
                        f"{op_text(e[3])}")
            elif kind == 3:
                v = self.vals((e[1],))
                if sos:
                    add(f"{v},{t} {'equal: Goal Reached' if e[2] else 'unequal: No Solution'}")
                elif e[2]:
                    add(f"That gives {v}, which is the target!")
                else:
                    add(f"That gives {v}, not {t}. Dead end.")
            elif kind == 4:
                if sos:
                    add(f"Moving to Node #{e[1]}")
                elif e[2]:
                    add("Backtrack.")
            else:
                add(e[1])
        return out


_DIST_MEMOS: dict = {}


def _dist_memo(target: int, factors: tuple) -> dict:
    """A value -> distance memo shared by searches with the same target and heuristic
    (a pure function of the value; cleared when large)."""
    if len(_DIST_MEMOS) > 512:
        _DIST_MEMOS.clear()
    return _DIST_MEMOS.setdefault((target, factors), {})


def _first(kid: tuple):
    return kid[0]


class _Search:
    """One search over the tree of states; every written line is a step it takes.

    A state is a tuple of values. A node's children are all operations on a pair of its
    values (a pair of equal values once), sorted by the heuristic (stable: ties keep
    generation order); child `k` of node `id` is node `id,k`, the same in every phase.
    Heuristics are compared exactly: the sum of each value's distance (to the target, or
    for `mult` to its nearest factor), which orders a node's children as Stream of Search's
    mean does; pruning: a non-final child with mean distance above the target (`sum`), or
    distance sum above it (`mult`). `explored[id]` holds the indices explored at a node.
    """

    def __init__(self, numbers: list[int], target: int, opts: SearchOptions, heuristic: str,
                 trace: _Trace):
        self.target = target
        self.opts = opts
        self.rational = opts.semantics == "rational"
        factors = _factors(target) if heuristic == "mult" else []
        self.mean = not factors          # sum heuristic (or mult with no factor: as sum)
        self.memo = memo = _dist_memo(target, tuple(factors))

        def dist(v):
            d = memo.get(v)
            if d is None:
                if len(memo) > 200_000:
                    memo.clear()
                d = memo[v] = min(abs(v - f) for f in factors) if factors else abs(v - target)
            return d

        self.dist = dist
        self.trace = trace
        self.nodes = 0
        self.limit = opts.max_nodes       # explored-operation budget of the whole trace
        self.backtracks = 0
        self.dead_ends = 0
        self.start = tuple(numbers)
        self.explored: dict[str, set[int]] = {}
        self.kids: dict[str, list] = {}
        self.at = None                    # the node whose state the trace last wrote

    def _sorted_children(self, node_id: str, state: tuple) -> list:
        """[(heuristic, (value, left, op, right), child state, cap)] in search order; `cap`
        is the heuristic above which pruning drops the child (None for a final value)."""
        kids = self.kids.get(node_id)
        if kids is not None:
            return kids
        n = len(state)
        dist, memo = self.dist, self.memo
        if n == 2:  # the last pair: every child is a final value, none is pruned
            a, b = state
            kids = [((memo[r[0]] if r[0] in memo else dist(r[0])), r, (r[0],), None)
                    for r in _pair_results(*((a, b) if a >= b else (b, a)), self.rational)]
            kids.sort(key=_first)
            self.kids[node_id] = kids
            return kids
        ds = [memo[v] if v in memo else dist(v) for v in state]
        total = sum(ds)
        limit = self.target * (n - 1) if self.mean else self.target
        final = n == 2
        rational = self.rational
        seen = set()
        kids = []
        add = kids.append
        for i in range(n):
            a = state[i]
            for j in range(i + 1, n):
                b = state[j]
                hi, lo = (a, b) if a >= b else (b, a)
                if (hi, lo) in seen:       # equal values: the same pair, tried once
                    continue
                seen.add((hi, lo))
                rest = state[:i] + state[i + 1:j] + state[j + 1:]
                base = total - ds[i] - ds[j]
                for r in _pair_results(hi, lo, rational):
                    v = r[0]
                    h = base + (memo[v] if v in memo else dist(v))
                    add((h, r, rest + (v,), None if final else limit))
        kids.sort(key=_first)
        self.kids[node_id] = kids
        return kids

    def _visit(self, node_id: str, state: tuple, path: list, back: bool) -> None:
        """Record a move to `node_id` and its state, unless the search already stands there."""
        if self.at == node_id:
            return
        if back:
            self.backtracks += 1
        self.trace.move(node_id, back)
        self.trace.state(state, path)
        self.at = node_id

    def _explore(self, node_id: str, k: int, r: tuple, child: tuple):
        """Explore child `k` of a node: 'goal' / 'dead' for a final value, else the child's id
        (its Generated Node event recorded)."""
        self.nodes += 1
        done = self.explored.get(node_id)
        if done is None:
            done = self.explored[node_id] = set()
        done.add(k)
        trace = self.trace
        trace.explore(r, child)
        if len(child) == 1:
            ok = child[0] == self.target
            trace.terminal(child[0], ok)
            if ok:
                return "goal"
            self.dead_ends += 1
            return "dead"
        kid_id = f"{node_id},{k}"
        trace.generated(kid_id, child, r)
        return kid_id

    def _enter(self, kid_id: str, child: tuple, path: list) -> None:
        self.trace.move(kid_id, False)
        self.trace.state(child, path)
        self.at = kid_id

    def dfs(self, state: tuple, path: list, node_id: str, factor):
        """Depth-first search in heuristic order, from a node the search stands at, pruning
        a child whose heuristic exceeds `factor` x the threshold (Stream of Search: factor
        1; None: no pruning); returns the operations from the start to the goal, or None."""
        done = self.explored.get(node_id)
        if done is None:
            done = self.explored[node_id] = set()
        trace, target = self.trace, self.target
        for k, (h, r, child, cap) in enumerate(self._sorted_children(node_id, state)):
            if (factor is not None and cap is not None and h > factor * cap) or k in done:
                continue
            if self.nodes >= self.limit:
                return None
            self.nodes += 1            # as _explore, inlined on the hot path
            done.add(k)
            trace.explore(r, child)
            if len(child) == 1:
                ok = child[0] == target
                trace.terminal(child[0], ok)
                if ok:
                    return path + [r]
                self.dead_ends += 1
                continue
            got = f"{node_id},{k}"
            trace.generated(got, child, r)
            down = path + [r]
            self._enter(got, child, down)
            found = self.dfs(child, down, got, factor)
            if found:
                return found
            if self.nodes >= self.limit:
                return None  # out of budget: stop here, no backtracking to record
            self._visit(node_id, state, path, back=True)
        return None

    def resume(self, state: tuple, path: list, node_id: str, factor):
        """Continue the search with the pruning relaxed to `factor` (None: no pruning): depth
        first over the tree already built, in the same order, exploring at each node the
        operations now allowed and not explored there yet (with a depth-first search below
        each); a node is revisited (a move and its state) only when something is left to
        explore at it. With no pruning it is complete: on a solvable instance it reaches
        the target unless the budget runs out first."""
        done = self.explored.get(node_id, ())
        for k, (h, r, child, cap) in enumerate(self._sorted_children(node_id, state)):
            if k in done:
                if len(child) > 1:
                    found = self.resume(child, path + [r], f"{node_id},{k}", factor)
                    if found or self.nodes >= self.limit:
                        return found
                continue
            if factor is not None and cap is not None and h > factor * cap:
                continue
            if self.nodes >= self.limit:
                return None
            self._visit(node_id, state, path, back=True)
            got = self._explore(node_id, k, r, child)
            if got == "goal":
                return path + [r]
            if got == "dead":
                continue
            down = path + [r]
            self._enter(got, child, down)
            found = self.dfs(child, down, got, factor)
            if found or self.nodes >= self.limit:
                return found
        return None

    def beam(self, width: int, rng: random.Random):
        """Beam search as in Stream of Search's BFS: at each expanded node the `width` best
        children (pruned as in DFS) are explored in shuffled order, and the `width` best
        nodes generated on a level are expanded on the next."""
        level = [(self.start, [], "0")]
        while level:
            candidates = []
            for i, (state, path, node_id) in enumerate(level):
                self._visit(node_id, state, path, back=i > 0)
                kids = [(k, kid) for k, kid in enumerate(self._sorted_children(node_id, state))
                        if kid[3] is None or kid[0] <= kid[3]][:width]
                rng.shuffle(kids)
                for k, (h, r, child, _pruned) in kids:
                    if self.nodes >= self.limit:
                        return None
                    got = self._explore(node_id, k, r, child)
                    if got == "goal":
                        return path + [r]
                    if got != "dead":
                        candidates.append((h, child, path + [r], got))
            candidates.sort(key=_first)
            level = [(c[1], c[2], c[3]) for c in candidates[:width]]
        return None


def _expression(numbers: list[int], path: list, semantics: str, op_text):
    """(value, expression text) of the path's operations applied to the numbers, with
    parentheses only where precedence needs them."""
    items = [(n, str(n), ATOM, str(n)) for n in numbers]
    for r in path:
        _v, x, _sym, y = r
        op = op_text(r)
        i = next(k for k, it in enumerate(items) if it[0] == x)
        j = next(k for k, it in enumerate(items) if it[0] == y and k != i)
        kid = next(c for c in _combine_items(items[i], items[j], semantics) if c[4] == op)
        items = [it for k, it in enumerate(items) if k not in (i, j)] + [kid[:4]]
    return items[0][0], items[0][1]


def _verification_lines(expr: str, value, numbers: list[int], target: int, style: str) -> list:
    used = ", ".join(map(str, sorted(numbers)))
    if style == "sos":
        return [f"Verification: {expr} = {_fmt(value)}; numbers used: [{used}], each once; "
                f"{_fmt(value)} equals the target {target}."]
    return [f"Let me check: {expr} = {_fmt(value)}. It uses {used}, each exactly once, "
            f"and equals {target}. Correct."]


def solve_with_trace(numbers: list[int], target: int, opts: SearchOptions = SearchOptions(),
                     rng: random.Random | None = None,
                     unsolved_trace: bool = True) -> SearchResult:
    """Search for an equation reaching `target`, recording the search as a trace.

    The heuristic search (DFS with pruning, or beam) runs first; if it fails the trace says
    so and the same search continues with the pruning relaxed step by step (`RELAX`,
    `_Search.resume`), all within `opts.max_nodes` explored operations. Nothing outside the search decides a step: no
    solver is consulted. `solved` is False when the budget runs out first (the trace then
    ends with the search's failure and there is no equation): such a problem is unsolved
    by the teacher and the generator drops it, as rejection sampling would (with
    `unsolved_trace=False` the trace of such a search is not even written out).
    """
    rng = rng or random.Random(0)
    strategy = opts.strategy if opts.strategy != "random" else rng.choice(("dfs", "beam"))
    heuristic = opts.heuristic if opts.heuristic != "random" else rng.choice(("sum", "mult"))
    width = opts.beam_width if opts.strategy != "random" else rng.randint(1, 5)
    trace = _Trace(opts.style, target)
    if opts.style == "prose":
        trace.note(f"I need to reach {target} using {', '.join(map(str, numbers))}, each "
                   f"number exactly once, with + - * /.")
    search = _Search(numbers, target, opts, heuristic, trace)
    trace.state(search.start, [])
    search.at = "0"
    found = search.dfs(search.start, [], "0", 1) if strategy == "dfs" \
        else search.beam(width, rng)
    fallback = False
    if not found and search.nodes < opts.max_nodes:
        fallback = True
        what = "pruned depth-first search" if strategy == "dfs" else "beam search"
        for i, factor in enumerate(RELAX):
            rule = f"with the pruning relaxed to {factor}x the threshold" if factor \
                else "without pruning"
            trace.note((f"The {what} did not reach the target. Continuing the search {rule}: "
                        "back to each state, depth first, trying the operations not tried "
                        "there yet.") if i == 0 else f"Not reached yet. Continuing {rule}.")
            found = search.resume(search.start, [], "0", factor)
            if found or search.nodes >= opts.max_nodes:
                break
    width_or_none = width if strategy == "beam" else None
    if not found:
        trace.note("No solution found within the search budget." if opts.style == "sos" else
                   f"I could not reach {target} within my search budget.")
        text = "\n".join(trace.lines()) if unsolved_trace else ""
        return SearchResult(text, "", None, search.nodes,
                            search.backtracks, search.dead_ends, strategy, heuristic, fallback,
                            [], solved=False, beam_width=width_or_none)
    ops = [trace.op_text(r) for r in found]
    value, expr = _expression(numbers, found, opts.semantics, trace.op_text)
    if opts.optimal_only:
        trace = _Trace(opts.style, target)
        state = list(numbers)
        trace.state(tuple(state), [])
        for k, r in enumerate(found):
            state.remove(r[1])
            state.remove(r[3])
            state.append(r[0])
            trace.explore(r, tuple(state))
            if len(state) > 1:
                trace.state(tuple(state), found[:k + 1])
        trace.terminal(value, True)
    reasoning = "\n".join(trace.lines() + _verification_lines(expr, value, numbers, target,
                                                              opts.style))
    answer = f"The equation is {expr} = {target}.\n\n\\boxed{{{expr}}}"
    if opts.answer_tag:
        answer += f"\n<answer>{expr}</answer>"
    return SearchResult(reasoning, answer, expr, search.nodes, search.backtracks,
                        search.dead_ends, strategy, heuristic, fallback, ops,
                        beam_width=width_or_none)


def countdown_prompt(numbers: list[int], target: int, answer_tag: bool = False) -> str:
    """The user turn (TinyZero-style wording; the equation goes in \\boxed{})."""
    fmt = ("Give the final equation in \\boxed{}" +
           (" and inside <answer> </answer> tags, for example <answer> (1 + 2) / 3 </answer>."
            if answer_tag else ", for example \\boxed{(1 + 2) / 3}."))
    return (f"Using the numbers {list(numbers)}, create an equation that equals {target}. "
            f"You can use basic arithmetic operations (+, -, *, /) and each number must be "
            f"used exactly once. Show your reasoning. {fmt}")

