"""Prompt dedup: the exact key keeps content, MinHash proposes and the math content decides,
planted copies are found, distinct problems (Countdown, MATH-500) are never dropped, and every
dropped problem is kept in NAME-dropped with the row it duplicates."""

from __future__ import annotations

import random

import pytest

from curate.curation.dedup import dedup_dataset, duplicate_flags, find_duplicates, normalise
from curate.curation.problem_text import canonical, math_content, same_question
from curate.record import empty_trace

WORDS = ("number integer triangle circle square prime divisor sum product remainder angle "
         "radius area perimeter probability coin dice sequence term ratio polynomial root "
         "function value real positive negative greatest least even odd digit base matrix "
         "vector plane line point distance speed hour minute").split()


def _synthetic(n: int, seed: int = 0) -> tuple[list[str], list[str]]:
    """n distinct random problems, and one copy of each: 1-3 small edits (case, a filler word
    inserted, punctuation) anywhere, deletions only of words that carry no math content."""
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
                if not math_content(w[i]):
                    del w[i]
            else:
                w[i] += ","
        dups.append("  ".join(w))
    return originals, dups


def test_normalise():
    assert normalise("  What IS  2+2? ") == "what is 2+2"


def test_exact_duplicates_after_normalisation():
    flags = duplicate_flags(["What is 2+2?", "what is 2 + 2", "Another one"], minhash=False)
    assert flags == [None, "exact_duplicate", None]


# Pairs that differ in content: a digit, an operator, a relation, a variable name (its case
# too), an exponent, a fraction, a LaTeX command, a number in prose, a number word.
DIFFERENT = [
    ("Compute $2+3$.", "Compute $2-3$."),
    ("Compute $2+3$.", "Compute $2\\cdot 3$."),
    ("Compute $2+3$.", "Compute $2+4$."),
    ("Solve $x < 1$.", "Solve $x > 1$."),
    ("Solve $x \\le 1$.", "Solve $x < 1$."),
    ("Solve $x = 1$.", "Solve $x \\ne 1$."),
    ("Find $x^2$ when $x=3$.", "Find $x^3$ when $x=3$."),
    ("Find $x$ if $2x=4$.", "Find $y$ if $2y=4$."),
    ("Let $X$ be the mean of $x$.", "Let $x$ be the mean of $x$."),
    ("Evaluate $\\frac{1}{2}+1$.", "Evaluate $\\frac{2}{1}+1$."),
    ("Evaluate $\\sin x$.", "Evaluate $\\cos x$."),
    ("Evaluate $\\sqrt{2}$.", "Evaluate $\\sqrt[3]{2}$."),
    ("What is 12 + 5?", "What is 12 - 5?"),
    ("Tom has 5 apples and buys 3 more.", "Tom has 5 apples and buys 4 more."),
    ("Tom has three apples.", "Tom has four apples."),
    ("Compute $5!$", "Compute $5$"),
]
# Pairs that are the same problem: whitespace, prose case, LaTeX spacing, \\left/\\right,
# delimiters, trailing punctuation, display-style aliases, one-character braces.
SAME = [
    ("Compute $2+3$.", "compute  $2 + 3$"),
    ("Compute $2+3$.", "Compute \\(2+3\\)"),
    ("Compute $$2+3$$", "COMPUTE \\[ 2 + 3 \\]."),
    ("Find $(\\frac{1}{2})^2$.", "Find $\\left( \\dfrac{1}{2} \\right)^{2}$"),
    ("If $x \\le 3$, find $y$.", "If $x\\,\\leq\\, 3$ , find $y$ ."),
    ("If $x=1.$ Find $y.$", "If $x = 1$. Find $y$."),
    ("Find $\\binom{31}{28}$", "Find $\\dbinom{31}{28}$!"),
    ("Solve $a\\!\\cdot\\!b = 2$;", "Solve $a \\cdot b=2$"),
]


@pytest.mark.parametrize("a,b", DIFFERENT)
def test_content_is_never_normalised_away(a, b):
    assert canonical(a) != canonical(b)
    assert math_content(a) != math_content(b)
    assert duplicate_flags([a, b]) == [None, None]


