"""`curate import --kind traces`: what a trace needs, field mappings, the public layouts
(OpenR1-Math, OpenThoughts, Sky-T1, s1K), inline marker splitting; and `curate variant --nocot`
on what comes out (no row keeps its thinking)."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from curate.catalog.importing import import_file
from curate.curation.variants import make_variant
from curate.errors import BadInput
from curate.record import THINK_MARKERS, split_think

SKY = "longcot-skythought/skyt1_correct5k_27b_math500.jsonl"
SKY32 = "longcot-skythought/skyt1_correct5k_32b_ckpt140_aime24.jsonl"


def _jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _rows(catalog, ref):
    return catalog.table(ref).to_pylist()


def _meta(r):
    return json.loads(r["metadata"])


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "curate.cli", *args], capture_output=True,
                          text=True, timeout=120)


def _marked(text):
    return any(m in (text or "") for m in THINK_MARKERS)


# -- splitting ---------------------------------------------------------------------------------

@pytest.mark.parametrize("text,want", [
    ("<think>R</think>A", ("R", "A", True)),
    ("R</think>\n\nA", ("R", "A", True)),                        # template prefilled <think>
    ("<think>R cut off", ("R cut off", "", False)),
    ("plain answer", (None, "plain answer", True)),
    ("<|begin_of_thought|>\nR\n<|end_of_thought|>\n\n<|begin_of_solution|>\nA\n"
     "<|end_of_solution|>", ("R", "A", True)),
    ("<|begin_of_thought|>R cut off", ("R cut off", "", False)),
    ("<|begin_of_thought|>R<|end_of_thought|><|begin_of_solution|>A cut", ("R", "A cut", True)),
    ("R<|end_of_thought|>\nA", ("R", "A", True)),
    ("<|begin_of_solution|>A<|end_of_solution|>", (None, "A", True)),
    # other spellings of the think block
    ("<thinking>R</thinking>A", ("R", "A", True)), ("R</thinking>\nA", ("R", "A", True)),
    ("[THINK]R[/THINK]A", ("R", "A", True)), ("<seed:think>R cut off", ("R cut off", "", False)),
    ("\u25c1think\u25b7R\u25c1/think\u25b7A", ("R", "A", True)),
    ("<thinking>R cut off", ("R cut off", "", False)),
])
def test_split_think_both_marker_styles(text, want):
    assert split_think(text) == want


# -- the real Sky-T1 evaluation outputs ----------------------------------------------------------

def test_raw_sky_t1_file_imports_as_traces(shared_data, catalog):
    ref, rejects, counts = import_file(catalog, shared_data / SKY, "sky", kind="traces")
    assert ref.rows == 500 and rejects is None
    assert counts["layout"] == "layout sky-t1 (detected from fields question, code)"
    # 290 responses carry Sky-T1's markers (94 of them never close the thought); 210 carry
    # none: the thought written QwQ-preview style, 48 ending in a "**Final Answer**" section,
    # 162 with no answer apart from the thought (unclosed)
    assert counts["traces"] == {"think_format": {"inline": 290, "unmarked": 162,
                                                 "final-answer-heading": 48},
                                "unclosed_think": 94 + 162}
    rows = _rows(catalog, ref)
    first = rows[0]
    assert first["prompt"].startswith("Convert the point $(0,3)$")
    # the reference is the dataset's own gold (`answer`), not the harness's `gt`, which lost
    # characters on some rows; `gt` stays as a column
    assert first["reference"] == "\\left( 3, \\frac{\\pi}{2} \\right)" and first["task"] == "math"
    assert first["gt"] == "(3,\\frac{\\pi}{2})"
    by_id = {r["problem_id"]: r for r in rows}
    assert (by_id["102"]["reference"], by_id["102"]["gt"]) == ("(a+5)(b+2)", "(+5)(b+2)")
    assert by_id["97"]["reference"] == "\\text{east}" and by_id["97"]["gt"] == ""
    assert first["problem_id"] == "0" and first["sample_index"] == 0
    assert first["reasoning"].startswith("So I have this problem")
    assert first["answer_text"].startswith("To convert the point (0,3)")
    assert first["answer_text"].rstrip().endswith("\\]")          # solution block, no marker
    assert sum(_marked(r["answer_text"]) for r in rows) == 0
    assert sum(_marked(r["reasoning"]) for r in rows) == 0
    unclosed = [r for r in rows if _meta(r)["think_closed"] is False]
    assert len(unclosed) == 256 and all(r["answer_text"] == "" and r["reasoning"] for r in unclosed)
    heading = [r for r in rows if _meta(r)["think_format"] == "final-answer-heading"]
    assert all(r["answer_text"].startswith("**Final Answer**") and len(r["answer_text"]) < 400
               and r["reasoning"] for r in heading)
    # the source's own fields stay (the harness's score is not curate's verdict)
    assert first["score"] == [True] and first["verified"] is None
    # naming the layout gives the same version; no layout is one line at row 1
    assert import_file(catalog, shared_data / SKY, "sky", kind="traces",
                       layout="sky-t1")[0].spec == ref.spec
    with pytest.raises(BadInput, match=r"skyt1_correct5k_27b_math500.jsonl:1: a trace needs "
                                       r"reasoning and/or answer_text.*'reasoning'"):
        import_file(catalog, shared_data / SKY, "sky-none", kind="traces", layout="none")
    ref32, _, counts32 = import_file(catalog, shared_data / SKY32, "sky32", kind="traces")
    assert ref32.rows == 30 and counts32["traces"]["unclosed_think"] == 11


def test_cli_reports_the_layout(shared_data, home):
    r = _cli("import", str(shared_data / SKY), "--name", "sky", "--kind", "traces")
    assert r.returncode == 0, r.stderr
    assert "layout sky-t1 (detected" in r.stdout and "256 traces end inside thinking" in r.stdout


def test_nocot_on_real_sky_t1_holds_no_thinking(shared_data, catalog, tmp_path):
    """Issue 13: the nocot variant of the Sky-T1 traces kept the whole thought in 288 of 500
    rows (and, unmarked, in 210 more). Now every row that has an answer gives it without
    thinking, and a row whose thinking never closed stops the variant until it is filtered
    out."""
    from curate.curation.filters import filter_dataset

    import_file(catalog, shared_data / SKY, "sky", kind="traces")
    with pytest.raises(BadInput, match=r"sky@\w+:3: no visible answer for the nocot variant: "
                                       r"its thinking never closed"):
        make_variant(catalog, "sky", "nocot", "sky-nocot")
    assert not catalog.exists("sky-nocot")
    closed = filter_dataset(catalog, "sky", "sky-closed", require_closed_think=True,
                            drop_finish_reasons=[])
    nocot = make_variant(catalog, closed.spec, "nocot", "sky-nocot")
    rows = _rows(catalog, nocot)
    assert len(rows) == 244
    assert sum(_marked(r["messages"][-1]["content"]) for r in rows) == 0
    assert sum(_marked(r["answer_text"]) for r in rows) == 0
    assert all(r["reasoning"] is None for r in rows)
    # no thought left unmarked either: the thinking words of these traces appear in no answer
    thinking = re.compile(r"\b(?:wait|hmm|let me (?:think|check|double-check))\b", re.I)
    assert [r["id"] for r in rows if thinking.search(r["answer_text"])] == []
    assert max(len(r["answer_text"]) for r in rows) < 3000        # solutions, not thoughts
    # the same file converted by hand (whole response in answer_text) gives the same answers
    conv = [json.loads(line) for line in (shared_data / SKY).read_text().splitlines()]
    f = _jsonl(tmp_path / "conv.jsonl", [{"id": str(r["idx"]), "prompt": r["question"],
                                          "answer_text": r["code"][0]} for r in conv])
    hand = {r["id"]: r for r in _rows(catalog, import_file(catalog, f, "conv", kind="traces")[0])}
    mine = {r["problem_id"]: r for r in _rows(catalog, "sky")
            if _meta(r)["think_format"] == "inline"}
    assert len(mine) == 290
    assert all(hand[k]["answer_text"] == mine[k]["answer_text"] for k in mine)


@pytest.mark.parametrize("text,want", [
    ("So I need 2+2. Wait, that is 4.\n\n**Final Answer**\n\n\\[ \\boxed{4} \\]",
     ("So I need 2+2. Wait, that is 4.", "**Final Answer**\n\n\\[ \\boxed{4} \\]", True,
      "final-answer-heading")),
    ("Hmm.\n**Final answer:** 4", ("Hmm.", "**Final answer:** 4", True, "final-answer-heading")),
    ("think\n__Final Answer__\n$4$", ("think", "__Final Answer__\n$4$", True,
                                      "final-answer-heading")),
    ("First **Final Answer**\n3\nwait, no\n**Final Answer**\n4",
     ("First **Final Answer**\n3\nwait, no", "**Final Answer**\n4", True,
      "final-answer-heading")),                                   # the last heading
    ("So the answer is 4. Let me double-check... yes, 4.",
     ("So the answer is 4. Let me double-check... yes, 4.", "", False, "unmarked")),
    ("cut off mid-thought **Final Answer**", ("cut off mid-thought **Final Answer**", "", False,
                                             "unmarked")),        # not a heading: mid-line
    ("thinking\n**Final Answer**\n", ("thinking\n**Final Answer**", "", False, "unmarked")),
])
def test_split_unmarked(text, want):
    from curate.formats.traces import split_unmarked

    assert split_unmarked(text) == want


def test_unmarked_completions_of_thinking_layouts_are_thought(tmp_path, catalog):
    """A layout whose completions mark their thinking (Sky-T1, OpenThoughts, OpenR1-Math):
    a completion with no marker is the thought, never the answer; a user's own --map
    completion=FIELD keeps unmarked text as the answer."""
    marked = "<|begin_of_thought|>t<|end_of_thought|><|begin_of_solution|>A<|end_of_solution|>"
    heading = "So 2+2. Wait, 4.\n\n**Final Answer**\n\\[ \\boxed{4} \\]"
    plain = "So 2+2 is 4, hmm, let me double-check: yes."
    sky = _jsonl(tmp_path / "sky.jsonl", [{"idx": i, "question": "2+2?", "gt": "4", "code": [c]}
                                          for i, c in enumerate((marked, heading, plain))])
    rows = _rows(catalog, import_file(catalog, sky, "sky", kind="traces")[0])
    got = [(r["reasoning"], r["answer_text"], _meta(r)["think_closed"], _meta(r)["think_format"])
           for r in rows]
    assert got == [("t", "A", True, "inline"),
                   ("So 2+2. Wait, 4.", "**Final Answer**\n\\[ \\boxed{4} \\]", True,
                    "final-answer-heading"),
                   (plain, "", False, "unmarked")]
    conv = _jsonl(tmp_path / "ot.jsonl", [{"conversations": [
        {"from": "user", "value": "2+2?"}, {"from": "assistant", "value": plain}]}])
    r = _rows(catalog, import_file(catalog, conv, "ot", kind="traces")[0])[0]
    assert (r["reasoning"], r["answer_text"]) == (plain, "")
    r1 = _jsonl(tmp_path / "r1.jsonl", [{"problem": "2+2?", "answer": "4", "uuid": "u",
                                         "generations": [plain, "t</think>4"],
                                         "finish_reasons": ["stop", "stop"]}])
    got = [(r["reasoning"], r["answer_text"]) for r in
           _rows(catalog, import_file(catalog, r1, "r1", kind="traces")[0])]
    assert got == [(plain, ""), ("t", "4")]
    # the user's own mapping of a completion: unmarked text is the answer as written
    own = _rows(catalog, import_file(catalog, sky, "own", kind="traces",
                                     mapping="prompt=question,completion=code[0]")[0])
    assert [(r["reasoning"], r["answer_text"]) for r in own][2] == (None, plain)
    # and nocot keeps no thought: the unmarked one without an answer stops the variant
    with pytest.raises(BadInput, match=r"sky@\w+:2: no visible answer for the nocot variant"):
        make_variant(catalog, "sky", "nocot", "sky-nocot")


# -- public layouts (small synthetic rows in each dataset's own field names) --------------------

def test_openr1_math_one_trace_per_generation(tmp_path, catalog):
    f = _jsonl(tmp_path / "openr1.jsonl", [{
        "problem": "What is 1+1?", "solution": "It is \\boxed{2}.", "answer": "2",
        "problem_type": "Algebra", "source": "olympiads", "uuid": "u-1",
        "generations": ["<think>\n1+1 is 2\n</think>\n\nThe answer is \\boxed{2}.",
                        "<think>\nhmm, 1+1 could be 11 if"],
        "finish_reasons": ["stop", "length"], "correctness_math_verify": [True, False],
        "messages": [{"role": "user", "content": "What is 1+1?"},
                     {"role": "assistant", "content": "<think>..</think> 2"}]}])
    ref, _, counts = import_file(catalog, f, "o", kind="traces")
    assert counts["layout"].startswith("layout openr1-math (detected")
    a, b = _rows(catalog, ref)
    assert (a["problem_id"], a["sample_index"], a["finish_reason"]) == ("u-1", 0, "stop")
    assert (b["sample_index"], b["finish_reason"]) == (1, "length")
    assert a["reasoning"] == "1+1 is 2" and a["answer_text"] == "The answer is \\boxed{2}."
    assert b["reasoning"] == "hmm, 1+1 could be 11 if" and b["answer_text"] == ""
    assert a["reference"] == "2" and a["source"] == "olympiads" and a["id"] != b["id"]
    assert a["messages"] is None and "generations" not in a        # read, not copied
    assert a["correctness_math_verify"] == [True, False]           # other fields stay
    bad = _jsonl(tmp_path / "bad.jsonl", [{"problem": "q", "uuid": "u", "generations": ["a", "b"],
                                           "finish_reasons": ["stop"]}])
    with pytest.raises(BadInput, match=r"bad.jsonl:1: 1 items where generations has 2.*"
                                       r"'finish_reasons'"):
        import_file(catalog, bad, "bad", kind="traces")


def test_openthoughts_and_sky_t1_conversations(tmp_path, catalog):
    conv = {"system": "Your role as an assistant involves thoroughly exploring questions ...",
            "conversations": [
                {"from": "user", "value": "Return your final response within \\boxed{}. 2+2?"},
                {"from": "assistant", "value": "<|begin_of_thought|>\n\nTwo and two.\n\n"
                 "<|end_of_thought|>\n\n<|begin_of_solution|>\n\n\\boxed{4}\n\n"
                 "<|end_of_solution|>"}]}
    f = _jsonl(tmp_path / "ot.jsonl", [conv])
    ref, _, counts = import_file(catalog, f, "ot", kind="traces")
    r = _rows(catalog, ref)[0]
    assert counts["layout"].startswith("layout openthoughts")
    assert r["prompt"].endswith("2+2?") and r["reasoning"] == "Two and two."
    assert r["answer_text"] == "\\boxed{4}" and r["system"].startswith("Your role")
    sky = import_file(catalog, f, "sky", kind="traces", layout="sky-t1")[0]
    assert _rows(catalog, sky)[0]["answer_text"] == "\\boxed{4}"
    # OpenThoughts3 speaks human/gpt
    g = _jsonl(tmp_path / "ot3.jsonl", [{"conversations": [
        {"from": "human", "value": "Q?"}, {"from": "gpt", "value": "<think>t</think>A"}]}])
    r3 = _rows(catalog, import_file(catalog, g, "ot3", kind="traces")[0])[0]
    assert (r3["prompt"], r3["reasoning"], r3["answer_text"]) == ("Q?", "t", "A")
    # the metadata config: reasoning and solution already apart, gold from the solution's box
    m = _jsonl(tmp_path / "otm.jsonl", [{
        "problem": "2+2?", "deepseek_reasoning": "Two and two.", "deepseek_solution": "**4**",
        "ground_truth_solution": "So the answer is $\\boxed{4}$.", "domain": "math",
        "source": "amc"}])
    rm = _rows(catalog, import_file(catalog, m, "otm", kind="traces")[0])[0]
    assert (rm["reasoning"], rm["answer_text"], rm["reference"]) == ("Two and two.", "**4**", "4")


def test_sky_t1_reference_is_the_gold_else_gt(tmp_path, catalog):
    f = _jsonl(tmp_path / "sky.jsonl", [
        {"idx": 0, "question": "Q", "code": ["<think>t</think>A"], "gt": "(+5)(b+2)",
         "answer": "(a+5)(b+2)"},
        {"idx": 1, "question": "Q", "code": ["<think>t</think>A"], "gt": "7"},
        {"idx": 2, "question": "Q", "code": ["<think>t</think>A"], "gt": "8", "answer": ""}])
    rows = _rows(catalog, import_file(catalog, f, "s", kind="traces")[0])
    assert [r["reference"] for r in rows] == ["(a+5)(b+2)", "7", "8"]
    own = _rows(catalog, import_file(catalog, f, "own", kind="traces", mapping="reference=gt")[0])
    assert [r["reference"] for r in own] == ["(+5)(b+2)", "7", "8"]      # the user's choice


def test_a_users_fields_replace_the_layouts(tmp_path, catalog):
    """--map reasoning=/answer_text= within a detected layout replaces the layout's whole
    response (it was silently overridden by it); --map completion= replaces the layout's
    reasoning and answer fields."""
    sky = _jsonl(tmp_path / "sky.jsonl", [{"question": "Q", "code": ["whole"], "gt": "1",
                                           "idx": 0, "sol": "S", "thought": "T"}])
    for spec, want in (("reasoning=thought,answer_text=sol", ("T", "S")),
                       ("answer_text=sol", (None, "S")),
                       ("reasoning=code[0]", ("whole", None))):
        r = _rows(catalog, import_file(catalog, sky, "s", kind="traces", mapping=spec)[0])[0]
        assert (r["reasoning"], r["answer_text"] or None) == want, spec
        assert r["prompt"] == "Q" and r["reference"] == "1"         # the layout's other fields
    ot = _jsonl(tmp_path / "otm.jsonl", [{"problem": "2+2?", "deepseek_reasoning": "R",
                                          "deepseek_solution": "4", "full": "<think>t</think>A",
                                          "ground_truth_solution": "4"}])
    r = _rows(catalog, import_file(catalog, ot, "o", kind="traces", mapping="completion=full")[0])[0]
    assert (r["reasoning"], r["answer_text"]) == ("t", "A")


def test_s1k_layouts(tmp_path, catalog):
    f = _jsonl(tmp_path / "s1k.jsonl", [{
        "solution": "128", "question": "How many ...?", "cot_type": "math",
        "source_type": "qq8933/AIME_1983_2024", "metadata": "{'ID': '1991-5', 'Year': 1991}",
        "cot": None, "thinking_trajectories": ["Let me think.", "Wait, 128."],
        "attempt": "The answer is $\\boxed{128}$."}])
    ref, _, counts = import_file(catalog, f, "s1", kind="traces")
    r = _rows(catalog, ref)[0]
    assert counts["layout"].startswith("layout s1k")
    assert r["reasoning"] == "Let me think.\nWait, 128." and r["reference"] == "128"
    assert r["answer_text"] == "The answer is $\\boxed{128}$."
    assert _meta(r)["source_metadata"] == "{'ID': '1991-5', 'Year': 1991}"   # not JSON: kept
    g = _jsonl(tmp_path / "s11.jsonl", [{
        "solution": "Thus \\boxed{7}", "question": "Q?", "deepseek_thinking_trajectory": "hmm",
        "deepseek_attempt": "7", "gemini_thinking_trajectory": "g", "gemini_attempt": "7"}])
    r11 = _rows(catalog, import_file(catalog, g, "s11", kind="traces")[0])[0]
    assert (r11["reasoning"], r11["answer_text"], r11["reference"]) == ("hmm", "7", "7")


# -- mappings and what a trace needs -----------------------------------------------------------

def test_map_names_the_fields(tmp_path, catalog):
    f = _jsonl(tmp_path / "m.jsonl", [
        {"q": "1+1?", "out": {"text": "<think>add</think>2"}, "gold": 2, "n": 7},
        {"q": "2+2?", "out": {"text": "<think>add"}, "gold": "4", "n": 8}])
    ref, _, counts = import_file(catalog, f, "m", kind="traces",
                                 mapping="prompt=q,completion=out.text,reference=gold,problem_id=n")
    a, b = _rows(catalog, ref)
    assert (a["prompt"], a["reasoning"], a["answer_text"], a["reference"], a["problem_id"]) == \
        ("1+1?", "add", "2", "2", "7")
    assert (b["reasoning"], b["answer_text"], _meta(b)["think_closed"]) == ("add", "", False)
    g = _jsonl(tmp_path / "chat.jsonl", [{"messages": [
        {"role": "system", "content": "S"}, {"role": "user", "content": "Q?"},
        {"role": "assistant", "content": "<think>t</think>A"}]}])
    r = _rows(catalog, import_file(catalog, g, "chat", kind="traces", mapping={
        "prompt": "messages[role=user].content",
        "completion": "messages[-1].content"})[0])[0]
    assert (r["prompt"], r["reasoning"], r["answer_text"]) == ("Q?", "t", "A")


@pytest.mark.parametrize("mapping,match", [
    ("reasoning", "expected TARGET=FIELD"),
    ("thoughts=x", "unknown target 'thoughts'"),
    ("reasoning=a..b", "cannot read field path"),
    ("completion=x,reasoning=y", "either completion"),
])
def test_bad_maps_are_one_line(tmp_path, catalog, mapping, match):
    f = _jsonl(tmp_path / "m.jsonl", [{"prompt": "q", "answer_text": "a"}])
    with pytest.raises(BadInput, match=match):
        import_file(catalog, f, "m", kind="traces", mapping=mapping)
    assert catalog.ls() == []


@pytest.mark.parametrize("row,field,reason", [
    ({"prompt": "q", "id": "x"}, "reasoning", "a trace needs reasoning and/or answer_text"),
    ({"prompt": "q", "reasoning": "", "answer_text": "  "}, "reasoning", "a trace needs"),
    ({"reasoning": "r", "answer_text": "a"}, "prompt", "a trace needs a prompt"),
    ({"prompt": "q", "reasoning": ["r"], "answer_text": "a"}, "reasoning", "wrong type"),
    ({"prompt": "q", "answer_text": "a", "sample_index": "0"}, "sample_index", "wrong type"),
    ({"prompt": "q", "answer_text": "a", "messages": ["hi"]}, "messages", "messages must be"),
    ({"prompt": "q", "answer_text": "a", "sampling": 3}, "sampling", "wrong type"),
    ({"prompt": "q", "answer_text": "a", "verified": "yes"}, "verified", "wrong type"),
])
def test_a_trace_has_what_traces_need(tmp_path, catalog, row, field, reason):
    f = _jsonl(tmp_path / "t.jsonl", [{"prompt": "ok", "answer_text": "fine"}, row])
    with pytest.raises(BadInput, match=rf"t.jsonl:2: {reason}.*'{field}'"):
        import_file(catalog, f, "t", kind="traces", layout="none")
    assert catalog.ls() == []
    ref, rejects, _ = import_file(catalog, f, "t", kind="traces", layout="none", skip_bad=True)
    assert ref.rows == 1 and catalog.get(rejects.spec)[0]["field"] == field


def test_inline_markers_in_trace_fields_are_split(tmp_path, catalog):
    f = _jsonl(tmp_path / "t.jsonl", [
        {"id": "a", "prompt": "q", "answer_text": "<think>r</think>A"},
        {"id": "b", "prompt": "q", "reasoning": "<think>\nr\n</think>", "answer_text": "B"},
        {"id": "c", "prompt": "q", "answer_text": "<|begin_of_thought|>r"},
        {"id": "d", "prompt": "q", "reasoning": "r", "answer_text": "D"}])
    rows = {r["id"]: r for r in _rows(catalog, import_file(catalog, f, "t", kind="traces")[0])}
    assert (rows["a"]["reasoning"], rows["a"]["answer_text"]) == ("r", "A")
    assert (rows["b"]["reasoning"], rows["b"]["answer_text"]) == ("r", "B")
    assert (rows["c"]["reasoning"], rows["c"]["answer_text"]) == ("r", "")
    assert (rows["d"]["reasoning"], rows["d"]["answer_text"]) == ("r", "D")
    assert _meta(rows["c"])["think_closed"] is False


def test_json_valued_trace_fields_become_json_text(tmp_path, catalog):
    f = _jsonl(tmp_path / "t.jsonl", [{"prompt": "q", "answer_text": "(2+1)*3",
                                       "reference": {"numbers": [2, 1, 3], "target": 9},
                                       "sampling": {"temperature": 0.6}, "task": "countdown"}])
    r = _rows(catalog, import_file(catalog, f, "t", kind="traces")[0])[0]
    assert json.loads(r["reference"]) == {"numbers": [2, 1, 3], "target": 9}
    assert json.loads(r["sampling"]) == {"temperature": 0.6}


def test_curate_export_reimports_unchanged_as_traces(tmp_path, catalog):
    """A file already in curate's trace shape is not remapped."""
    f = _jsonl(tmp_path / "t.jsonl", [{"id": "t1", "problem_id": "p", "task": "math",
                                       "prompt": "q", "reasoning": "r", "answer_text": "a",
                                       "reference": "1", "finish_reason": "stop",
                                       "sample_index": 0, "extra": 5}])
    ref, _, counts = import_file(catalog, f, "t", kind="traces")
    r = _rows(catalog, ref)[0]
    assert counts["layout"] == "no layout" and r["extra"] == 5
    assert (r["id"], r["problem_id"], r["reasoning"], r["answer_text"]) == ("t1", "p", "r", "a")


