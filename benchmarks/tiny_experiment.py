"""The README tour's experiment: `curate run experiments/data-structure.yaml --set
profile=tiny` from an empty workspace (Countdown-CoT vs NoCoT on a tiny local model, 32 steps,
a local math/other/non suite), timed end to end and then rerun (which must train and score
nothing), with the machine's load average beside the wall times (the CPUs may be shared).

    python benchmarks/tiny_experiment.py [--workdir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _util import write_result  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
COMMAND = ["run", "experiments/data-structure.yaml", "--set", "profile=tiny", "--json"]


def curate_exe() -> str:
    exe = Path(sys.executable).with_name("curate")
    return str(exe) if exe.exists() else "curate"


def timed(workdir: Path) -> dict:
    env = {**os.environ, "CURATE_HOME": str(workdir / ".curate"), "HF_HUB_OFFLINE": "1",
           "PYTHONPATH": str(REPO)}
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    p = subprocess.run([curate_exe(), *COMMAND], cwd=REPO, env=env, capture_output=True,
                       text=True)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        raise SystemExit(p.stderr[-3000:])
    res = json.loads(p.stdout)
    return {"wall_s": round(wall, 1), "load_avg_1m_before": round(load, 2),
            "load_avg_1m_after": round(os.getloadavg()[0], 2),
            "evaluated": res["evaluated"], "already_scored": res["already_scored"],
            "trained": [a for a, i in res["arms"].items() if not i["reused"]],
            "checkpoints": {a: [c["step"] for c in i["checkpoints"]]
                            for a, i in res["arms"].items()},
            "page": res.get("page")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workdir", default=None)
    args = ap.parse_args()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="curate-tiny-exp-"))
    first = timed(work)
    again = timed(work)
    write_result("tiny_experiment", {
        "command": "curate " + " ".join(COMMAND[:-1]),
        "first_run": first, "rerun": again,
        "note": "wall times on a shared machine: compare the load averages"})


if __name__ == "__main__":
    main()