@pytest.mark.parametrize("a,b", SAME)
def test_formatting_is_not_content(a, b):
    assert canonical(a) == canonical(b)
    assert duplicate_flags([a, b], minhash=False) == [None, "exact_duplicate"]


def test_canonical_form():
    assert canonical("Compute $2+3$.") == "compute $2+3$"
    assert canonical("Let $X$ be  A set.") == "let $X$ be a set"
    assert math_content("Find the quotient when $x^9 + 1$ is divided by $x - 1.$") == (
        "quotient", "$x^9+1$", "$x-1$")


def test_currency_dollars_are_not_math():
    a = "Job A pays $15 an hour for 2000 hours a year, and Job B pays $42000."
    assert math_content(a) == ("15", "2000", "B", "42000")
    assert math_content("It costs $5 and $6.") == ("5", "6")


@pytest.mark.parametrize("a,b", [
    ("Find the quotient when $x^9 + 1$ is divided by $x - 1.$",
     "Find the quotient when $x^6 - 3$ is divided by $x + 1.$"),
    ("Find the remainder when $x^4 + 2$ is divided by $x - 2.$",
     "Find the remainder when $x^4 + 2$ is divided by $x - 3.$"),
    ("In a class of 30 students, 12 play chess and 9 play go. How many play neither game?",
     "In a class of 30 students, 12 play chess and 8 play go. How many play neither game?"),
    ("Find the smallest positive integer $n$ such that $n^2 + 1$ is divisible by $5$.",
     "Find the largest positive integer $n$ such that $n^2 + 1$ is divisible by $5$."),
    ("Three friends share a pizza equally; how much does each friend get, as a fraction?",
     "Four friends share a pizza equally; how much does each friend get, as a fraction?"),
])
def test_near_duplicates_need_the_same_math(a, b):
    assert duplicate_flags([a, b]) == [None, None]


@pytest.mark.parametrize("a,b", [
    ("Find the quotient when $x^9 + 1$ is divided by $x - 1.$",
     "Now find the quotient when $x^9+1$ is divided by $x-1$."),
    ("In a class of 30 students, 12 play chess and 9 play go. How many play neither game?",
     "In a class of 30 students, 12 play chess and 9 play go. So, how many play neither game?"),
    ("Using the numbers [3, 5, 7, 9], create an equation that equals 24. Show your work.",
     "Using the numbers [3, 5, 7, 9], create an equation that equals 24. Show your steps."),
])
def test_near_duplicates_with_the_same_math_are_found(a, b):
    d = find_duplicates([a, b])[1]
    assert d is not None and d.reason == "near_duplicate" and d.of == 0


# One word of the question replaced by another: the same numbers, a different problem
# (MinHash alone and the math content both call these the same).
REPLACED_WORD = [
    ("How many ways can 5 people sit in a row?", "How many ways can 5 people sit in a circle?"),
    ("Find the mean of the numbers 3, 5, 10 and 14.",
     "Find the median of the numbers 3, 5, 10 and 14."),
    ("What is the smallest prime number greater than 50?",
     "What is the smallest prime number smaller than 50?"),
    ("What is the sine of 30 degrees?", "What is the cosine of 30 degrees?"),
    ("A bag has 3 red and 5 blue marbles. What is the probability of drawing a red marble?",
     "A bag has 3 red and 5 blue marbles. What is the probability of drawing a blue marble?"),
    ("Find the number of ordered pairs of integers (x, y) with x^2 + y^2 = 25.",
     "Find the number of unordered pairs of integers (x, y) with x^2 + y^2 = 25."),
]


@pytest.mark.parametrize("a,b", REPLACED_WORD)
def test_a_replaced_question_word_is_another_problem(a, b):
    assert math_content(a) == math_content(b)          # the numbers alone cannot tell
    assert duplicate_flags([a, b]) == [None, None]
    assert not same_question(a, b)


@pytest.mark.parametrize("a,b", [
    ("How many ways can 5 people sit in a row?", "In how many ways can 5 people sit in a row?"),
    ("A bag has 3 red and 5 blue marbles. What is the probability of drawing a red marble?",
     "A bag has 3 red and 5 blue marbles. Now, what is the PROBABILITY of drawing a red marble?"),
    ("Using the numbers [3, 5, 7, 9], create an equation that equals 24. Show your work.",
     "Using the numbers [3, 5, 7, 9], create an equation that equals 24. Show your steps."),
    ("Compute the number of ordered pairs of integers (x, y) with x^2 + y^2 = 25.",
     "Find the number of ordered pairs of integers (x, y) with x^2 + y^2 = 25."),
])
def test_rewording_is_the_same_question(a, b):
    assert same_question(a, b)
    d = find_duplicates([a, b])[1]
    assert d is not None and d.reason == "near_duplicate", d


