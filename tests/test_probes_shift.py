"""PCA shift, token KL and rank shift on tiny models built here."""

from __future__ import annotations

import json
import math

import pytest
from tiny_lm import build_local, build_tiny, finetune

from curate.errors import BadInput, CurateError
from curate.probes import hidden_pca, rank_shift, token_kl
from curate.probes.models import check_same_tokenizer, load_model, load_tokenizer
from curate.probes.texts import ProbeText, load_texts

FT_TEXTS = ["What is 2 + 3? <think>Wait, 2 plus 3 is 5. So 5.</think> The answer is \\boxed{5}.",
            "What is 9 + 1? <think>Wait, 9 plus 1 is 10. So 10.</think> The answer is \\boxed{10}."]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("probe-models")
    base = build_tiny(root / "base")
    ft = finetune(base, root / "ft", FT_TEXTS, steps=15)
    other = build_local(root / "other", texts=["completely different corpus text"] * 20,
                        vocab_size=300)
    return {"base": base, "ft": ft, "other": other}


def _texts():
    rows = []
    for i in range(6):
        rows.append(ProbeText("math", f"What is {i} + 2?",
                              f"<think>Wait, {i} plus 2 is {i + 2}.</think> \\boxed{{{i + 2}}}",
                              f"What is {i} + 2?  \\boxed{{{i + 2}}}"))
        rows.append(ProbeText("other", f"Which option {i}? A) red B) blue",
                              "The answer is \\boxed{B}. So yes.", f"Which option {i}? B"))
    return rows


def test_kl_of_model_with_itself_is_zero(models):
    m = load_model(str(models["base"]), "cpu")
    tok = load_tokenizer(str(models["base"]))
    for released in (True, False):
        r = token_kl.token_kl_probe(m, m, tok, _texts(), released=released, progress=False)
        assert r["overall"]["kl_released"] == pytest.approx(0.0, abs=1e-9)
        assert r["overall"]["kl_full"] == pytest.approx(0.0, abs=1e-9)
        assert r["overall"]["n_samples"] == 12 and r["overall"]["n_tokens"] > 0


def test_kl_finetuned_vs_base_positive(models):
    m = load_model(str(models["ft"]), "cpu")
    b = load_model(str(models["base"]), "cpu")
    tok = load_tokenizer(str(models["base"]))
    r = token_kl.token_kl_probe(m, b, tok, _texts(), released=False, progress=False)
    assert r["overall"]["kl_full"] > 1e-3
    assert r["overall"]["kl_released"] > 0
    assert set(r["tasks"]) == {"math", "other"}
    # released slicing scores one token fewer per sample than the fixed one (no BOS offset
    # for templated inputs)
    r2 = token_kl.token_kl_probe(m, b, tok, _texts(), released=True, progress=False)
    assert r2["overall"]["n_tokens"] == r["overall"]["n_tokens"] - 12


def test_kl_different_tokenizer_is_a_clear_error(models):
    with pytest.raises(CurateError, match="different tokenizers"):
        check_same_tokenizer(load_tokenizer(str(models["other"])),
                             load_tokenizer(str(models["base"])))


def test_pca_shift_of_model_with_itself_is_zero(models):
    m = load_model(str(models["base"]), "cpu")
    tok = load_tokenizer(str(models["base"]))
    grouped = {"math": [t.text for t in _texts() if t.task == "math"],
               "other": [t.text for t in _texts() if t.task == "other"]}
    for pooling in ("released", "masked"):
        r = hidden_pca.pca_shift_probe(m, m, tok, grouped, k=100, pooling=pooling,
                                       progress=False)
        assert r["d"]["math"] == pytest.approx(0.0, abs=1e-9)
        assert r["d"]["other"] == pytest.approx(0.0, abs=1e-9)
        assert len(r["tasks"]["math"]["layers"]) == m.config.num_hidden_layers + 1


def test_pca_shift_finetuned_positive_and_plot(models, tmp_path):
    m = load_model(str(models["ft"]), "cpu")
    b = load_model(str(models["base"]), "cpu")
    tok = load_tokenizer(str(models["base"]))
    grouped = {"math": [t.text for t in _texts() if t.task == "math"]}
    r = hidden_pca.pca_shift_probe(m, b, tok, grouped, groups={"math": "math"}, progress=False)
    assert r["d"]["math"] > 0 and math.isfinite(r["d"]["math"])
    assert r["groups"] == {"math": r["d"]["math"]}
    png = hidden_pca.plot_pca_shift(r, tmp_path / "pca.png")
    assert open(png, "rb").read(8) == b"\x89PNG\r\n\x1a\n"


