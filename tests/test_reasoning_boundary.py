"""Where a teacher's thinking ends (issue 13, "Reasoning boundary"): a completion cut off at
max_tokens with no `</think>` on a template that prefills `<think>` is unclosed reasoning,
never the answer, and a `\\boxed{}` inside it does not verify; with thinking off, an answer the
server put in `reasoning_content` is recovered; the launcher passes the engine's reasoning
parser for known families and every row records it."""

from __future__ import annotations

import json

import pytest

from curate.curation.generate import GenerateConfig, parse_completion
from curate.curation.teachers.reasoning import family, reasoning_parser, template_prefills_think
from curate.curation.verify import verify_rows

BOXED_MID_THOUGHT = ("Okay, 2+2. Let me see, so far \\boxed{4} seems right, but wait, maybe I "
                     "should double-check whether the problem means")


def _resp(content=None, finish="stop", reasoning=None, field="reasoning_content"):
    msg = {"role": "assistant", "content": content}
    if reasoning is not None:
        msg[field] = reasoning
    return {"choices": [{"message": msg, "finish_reason": finish}],
            "usage": {"prompt_tokens": 5, "completion_tokens": 7}, "model": "m", "id": "r"}


def _verdict(answer_text):
    return verify_rows([{"task": "math", "reference": "4", "answer_text": answer_text}],
                       workers=1)[0]


@pytest.mark.parametrize("data,prefilled", [
    (_resp(BOXED_MID_THOUGHT, "length"), None),          # template unknown: length decides
    (_resp(BOXED_MID_THOUGHT, "length"), True),          # R1-distill / QwQ prefilled <think>
    (_resp(BOXED_MID_THOUGHT, "stop"), True),            # stopped inside a prefilled block
    (_resp("<think>\n" + BOXED_MID_THOUGHT, "length"), False),   # the model opened it itself
    (_resp(None, "length", BOXED_MID_THOUGHT), None),    # the server's parser split it
    (_resp("", "length", BOXED_MID_THOUGHT, field="reasoning"), None),  # vLLM >= 0.10 field
])
def test_cut_off_thinking_is_reasoning_and_never_verifies(data, prefilled):
    c = parse_completion(data, prefilled=prefilled)
    assert c["reasoning"].endswith("whether the problem means")
    assert c["answer_text"] == "" and c["think_closed"] is False and c["empty_answer"]
    v = _verdict(c["answer_text"])
    assert v.verified is not True and v.reason == "no_answer"
    # the bug this replaces: the same text stored as the answer verified
    assert _verdict(BOXED_MID_THOUGHT).verified is True


@pytest.mark.parametrize("data,prefilled,off,want", [
    (_resp("The answer is \\boxed{4}.", "stop"), None, False, (None, "The answer is \\boxed{4}.", True)),
    (_resp("Thinking</think>\n\nSo \\boxed{4}.", "stop"), True, False, ("Thinking", "So \\boxed{4}.", True)),
    (_resp("a truncated plain answer \\boxed{4} and", "length"), False, False,
     (None, "a truncated plain answer \\boxed{4} and", True)),   # the template does not think
    (_resp("a truncated answer \\boxed{4} and", "length"), None, True,
     (None, "a truncated answer \\boxed{4} and", True)),         # thinking off
])
def test_answers_stay_answers(data, prefilled, off, want):
    c = parse_completion(data, prefilled=prefilled, thinking_off=off)
    assert (c["reasoning"], c["answer_text"], c["think_closed"]) == want


@pytest.mark.parametrize("data", [
    _resp(None, "stop", "The answer is \\boxed{4}."),
    _resp("", "stop", "The answer is \\boxed{4}.", field="reasoning"),
    _resp("  \n", "length", "The answer is \\boxed{4}."),
])
def test_thinking_off_answer_in_reasoning_content_is_recovered(data):
    c = parse_completion(data, thinking_off=True)
    assert c["answer_text"] == "The answer is \\boxed{4}." and c["reasoning"] is None
    assert c["answer_recovered"] == "reasoning_content" and "empty_answer" not in c
    assert _verdict(c["answer_text"]).verified is True


def test_empty_answer_with_thinking_on_is_flagged_not_silent():
    c = parse_completion(_resp(None, "stop", "I think and think"))
    assert c["answer_text"] == "" and c["empty_answer"] and c["think_closed"] is False
    c = parse_completion(_resp("<think>done</think>", "stop"))
    assert c["answer_text"] == "" and c["empty_answer"]


@pytest.mark.parametrize("model,vllm,sglang,prefills", [
    ("deepseek-ai/DeepSeek-R1-Distill-Qwen-7B", "deepseek_r1", "deepseek-r1", True),
    ("Qwen/QwQ-32B", "deepseek_r1", "deepseek-r1", True),
    ("Qwen/Qwen3-235B-A22B-Thinking-2507", "deepseek_r1", "deepseek-r1", True),
    ("Qwen/Qwen3-32B", "qwen3", "qwen3", False),
    ("/models/hub/Qwen3-8B", "qwen3", "qwen3", False),
])
def test_reasoning_parser_per_family(model, vllm, sglang, prefills):
    assert family(model) == (vllm, sglang, prefills)
    assert reasoning_parser("vllm", model) == vllm and reasoning_parser("sglang", model) == sglang
    assert reasoning_parser("openai", model) is None


