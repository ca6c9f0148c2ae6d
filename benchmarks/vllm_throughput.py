"""curate vs `vllm bench throughput`: output tokens/s with the same small model and prompts (GPU).

Both sides generate exactly `--output-len` tokens per prompt (vLLM's bench forces this with
ignore_eos; curate sends `ignore_eos` and `min_tokens` through `extra_body`), from the same
prompt file. vLLM's offline figure is the ceiling; the goal is curate >= 90% of it. curate's
figure counts the server start separately (reported) and uses the send phase, the part that
scales with the number of prompts.

    python benchmarks/vllm_throughput.py --model Qwen/Qwen2.5-0.5B-Instruct --prompts 2000
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks._util import write_result  # noqa: E402


def make_prompts(n: int) -> list[str]:
    return [f"Problem {i}: find the sum of the first {i % 50 + 10} positive integers, then "
            f"explain each step of your reasoning in detail." for i in range(n)]


def vllm_bench(model: str, prompts: list[str], output_len: int, workdir: Path,
               extra: list[str]) -> dict:
    """`vllm bench throughput` on the same prompts (ShareGPT-format file)."""
    data = [{"id": str(i), "conversations": [{"from": "human", "value": p},
                                             {"from": "gpt", "value": "x"}]}
            for i, p in enumerate(prompts)]
    path = workdir / "sharegpt.json"
    path.write_text(json.dumps(data))
    out = workdir / "vllm_bench.json"
    cmd = ["vllm", "bench", "throughput", "--model", model, "--dataset-name", "sharegpt",
           "--dataset-path", str(path), "--num-prompts", str(len(prompts)),
           "--output-len", str(output_len), "--output-json", str(out)] + extra
    t = time.perf_counter()
    subprocess.run(cmd, check=True)
    res = json.loads(out.read_text())
    res["wall_s_including_load"] = time.perf_counter() - t
    total_out = len(prompts) * output_len
    res["output_tokens_per_s"] = total_out / res["elapsed_time"]
    return res


def curate_run(model: str, prompts: list[str], output_len: int, workdir: Path,
               concurrency: int, extra: list[str]) -> dict:
    from curate.catalog import Catalog
    from curate.curation.generate import GenerateConfig, generate_traces

    src = workdir / "prompts.jsonl"
    src.write_text("".join(json.dumps({"prompt": p, "problem_id": f"p{i}"}) + "\n"
                           for i, p in enumerate(prompts)))
    cat = Catalog(workdir / "home")
    cfg = GenerateConfig(samples=1, max_tokens=output_len, temperature=1.0, top_p=1.0, top_k=None,
                         concurrency=concurrency,
                         extra_body={"ignore_eos": True, "min_tokens": output_len})
    from curate.curation.teachers.spec import parse_teacher

    t = time.perf_counter()
    res = generate_traces(cat, "bench", str(src), parse_teacher(f"vllm:{model}", server_args=extra),
                          cfg, progress=False)
    wall = time.perf_counter() - t
    s = res.summary
    return {"output_tokens": s["completion_tokens"], "send_phase_s": s["send_wall_s"],
            "wall_s_including_server_start": wall,
            "output_tokens_per_s": s["completion_tokens"] / s["send_wall_s"],
            "rows": res.ref.rows}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="Qwen/Qwen2.5-0.5B-Instruct")
    ap.add_argument("--prompts", type=int, default=2000)
    ap.add_argument("--output-len", type=int, default=512)
    ap.add_argument("--concurrency", type=int, default=512)
    ap.add_argument("--vllm-arg", action="append", default=[],
                    help="extra engine argument for both sides, e.g. --vllm-arg=--max-model-len=4096")
    a = ap.parse_args()
    import torch

    if not torch.cuda.is_available():
        sys.exit("needs a CUDA GPU and vllm (pip install 'curate-traces[gpu]')")
    prompts = make_prompts(a.prompts)
    with tempfile.TemporaryDirectory() as d:
        work = Path(d)
        ours = curate_run(a.model, prompts, a.output_len, work, a.concurrency, a.vllm_arg)
        ref = vllm_bench(a.model, prompts, a.output_len, work, a.vllm_arg)
    ratio = ours["output_tokens_per_s"] / ref["output_tokens_per_s"]
    write_result("vllm_throughput", {
        "command": " ".join(["python", "benchmarks/vllm_throughput.py"] + sys.argv[1:]),
        "model": a.model, "prompts": a.prompts, "output_len": a.output_len,
        "gpu": torch.cuda.get_device_name(0), "curate": ours, "vllm_bench_throughput": ref,
        "curate_vs_vllm": round(ratio, 3), "goal": ">= 0.90"})


if __name__ == "__main__":
    main()
