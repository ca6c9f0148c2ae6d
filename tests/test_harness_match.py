"""curate's scores equal lm-evaluation-harness's own on a fixed set of model outputs.

For every benchmark P1 ran through lm-eval (OlympiadBench, ACPBench, HeadQA, CoQA, IFEval,
HaluEval, MC-TACO) and P3's (MMLU-Pro 1k, HaluEval's P3 variant): the same fixed outputs (or
log-likelihoods) go to lm-eval's `evaluator.evaluate` with a model that returns them, and to
curate's path (registry loader on a local copy -> items -> `bench_scoring`); the per-document
metrics, the aggregated metrics and the prompts must be equal.
"""

from __future__ import annotations

import json
import os

import pytest
from bench_fixtures import write_all

from curate.probes import bench_scoring, eval_items, harness
from curate.probes.generation import Completion
from curate.probes.suites import BenchSetting

pytest.importorskip("lm_eval")


@pytest.fixture(scope="module")
def bench_dir(tmp_path_factory):
    root = write_all(tmp_path_factory.mktemp("benchmarks"))
    old = {k: os.environ.get(k) for k in ("CURATE_BENCHMARK_DIR", "HF_DATASETS_OFFLINE")}
    os.environ["CURATE_BENCHMARK_DIR"] = str(root)
    os.environ["HF_DATASETS_OFFLINE"] = "1"
    yield root
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def chat(history, add_generation_prompt=True, **_):
    """One chat rendering for both sides (lm-eval's model and curate's tokenizer)."""
    return "<chat>" + json.dumps(history) + "</chat>"


class FakeTokenizer:
    chat_template = "fixed"

    def apply_chat_template(self, history, tokenize=False, add_generation_prompt=True,
                            continue_final_message=False):
        return chat(history)


def fixed_lm(gen=None, ll=None):
    from lm_eval.api.model import LM

    class Fixed(LM):
        contexts: list = []

        def loglikelihood(self, requests, disable_tqdm=False):
            out = []
            for r in requests:
                self.contexts.append(r.arguments[0])
                out.append(ll(r.doc, r.arguments[1]))
            return out

        def loglikelihood_rolling(self, requests, disable_tqdm=False):
            raise NotImplementedError

        def generate_until(self, requests, disable_tqdm=False):
            out = []
            for r in requests:
                self.contexts.append(r.arguments[0])
                t = gen(r.doc)
                for s in r.arguments[1].get("until") or []:   # the model stops there
                    if s:
                        t = t.split(s)[0]
                out.append(t)
            return out

        def apply_chat_template(self, chat_history, add_generation_prompt=True):
            return chat(chat_history)

        @property
        def tokenizer_name(self):
            return "fixed"

        def chat_template(self, chat_template=False):
            return "fixed"

    return Fixed()


def reference(specs_data, gen=None, ll=None, chat_on=True):
    """lm-eval's own evaluation: {task: (results, samples)}, and the contexts it built."""
    from lm_eval import evaluator

    tasks = {}
    for spec, data in specs_data:
        t = harness.load_task(spec, data)
        tasks[t.config.task] = t
    lm = fixed_lm(gen, ll)
    res = evaluator.evaluate(lm, {"tasks": tasks, "groups": {}, "group_map": {}},
                             bootstrap_iters=0, apply_chat_template=chat_on,
                             fewshot_as_multiturn=False, log_samples=True)
    return res, lm.contexts


