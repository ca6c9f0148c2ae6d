"""Run a probe end to end: load models and texts, measure, plot, record in the catalog.

The measuring functions (hidden_pca, token_kl, rank_shift, transfer) take models and texts and
return figures; this module is the I/O edge a CLI verb or a notebook calls.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from curate.errors import BadInput, CurateError
from curate.probes import hidden_pca, rank_shift, token_kl, transfer
from curate.probes.models import check_same_tokenizer, load_model, load_tokenizer
from curate.probes.texts import ProbeText, by_task, load_texts

PROBES = ("ti", "kl", "pca-shift", "rank-shift")
ATTN_IMPLEMENTATIONS = ("eager", "sdpa", "flash_attention_2", "flash_attention_3",
                        "flex_attention")


def resolve_model(spec: str, catalog) -> str:
    """A local folder, a catalog checkpoint id, or a hub id (left as is)."""
    if Path(spec).exists():
        return str(Path(spec).resolve())
    rows = catalog.sql("SELECT path FROM checkpoints WHERE id = ? LIMIT 1", [spec])
    if rows:
        return rows[0]["path"]
    return spec


def eval_name(catalog, spec: str) -> str:
    """The name `curate eval` records a model under (absolute path for local folders)."""
    if Path(spec).exists():
        return str(Path(spec).resolve())
    rows = catalog.sql("SELECT path FROM checkpoints WHERE id = ? LIMIT 1", [spec])
    if rows and Path(rows[0]["path"]).exists():
        return str(Path(rows[0]["path"]).resolve())
    return spec


def probe_dir(catalog) -> Path:
    p = Path(catalog.home) / "probes"
    p.mkdir(parents=True, exist_ok=True)
    return p


def checkpoint_id(catalog, spec: str | None) -> str | None:
    """The checkpoints row a model spec names (its id, or its folder), else None."""
    if not spec:
        return None
    rows = catalog.sql("SELECT id FROM checkpoints WHERE id = ? ORDER BY created DESC LIMIT 1",
                       [spec])
    if not rows and Path(spec).exists():
        rows = catalog.sql("SELECT id FROM checkpoints WHERE path = ? ORDER BY created DESC "
                           "LIMIT 1", [str(Path(spec).resolve())])
    return rows[0]["id"] if rows else None


def library_versions() -> dict[str, str]:
    """Versions of the libraries a probe's figure depends on (attention kernels, PCA signs)."""
    import numpy
    import sklearn
    import torch
    import transformers

    return {"torch": torch.__version__, "transformers": transformers.__version__,
            "sklearn": sklearn.__version__, "numpy": numpy.__version__}


def _record(catalog, probe: str, model: str, base: str, texts: str | None, params: dict,
            results: dict, plot_path: str | None, run_id: str | None) -> str:
    return catalog.insert("probes", {
        "run_id": run_id, "probe": probe, "model": model, "base": base, "texts": texts,
        "checkpoint_id": checkpoint_id(catalog, model),
        "base_checkpoint_id": checkpoint_id(catalog, base),
        "params": params, "results": _jsonable(results), "plot_path": plot_path})


def _jsonable(obj: Any) -> Any:
    return json.loads(json.dumps(obj, default=_default))


def _default(o: Any) -> Any:
    import numpy as np

    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


def _groups_for(tasks) -> dict[str, str]:
    """Domain group of tasks that are registry benchmarks (math / other / non)."""
    try:
        from curate.corpora import benchmarks as reg
    except ImportError:
        return {}
    out = {}
    for t in tasks:
        try:
            info = reg.get_benchmark(t) if hasattr(reg, "get_benchmark") else None
        except Exception:  # not a registry name: no group
            info = None
        g = getattr(info, "group", None) or getattr(info, "domain", None)
        if g:
            out[t] = transfer.normalise_group(g) or g
    return out