# -- nocot ------------------------------------------------------------------------------------

def test_nocot_strips_inline_thinking_and_refuses_what_it_cannot(catalog):
    base = {"prompt": "q", "reasoning": None, "task": "math"}
    catalog.register("inline", [
        {**base, "id": "1", "answer_text": "<think>r</think>A1"},
        {**base, "id": "2", "answer_text": "<|begin_of_thought|>r<|end_of_thought|>"
                                           "<|begin_of_solution|>A2<|end_of_solution|>"},
        {**base, "id": "3", "answer_text": "A3", "reasoning": "r"}], kind="traces")
    ref = make_variant(catalog, "inline", "nocot", "inline-nocot")
    rows = _rows(catalog, ref)
    assert [r["messages"][-1]["content"] for r in rows] == ["A1", "A2", "A3"]
    assert [r["answer_text"] for r in rows] == ["A1", "A2", "A3"]
    assert catalog.lineage(ref)[0]["counts"]["thinking_stripped"] == 2
    for i, (answer, reason) in enumerate([
            ("<think>r</think>A</think>B", "still holds thinking markers"),
            ("<think>r never closed", "its thinking never closed"),
            ("A <|end_of_solution|> B", "still holds thinking markers"),
            ("", "no visible answer")]):
        catalog.register(f"bad{i}", [{**base, "id": "ok", "answer_text": "fine"},
                                     {**base, "id": "x", "answer_text": answer}], kind="traces")
        with pytest.raises(BadInput, match=rf"bad{i}@\w+:1: .*{reason}.*'answer_text'"):
            make_variant(catalog, f"bad{i}", "nocot", f"bad{i}-nocot")
        assert not catalog.exists(f"bad{i}-nocot")


