"""The search teacher's traces are real searches: a replay with the game's rules written here
(not the teacher's code) checks every line against the state the search stands at, and the
order of the steps against the search's own rules; no solver is consulted.

Rules replayed (Stream of Search, §1.1 of the countdown reference notes):
- a state is a multiset of values; a child applies one of + * - / to a pair of them
  (integer semantics: larger minus smaller, exact division; rational: both orders);
- phase 1, DFS: children in heuristic order (sum or mult), a non-final child whose
  heuristic exceeds the target is pruned; the search moves into a child as soon as it is
  generated and goes back to the parent only when every unpruned child is explored;
- phase 1, beam: at each expanded node the `width` best unpruned children, the `width` best
  generated nodes expanded on the next level;
- later phases (after the note that the heuristic search failed, then one note per step):
  the same tree with the pruning threshold relaxed (2x, 4x, 8x, then no pruning), depth
  first; the search may jump back to any node generated before, explores there the best
  operation now allowed and not yet explored, and leaves a node only when every operation
  allowed in the phase is explored.
Everywhere: an operation is never explored twice at the same node, never skips a better
ranked operation (DFS phases), and the trace ends at the goal (or with the budget spent).
"""

from __future__ import annotations

import random
import re
from fractions import Fraction

import pytest

from curate.corpora.countdown import CountdownConfig, draw_instance
from curate.curation.countdown_teacher import SearchOptions, solve_with_trace
from curate.curation.verify_countdown import verify_countdown

STATE = re.compile(r"Current State: (-?\d+):\[(.*)\], Operations: \[(.*)\]$")
EXPLORE = re.compile(r"Exploring Operation: (.+), Resulting Numbers: \[(.*)\]$")
GENERATED = re.compile(r"Generated Node #([\d,]+): (-?\d+):\[(.*)\] Operation: (.+)$")
TERMINAL = re.compile(r"(-?[\d/]+),(-?\d+) (equal: Goal Reached|unequal: No Solution)$")
MOVE = re.compile(r"Moving to Node #([\d,]+)$")
RELAXED = re.compile(r"Continuing (?:the search )?(without pruning|with the pruning relaxed to "
                     r"(\d+)x the threshold)[.:]")


def _vals(text: str) -> tuple:
    return tuple(sorted(Fraction(x) for x in text.split(", "))) if text else ()


def _fmt(v: Fraction) -> str:
    return str(v.numerator) if v.denominator == 1 else str(v)


def children(state: tuple, semantics: str) -> dict:
    """op text -> resulting multiset, for every operation on a pair of the state's values."""
    out = {}
    for i in range(len(state)):
        for j in range(i + 1, len(state)):
            a, b = max(state[i], state[j]), min(state[i], state[j])
            rest = state[:i] + state[i + 1:j] + state[j + 1:]
            ta, tb = _fmt(a), _fmt(b)
            res = [(a + b, f"{ta}+{tb}"), (a * b, f"{ta}*{tb}"), (a - b, f"{ta}-{tb}")]
            if semantics == "rational" and a != b:
                res.append((b - a, f"{tb}-{ta}"))
            if b != 0 and (semantics == "rational" or a % b == 0):
                res.append((a / b, f"{ta}/{tb}"))
            if semantics == "rational" and a != 0 and a != b:
                res.append((b / a, f"{tb}/{ta}"))
            for v, text in res:
                out[f"{text}={_fmt(v)}"] = tuple(sorted(rest + (v,)))
    return out


def heuristic(name: str, target: int):
    factors = [d for d in range(2, target + 1) if target % d == 0] if target > 1 else []
    if name == "mult" and factors:
        return lambda vals: sum(min(abs(v - f) for f in factors) for v in vals)
    return lambda vals: sum(abs(v - target) for v in vals) / len(vals)


