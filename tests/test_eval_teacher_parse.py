"""`curate eval --teacher`: a completion is scored as the model wrote it (the papers' rule),
so a non-thinking model cut off at max_tokens is not taken for unclosed thinking; a template
known to open the think block itself still makes an unmarked completion thinking."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from curate.curation.teachers.batch import ServedTeacher


def serve(model: str, message: dict, finish: str):
    class H(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def _send(self, obj):
            b = json.dumps(obj).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(b)))
            self.end_headers()
            self.wfile.write(b)

        def do_GET(self):
            self._send({"object": "list", "data": [{"id": model, "object": "model"}]})

        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self._send({"id": "x", "model": model, "object": "chat.completion",
                        "choices": [{"index": 0, "message": {"role": "assistant", **message},
                                     "finish_reason": finish}],
                        "usage": {"prompt_tokens": 3, "completion_tokens": 7}})

    srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, f"http://127.0.0.1:{srv.server_address[1]}/v1"


@pytest.mark.parametrize("model,message,finish,text", [
    # a non-thinking model cut off: its text, as written
    ("plain-model", {"content": "So 2+3 is \\boxed{5} and"}, "length", "So 2+3 is \\boxed{5} and"),
    ("plain-model", {"content": "\\boxed{5}"}, "stop", "\\boxed{5}"),
    # inline markers kept; a server-split reasoning re-inlined before the answer
    ("plain-model", {"content": "<think>hm</think>\\boxed{5}"}, "stop",
     "<think>\nhm\n</think>\n\n\\boxed{5}"),
    ("plain-model", {"content": "\\boxed{5}", "reasoning_content": "add"}, "stop",
     "<think>\nadd\n</think>\n\n\\boxed{5}"),
    # an R1-distill template opens <think> itself: cut off unmarked text is thinking
    ("deepseek-ai/DeepSeek-R1-Distill-Qwen-7B", {"content": "let me think \\boxed{4}"},
     "length", "<think>\nlet me think \\boxed{4}\n"),
])
def test_teacher_completion_text(model, message, finish, text):
    srv, url = serve(model, message, finish)
    try:
        got = ServedTeacher(f"openai:{url}").complete_many(["What is 2+3?"], n=1,
                                                           max_tokens=8)
    finally:
        srv.shutdown()
    assert got[0][0]["text"] == text
    assert got[0][0]["finish_reason"] == finish


def test_eval_scores_a_cut_off_non_thinking_answer(tmp_path, catalog):
    from curate.probes.evaluation import evaluate

    suite = tmp_path / "arith.jsonl"
    suite.write_text(json.dumps({"id": "p", "problem": "What is 2+3?", "answer": "5"}) + "\n")
    srv, url = serve("plain-model", {"content": "2+3 = \\boxed{5}, and then"}, "length")
    try:
        res = evaluate(catalog, "plain-model", f"local:{suite}", teacher=f"openai:{url}",
                       max_new_tokens=8, progress=False)
    finally:
        srv.shutdown()
    f = res["benchmarks"]["arith"]
    assert f["accuracy"] == 1.0 and f["truncation_rate"] == 1.0