def test_cot_refuses_thinking_that_never_closed(catalog):
    base = {"prompt": "q", "task": "math"}
    good = {**base, "id": "ok", "reasoning": "r", "answer_text": "A"}
    ref = None
    for i, bad in enumerate([
            {"reasoning": "cut off mid-thought", "answer_text": ""},      # truncated, no answer
            {"reasoning": "cut off", "answer_text": None},
            {"reasoning": "r", "answer_text": "<think>opened again and cut"},
            {"reasoning": "r", "answer_text": "   \n "}]):
        catalog.register(f"open{i}", [good, {**base, "id": "x", **bad}], kind="traces")
        with pytest.raises(BadInput, match=rf"open{i}@\w+:1: .*thinking never closed.*'reasoning'"):
            make_variant(catalog, f"open{i}", "cot", f"open{i}-cot")
        assert not catalog.exists(f"open{i}-cot")
    catalog.register("closed", [good], kind="traces")
    ref = make_variant(catalog, "closed", "cot", "closed-cot")
    assert _rows(catalog, ref)[0]["messages"][-1]["content"] == "<think>\nr\n</think>\n\nA"


@pytest.mark.parametrize("opener,closer", [
    ("<thinking>", "</thinking>"), ("[THINK]", "[/THINK]"), ("<seed:think>", "</seed:think>"),
    ("\u25c1think\u25b7", "\u25c1/think\u25b7")])