def test_distinct_countdown_problems_are_never_dropped():
    from curate.curation.countdown_generate import iter_countdown_rows

    rows = list(iter_countdown_rows(400, seed=0, workers=1))
    assert len({r["problem_id"] for r in rows}) == 400
    prompts = [r["prompt"] for r in rows]
    assert sum(f is not None for f in duplicate_flags(prompts)) == 0
    # MinHash alone would call a third of them duplicates: the content check is what holds
    assert sum(f is not None for f in duplicate_flags(prompts, content_check=False)) > 50


def test_math500_has_no_duplicates(shared_data):
    import json

    problems = [json.loads(x)["problem"] for x in
                (shared_data / "math500/math500_test.jsonl").open()]
    assert len(problems) == 500
    assert [f for f in duplicate_flags(problems) if f] == []
    # ... and every planted copy of a MATH-500 problem is found
    rng = random.Random(3)
    copies = ["  " + p.replace(". ", ".  ").rstrip(".") + "  " for p in rng.sample(problems, 50)]
    flags = duplicate_flags(problems + copies)
    assert flags[:500] == [None] * 500 and all(flags[500:])


def test_minhash_recall_and_false_positives():
    originals, dups = _synthetic(300)
    flags = duplicate_flags(originals + dups)
    false_pos = sum(f is not None for f in flags[:300]) / 300
    recall = sum(f is not None for f in flags[300:]) / 300
    assert recall >= 0.95, recall
    assert false_pos < 0.01, false_pos


def _dup_rows():
    return [empty_trace(id=f"{pid}-{s}", problem_id=pid, prompt=prompt)
            for pid, prompt in [("a", "Find the sum of all primes below ten thousand."),
                                ("b", "Find the sum of all primes below ten thousand!"),
                                ("c", "A completely different question about circles."),
                                ("d", "Please find the sum of all the primes below ten thousand."),
                                ("e", "Find the sum of all primes below twenty thousand.")]
            for s in range(2)]


def test_dedup_keeps_all_samples_of_a_problem(catalog):
    catalog.register("raw", _dup_rows(), kind="traces")
    ref = dedup_dataset(catalog, "raw", "deduped")
    kept = catalog.table(ref).column("problem_id").to_pylist()
    assert kept == ["a", "a", "c", "c", "e", "e"]
    lin = catalog.lineage(ref)[0]
    assert lin["counts"]["dropped"] == {"exact_duplicate": 2, "near_duplicate": 2}
    assert lin["counts"]["problems_in"] == 5 and lin["counts"]["problems_out"] == 3


def test_dropped_rows_are_kept_with_the_row_they_duplicate(catalog):
    import json

    catalog.register("raw", _dup_rows(), kind="traces")
    ref = dedup_dataset(catalog, "raw", "deduped")
    spec = catalog.lineage(ref)[0]["counts"]["dropped_version"]
    assert spec.startswith("deduped-dropped@")
    dropped = catalog.table(spec).to_pylist()
    assert [(r["id"], r["drop_reason"], r["drop_match"]) for r in dropped] == [
        ("b-0", "exact_duplicate", "a-0"), ("b-1", "exact_duplicate", "a-0"),
        ("d-0", "near_duplicate", "a-0"), ("d-1", "near_duplicate", "a-0")]
    assert {r["dropped_by"] for r in dropped} == {"dedup"}
    detail = json.loads(dropped[2]["drop_detail"])
    assert detail["problem_id"] == "a" and 0.6 <= detail["similarity"] < 1
    assert detail["kept_text"].startswith("Find the sum of all primes")
    lin = catalog.lineage(spec)[0]
    assert lin["step"] == "dedup-dropped" and lin["parents"] == [catalog.resolve("raw").spec]