def replay(reasoning: str, numbers: list[int], target: int, res, semantics: str) -> dict:
    """Walk the trace; assert every rule above; return counts of what it saw."""
    h = heuristic(res.heuristic, target)
    lines = [x for x in reasoning.split("\n") if not x.startswith("Verification:")]
    nodes = {"0": (tuple(sorted(Fraction(n) for n in numbers)), None)}  # id -> (state, parent)
    explored: dict[str, set[str]] = {}
    at, phase, goal, pending = "0", 1, False, None   # pending: a DFS child to move into
    factor, fresh = 1, False                          # pruning factor of the phase
    level_kids: dict[str, list] = {}                  # beam: node -> children explored
    seen = {"explore": 0, "back": 0, "jump": 0}

    cache: dict = {}

    def eligible(node: str) -> dict:
        """op -> (result, heuristic) of the children the current phase may explore."""
        key = (node, factor)
        if key not in cache:
            kids = {op: (c, h(c)) for op, c in children(nodes[node][0], semantics).items()}
            cache[key] = kids if factor is None else {
                op: ch for op, ch in kids.items()
                if len(ch[0]) == 1 or ch[1] <= factor * target}
        return cache[key]

    def exhausted(node: str) -> bool:
        return set(eligible(node)) <= explored.get(node, set())

    assert STATE.match(lines[0]) and _vals(STATE.match(lines[0])[2]) == nodes["0"][0]
    for k, line in enumerate(lines[1:], 1):
        assert not goal, f"line after the goal: {line}"
        if m := RELAXED.search(line):
            first = line.startswith("The ") and "did not reach the target" in line
            assert pending is None and (phase == 1) == first, line
            new = None if m[1] == "without pruning" else int(m[2])
            assert new is None or factor is not None and new > factor, "pruning tightened"
            phase, factor, fresh = 2, new, True   # where a phase stopped is not left by it
            continue
        if line.startswith("No solution found within the search budget"):
            assert k == len(lines) - 1 and not res.solved
            break
        if m := MOVE.match(line):
            dest = m[1]
            assert dest in nodes, f"move to a node never generated: {line}"
            if pending is not None:
                assert dest == pending, "DFS must move into the child it just generated"
                pending = None
            elif dest == nodes[at][1]:                        # back to the parent
                assert res.strategy == "beam" and phase == 1 or exhausted(at), \
                    f"left node {at} with operations unexplored: {line}"
                seen["back"] += 1
            else:                                             # a jump: beam level or phase 2
                assert phase == 2 or res.strategy == "beam", f"DFS jumped: {line}"
                if phase == 2 and not fresh:
                    assert exhausted(at), f"phase 2 left node {at} with operations unexplored"
                seen["jump"] += 1
            at, fresh = dest, False
            m2 = STATE.match(lines[k + 1])
            assert m2 and _vals(m2[2]) == nodes[at][0], "state line after a move is wrong"
            continue
        if m := STATE.match(line):
            assert _vals(m[2]) == nodes[at][0] and int(m[1]) == target
            continue
        if m := EXPLORE.match(line):
            assert pending is None, "explored something before moving into the new child"
            op, result = m[1], _vals(m[2])
            kids = children(nodes[at][0], semantics)
            assert op in kids and kids[op] == result, f"illegal step at {at}: {line}"
            assert op not in explored.get(at, set()), f"explored twice at {at}: {line}"
            elig = eligible(at)
            assert op in elig, f"explored a pruned operation in phase 1: {line}"
            done = explored.setdefault(at, set())
            mine = elig[op][1]
            if res.strategy == "dfs" or phase == 2:
                better = [o for o, (_c, hc) in elig.items() if hc < mine and o not in done]
                assert not better, f"skipped better ranked {better} for {op} at {at}"
            else:
                ranked = sorted(hc for _c, hc in elig.values())
                cut = ranked[min(res.beam_width, len(ranked)) - 1]
                assert mine <= cut and len(done) < res.beam_width, \
                    f"beam explored beyond its width at {at}: {line}"
                level_kids.setdefault(at, []).append(op)
            done.add(op)
            seen["explore"] += 1
            last_op, last_result = op, result
            continue
        if m := TERMINAL.match(line):
            assert len(last_result) == 1 and Fraction(m[1]) == last_result[0]
            goal = m[3].startswith("equal")
            assert goal == (last_result[0] == target)
            continue
        if m := GENERATED.match(line):
            kid = m[1]
            assert m[4] == last_op and _vals(m[3]) == last_result and len(last_result) > 1
            assert kid.rsplit(",", 1)[0] == at and kid not in nodes
            nodes[kid] = (last_result, at)
            if res.strategy == "dfs" or phase == 2:
                pending = kid
            continue
        raise AssertionError(f"line the replay does not know: {line!r}")
    assert goal == res.solved
    assert seen["explore"] == res.nodes
    return seen


CASES = [(k, sem, strat, heur)
         for k, sem in ((3, "integer"), (4, "integer"), (4, "rational"), (5, "integer"))
         for strat in ("dfs", "beam") for heur in ("sum", "mult")]