def curate_side(name, gen=None, ll=None, monkeypatch=None):
    from curate.corpora.benchmarks import get_benchmark

    b = get_benchmark(name)
    setting = BenchSetting(name, kind="harness", temperature=0.0)
    items, _ = eval_items.load_items(setting)
    prompts = [eval_items.format_prompt(it, setting) for it in items]
    if items[0].meta["harness"].output_type == "generate_until":
        comps = [[Completion(gen(it.meta["harness"].doc), "stop", 1)] for it in items]
        rows, extra, head = bench_scoring.harness_rows(setting, items, prompts, comps, "m",
                                                       b.metric)
        return items, rows, extra, prompts
    seen = []

    def fake_ll(model, tok, reqs, batch_size=8):
        seen.extend(r.arguments[0] for r in reqs)
        return [ll(r.doc, r.arguments[1]) for r in reqs]

    monkeypatch.setattr(harness, "hf_loglikelihood", fake_ll)
    rows, extra, head = bench_scoring.loglikelihood_rows(setting, items, object(),
                                                         FakeTokenizer(), "m", b.metric)
    return items, rows, extra, seen


def _local(name, subset=""):
    from curate.corpora.benchmarks import get_benchmark

    b = get_benchmark(name)
    loc = b.local_files()
    return [(spec, loc.get(sub) or loc.get("")) for sub, spec in b.harness
            if not subset or sub == subset]


def check(name, gen=None, ll=None, monkeypatch=None, expect=None):
    """Per-document and aggregated metrics equal; prompts equal; returns curate's extra."""
    ref, ref_ctx = reference(_local(name), gen, ll)
    items, rows, extra, ours = curate_side(name, gen, ll, monkeypatch)
    # the prompts: lm-eval's chat-rendered contexts carry curate's user turns
    if items[0].meta["harness"].output_type == "generate_until":
        users = [json.loads(c[len("<chat>"):-len("</chat>")])[-1]["content"] for c in ref_ctx]
        assert sorted(users) == sorted(ours)
    else:
        assert sorted(ref_ctx) == sorted(ours)
    # aggregated: every metric of every task, weighted by size over the tasks
    n_total = sum(ref["results"][t]["sample_len"] for t in ref["results"])
    for key in {k for r in ref["results"].values() for k in r if "," in k and "stderr" not in k}:
        metric = key.split(",")[0]
        want = sum(r[key] * r["sample_len"] for r in ref["results"].values() if key in r) / \
            sum(r["sample_len"] for r in ref["results"].values() if key in r)
        assert extra[metric] == pytest.approx(want, abs=1e-12), (name, metric)
    # per document: the headline metric of each sample
    from curate.corpora.benchmarks import get_benchmark

    metric = get_benchmark(name).metric
    by_task = {}
    for it, row in zip(items, rows):
        by_task[(it.meta["harness"].task.config.task, it.meta["harness"].doc_id)] = row["score"]
    for task, samples in ref["samples"].items():
        for s in samples:
            want = s[metric]
            if isinstance(want, list):
                want = sum(want) / len(want)
            assert by_task[(task, s["doc_id"])] == pytest.approx(float(want)), (task, s)
    assert len(rows) == n_total
    if expect is not None:
        assert extra[metric] == pytest.approx(expect)
    return extra


def test_olympiadbench(bench_dir):
    out = {1606: "Two moves.\nFinal Answer: \\boxed{2}\nProblem: next one \\boxed{9}",
           1607: "Final Answer: \\boxed{1/3}"}
    check("olympiadbench", gen=lambda d: out[d["id"]], expect=0.5)
    # hendrycks strip_string: 0.5 equals \frac{1}{2}; leading zeros and .0 dropped (P1's fork)
    out[1607] = "\\boxed{0.5}"
    out[1606] = "\\boxed{02.00}"
    check("olympiadbench", gen=lambda d: out[d["id"]], expect=1.0)


def test_acpbench(bench_dir):
    answers = {"app": "Step 1: fine. **Final Answer**: A.", "areach": "The answer is C.",
               "just": "I would say [A]", "land": "No idea at all",
               "prog": "A\n", "reach": "It is B. Final answer: B", "val": "**Final Answer**: D."}
    check("acpbench", gen=lambda d: answers[d["group"]])


