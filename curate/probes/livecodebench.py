"""LiveCodeBench code generation: rows, prompt, code extraction and execution scoring.

Rows are the Hub dataset ``livecodebench/code_generation_lite`` as published (one JSON object
per problem: ``question_id``, ``question_content``, ``starter_code``, ``difficulty``,
``public_test_cases`` (a JSON list), ``private_test_cases`` (base64 of zlib of a pickle of a
JSON list), ``metadata`` (JSON with ``func_name`` for LeetCode problems)). ``release_v2`` is
the files ``test.jsonl`` + ``test2.jsonl`` (the dataset script's ``ALLOWED_FILES``).

Prompt: EvalChemy's (P1-code and P3-code ``LiveCodeBench/eval_instruct.py``), the instruction
followed directly by the problem text; which instruction depends on whether the public tests
read standard input.

Scoring: the code is the last fenced block of the answer (text after the last ``</think>``,
the whole response when there is none), as EvalChemy's ``has_code`` + ``post_process_code``
take it; it runs in `curate.probes.code_sandbox` on the public and private tests with
LiveCodeBench's own rules (6 s per test, first failure stops). A functional solution is
looked up as LiveCodeBench does (``Solution().<func_name>``, or a top-level function of that
name); EvalChemy's prompt gives no starter code, so a solution that names its function
otherwise is also tried as EvalChemy did (the first function it defines).
"""

from __future__ import annotations

import base64
import io
import json
import pickle
import re
import zlib
from dataclasses import dataclass
from typing import Any

from curate.errors import BadInput

STDIN_INSTRUCTION = ("Generate an executable Python function generated from the given prompt. "
                     "The function should take stdin as input and print the output. Simply call "
                     "the function after the definition.")
FUNCTIONAL_INSTRUCTION = ("Generate an executable Python function generated from the given "
                          "prompt. Return the function body without invoking it at the final "
                          "solution.")
RELEASE_FILES = {"release_v1": ("test.jsonl",),
                 "release_v2": ("test.jsonl", "test2.jsonl"),
                 "release_v3": ("test.jsonl", "test2.jsonl", "test3.jsonl"),
                 "v4_v5": ("test4.jsonl", "test5.jsonl")}
_FENCE = re.compile(r"```(?:[a-zA-Z]*)\n(.*?)```", re.DOTALL)


@dataclass
class CodeProblem:
    """One problem's tests: mode `stdin` or `functional`, the function name, inputs, outputs."""
    question_id: str
    mode: str
    fn_name: str | None
    inputs: list[str]
    outputs: list[str]


class _OnlyData(pickle.Unpickler):
    """The private tests are a pickled JSON string: nothing but plain data may be unpickled."""

    def find_class(self, module, name):
        raise pickle.UnpicklingError(f"refusing to unpickle {module}.{name}")


def decode_tests(value: Any, where: str = "") -> list[dict[str, Any]]:
    """A test-case field as a list of {input, output, testtype}: a list, a JSON string, or
    LiveCodeBench's base64(zlib(pickle(JSON string))) encoding of the private tests."""
    if isinstance(value, list):
        return value
    if value in (None, ""):
        return []
    if isinstance(value, str):
        try:
            out = json.loads(value)
            if isinstance(out, list):
                return out
        except ValueError:
            pass
        try:
            raw = _OnlyData(io.BytesIO(zlib.decompress(base64.b64decode(value)))).load()
            out = json.loads(raw) if isinstance(raw, (str, bytes)) else raw
            if isinstance(out, list):
                return out
        except (ValueError, zlib.error, pickle.UnpicklingError, EOFError, TypeError) as e:
            raise BadInput(f"test cases are neither JSON nor LiveCodeBench's encoding: {e}",
                           field=where or None) from None
    raise BadInput("test cases must be a list or a string", field=where or None)