def test_other_think_spellings_are_thinking(tmp_path, catalog, opener, closer):
    """Another spelling of the think block is split on import, stripped by nocot, and a box
    inside a block that never closed does not verify (it did: the whole text was the answer)."""
    from curate.curation.filters import think_closed
    from curate.curation.verify_countdown import extract_countdown_answer
    from curate.curation.verify_math import verify_math

    f = _jsonl(tmp_path / "t.jsonl", [
        {"id": "a", "prompt": "2+2?", "reference": "4",
         "completion": f"{opener}maybe \\boxed{{5}}? no{closer}The answer is \\boxed{{4}}."},
        {"id": "b", "prompt": "2+2?", "reference": "4",
         "completion": f"{opener}so \\boxed{{4}} I guess and"}])
    rows = {r["id"]: r for r in _rows(catalog, import_file(catalog, f, "t", kind="traces")[0])}
    assert (rows["a"]["reasoning"], rows["a"]["answer_text"]) == ("maybe \\boxed{5}? no",
                                                                  "The answer is \\boxed{4}.")
    assert (rows["b"]["answer_text"], _meta(rows["b"])["think_closed"]) == ("", False)
    whole_a = f"{opener}maybe \\boxed{{5}}? no{closer}The answer is \\boxed{{4}}."
    assert verify_math("4", whole_a).verified is True
    assert verify_math("5", whole_a).verified is False
    r = verify_math("4", f"{opener}so \\boxed{{4}} I guess and")
    assert (r.verified, r.reason) == (None, "unclosed_think")
    assert verify_math("4", f"{opener}so \\boxed{{4}}", unclosed="whole-response").verified
    assert think_closed(None, f"{opener}so") is False
    assert extract_countdown_answer(f"{opener}\\boxed{{1+2}}{closer}\\boxed{{3+4}}") == "3+4"
    # an answer_text holding the whole response: nocot strips the block
    g = _jsonl(tmp_path / "g.jsonl", [{"id": "c", "prompt": "2+2?", "answer_text": whole_a}])
    ref = import_file(catalog, g, "g", kind="traces")[0]
    nocot = _rows(catalog, make_variant(catalog, ref.spec, "nocot", "g-nocot"))[0]
    assert nocot["messages"][-1]["content"] == "The answer is \\boxed{4}."


