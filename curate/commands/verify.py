"""Verbs: `curate verify NAME --name OUT` and `curate verify-answer --task T ...`."""

from __future__ import annotations

import typer

from curate.commands import _executor as X
from curate.commands._common import console, print_json, print_rows


def _cat():
    """The workspace's catalog, which must exist: the verb reads a dataset from it, so a
    mistyped --home says no catalog is there instead of creating an empty one."""
    from curate.catalog import Catalog

    return Catalog(create=False)


def verify(
    name: str = typer.Argument(..., help="Traces dataset (NAME or NAME@VERSION)."),
    out: str = typer.Option(..., "--name", help="Name of the verified dataset."),
    workers: int = typer.Option(None, help="Verifier worker processes (default: CPU count); with --executor, tasks run at once."),
    timeout: float = typer.Option(5.0, help="Wall-clock seconds per item before its worker is killed."),
    unanchored: bool = typer.Option(False, help="math: let math-verify take the right-most expression when no \\boxed{} or anchor."),
    last_number: bool = typer.Option(False, help="math: Qwen-style last-number fallback (opt-in)."),
    unclosed: str = typer.Option("no-answer", help="math/mcq: thinking that never closed has "
                                 "no-answer (default), or whole-response: the whole response "
                                 "is read (P3's evaluation rule)."),
    rule: str = typer.Option("math-verify", help="math: the comparison rule (see "
                             "curate.curation.verify_math.MATH_RULES)."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Do not use the (gold, prediction) result cache."),
    json_out: bool = typer.Option(False, "--json"),
    executor: str = X.EXECUTOR, tasks: int = X.TASKS,
    partition: str = X.PARTITION, time: str = X.TIME, cpus_per_task: int = X.CPUS,
    mem_per_cpu_gb: float = X.MEM, gpus_per_task: int = X.GPUS, sbatch_arg: list[str] = X.SBATCH,
    dry_run: bool = X.DRY_RUN,
    set_: list[str] = typer.Option(None, "--set", help="KEY=VALUE: a math verifier option "
                                   "without a flag (e.g. --set rule=NAME); repeatable."),
) -> None:
    """Add verified / final_answer / verify_detail to every row (math, countdown, multiple choice)."""
    from curate.catalog.catalog import ref_dict
    from curate.curation.verify import verify_dataset

    opts = _math_options(unanchored, last_number, unclosed, rule)
    ex = X.spec_from(executor, tasks, None, partition, time, cpus_per_task, mem_per_cpu_gb,
                     gpus_per_task, sbatch_arg, dry_run)
    if ex is not None and workers:
        ex.workers = workers     # with an executor, --workers is tasks at once
    cat = _cat()
    ref = verify_dataset(cat, name, out, workers=workers, timeout=timeout, math_options=opts,
                         use_cache=not no_cache, progress=not json_out, executor=ex)
    if X.dry_run_done(ref):
        return
    counts = cat.lineage(ref)[0].get("counts", {})
    if json_out:
        print_json({**ref_dict(ref), "counts": counts})
        return
    console.print(f"[bold]{ref.spec}[/bold]  rows={ref.rows}")
    print_rows([{"verified": counts.get("verified"), "wrong": counts.get("wrong"),
                 "unverifiable": counts.get("unverifiable"),
                 "reasons": counts.get("reasons")}], title="verification")


def verify_answer(
    task: str = typer.Option("math", help="math | mcq | countdown"),
    reference: str = typer.Option(None, help="Gold answer (math: LaTeX or number; mcq: letter; "
                                  "countdown: JSON {numbers, target})."),
    answer: str = typer.Option(..., help="The model's answer or full completion."),
    numbers: str = typer.Option(None, "--numbers", help="countdown: the given numbers, e.g. 3,5,7."),
    target: int = typer.Option(None, "--target", help="countdown: the target."),
    semantics: str = typer.Option(None, "--semantics", help="countdown: integer (Stream of "
                                  "Search: no negatives, exact division) | rational; default: "
                                  "the reference's, else integer."),
    timeout: float = typer.Option(5.0, help="Wall-clock seconds before giving up."),
    unanchored: bool = typer.Option(False, help="math: math-verify's right-most formula when no box or anchor."),
    last_number: bool = typer.Option(False, help="math: Qwen-style last-number fallback (opt-in)."),
    unclosed: str = typer.Option("no-answer", help="math/mcq: no-answer | whole-response (P3)."),
    rule: str = typer.Option("math-verify", help="math: the comparison rule."),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Verify one answer (a bare answer or a whole completion) against a reference and say
    which verifier ruled, why, and where the answer was found.

    Exit code 0 whether or not the answer is right; 2 on bad arguments."""
    from curate.curation.verify import task_kind
    from curate.curation.verify import verify_answer as run

    if task == "countdown":
        reference = _countdown_reference(reference, numbers, target, semantics)
    elif semantics is not None:
        from curate.errors import CurateError

        raise CurateError("--semantics applies to --task countdown only")

    kind = task_kind(task)
    opts = _math_options(unanchored, last_number, unclosed, rule) if kind == "math" else \
        ({"unclosed": unclosed} if kind == "mcq" and unclosed != "no-answer" else {})
    r = run(task, reference, answer, options=opts, timeout=timeout)
    row = {"verified": r.verified, "reason": r.reason, "verifier": r.verifier,
           "final_answer": r.final_answer, **({"note": r.note} if r.note else {}),
           **(r.extra or {})}
    if json_out:
        print_json(row)
    else:
        print_rows([row], title="verify-answer")


def _math_options(unanchored: bool, last_number: bool, unclosed: str,
                  rule: str = "math-verify") -> dict:
    """The math verifier's options as given on the command line (defaults left out)."""
    from curate.curation.verify_math import DEFAULT_RULE, MATH_RULES
    from curate.errors import CurateError
    from curate.formats.answers import UNCLOSED_RULES

    if unclosed not in UNCLOSED_RULES:
        raise CurateError(f"--unclosed must be one of {', '.join(UNCLOSED_RULES)}, got {unclosed!r}")
    if rule not in MATH_RULES:
        raise CurateError(f"--rule must be one of {', '.join(MATH_RULES)}, got {rule!r}")
    opts: dict = {k: v for k, v in (("unanchored", unanchored),
                                     ("last_number_fallback", last_number)) if v}
    if unclosed != "no-answer":
        opts["unclosed"] = unclosed
    if rule != DEFAULT_RULE:
        opts["rule"] = rule
    return opts


def _countdown_reference(reference: str | None, numbers: str | None, target: int | None,
                         semantics: str | None) -> str:
    """--reference JSON, or --numbers 3,5,7 --target 22, with --semantics, as the checked
    reference string the verifier takes; a malformed one is a one-line error (exit 2)."""
    import json

    from curate.curation.verify_countdown import (
        DEFAULT_SEMANTICS,
        BadReference,
        make_reference,
        parse_reference,
    )
    from curate.errors import CurateError

    try:
        if reference is not None:
            if numbers is not None or target is not None:
                raise CurateError("give --reference or --numbers/--target, not both")
            ref = parse_reference(reference)
            stated = json.loads(reference).get("semantics")  # parsed above: a JSON object
            if semantics is not None and stated is not None and stated != semantics:
                raise CurateError(f"--semantics {semantics} disagrees with the reference's "
                                  f"semantics {stated}")
            return make_reference(ref.numbers, ref.target, semantics or ref.semantics)
        if numbers is None or target is None:
            raise CurateError("--task countdown needs --numbers N,N,... and --target T "
                              "(or --reference JSON)")
        try:
            nums = [int(x) for x in numbers.replace(" ", "").split(",") if x]
        except ValueError:
            raise CurateError(f"--numbers must be integers separated by commas, got "
                              f"{numbers!r}") from None
        return make_reference(nums, target, semantics or DEFAULT_SEMANTICS)
    except BadReference as e:
        raise CurateError(f"bad countdown reference: {e}") from None


def register(app: typer.Typer) -> None:
    app.command("verify")(verify)
    app.command("verify-answer")(verify_answer)
