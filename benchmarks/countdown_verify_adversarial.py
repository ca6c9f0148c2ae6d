"""Countdown verifier on the issue's adversarial answers: milliseconds per input (limit 50 ms).

Side by side: a TinyZero-style scorer written here from the description in
../shared/reference/countdown-and-verification.md §1.2 (regex whitelist, then `eval` with no
builtins, float tolerance), run in a subprocess per input with a 2 s limit, to show which
inputs hang or crash it. Our verifier never evaluates text: AST, exact rationals, bounds.

    python benchmarks/countdown_verify_adversarial.py
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _util import write_result  # noqa: E402

from curate.curation.verify_countdown import verify_countdown  # noqa: E402

NUMBERS, TARGET = [3, 5, 7], 22
CASES = {
    "99**99**99": ("99**99**99", [99, 99, 99]),
    "9999999999**99": ("9999999999**99", [9999999999, 99]),
    "__import__": ("__import__('os').system('x')", NUMBERS),
    "1000_levels": ("(" * 1000 + "3*5+7" + ")" * 1000, NUMBERS),
    "100_levels": ("(" * 100 + "3*5+7" + ")" * 100, NUMBERS),
    "1MB_string": ("1" * 1_000_000, NUMBERS),
    "1MB_of_additions": ("+".join(["1"] * 500_000), NUMBERS),
    "unicode_digits": ("\u0663*\u0665+\u0667", NUMBERS),
    "decimal_3.5": ("3.5*5+7", NUMBERS),
    "reused_number": ("3*5+7+7", NUMBERS),
    "missing_number": ("3*5", NUMBERS),
    "division_by_zero": ("7/(5-5)+3", [3, 5, 5, 7]),
    "huge_product": ("*".join(["99999"] * 6), [99999] * 6),
    "beyond_magnitude_cap": ("*".join(["99999"] * 13), [99999] * 13),
    "valid": ("3*5+7", NUMBERS),
}

TINYZERO_STYLE = r'''
import re, sys
expr, nums, target = sys.argv[1], list(map(int, sys.argv[2].split(","))), int(sys.argv[3])
ok = sorted(map(int, re.findall(r"\d+", expr))) == sorted(nums)
if ok and re.match(r"^[\d+\-*/().\s]+$", expr):
    v = eval(expr, {"__builtins__": None}, {})
    print("score", 1.0 if abs(v - target) < 1e-5 else 0.1)
else:
    print("score", 0.1)
'''


def time_ours(answer: str, numbers: list[int], rounds: int = 20) -> tuple[float, str]:
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        r = verify_countdown(answer, numbers, TARGET)
        times.append((time.perf_counter() - t) * 1000)
    return max(times), r.reason


def run_baseline(answer: str, numbers: list[int]) -> str:
    if len(answer) > 100_000:  # argv limit; a 1 MB string would still be scanned by regex
        return "not run (argv limit)"
    try:
        p = subprocess.run([sys.executable, "-c", TINYZERO_STYLE, answer,
                            ",".join(map(str, numbers)), str(TARGET)],
                           capture_output=True, text=True, timeout=2)
    except subprocess.TimeoutExpired:
        return "hung (killed after 2 s)"
    if p.returncode:
        return "crashed: " + (p.stderr.strip().splitlines() or ["?"])[-1][:80]
    return p.stdout.strip()


def main() -> None:
    rows = {}
    for name, (answer, numbers) in CASES.items():
        ms, reason = time_ours(answer, numbers)
        rows[name] = {"ms_max_of_20": round(ms, 3), "reason": reason,
                      "tinyzero_style_baseline": run_baseline(answer, numbers)}
    worst = max(r["ms_max_of_20"] for r in rows.values())
    write_result("countdown_verify_adversarial", {
        "limit_ms": 50,
        "worst_ms": worst,
        "median_ms": round(statistics.median(r["ms_max_of_20"] for r in rows.values()), 3),
        "all_under_limit": worst < 50,
        "cases": rows,
        "command": "python benchmarks/countdown_verify_adversarial.py",
    })


if __name__ == "__main__":
    main()
