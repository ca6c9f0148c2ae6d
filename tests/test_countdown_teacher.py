"""Countdown search teacher on larger instances (bounded traces, always solved) and CLI errors."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from curate.cli import app
from curate.corpora.countdown import CountdownConfig, draw_instance
from curate.curation.countdown_teacher import SearchOptions, solve_with_trace
from curate.curation.verify_countdown import verify_countdown

runner = CliRunner()
CURATE = Path(sys.executable).parent / "curate"


@pytest.mark.parametrize("k", [5, 6])
def test_large_instances_have_bounded_traces(k):
    """Unbounded DFS writes megabytes on 5-6 numbers; the budget bounds the trace: within it
    the search reaches the target (a verified equation) or the trace ends unsolved."""
    rng = random.Random(k)
    opts = SearchOptions(strategy="random", heuristic="random", max_nodes=200)
    for _ in range(4):
        inst = draw_instance(rng, CountdownConfig(numbers=k))
        res = solve_with_trace(inst.numbers, inst.target, opts, rng)
        assert res.nodes <= opts.max_nodes
        assert res.reasoning.count("Exploring Operation") == res.nodes
        assert len(res.reasoning) < 60_000
        if res.solved:
            assert verify_countdown(res.equation, inst.numbers, inst.target).verified
        else:
            assert res.equation is None and res.reasoning.endswith("search budget.")


def test_failed_heuristic_search_continues_then_finishes():
    """When the pruned search fails, the trace says so and the same search goes on without
    pruning; the failed exploration stays in the trace, and nothing is explored twice."""
    rng = random.Random(1)
    continued = 0
    for _ in range(40):
        inst = draw_instance(rng, CountdownConfig())
        res = solve_with_trace(inst.numbers, inst.target, SearchOptions(max_nodes=2000), rng)
        assert res.solved
        assert verify_countdown(res.equation, inst.numbers, inst.target).verified
        if res.fallback:
            continued += 1
            before, after = res.reasoning.split("did not reach the target")
            assert "Continuing the search with the pruning relaxed to 2x" in after
            assert res.reasoning.count("Exploring Operation") == res.nodes
    assert continued >= 5


def _curate(home, *args):
    env = {**os.environ, "CURATE_HOME": str(home)}
    return subprocess.run([str(CURATE), *args], capture_output=True, text=True, env=env,
                          timeout=120)


def test_bad_options_are_one_line_errors(home):
    """Bad arguments: one line on stderr, exit code 2, no traceback (the installed entry point)."""
    cases = [
        (["generate", "--task", "countdown", "-n", "5", "--name", "x", "--strategy", "nope"],
         "strategy"),
        (["generate", "--task", "countdown", "-n", "5", "--name", "x", "--numbers", "9"],
         "numbers"),
        (["generate", "--task", "math", "-n", "5", "--name", "x"], "needs --prompts"),
        (["verify-answer", "--task", "countdown", "--numbers", "3,x", "--target", "22",
          "--answer", "3*5+7"], "numbers"),
        (["verify-answer", "--task", "countdown", "--answer", "3*5+7"], "--numbers"),
    ]
    for args, word in cases:
        r = _curate(home, *args)
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        assert word in r.stderr and "Traceback" not in r.stderr, (args, r.stderr)
    r = _curate(home, "verify-answer", "--task", "countdown", "--numbers", "3,5,7",
                "--target", "22", "--answer", "3*7+5", "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["reason"] == "wrong_value"


def test_test_split_and_options_via_cli(home):
    r = runner.invoke(app, ["generate", "--task", "countdown", "-n", "20", "--split", "test",
                            "--strategy", "beam", "--beam-width", "2", "--style", "prose",
                            "--answer-tag", "--name", "cdt", "--json"])
    assert r.exit_code == 0, r.output
    from curate.catalog import Catalog

    rows = Catalog(home).get("cdt")
    assert all("<answer>" in row["answer_text"] for row in rows)
    assert all(json.loads(row["metadata"])["split"] == "test" for row in rows)
    sampling = json.loads(rows[0]["sampling"])
    assert sampling["strategy"] == "beam" and sampling["beam_width"] == 2


def test_columnwise_messages_match_messages_for():
    """Messages built column-wise after the process boundary equal the record's messages_for."""
    from curate.curation.countdown_generate import add_cot_messages, generate_chunk
    from curate.record import messages_for

    batch, order = generate_chunk((0, 40, 0, "train", CountdownConfig(),
                                   SearchOptions(style="prose", answer_tag=True)))
    assert len(order) == 40 and [i for i in order if i >= 0] == list(range(batch.num_rows))
    for row in add_cot_messages(batch).to_pylist():
        assert row["messages"] == messages_for(row["prompt"], row["reasoning"],
                                               row["answer_text"], "cot")