@pytest.mark.parametrize("model", ["Qwen/QwQ-32B-Preview", "meta-llama/Llama-3.1-8B-Instruct",
                                   "Qwen/Qwen3-30B-A3B-Instruct-2507", "Qwen/Qwen2.5-7B-Instruct"])
def test_no_parser_for_models_that_do_not_tag_thinking(model):
    assert reasoning_parser("vllm", model) is None


def test_launch_commands_carry_the_parser(tmp_path):
    from curate.curation.teachers.servers import server_command
    from curate.curation.teachers.spec import parse_teacher

    cmd = server_command(parse_teacher("vllm:deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B"), 8000)
    assert cmd[cmd.index("--reasoning-parser") + 1] == "deepseek_r1"
    cmd = server_command(parse_teacher("sglang:Qwen/Qwen3-8B"), 8000)
    assert cmd[cmd.index("--reasoning-parser") + 1] == "qwen3"
    spec = parse_teacher("vllm:Qwen/Qwen3-8B", server_args=["--reasoning-parser=deepseek_r1"])
    cmd = server_command(spec, 8000)
    assert cmd.count("--reasoning-parser") == 0 and "--reasoning-parser=deepseek_r1" in cmd
    assert reasoning_parser("vllm", "Qwen/Qwen3-8B", spec.server_args) == "deepseek_r1"
    assert "--reasoning-parser" not in server_command(parse_teacher("vllm:gpt2"), 8000)


PREFILL_TEMPLATE = (   # R1-distill / Qwen3-Thinking style: the prompt opens the think block
    "{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}<|end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n"
    "{% if enable_thinking is defined and enable_thinking is false %}<think>\n\n</think>\n\n"
    "{% else %}<think>\n{% endif %}{% endif %}")


@pytest.fixture(scope="module")
def prefill_model(tmp_path_factory):
    from transformers import AutoTokenizer

    from curate.training.tiny import build_tiny_model

    path = build_tiny_model(tmp_path_factory.mktemp("prefill") / "tiny", max_positions=256)
    tok = AutoTokenizer.from_pretrained(path)
    tok.chat_template = PREFILL_TEMPLATE
    tok.save_pretrained(path)
    return path


def test_template_prefill_is_read_from_the_template(prefill_model):
    msgs = [{"role": "user", "content": "q"}]
    assert template_prefills_think(str(prefill_model), msgs) is True
    assert template_prefills_think(str(prefill_model), msgs, {"enable_thinking": False}) is False
    # no tokenizer on disk: the family decides, else unknown
    assert template_prefills_think(None, msgs, model="Qwen/QwQ-32B") is True
    assert template_prefills_think(None, msgs, {"enable_thinking": False},
                                   model="Qwen/QwQ-32B") is False
    assert template_prefills_think(None, msgs, model="gpt2") is None


@pytest.mark.timeout(300)
def test_served_prefill_template_cut_off_is_unclosed_reasoning(prefill_model, catalog, tmp_path):
    """A real `transformers serve` of a tiny model whose template prefills `<think>`: every
    completion is cut at 6 tokens and holds no `</think>`; each row stores it as reasoning
    with an empty answer, records the template's prefill, and none verifies."""
    from teacher_server import free_port, start_serve, stop

    from curate.curation.generate import generate_traces
    from curate.curation.verify import verify_dataset

    p = tmp_path / "p.jsonl"
    p.write_text("".join(json.dumps({"prompt": f"What is {i} + {i}?", "reference": str(2 * i),
                                     "problem_id": f"q{i}"}) + "\n" for i in range(3)))
    port = free_port()
    proc = start_serve(prefill_model, port, tmp_path / "serve.log")
    try:
        url = f"openai:http://127.0.0.1:{port}/v1"
        res = generate_traces(catalog, "pre", str(p), url,
                              GenerateConfig(samples=2, max_tokens=6, concurrency=2),
                              progress=False)
        off = generate_traces(catalog, "pre-off", str(p), url,
                              GenerateConfig(samples=1, max_tokens=6, concurrency=2,
                                             enable_thinking=False), progress=False)
    finally:
        stop(proc)
    rows = catalog.table(res.ref).to_pylist()
    assert len(rows) == 6
    for r in rows:
        meta = json.loads(r["metadata"])
        assert meta["think_prefilled"] is True and meta["reasoning_parser"] is None
        if r["finish_reason"] == "length" and "</think>" not in (r["reasoning"] or ""):
            assert r["reasoning"] and r["answer_text"] == "" and meta["think_closed"] is False
    assert res.summary["think_prefilled"] is True
    assert res.summary["unclosed_think"] == sum(r["answer_text"] == "" for r in rows) >= 1
    lin = catalog.lineage(res.ref)[0]["params"]
    assert lin["think_prefilled"] is True and lin["thinking_off"] is False
    ver = catalog.table(verify_dataset(catalog, res.ref.spec, "pre-v", workers=1,
                                       progress=False)).to_pylist()
    assert not any(r["verified"] for r in ver if r["answer_text"] == "")
    # thinking off: the template closes an empty block, so the text is the answer
    orow = catalog.table(off.ref).to_pylist()
    assert all(json.loads(r["metadata"])["think_prefilled"] is False for r in orow)
    assert all(r["reasoning"] is None and r["answer_text"] for r in orow
               if "</think>" not in (r["answer_text"] or ""))