def run_ti(catalog, model: str, base: str, formula: str = "icml", metric: str = "accuracy",
           ddof: int = 0, record: bool = True, scores: str | None = None,
           scale: str | None = None,
           min_math_share: float = transfer.MIN_MATH_SHARE,
           tags: dict[str, Any] | None = None,
           rows: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """TI from the catalog's evals, or from a user's score table; recorded in `probes`.

    `model` / `base` are names as recorded by `curate eval`: a local folder (matched by its
    absolute path), a checkpoint id, or the name given with ``--name``; with `scores` (a
    CSV / JSONL / Parquet table, `scale` percent or fraction) they are its `model` values;
    `rows` (model, benchmark, group, value in percent) are used as given (an experiment
    passes the evals of its own suite).

    Returns {ti: {other, non: percent or None}, groups, benchmarks, table, warnings, reason,
    probe_id}. Raises BadInput (unknown formula, groups or scale), NotFound (no evals of
    `model` or `base`).

    Example: ``run_ti(cat, "runs/sft", "Qwen/Qwen3-1.7B-Base", formula="icml")["ti"]``.
    """
    if scores or rows is not None:
        rows = transfer.scores_from_file(scores, scale) if scores else rows
        res = transfer.transferability_index(rows, model, base, formula=formula, ddof=ddof,
                                             min_math_share=min_math_share)
        if scores:
            res["warnings"] += transfer.scale_warnings(
                [r for r in rows if r["model"] in (model, base)], scale)
    else:
        model, base = eval_name(catalog, model), eval_name(catalog, base)
        res = transfer.ti_from_catalog(catalog, model, base, formula=formula, metric=metric,
                                       ddof=ddof, min_math_share=min_math_share)
    res["table"] = transfer.ti_table(res)
    if record:
        params = {"formula": formula, "metric": metric, "ddof": ddof,
                  "min_math_share": min_math_share, **({"tags": tags} if tags else {})}
        if scores:
            params.update(scores=str(Path(scores).resolve()), scale=scale)
        res["probe_id"] = _record(catalog, "ti", model, base, scores, params, res, None, None)
    return res


def respond(model, tokenizer, texts: list[ProbeText], max_new_tokens: int = 512,
            batch_size: int = 8) -> list[ProbeText]:
    """The model's own greedy responses to prompt-only texts (P1 scores the fine-tuned model's
    responses); each input is rendered as the probe will score it."""
    from curate.probes.generation import Sampling, generate_local

    out: list[ProbeText] = []
    for rendered in (True, False):
        part = [t for t in texts if t.rendered == rendered]
        if not part:
            continue
        comps = generate_local(model, tokenizer, [t.prompt for t in part],
                               Sampling(n=1, temperature=0.0, max_new_tokens=max_new_tokens),
                               chat_template=False, batch_size=batch_size,
                               add_special_tokens=not rendered)
        out += [ProbeText(t.task, t.prompt, c[0].text, t.prompt + c[0].text, rendered)
                for t, c in zip(part, comps)]
    return out


def _prompt_form(t: ProbeText, tokenizer, chat_template: bool, nothink: bool) -> ProbeText:
    """A prompt rendered now (chat template, P1's no-think form) so generation and scoring see
    the same input."""
    if t.rendered or not t.prompt:
        return t
    inp, templated = token_kl.render_input(tokenizer, t.prompt, chat_template, nothink)
    if not templated and not nothink:
        return t
    return ProbeText(t.task, inp, t.response, inp + t.response, rendered=templated)


def _write_responses(texts: list[ProbeText], path: Path) -> str:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist([{"task": t.task, "input": t.prompt,
                                          "output": t.response} for t in texts]), path)
    return str(path)