def test_nocot_messages_never_keep_an_inline_think_block():
    from curate.record import messages_for

    assert messages_for("q", None, "<think>r</think>\n\nA", "nocot")[-1]["content"] == "A"
    assert messages_for("q", "r", "<|begin_of_thought|>x<|end_of_thought|>A",
                        "nocot")[-1]["content"] == "A"
    assert messages_for("q", None, "<think>never closed", "nocot")[-1]["content"] == ""


def test_hub_folder_in_a_public_layout(tmp_path, catalog, home):
    """`hf:` (here a local dataset folder, the Hub code path without the network) takes the
    same layouts; the CLI names a layout that does not fit, and --layout on problems."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from curate.catalog.importing import import_hf

    folder = tmp_path / "s1k" / "data"
    folder.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist([{
        "solution": "7", "question": "Q?", "cot_type": "math", "source_type": "x",
        "metadata": "{}", "cot": None, "thinking_trajectories": ["t1", "t2"], "attempt": "7"}]),
        folder / "train-00000-of-00001.parquet")
    ref, _, counts = import_hf(catalog, f"hf:{tmp_path / 's1k'}", "s1", kind="traces")
    r = _rows(catalog, ref)[0]
    assert counts["layout"].startswith("layout s1k") and r["reasoning"] == "t1\nt2"
    r = _cli("import", f"hf:{tmp_path / 's1k'}", "--name", "x", "--kind", "traces",
             "--layout", "openr1-math")
    assert r.returncode == 2 and "--layout openr1-math: the first row has none" in r.stderr
    r = _cli("import", f"hf:{tmp_path / 's1k'}", "--name", "x", "--layout", "s1k")
    assert r.returncode == 2 and "--layout is for --kind traces" in r.stderr