def test_no_dropped_opt_out_and_names_checked_first(catalog):
    from curate.errors import BadInput

    catalog.register("raw", _dup_rows(), kind="traces")
    ref = dedup_dataset(catalog, "raw", "plain", keep_dropped=False)
    assert not catalog.exists("plain-dropped")
    assert catalog.lineage(ref)[0]["counts"]["dropped_version"] is None
    before = {r["name"] for r in catalog.ls()}
    long_name = "x" * 125                          # valid alone, too long with -dropped
    with pytest.raises(BadInput, match="pass --no-dropped"):
        dedup_dataset(catalog, "raw", long_name)
    assert {r["name"] for r in catalog.ls()} == before
    assert dedup_dataset(catalog, "raw", long_name, keep_dropped=False).rows == 6


def test_bad_option():
    from curate.curation.dedup import check_params
    from curate.errors import BadInput

    with pytest.raises(BadInput):
        check_params({"treshold": 0.5})


def test_cli_dedup(home, catalog):
    import json

    from typer.testing import CliRunner

    from curate.cli import app
    from curate.errors import BadInput

    rows = [empty_trace(id=str(i), problem_id=str(i), prompt=p)
            for i, p in enumerate(["Same question here.", "same question here", "Other."])]
    catalog.register("raw", rows, kind="traces")
    r = CliRunner().invoke(app, ["dedup", "raw", "--name", "d", "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["counts"]["dropped"] == {"exact_duplicate": 1}
    assert out["counts"]["dropped_version"].startswith("d-dropped@")
    r = CliRunner().invoke(app, ["dedup", "raw", "--name", "d2", "--no-dropped", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["counts"]["dropped_version"] is None
    r = CliRunner().invoke(app, ["dedup", "raw", "--name", "y" * 125])
    assert isinstance(r.exception, BadInput) and "--no-dropped" in str(r.exception)


# -- the same dedup through datatrove's MinHash stages ---------------------------------------

def test_datatrove_dedup_gives_the_same_version_as_in_process(catalog, tmp_path):
    from curate.curation.dedup_scale import dedup_dataset_scaled, local_runner

    catalog.register("raw", _dup_rows(), kind="traces")
    a = dedup_dataset(catalog, "raw", "inproc")
    b = dedup_dataset_scaled(catalog, "raw", "scaled", tasks=3, runner=local_runner(2),
                             staging=tmp_path / "stage")
    assert a.version == b.version and b.rows == 6
    ca, cb = catalog.lineage(a)[0]["counts"], catalog.lineage(b)[0]["counts"]
    assert cb["dropped"] == ca["dropped"] == {"exact_duplicate": 2, "near_duplicate": 2}
    assert (cb["problems_in"], cb["problems_out"]) == (5, 3)
    da = [(r["id"], r["drop_reason"], r["drop_match"])
          for r in catalog.table(ca["dropped_version"]).to_pylist()]
    db = [(r["id"], r["drop_reason"], r["drop_match"])
          for r in catalog.table(cb["dropped_version"]).to_pylist()]
    assert da == db
    stats = catalog.show(b)["stats"]["datatrove"]
    assert {s["name"] for s in stats["4-filter"]} >= {"🫂 - DEDUP: 🎯 MinHash stage 4"}
    assert not (tmp_path / "stage").exists()          # staging removed after success


def test_datatrove_dedup_never_merges_distinct_problems(catalog, shared_data):
    import json

    from curate.curation.countdown_generate import iter_countdown_rows
    from curate.curation.dedup_scale import dedup_dataset_scaled, local_runner

    cd = [r["prompt"] for r in iter_countdown_rows(400, seed=0, workers=1)]
    math = [json.loads(x)["problem"] for x in (shared_data / "math500/math500_test.jsonl").open()]
    long = [p for p in math if len(p.split()) >= 30]
    copies = (["  " + p.replace(" ", "  ") + "\n" for p in math[:20]]           # exact
              + ["Please solve this. " + p for p in long[:20]])                # near
    texts = cd + math + copies
    catalog.register("raw", [{"id": f"r{i}", "problem_id": f"p{i}", "prompt": t}
                             for i, t in enumerate(texts)], kind="problems")
    ref = dedup_dataset_scaled(catalog, "raw", "d", tasks=2, runner=local_runner(1))
    kept = set(catalog.table(ref).column("id").to_pylist())
    assert all(f"r{i}" in kept for i in range(900))             # 0 drops among distinct
    assert not any(f"r{i}" in kept for i in range(900, 940))     # every copy dropped
    cluster = catalog.show(ref)["stats"]["datatrove"]["3-cluster"][0]["stats"]
    assert cluster.get("pairs_other_content", 0) == 0   # the content key kept them apart


def test_datatrove_dedup_keeps_a_replaced_question_word_apart(catalog, tmp_path):
    from curate.curation.dedup_scale import dedup_dataset_scaled, local_runner

    texts = [t for pair in REPLACED_WORD for t in pair]
    texts.append("In how many ways can 5 people sit in a row?")       # rewording of texts[0]
    catalog.register("raw", [{"id": f"r{i}", "problem_id": f"p{i}", "prompt": t}
                             for i, t in enumerate(texts)], kind="problems")
    ref = dedup_dataset_scaled(catalog, "raw", "d", tasks=2, runner=local_runner(1))
    kept = catalog.table(ref).column("id").to_pylist()
    assert kept == [f"r{i}" for i in range(len(texts) - 1)]
    assert ref.version == dedup_dataset(catalog, "raw", "d-inproc").version
    cluster = catalog.show(ref)["stats"]["datatrove"]["3-cluster"][0]["stats"]
    assert cluster.get("pairs_other_question", 0) >= 1     # MinHash proposed, the words refused


def test_datatrove_dedup_checks_names_first(catalog):
    from curate.curation.dedup_scale import dedup_dataset_scaled
    from curate.errors import BadInput

    catalog.register("raw", _dup_rows(), kind="traces")
    before = len(catalog.ls())
    with pytest.raises(BadInput, match="pass --no-dropped"):
        dedup_dataset_scaled(catalog, "raw", "q" * 125)
    assert len(catalog.ls()) == before


def test_cli_dedup_on_the_local_executor(home, catalog):
    import json

    from typer.testing import CliRunner

    from curate.cli import app
    from curate.errors import BadInput

    catalog.register("raw", _dup_rows(), kind="traces")
    r = CliRunner().invoke(app, ["dedup", "raw", "--name", "d", "--executor", "local",
                                 "--workers", "1", "--tasks", "2", "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output[r.output.index("{\n"):])
    assert out["counts"]["dropped"] == {"exact_duplicate": 2, "near_duplicate": 2}
    assert out["version"] == dedup_dataset(catalog, "raw", "inproc").version
    r = CliRunner().invoke(app, ["dedup", "raw", "--name", "d", "--executor", "slurm"])
    assert isinstance(r.exception, BadInput) and "needs --partition" in str(r.exception)
    r = CliRunner().invoke(app, ["dedup", "raw", "--name", "d", "--executor", "local",
                                 "--threshold", "0.5"])
    assert isinstance(r.exception, BadInput) and "bands" in str(r.exception)


def test_datatrove_dedup_on_a_ray_cluster(catalog):
    """The MinHash stages on a real local Ray cluster (2 CPUs): the in-process version."""
    ray = pytest.importorskip("ray")
    from curate.curation.executors.run import ExecutorSpec

    catalog.register("raw", _dup_rows(), kind="traces")
    want = dedup_dataset(catalog, "raw", "inproc")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             object_store_memory=80 * 2**20)
    try:
        got = dedup_dataset(catalog, "raw", "on-ray", executor=ExecutorSpec(
            "ray", tasks=2, workers=2, mem_per_cpu_gb=0.25),
            num_buckets=5, hashes_per_bucket=3)   # 5 bucket tasks, not 20: a quicker test
    finally:
        ray.shutdown()
    assert got.version == want.version
    counts = catalog.lineage(got)[0]["counts"]
    assert counts["dropped"] == {"exact_duplicate": 2, "near_duplicate": 2}
    wanted = catalog.lineage(want)[0]["counts"]["dropped_version"]
    assert [(r["id"], r["drop_reason"], r["drop_match"])
            for r in catalog.table(counts["dropped_version"]).to_pylist()] == \
        [(r["id"], r["drop_reason"], r["drop_match"]) for r in catalog.table(wanted).to_pylist()]


def test_datatrove_dedup_slurm_dry_run_then_local(home, catalog, monkeypatch):
    """Slurm without a cluster: one sbatch script per MinHash stage, each array as wide as
    its stage (signature and filter: --tasks, buckets: one per band, cluster: 1), chained
    by dependency, nothing registered; the same staging folder then finishes locally."""
    import json

    import dill
    from typer.testing import CliRunner

    from curate.cli import app

    monkeypatch.setenv("CURATE_HOME", str(home))
    catalog.register("raw", _dup_rows(), kind="traces")
    r = CliRunner().invoke(app, ["dedup", "raw", "--name", "d", "--executor", "slurm",
                                 "--tasks", "3", "--partition", "cpu", "--time", "1:00:00",
                                 "--sbatch-arg", "account=proj", "--dry-run"])
    assert r.exit_code == 0, r.output
    assert "dry run: nothing submitted" in r.output and not catalog.exists("d")
    scripts = sorted(home.glob("cache/dedup-scale/*/logs/*/launch_script.slurm"))
    assert [s.parent.name for s in scripts] == ["1-signature", "2-buckets", "3-cluster",
                                                "4-filter"]
    for s, width in zip(scripts, (3, 20, 1, 3)):
        text = s.read_text()
        for line in ("#SBATCH --partition=cpu", "#SBATCH --time=1:00:00",
                     f"#SBATCH --array=0-{width - 1}", "#SBATCH --account=proj",
                     f"export CURATE_HOME={home}"):
            assert line in text, (line, text)
        assert json.loads((s.parent / "ranks_to_run.json").read_text()) == list(range(width))
        with open(s.parent / "executor.pik", "rb") as f:
            assert dill.load(f).world_size == width
    r = CliRunner().invoke(app, ["dedup", "raw", "--name", "d", "--executor", "local",
                                 "--tasks", "3", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output[r.output.index("{\n"):])["version"] == \
        dedup_dataset(catalog, "raw", "inproc").version
    assert not list(home.glob("cache/dedup-scale/*"))


def test_recipe_dedup_step_runs_on_the_executor(catalog):
    """`curate run RECIPE --executor local`: the dedup step too runs datatrove's MinHash
    stages (their lineage says so), with the in-process rows; a threshold the bands cannot
    give is refused, not silently replaced."""
    from curate.curation.executors.run import ExecutorSpec
    from curate.curation.recipes import run_recipe, validate
    from curate.errors import CurateError

    catalog.register("raw", _dup_rows(), kind="traces")

    def recipe(suffix, threshold=0.6):
        return validate({"name": f"r{suffix}", "steps": [
            {"id": "d", "step": "dedup", "input": "raw", "with": {"threshold": threshold},
             "output": f"d{suffix}"}]})

    (plain,) = run_recipe(catalog, recipe("a"))
    (on_ex,) = run_recipe(catalog, recipe("b"), executor=ExecutorSpec("local", tasks=2,
                                                                       workers=1))
    assert on_ex.version == plain.version
    assert catalog.lineage(on_ex)[0]["params"]["engine"] == "datatrove"
    assert "engine" not in catalog.lineage(plain)[0]["params"]
    with pytest.raises(CurateError, match="threshold 0.8 is for the in-process dedup"):
        run_recipe(catalog, recipe("c", 0.8), executor=ExecutorSpec("local", tasks=2))
    assert not catalog.exists("dc")


def test_content_key_goes_into_the_minhash_values():
    """The LSH only ever proposes problems with the same math content: the key shifts every
    MinHash value, so equal keys keep their Jaccard estimate and different keys share none."""
    from datasketch import MinHash

    from curate.curation.dedup import _key_minhash, shingles
    from curate.curation.problem_text import content_key

    a, b = "Find x if 2x = 4 and then explain.", "Find x if 2x = 4, then explain it."
    ma, mb, mc = MinHash.bulk([shingles(a, 5), shingles(b, 5), shingles(b, 5)], num_perm=128)
    before = ma.jaccard(mb)
    _key_minhash(ma, content_key(a))
    _key_minhash(mb, content_key(b))
    _key_minhash(mc, content_key("Find x if 2x = 5, then explain it."))
    assert ma.jaccard(mb) == before > 0.5
    assert mb.jaccard(mc) < 0.05