def test_acpbench_bool(bench_dir):
    answers = {"app": "**Final Answer**: Yes.", "areach": "The answer is no.", "just": "yes",
               "land": "maybe", "prog": "Yes", "reach": "No.", "val": "the answer is Yes."}
    check("acpbench-bool", gen=lambda d: answers[d["group"]])


def test_headqa_loglikelihood(bench_dir, monkeypatch):
    scores = {("Which organelle makes ATP?", "Mitochondrion"): -1.0,
              ("Which one is a bone?", "Liver"): -0.5, ("Which one is a bone?", "Femur"): -3.0}

    def ll(doc, cont):
        return (scores.get((doc["qtext"], cont.strip()), -2.0 - len(cont) / 100), False)

    extra = check("headqa", ll=ll, monkeypatch=monkeypatch)
    assert extra["acc"] == 0.5 and "acc_norm" in extra


def test_mc_taco_loglikelihood(bench_dir, monkeypatch):
    def ll(doc, cont):     # "yes" wins for minutes and hours, "no" for years
        yes = "years" not in doc["answer"]
        return (-0.1 if (cont.strip() == "yes") == yes else -2.0, False)

    extra = check("mc-taco", ll=ll, monkeypatch=monkeypatch, expect=1.0)
    assert extra["f1"] == pytest.approx(1.0)


def test_coqa(bench_dir):
    extra = check("coqa", gen=lambda d: " red bike, of course.\nQ: and then?")
    assert 0 < extra["f1"] < 1 and extra["em"] == 0.0


def test_ifeval(bench_dir):
    out = {1000: "Rain falls softly\nDrops on the roof", 1001: "Paris, France"}
    extra = check("ifeval", gen=lambda d: out[d["key"]])
    assert extra["prompt_level_strict_acc"] == 0.5 and extra["inst_level_strict_acc"] == \
        pytest.approx(1 / 3)


HALU_OUT = {"What is the capital of France?": "No",
            "Where is the Nile?": "Yes, it is hallucinated",
            "[Human]: Who directed Inception?": "Yes and No",
            "The cat sat on the mat all day.": "#Your Judgement#: yes"}


def _halu_key(d):
    return d.get("question") or d.get("dialogue_history") or d.get("document")


def test_halueval_p1(bench_dir):
    check("halueval", gen=lambda d: HALU_OUT[_halu_key(d)], expect=0.5)


def test_halueval_p3(bench_dir):
    # P3 reads the last yes/no word in any case: the summary's lower-case "yes" counts, and
    # "Yes and No" is read as "no" (P1 calls it wrong)
    check("halueval-p3", gen=lambda d: HALU_OUT[_halu_key(d)], expect=1.0)


def test_mmlu_pro_1k(bench_dir):
    out = {70: "so \\boxed{B}", 71: "the answer is (C)", 72: "I am not sure"}
    check("mmlu-pro-1k", gen=lambda d: out[d["question_id"]], expect=1 / 3)


def test_think_stripped_before_the_task_sees_it(bench_dir):
    """curate's rule: the text after the last </think> (a stop string inside the thinking
    does not cut the answer); `raw` scores the whole output as P1's fork did."""
    setting = BenchSetting("olympiadbench", kind="harness")
    items, _ = eval_items.load_items(setting)
    text = "<think>Problem: reconsider \\boxed{7}</think>\nFinal Answer: \\boxed{2}"
    comps = [[Completion(text, "stop", 1)] for _ in items]
    prompts = [it.problem for it in items]
    rows, extra, _ = bench_scoring.harness_rows(setting, items, prompts, comps, "m",
                                                "exact_match", think="strip")
    assert [r["score"] for r in rows] == [1.0, 0.0]
    assert json.loads(rows[0]["verify_detail"])["scorer"].startswith("lm-eval 0.4.13")
    rows, _, _ = bench_scoring.harness_rows(setting, items, prompts, comps, "m",
                                            "exact_match", think="raw")
    assert [r["score"] for r in rows] == [0.0, 0.0]     # cut at "Problem:" inside the thinking