def run_shift_probe(catalog, probe: str, model: str, base: str, texts: str, *,
                    limit: int | None = None, k: int = 100, seed: int = 42,
                    max_length: int = 128, pooling: str = "released", released: bool = True,
                    chat_template: bool = True, nothink: bool = False, top: int = 20,
                    attn_implementation: str | None = None, gen_max_tokens: int = 512,
                    device: str | None = None, dtype: str | None = None, batch_size: int = 8,
                    plot: bool = True, progress: bool = True,
                    tags: dict[str, Any] | None = None) -> dict[str, Any]:
    """kl / pca-shift / rank-shift of `model` against `base` on the texts of SOURCE `texts`.

    KL and rank shift score responses: rows that hold only a prompt get `model`'s own greedy
    responses first (at most `gen_max_tokens`; written beside the plot), as P1 scores the
    fine-tuned model's outputs. `nothink` renders prompts in P1's non-thinking form.
    `attn_implementation` (eager, sdpa, flash_attention_2) changes the released PCA shift
    (it averages over padded positions, whose states depend on the kernel): the one used and
    the library versions are recorded with the figures.

    Returns the probe's figures (per task and overall), `probe_id` and `plot_path`. Raises
    BadInput (unknown probe or pooling, bad limits, texts without responses where needed),
    CurateError (models whose tokenizers or vocabularies differ).

    Example: ``run_shift_probe(cat, "kl", "runs/sft", ".curate/tiny", "clean", limit=50)``.
    """
    if probe not in ("kl", "pca-shift", "rank-shift"):
        raise BadInput(f"unknown probe {probe!r} ({', '.join(PROBES)})")
    if pooling not in hidden_pca.POOLINGS:
        raise BadInput(f"unknown pooling {pooling!r} ({', '.join(hidden_pca.POOLINGS)})")
    if attn_implementation not in (None, *ATTN_IMPLEMENTATIONS):
        raise BadInput(f"unknown attention implementation {attn_implementation!r} "
                       f"({', '.join(ATTN_IMPLEMENTATIONS)})")
    for name, val, low in (("--k", k, 2), ("--max-length", max_length, 1),
                           ("--batch-size", batch_size, 1), ("--limit", limit, 1),
                           ("--top", top, 1), ("--gen-max-tokens", gen_max_tokens, 1)):
        if val is not None and val < low:
            raise BadInput(f"{name} must be at least {low}")
    model_path, base_path = resolve_model(model, catalog), resolve_model(base, catalog)
    rows = load_texts(texts, catalog, need_response=False)
    tok_base = load_tokenizer(base_path)
    scored = probe in ("kl", "rank-shift")
    if scored:
        check_same_tokenizer(load_tokenizer(model_path), tok_base, f"model {model!r}",
                             f"base {base!r}")
        rows = [_prompt_form(t, tok_base, chat_template, nothink) for t in rows]
        if not any(t.response or t.prompt for t in rows):
            raise BadInput("this probe scores responses: rows need a prompt (the model answers "
                           "it) or prompt/response (input/output, messages)", file=texts)
    run_id = catalog.start_run("probe", config={"probe": probe, "model": model, "base": base,
                                                "texts": texts}, inputs=[texts], name=probe)
    try:
        m = load_model(model_path, device, dtype, attn_implementation)
        b = load_model(base_path, device, dtype, attn_implementation)
        n_emb = m.get_input_embeddings().num_embeddings
        if probe == "pca-shift" and n_emb < len(tok_base):
            raise CurateError(f"model {model!r} has {n_emb} token embeddings but the base "
                              f"tokenizer has {len(tok_base)} tokens: PCA shift feeds both "
                              "models the base's tokens, so they must share a vocabulary")
        uid = uuid.uuid4().hex[:10]
        out_png = probe_dir(catalog) / f"{probe}-{uid}.png"
        title = f"{probe}: {Path(model).name} vs {Path(base).name}"
        setup = {"attn_implementation": getattr(m.config, "_attn_implementation", None),
                 "versions": library_versions(), "dtype": str(next(m.parameters()).dtype),
                 **({"tags": tags} if tags else {})}
        if scored:
            lim = 100 if limit is None else limit
            todo = token_kl.select_per_task([t for t in rows if t.response or t.prompt], lim)
            ask = [t for t in todo if not t.response]
            generated = respond(m, tok_base, ask, gen_max_tokens, batch_size) if ask else []
            chosen = [t for t in todo if t.response] + generated
            setup.update(limit=lim, released=released, chat_template=chat_template,
                         nothink=nothink, generated=len(generated))
            if generated:
                setup.update(gen_max_tokens=gen_max_tokens, decoding="greedy",
                             responses=_write_responses(
                                 generated, probe_dir(catalog) / f"{probe}-{uid}-responses.parquet"))
        if probe == "pca-shift":
            grouped = {t: [x.text for x in xs] for t, xs in by_task(rows).items()}
            params = {"k": k, "seed": seed, "max_length": max_length, "pooling": pooling, **setup}
            res = hidden_pca.pca_shift_probe(m, b, tok_base, grouped, k=k, seed=seed,
                                             max_length=max_length, batch_size=batch_size,
                                             pooling=pooling, groups=_groups_for(grouped),
                                             progress=progress)
            plot_path = hidden_pca.plot_pca_shift(res, out_png, title) if plot else None
        elif probe == "kl":
            params = setup
            res = token_kl.token_kl_probe(m, b, tok_base, chosen, limit=None,
                                          chat_template=chat_template, released=released,
                                          progress=progress)
            res["params"]["limit"] = params["limit"]
            plot_path = token_kl.plot_kl(res, out_png, title) if plot else None
        else:
            params = {**setup, "top": top}
            res, samples = rank_shift.rank_shift_probe(m, b, tok_base, chosen, limit=None,
                                                       chat_template=chat_template,
                                                       released=released, top=top,
                                                       progress=progress)
            res["params"]["limit"] = params["limit"]
            plot_path = rank_shift.plot_rank_shift(res, samples, out_png, title) if plot else None
        res["setup"] = setup
        res["probe_id"] = _record(catalog, probe, model, base, texts, params, res, plot_path,
                                  run_id)
        res["plot_path"] = plot_path
        catalog.finish_run(run_id, "ok", outputs=[res["probe_id"]], metrics=summary(probe, res))
        return res
    except BaseException as e:
        catalog.finish_run(run_id, "failed", error=str(e).splitlines()[0] if str(e) else repr(e))
        raise


def summary(probe: str, res: dict[str, Any]) -> dict[str, Any]:
    """The headline figures of a probe result (for tables and the runs table)."""
    if probe == "ti":
        return {f"TI_{g}": v for g, v in res["ti"].items()} | {"reason": res.get("reason")}
    if probe == "pca-shift":
        return {f"d[{t}]": v for t, v in res["d"].items()} | {
            f"d[group {g}]": v for g, v in res["groups"].items()}
    if probe == "kl":
        o = res["overall"]
        return {k: o.get(k) for k in ("kl_released", "kl_full", "n_samples", "n_tokens")}
    o = res["overall"]
    return {k: o.get(k) for k in ("mean_rank_shift", "mean_abs_rank_shift", "shifted_fraction",
                                  "n_tokens")}
