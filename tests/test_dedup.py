"""Exact and MinHash (datasketch) prompt dedup: planted near-duplicates found, few false hits."""

from __future__ import annotations

import random

import pytest

from curate.curation.dedup import dedup_dataset, duplicate_flags, normalise
from curate.record import empty_trace

WORDS = ("number integer triangle circle square prime divisor sum product remainder angle "
         "radius area perimeter probability coin dice sequence term ratio polynomial root "
         "function value real positive negative greatest least even odd digit base matrix "
         "vector plane line point distance speed hour minute").split()


def _synthetic(n: int, seed: int = 0) -> tuple[list[str], list[str]]:
    """n distinct random problems, and one near-duplicate of each (1-3 small edits)."""
    rng = random.Random(seed)
    originals = []
    for i in range(n):
        k = rng.randint(18, 40)
        originals.append(f"Problem {i}: " + " ".join(rng.choice(WORDS) for _ in range(k))
                         + f" with {rng.randint(2, 999)}?")
    dups = []
    for t in originals:
        w = t.split()
        for _ in range(rng.randint(1, 3)):
            i = rng.randrange(len(w))
            op = rng.random()
            if op < 0.3:
                w[i] = w[i].upper()
            elif op < 0.6:
                w.insert(i, rng.choice(["the", "then", "now"]))
            elif op < 0.8 and len(w) > 5:
                del w[i]
            else:
                w[i] += ","
        dups.append("  ".join(w))
    return originals, dups


def test_normalise():
    assert normalise("  What IS  2+2? ") == "what is 2 2"


def test_exact_duplicates_after_normalisation():
    flags = duplicate_flags(["What is 2+2?", "what is 2 + 2", "Another one"], minhash=False)
    assert flags == [None, "exact_duplicate", None]


def test_minhash_recall_and_false_positives():
    originals, dups = _synthetic(300)
    flags = duplicate_flags(originals + dups)
    false_pos = sum(f is not None for f in flags[:300]) / 300
    recall = sum(f is not None for f in flags[300:]) / 300
    assert recall >= 0.95, recall
    assert false_pos < 0.01, false_pos


def test_dedup_keeps_all_samples_of_a_problem(catalog):
    rows = [empty_trace(id=f"{pid}-{s}", problem_id=pid, prompt=prompt)
            for pid, prompt in [("a", "Find the sum of all primes below ten thousand."),
                                ("b", "Find the sum of all primes below ten thousand!"),
                                ("c", "A completely different question about circles.")]
            for s in range(2)]
    catalog.register("raw", rows, kind="traces")
    ref = dedup_dataset(catalog, "raw", "deduped")
    kept = catalog.table(ref).column("problem_id").to_pylist()
    assert kept == ["a", "a", "c", "c"]
    lin = catalog.lineage(ref)[0]
    assert lin["counts"]["dropped"] == {"exact_duplicate": 2}
    assert lin["counts"]["problems_in"] == 3 and lin["counts"]["problems_out"] == 2


def test_bad_option():
    from curate.curation.dedup import check_params
    from curate.errors import BadInput

    with pytest.raises(BadInput):
        check_params({"treshold": 0.5})


def test_cli_dedup(home, catalog):
    import json

    from typer.testing import CliRunner

    from curate.cli import app

    rows = [empty_trace(id=str(i), problem_id=str(i), prompt=p)
            for i, p in enumerate(["Same question here.", "same question here", "Other."])]
    catalog.register("raw", rows, kind="traces")
    r = CliRunner().invoke(app, ["dedup", "raw", "--name", "d", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["counts"]["dropped"] == {"exact_duplicate": 1}