def test_magnitude_bound_scales_with_the_numbers():
    """Large given numbers may legitimately give large values; the bound follows them, capped."""
    assert verify_countdown("*".join(["999"] * 6), [999] * 6, 999 ** 6).verified
    big = "*".join(["99999"] * 13)
    assert verify_countdown(big, [99999] * 13, 22).reason == "value_out_of_bounds"


def test_ranged_counts_equal_full_counts_in_range():
    """The target-range shortcut of the solver's last step gives exactly the full counts."""
    from curate.corpora.countdown import expression_counts

    rng = random.Random(0)
    for _ in range(400):
        nums = tuple(rng.randint(0, 25) if rng.random() < 0.5 else rng.randint(1, 99)
                     for _ in range(rng.randint(2, 5)))
        lo = rng.randint(0, 50)
        hi = lo + rng.randint(0, 200)
        full = expression_counts(nums)
        assert expression_counts(nums, "integer", lo, hi) == \
            {v: c for v, c in full.items() if lo <= v <= hi}
    rat = expression_counts((2, 3, 7), "rational", 1, 30)
    assert rat and all(1 <= v <= 30 and getattr(v, "denominator", 1) == 1 for v in rat)


def test_variant_streams_batches_and_reports_bad_rows(catalog):
    """Variants are built batch by batch; short takes a metadata key; bad rows name their index."""
    from curate.curation.countdown_generate import generate_countdown
    from curate.curation.variants import make_variant
    from curate.errors import BadInput

    generate_countdown(catalog, "cd", 60, seed=2, workers=1, progress=False)
    nocot = make_variant(catalog, "cd", "nocot", "cd-nocot", batch_size=16)
    short = make_variant(catalog, "cd", "short", "cd-short", short_field="target", batch_size=16)
    assert nocot.rows == short.rows == 60
    rows = catalog.table("cd-short").to_pylist()
    src = catalog.table("cd").to_pylist()
    for a, b in zip(rows, src):
        assert a["id"] == b["id"]
        assert a["messages"][-1]["content"] == str(json.loads(b["metadata"])["target"])
    assert catalog.lineage("cd-short")[0]["step"] == "variant"
    with pytest.raises(BadInput, match="row 20|20"):
        catalog.register("holes", [{**r, "answer_text": None if i == 20 else r["answer_text"]}
                                   for i, r in enumerate(src)], kind="traces")
        make_variant(catalog, "holes", "nocot", "holes-nocot", batch_size=16)
    assert not [d for d in catalog.ls() if d["name"] == "holes-nocot"]


def test_rational_teacher_has_both_divisions():
    """Rational semantics: smaller/larger division exists in the teacher as in the solver, so
    the search space is the solver's (a 6-number instance once failed without it)."""
    from fractions import Fraction

    from curate.curation.countdown_teacher import ATOM, _combine_items

    kids = _combine_items((2, "2", ATOM, "2"), (3, "3", ATOM, "3"), "rational")
    assert {Fraction(2, 3), Fraction(3, 2), -1, 1, 5, 6} <= {k[0] for k in kids}
    res = solve_with_trace([2, 3, 9], 6, SearchOptions(semantics="rational"))
    assert res.solved and verify_countdown(res.equation, [2, 3, 9], 6, "rational").verified