def problem_from_row(row: dict[str, Any], source: str | None = None,
                     index: int | None = None) -> CodeProblem:
    """The tests of one LiveCodeBench row (public then private, as lcb_runner grades)."""
    qid = str(row.get("question_id") or row.get("id") or index)
    try:
        tests = decode_tests(row.get("public_test_cases"), "public_test_cases") + \
            decode_tests(row.get("private_test_cases"), "private_test_cases")
    except BadInput as e:
        raise BadInput(e.args[0] if e.args else str(e), file=source, row=index) from None
    if not tests:
        raise BadInput("problem has no test cases", file=source, row=index,
                       field="public_test_cases")
    kinds = {t.get("testtype") for t in tests}
    mode = "functional" if kinds == {"functional"} else "stdin"
    fn = None
    if mode == "functional":
        meta = row.get("metadata") or {}
        if isinstance(meta, str):
            try:
                meta = json.loads(meta) if meta.strip() else {}
            except ValueError:
                meta = {}
        fn = meta.get("func_name")
        if not fn:
            raise BadInput("functional problem without metadata.func_name", file=source,
                           row=index, field="metadata")
    return CodeProblem(qid, mode, fn, [str(t.get("input", "")) for t in tests],
                       [str(t.get("output", "")) for t in tests])


def is_stdin(row: dict[str, Any]) -> bool:
    """EvalChemy's `has_test_type(public_test_cases, "stdin")`."""
    try:
        return any(t.get("testtype") == "stdin"
                   for t in decode_tests(row.get("public_test_cases")))
    except BadInput:
        return False


def prompt_for(row: dict[str, Any]) -> str:
    """EvalChemy's LiveCodeBench user turn: instruction + problem text (no separator)."""
    text = str(row.get("question_content") or row.get("question") or "")
    return (STDIN_INSTRUCTION if is_stdin(row) else FUNCTIONAL_INSTRUCTION) + text


def extract_code(answer: str) -> str | None:
    """The last fenced code block, cleaned as EvalChemy's `post_process_code`; None if none."""
    blocks = _FENCE.findall(answer or "")
    if not blocks:
        return None
    code = blocks[-1].split("</code>")[0].replace("```python", "")
    return code.split("```")[0].replace("<code>", "")


def with_function_fallback(code: str, fn_name: str | None) -> str:
    """`code` plus an alias `fn_name` -> the function the code defines, when it defines no
    `fn_name` of its own (EvalChemy's prompt gives no starter code; its grader called the
    first function the code defines)."""
    import ast

    if not fn_name:
        return code
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return code
    top = [n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    cls = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Solution"]
    methods = [m.name for c in cls for m in c.body
               if isinstance(m, (ast.FunctionDef, ast.AsyncFunctionDef))
               and not m.name.startswith("_")]
    if fn_name in top or fn_name in methods:
        return code
    if cls and len(methods) == 1:
        return code + f"\n\nSolution.{fn_name} = Solution.{methods[0]}\n"
    if top and not cls:
        return code + f"\n\n{fn_name} = {top[0]}\n"
    return code


def score_code(problem: CodeProblem, response: str, limits=None) -> dict[str, Any]:
    """{correct, final_answer (the code run), detail} for one response."""
    from curate.probes.code_sandbox import run_tests
    from curate.probes.scoring import answer_part_whole

    code = extract_code(answer_part_whole(response))
    if code is None or not code.strip():
        return {"correct": False, "final_answer": None,
                "detail": {"reason": "no_code", "scorer": "code-sandbox"}}
    res = run_tests(with_function_fallback(code, problem.fn_name), problem.inputs,
                    problem.outputs, problem.mode, problem.fn_name, limits)
    first_bad = next((o for o in res.outcomes if o.get("status") != "passed"), None)
    return {"correct": res.passed, "final_answer": code[:20000],
            "detail": {"reason": res.status, "scorer": "code-sandbox",
                       "tests_passed": res.tests_passed, "tests_total": res.tests_total,
                       "first_failure": first_bad and {k: first_bad.get(k) for k in
                                                        ("index", "status", "detail")},
                       "sandbox": sorted(k for k, v in res.enforced.items()
                                         if not str(v).startswith(("refused", "unavailable"))),
                       "wall_s": round(res.wall_s, 3)}}