def test_pca_shift_formula_by_hand():
    import numpy as np

    rng = np.random.default_rng(0)
    base = rng.normal(size=(3, 5, 4))
    ft = base + 0.5
    r = hidden_pca.pca_shift(base, ft)
    from sklearn.decomposition import PCA

    d1, d2 = [], []
    for ell in range(3):
        pc = PCA(n_components=2).fit(base[ell]).components_
        d1.append((ft[ell] @ pc[0]).mean() - (base[ell] @ pc[0]).mean())
        d2.append((ft[ell] @ pc[1]).mean() - (base[ell] @ pc[1]).mean())
    assert r["d"] == pytest.approx(math.hypot(np.mean(d1), np.mean(d2)))
    with pytest.raises(BadInput, match="at least 2"):
        hidden_pca.pca_shift(base[:, :1], ft[:, :1])


def test_sampling_is_the_released_one():
    import random

    items = [str(i) for i in range(50)]
    ref = list(items)
    random.seed(42)
    random.shuffle(ref)
    assert hidden_pca.sample_texts(items, k=10) == ref[:10]


def test_rank_shift(models, tmp_path):
    tok = load_tokenizer(str(models["base"]))
    b = load_model(str(models["base"]), "cpu")
    same, _ = rank_shift.rank_shift_probe(b, b, tok, _texts(), progress=False)
    assert same["overall"]["mean_abs_rank_shift"] == 0
    assert same["overall"]["shifted_fraction"] == 0
    m = load_model(str(models["ft"]), "cpu")
    res, samples = rank_shift.rank_shift_probe(m, b, tok, _texts(), progress=False)
    assert res["inferred"] is True
    assert res["overall"]["shifted_tokens"] > 0
    assert res["overall"]["top_shifted_tokens"][0]["shifted"] >= 1
    png = rank_shift.plot_rank_shift(res, samples, tmp_path / "rank.png")
    assert open(png, "rb").read(4) == b"\x89PNG"


def test_texts_shapes(tmp_path):
    f = tmp_path / "t.jsonl"
    rows = [{"input": "<|user|>\nq<|end|>\n<|assistant|>\n", "output": "a"},
            {"prompt": "p", "response": "r", "task": "x"},
            {"prompt": "p", "reasoning": "think", "answer_text": "\\boxed{1}"},
            {"messages": [{"role": "user", "content": "u"}, {"role": "assistant",
                                                              "content": "v"}]},
            {"text": "plain"}]
    f.write_text("\n".join(json.dumps(r) for r in rows))
    ts = load_texts(str(f))
    assert ts[0].rendered and ts[1].task == "x" and "<think>" in ts[2].response
    assert ts[3].response == "v" and ts[4].text == "plain" and ts[0].task == "t"
    empty = tmp_path / "empty.jsonl"
    empty.write_text('{"prompt": "p", "response": ""}\n')
    with pytest.raises(BadInput, match="non-empty response"):
        load_texts(str(empty), need_response=True)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"foo": 1}\n')
    with pytest.raises(BadInput, match="bad.jsonl:1"):
        load_texts(str(bad))


def test_kl_matches_a_direct_computation(models):
    """Both KL figures recomputed here from raw logits for one sample."""
    import numpy as np
    import torch

    m = load_model(str(models["ft"]), "cpu")
    b = load_model(str(models["base"]), "cpu")
    tok = load_tokenizer(str(models["base"]))
    t = _texts()[0]
    for released in (True, False):
        ids, start = token_kl.encode(t, tok, released=released)
        with torch.no_grad():
            lm = torch.log_softmax(m(input_ids=torch.tensor([ids])).logits[0].float(), -1)
            lb = torch.log_softmax(b(input_ids=torch.tensor([ids])).logits[0].float(), -1)
        pos = range(start, len(ids))
        lp_m = np.array([lm[p - 1, ids[p]].item() for p in pos])
        lp_b = np.array([lb[p - 1, ids[p]].item() for p in pos])
        mc = np.mean(np.log(np.exp(lp_m) + 1e-10) - np.log(np.exp(lp_b) + 1e-10))
        full = np.mean([(lm[p - 1].exp() * (lm[p - 1] - lb[p - 1])).sum().item() for p in pos])
        r = token_kl.token_kl_probe(m, b, tok, [t], released=released, progress=False)
        assert r["overall"]["kl_released"] == pytest.approx(abs(mc), rel=1e-5)
        assert r["overall"]["kl_full"] == pytest.approx(full, rel=1e-5)
    # the released slicing starts one token after the prompt (tokenised without specials)
    ids_r, start_r = token_kl.encode(t, tok, released=True)
    inp, _ = token_kl.build_input(t, tok)
    assert start_r == len(tok(inp, add_special_tokens=False)["input_ids"]) + 1