@pytest.mark.parametrize("k,semantics,strategy,heur", CASES)
def test_every_trace_replays_as_a_real_search(k, semantics, strategy, heur):
    rng = random.Random(k * 7 + len(strategy) + len(heur))
    cfg = CountdownConfig(numbers=k, semantics=semantics)
    n = {3: 60, 4: 50 if semantics == "integer" else 20, 5: 8}[k]
    budget = 300 if k < 5 else 150
    for i in range(n):
        inst = draw_instance(rng, cfg)
        opts = SearchOptions(strategy=strategy, heuristic=heur, beam_width=1 + i % 4,
                             semantics=semantics, max_nodes=budget)
        res = solve_with_trace(inst.numbers, inst.target, opts, rng)
        replay(res.reasoning, inst.numbers, inst.target, res, semantics)
        assert res.nodes <= budget
        if res.solved:
            assert verify_countdown(res.equation, inst.numbers, inst.target,
                                    semantics).verified
        else:
            assert res.equation is None and res.answer_text == ""


def test_phase_two_continues_without_repeating():
    """Cases where the heuristic search fails: the continuation jumps back to earlier nodes,
    never re-explores a step, and still ends at the goal."""
    rng = random.Random(11)
    fell_back = unpruned = jumps = 0
    for _ in range(150):
        inst = draw_instance(rng, CountdownConfig())
        res = solve_with_trace(inst.numbers, inst.target,
                               SearchOptions(strategy="random", heuristic="random",
                                             max_nodes=2000), rng)
        seen = replay(res.reasoning, inst.numbers, inst.target, res, "integer")
        assert res.solved  # with 2000 explored operations the search is complete on 4 numbers
        if res.fallback:
            fell_back += 1
            assert "did not reach the target" in res.reasoning
            unpruned += "Continuing without pruning" in res.reasoning
            jumps += seen["jump"]
    assert fell_back >= 40 and unpruned >= 5 and jumps >= fell_back  # it goes back to nodes


def test_no_trace_uses_the_oracle(monkeypatch):
    """The teacher does not know the solution: the exact solver is not imported by it, and
    with every solver entry point made to fail the traces are the same."""
    import curate.corpora.countdown as C
    import curate.curation.countdown_teacher as T

    assert not {"reachable_values", "solve", "expression_counts", "_counts_cached",
                "_target_cached"} & set(vars(T))
    rng = random.Random(2)
    insts = [draw_instance(rng, CountdownConfig()) for _ in range(40)]
    opts = SearchOptions(strategy="random", heuristic="random")
    before = [solve_with_trace(i.numbers, i.target, opts, random.Random(j)).reasoning
              for j, i in enumerate(insts)]

    def oracle(*a, **k):
        raise AssertionError("the search teacher consulted the solver")

    for name in ("reachable_values", "solve", "expression_counts", "_counts_cached",
                 "_target_cached"):
        monkeypatch.setattr(C, name, oracle)
    after = [solve_with_trace(i.numbers, i.target, opts, random.Random(j)).reasoning
             for j, i in enumerate(insts)]
    assert after == before
    assert not any("systematically" in r or "can still be reached" in r for r in after)


def test_prose_trace_is_the_same_search():
    """The prose style writes the same steps, in the same order, as the Stream-of-Search
    style of the same search."""
    rng = random.Random(4)
    for _ in range(20):
        inst = draw_instance(rng, CountdownConfig())
        seed = rng.random()
        sos = solve_with_trace(inst.numbers, inst.target,
                               SearchOptions(strategy="random", heuristic="random"),
                               random.Random(seed))
        prose = solve_with_trace(inst.numbers, inst.target,
                                 SearchOptions(strategy="random", heuristic="random",
                                               style="prose"), random.Random(seed))
        ops_sos = [m[1] for m in re.finditer(r"Exploring Operation: (\S+),", sos.reasoning)]
        ops_prose = [m[1].replace(" = ", "=") for m in
                     re.finditer(r"Try (.+?), leaving", prose.reasoning)]
        assert ops_sos == ops_prose and sos.nodes == prose.nodes
        assert sos.solved == prose.solved and sos.equation == prose.equation


def test_unsolved_within_budget_is_reported_not_finished():
    """A budget too small to reach the goal ends the trace with the failure: no equation,
    no answer, no guided finish."""
    rng = random.Random(6)
    unsolved = 0
    for _ in range(30):
        inst = draw_instance(rng, CountdownConfig(numbers=5))
        res = solve_with_trace(inst.numbers, inst.target, SearchOptions(max_nodes=20), rng)
        replay(res.reasoning, inst.numbers, inst.target, res, "integer")
        if not res.solved:
            unsolved += 1
            assert res.reasoning.endswith("No solution found within the search budget.")
            assert res.nodes == 20 and res.equation is None
    assert unsolved >= 10
